"""The recall a detector of counts that knew every brand's true baseline
could reach at a given false-page rate: a bound on the recall any detector
gets from counts alone.

Usage: alerter_ceiling.py SCORED.jsonl TRUTH.jsonl [SCORED TRUTH ...]

The oracle knows each brand's baseline in hindsight: its mean volume in a
window, from the same clock time (shifted by up to half an hour either way)
on every other day of the same kind (weekday or weekend) in the stream, and
its negative and toxic shares over all its calm time. It also knows when events
happen, so calm time excludes every event (an hour either side) and it
never pages on a viral launch or a backlog. For a window starting at a
minute, it tests the first 10, 20, 30, 45 and 60 minutes with three exact
tests (negatives and toxic mentions against their Poisson means, the
negative share against its binomial one) and keeps the strongest z.

- A crisis's z is that of the window starting at its onset: the evidence
  there was by the 60-minute deadline of `evaluate_alerts.py`.
- Calm time is read every 5 minutes, with the same family of windows and
  tests. Starts at or over a threshold z, less than an hour apart, are one
  false page.

Printed per threshold: the oracle's false pages per brand-week and its
recall. The oracle sees more than any real detector of counts (the
baseline without learning it, windows aligned with each onset, events
never read as calm), so its recall at a false-page rate bounds theirs at
it. A crisis's words are evidence it does not read: earshot's emerging
terms, backing a surge, page some crises whose counts say little.
"""
import json
import sys
from collections import defaultdict
from datetime import datetime, timezone

import numpy as np
from scipy.stats import binom, norm, poisson

WINDOWS = (10, 20, 30, 45, 60)
CALM_STEP = 5
DAY = 1440
THRESHOLDS = (3.0, 3.5, 4.0, 4.5, 5.0)


def minute_of(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) // 60


def load(scored_path: str, truth_path: str):
    events = [json.loads(line) for line in open(truth_path)]
    rows = defaultdict(list)
    for line in open(scored_path):
        record = json.loads(line)
        rows[record["brand"]].append((
            minute_of(record["created_at"]),
            record["sentiment"]["label"] == "negative",
            record["toxicity"]["label"] == "toxic",
        ))
    first = min(m for brand_rows in rows.values() for m, _, _ in brand_rows)
    last = max(m for brand_rows in rows.values() for m, _, _ in brand_rows)
    length = last - first + 1
    # Per brand: cumulative counts of mentions, negatives, toxic by minute.
    cumulative = {}
    for brand, brand_rows in rows.items():
        counts = np.zeros((3, length + 1))
        for minute, negative, toxic in brand_rows:
            counts[0, minute - first + 1] += 1
            counts[1, minute - first + 1] += negative
            counts[2, minute - first + 1] += toxic
        cumulative[brand] = np.cumsum(counts, axis=1)
    weekend = np.array([
        datetime.fromtimestamp((first + m) * 60, timezone.utc).weekday() >= 5 for m in range(length)
    ])
    return events, cumulative, first, length, weekend


def calm_shares(cumulative, excluded):
    """The brand's negative and toxic shares over its calm minutes."""
    counts = np.diff(cumulative, axis=1)[:, ~excluded].sum(axis=1)
    return counts[1] / max(counts[0], 1.0), counts[2] / max(counts[0], 1.0)


