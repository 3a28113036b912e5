"""The two commercial anchor rules of issue 5, run over a scored stream.

Usage: alerter_anchors.py SCORED.jsonl OUT_MELTWATER.jsonl OUT_SOCIALMETRIX.jsonl

- meltwater:    the last hour's mentions > 2x the mean hourly count of the
                12 hours before it;
- socialmetrix: the last hour's mentions > mean + 3 sd of the 168 hourly
                counts of the 7 days before it (at least 24 hours needed).

Both are given every advantage earshot does not have: perfect event-time
counts (no lateness, late mentions counted where they belong), evaluated
every 5 minutes on a sliding hour. A page fires when a rule turns true and
stays one incident while it holds. Pages are written as alert-like JSON lines
(brand, status firing, severity warning, detected_at) for evaluate_alerts.py.
"""
import json
import sys
from collections import defaultdict
from datetime import datetime, timezone

import numpy as np

STEP_MIN = 5


def parse(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) // 60


def iso(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> None:
    scored_path, meltwater_path, socialmetrix_path = sys.argv[1:4]
    minutes = defaultdict(list)
    for line in open(scored_path, "rb"):
        record = json.loads(line)
        minutes[record["brand"]].append(parse(record["created_at"]))
    first = min(min(values) for values in minutes.values())
    last = max(max(values) for values in minutes.values())
    span = last - first + 1
    outputs = {"meltwater": open(meltwater_path, "w"), "socialmetrix": open(socialmetrix_path, "w")}
    pages = {"meltwater": 0, "socialmetrix": 0}
    for brand, values in sorted(minutes.items()):
        counts = np.bincount(np.asarray(values) - first, minlength=span)
        # cumulative[i] = mentions in minutes [0, i)
        cumulative = np.concatenate([[0], np.cumsum(counts)])
        open_rule = {"meltwater": False, "socialmetrix": False}
        for end in range(13 * 60, span + 1, STEP_MIN):
            last_hour = cumulative[end] - cumulative[end - 60]
            trailing_12h = (cumulative[end - 60] - cumulative[end - 13 * 60]) / 12.0
            hours_back = min(168, (end - 60) // 60)
            hour_ends = end - 60 - 60 * np.arange(hours_back)
            hourly = cumulative[hour_ends] - cumulative[hour_ends - 60]
            fired = {
                "meltwater": last_hour > 2.0 * trailing_12h,
                "socialmetrix": hours_back >= 24 and last_hour > hourly.mean() + 3.0 * hourly.std(),
            }
            for rule, now in fired.items():
                if now and not open_rule[rule]:
                    pages[rule] += 1
                    outputs[rule].write(json.dumps({
                        "brand": brand, "status": "firing", "severity": "warning",
                        "detected_at": iso(first + end),
                        "summary": f"{brand} {rule}: {int(last_hour)} mentions in the last hour",
                    }) + "\n")
                open_rule[rule] = bool(now)
    for output in outputs.values():
        output.close()
    print(json.dumps(pages))


if __name__ == "__main__":
    main()
