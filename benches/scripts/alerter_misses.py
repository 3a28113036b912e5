"""How much evidence each missed crisis left: a hindsight bound on detection.

Usage: alerter_misses.py SCORED.jsonl TRUTH.jsonl EVAL.json [NAME=EVAL.json ...]

For every crisis that EVAL.json (evaluate_alerts.py) did not detect, counts
the brand's mentions, negatives and toxic mentions in the 60 minutes after
onset, and compares them with the same clock hour on every other day of the
stream (the brand's true baseline, known only in hindsight). The z of the
strongest of three exact tests (negatives and toxic mentions against their
Poisson expectation, the negative share against its binomial one) is what a
detector that knew the baseline perfectly could have seen by the deadline:
below the balanced preset's warning z (4) no detector pages at its false
alarm rate, whatever its design.

Last, it counts the crises whose first hour holds 6 or more negative or
toxic mentions (the balanced preset's `min_warning_count`: a negative or
toxicity surge pages on no fewer) and gives the recall on them of earshot
(EVAL.json) and of each NAME=EVAL.json (the anchor rules).
"""
import json
import math
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from statistics import NormalDist

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from evaluate_alerts import crisis_key  # noqa: E402  (after its path)

# The balanced preset's `min_warning_count`: fewest negative (or toxic)
# mentions a page rests on.
MIN_WARNING_COUNT = 6


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


def brand_of(line: bytes) -> bytes:
    start = line.find(b'"brand":"') + 9
    return line[start:line.find(b'"', start)]


def main() -> None:
    scored_path, truth_path, eval_path = sys.argv[1:4]
    rules = {"earshot": eval_path} | dict(arg.split("=", 1) for arg in sys.argv[4:])
    detected_by_rule = {rule: set(json.load(open(path))["delays_by_crisis"]) for rule, path in rules.items()}
    crises = [json.loads(line) for line in open(truth_path) if line.strip()]
    crises = [c for c in crises if c["crisis"]]
    if not crises:
        return
    for crisis in crises:
        crisis["key"] = crisis_key(crisis)
        crisis["missed"] = crisis["key"] not in detected_by_rule["earshot"]
        crisis["onset"] = minute_of(crisis["onset_at"])
    by_brand = defaultdict(list)
    for crisis in crises:
        by_brand[crisis["brand"].encode()].append(crisis)
    # Per crisis brand: minute -> [mentions, negatives, toxic].
    counts = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    for line in open(scored_path, "rb"):
        brand = brand_of(line)
        if brand in by_brand:
            record = json.loads(line)
            row = counts[brand][minute_of(record["created_at"])]
            row[0] += 1
            row[1] += record["sentiment"]["label"] == "negative"
            row[2] += record["toxicity"]["label"] == "toxic"
    for crisis in crises:
        minutes = counts[crisis["brand"].encode()]
        crisis["first_hour"] = hour_from(minutes, crisis["onset"])
    for crisis in sorted((c for c in crises if c["missed"]), key=lambda c: c["brand"]):
        report_miss(crisis, counts[crisis["brand"].encode()])
    # A negative or toxicity surge pages on MIN_WARNING_COUNT mentions at
    # least: the minimum evidence that keeps a quiet brand's few posts from
    # paging.
    with_evidence = [c for c in crises if max(c["first_hour"][1:]) >= MIN_WARNING_COUNT]
    print(
        f"crises with {MIN_WARNING_COUNT}+ negative or toxic mentions in their first hour: "
        f"{len(with_evidence)} of {len(crises)}"
    )
    for rule, detected in detected_by_rule.items():
        paged = sum(c["key"] in detected for c in with_evidence)
        print(f"  {rule} paged {paged} of them in time (recall {paged / max(len(with_evidence), 1):.3f})")


def hour_from(minutes: dict, start: int) -> list:
    return [sum(minutes[m][i] for m in range(start, start + 60) if m in minutes) for i in range(3)]


def report_miss(crisis: dict, minutes: dict) -> None:
    onset = crisis["onset"]
    first, last = min(minutes), max(minutes)
    observed = crisis["first_hour"]
    # The same clock hour on every other whole day of the stream.
    others = [hour_from(minutes, onset + 1440 * d) for d in range(-30, 31)
              if d != 0 and first <= onset + 1440 * d and onset + 1440 * d + 60 <= last]
    usual = [sum(o[i] for o in others) / max(len(others), 1) for i in range(3)]
    negative_share = usual[1] / max(usual[0], 1e-9)
    tails = {
        "negatives": poisson_upper(observed[1], usual[1]),
        "toxic": poisson_upper(observed[2], usual[2]),
        "negative share": binomial_upper(observed[1], observed[0], negative_share),
    }
    test, tail = min(tails.items(), key=lambda item: item[1])
    below = " (under the minimum evidence)" if max(observed[1:]) < MIN_WARNING_COUNT else ""
    print(
        f"{crisis['brand']} {crisis['shape'].split(' ')[0]} at {crisis['onset_at'][11:16]}: "
        f"{observed[0]} mentions, {observed[1]} negative, {observed[2]} toxic in its first hour{below} "
        f"vs {usual[0]:.1f}, {usual[1]:.1f}, {usual[2]:.1f} at that hour on other days; "
        f"best hindsight test: {test}, z {z_of(tail):.1f}"
    )


if __name__ == "__main__":
    main()