def strongest_z(cumulative, excluded, weekend, length, starts):
    """Best z over windows and tests for each start (an int array)."""
    excluded_sum = np.concatenate(([0], np.cumsum(excluded)))
    negative_share, toxic_share = calm_shares(cumulative, excluded)
    negative_share = min(max(negative_share, 1e-6), 1 - 1e-6)
    best = np.zeros(len(starts))
    offsets = np.array([d * DAY + shift for d in range(-30, 31) if d != 0 for shift in range(-30, 31, 10)])
    for width in WINDOWS:
        ends = starts + width
        observed = cumulative[:, np.minimum(ends, length)] - cumulative[:, starts]
        # The same minutes on other days of the same kind, events left out.
        other = starts[:, None] + offsets[None, :]
        valid = (other >= 0) & (other + width <= length)
        clipped = np.clip(other, 0, length - width)
        valid &= weekend[clipped] == weekend[np.minimum(starts, length - 1)][:, None]
        valid &= (excluded_sum[clipped + width] - excluded_sum[clipped]) == 0
        volumes = cumulative[0, clipped + width] - cumulative[0, clipped]
        days = valid.sum(axis=1)
        volume = (volumes * valid).sum(axis=1) / np.maximum(days, 1)
        tails = np.minimum.reduce([
            poisson.sf(observed[1] - 1, np.maximum(volume * negative_share, 1e-9)),
            poisson.sf(observed[2] - 1, np.maximum(volume * toxic_share, 1e-9)),
            binom.sf(observed[1] - 1, observed[0], negative_share),
        ])
        z = np.where(days > 0, norm.isf(np.clip(tails, 1e-300, 0.5)), 0.0)
        best = np.maximum(best, z)
    return best


def read_stream(scored_path: str, truth_path: str):
    """(crisis z's, calm z's per brand as (starts, z's)), calm minutes."""
    events, cumulative, first, length, weekend = load(scored_path, truth_path)
    crisis_z, calm, calm_minutes = [], [], 0
    for brand, brand_cumulative in sorted(cumulative.items()):
        excluded = np.zeros(length, dtype=bool)
        brand_events = [e for e in events if e["brand"] == brand]
        for event in brand_events:
            onset, end = minute_of(event["onset_at"]) - first, minute_of(event["end_at"]) - first
            excluded[max(onset - 60, 0):min(end + 60, length)] = True
        for event in brand_events:
            if event["crisis"]:
                onset = np.array([minute_of(event["onset_at"]) - first])
                crisis_z.append(float(strongest_z(brand_cumulative, excluded, weekend, length, onset)[0]))
        # Calm windows must end before anything excluded begins.
        excluded_sum = np.concatenate(([0], np.cumsum(excluded)))
        starts = np.arange(0, length - max(WINDOWS), CALM_STEP)
        starts = starts[(excluded_sum[starts + max(WINDOWS)] - excluded_sum[starts]) == 0]
        calm.append((starts, strongest_z(brand_cumulative, excluded, weekend, length, starts)))
        calm_minutes += len(starts) * CALM_STEP
    return crisis_z, calm, calm_minutes


def false_pages(calm, threshold: float) -> int:
    pages = 0
    for starts, z in calm:
        last = None
        for start in starts[z >= threshold]:
            if last is None or start - last >= 60:
                pages += 1
            last = start
    return pages


def main() -> None:
    paths = sys.argv[1:]
    if len(paths) < 2 or len(paths) % 2:
        sys.exit(__doc__)
    crisis_z, calm, calm_minutes = [], [], 0
    for scored_path, truth_path in zip(paths[::2], paths[1::2]):
        stream_crisis_z, stream_calm, stream_minutes = read_stream(scored_path, truth_path)
        crisis_z += stream_crisis_z
        calm += stream_calm
        calm_minutes += stream_minutes
    brand_weeks = calm_minutes / (7 * DAY)
    print(f"{len(crisis_z)} crises, {brand_weeks:.0f} calm brand-weeks")
    print("| oracle pages at z | false pages per brand-week | recall |")
    print("|---|---|---|")
    for threshold in THRESHOLDS:
        rate = false_pages(calm, threshold) / brand_weeks
        recall = sum(z >= threshold for z in crisis_z) / len(crisis_z)
        print(f"| {threshold} | {rate:.2f} | {recall:.3f} |")
    print("crisis z's, lowest first: " + ", ".join(f"{z:.1f}" for z in sorted(crisis_z)[:12]))


if __name__ == "__main__":
    main()
