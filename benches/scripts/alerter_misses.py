"""How much evidence each missed crisis left: a hindsight bound on detection.

Usage: alerter_misses.py SCORED.jsonl TRUTH.jsonl EVAL.json

For every crisis that EVAL.json (evaluate_alerts.py) lists as missed, counts
the brand's mentions, negatives and toxic mentions in the 60 minutes after
onset, and compares them with the same clock hour on every other day of the
stream (the brand's true baseline, known only in hindsight). The z of the
strongest of three exact tests (negatives and toxic mentions against their
Poisson expectation, the negative share against its binomial one) is what a
detector that knew the baseline perfectly could have seen by the deadline:
below the balanced preset's warning z (4) no detector pages at its false
alarm rate, whatever its design.
"""
import json
import math
import sys
from collections import defaultdict
from datetime import datetime
from statistics import NormalDist


def minute_of(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) // 60


def poisson_upper(observed: int, mean: float) -> float:
    """P(X >= observed) for X ~ Poisson(mean)."""
    if observed <= 0:
        return 1.0
    term = math.exp(-mean)
    below = term
    for k in range(1, observed):
        term *= mean / k
        below += term
    return max(1.0 - below, 1e-300)


def binomial_upper(successes: int, trials: int, share: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, share)."""
    share = min(max(share, 1e-9), 1 - 1e-9)
    total = 0.0
    for k in range(successes, trials + 1):
        total += math.exp(
            math.lgamma(trials + 1) - math.lgamma(k + 1) - math.lgamma(trials - k + 1)
            + k * math.log(share) + (trials - k) * math.log(1 - share)
        )
    return min(max(total, 1e-300), 1.0)


def z_of(tail: float) -> float:
    return NormalDist().inv_cdf(1.0 - min(max(tail, 1e-300), 0.5)) if tail < 0.5 else 0.0


def main() -> None:
    scored_path, truth_path, eval_path = sys.argv[1:4]
    missed = {line.split(" ")[0] for line in json.load(open(eval_path)).get("missed", [])}
    events = [json.loads(line) for line in open(truth_path)]
    events = {e["brand"]: e for e in events if e["crisis"] and e["brand"] in missed}
    if not events:
        return
    needles = {brand: f'"brand":"{brand}"'.encode() for brand in events}
    # Per brand: minute -> [mentions, negatives, toxic].
    counts = {brand: defaultdict(lambda: [0, 0, 0]) for brand in events}
    for line in open(scored_path, "rb"):
        for brand, needle in needles.items():
            if needle in line:
                record = json.loads(line)
                row = counts[brand][minute_of(record["created_at"])]
                row[0] += 1
                row[1] += record["sentiment"]["label"] == "negative"
                row[2] += record["toxicity"]["label"] == "toxic"
                break
    for brand, event in sorted(events.items()):
        onset = minute_of(event["onset_at"])
        minutes = counts[brand]
        first, last = min(minutes), max(minutes)

        def hour_from(start: int) -> list:
            return [sum(minutes[m][i] for m in range(start, start + 60) if m in minutes) for i in range(3)]

        observed = hour_from(onset)
        # The same clock hour on every other whole day of the stream.
        others = [hour_from(onset + 1440 * d) for d in range(-30, 31)
                  if d != 0 and first <= onset + 1440 * d and onset + 1440 * d + 60 <= last]
        usual = [sum(o[i] for o in others) / max(len(others), 1) for i in range(3)]
        negative_share = usual[1] / max(usual[0], 1e-9)
        tails = {
            "negatives": poisson_upper(observed[1], usual[1]),
            "toxic": poisson_upper(observed[2], usual[2]),
            "negative share": binomial_upper(observed[1], observed[0], negative_share),
        }
        test, tail = min(tails.items(), key=lambda item: item[1])
        print(
            f"{brand} {event['shape'].split(' ')[0]} at {event['onset_at'][11:16]}: "
            f"{observed[0]} mentions, {observed[1]} negative, {observed[2]} toxic in its first hour "
            f"vs {usual[0]:.1f}, {usual[1]:.1f}, {usual[2]:.1f} at that hour on other days; "
            f"best hindsight test: {test}, z {z_of(tail):.1f}"
        )


if __name__ == "__main__":
    main()
