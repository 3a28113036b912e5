"""Scores a backtest against synthetic ground truth.

Usage: evaluate_alerts.py TRUTH.jsonl ALERTS.jsonl DAYS
A crisis event is detected when a warning or critical page for its brand
fires between its onset and 60 minutes after. False alarms are counted per
incident (an alert `id`; a line without one is its own incident): an
incident whose first page falls outside every crisis of its brand (onset to
end + 30 minutes) is one false alarm, however many updates (escalations,
de-escalations) it sends afterwards. Later pages of an incident that first
paged during a crisis are updates of a true alarm, not new alarms.
`delays_by_crisis` gives each detected crisis's delay by "brand onset", so
that two rules' delays can be compared on the crises both detect.

An event is explained when an alert of its brand (any kind or severity)
names the event's term (`term` in the truth; `#issueN` for brand N in
truth files written before it) among its top terms between its onset and
60 minutes after: what the emerging-terms detector and the evidence are for.
"""
import json
import statistics
import sys
from datetime import datetime, timedelta


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def crisis_key(event: dict) -> str:
    """How `delays_by_crisis` names a crisis of the truth file."""
    return f"{event['brand']} {event['onset_at']}"


def median_and_p90(delays: list) -> tuple:
    """The usual median (mean of the two middle delays for an even count;
    until 2026-11-24 this took the upper middle one) and the p90 (the delay
    at 90% of the sorted list), NaN for none."""
    if not delays:
        return float("nan"), float("nan")
    delays = sorted(delays)
    return statistics.median(delays), delays[min(len(delays) - 1, int(len(delays) * 0.9))]


def main() -> None:
    truth_path, alerts_path, days = sys.argv[1], sys.argv[2], float(sys.argv[3])
    truth = [json.loads(line) for line in open(truth_path)]
    alerts = [json.loads(line) for line in open(alerts_path)]
    pages = [a for a in alerts if a["status"] == "firing" and a["severity"] in ("warning", "critical")]
    brands = {a["brand"] for a in alerts} | {t["brand"] for t in truth}
    delays, matched, missed = [], set(), []
    delays_by_crisis = {}
    for event in truth:
        if not event["crisis"]:
            continue
        onset, limit = parse(event["onset_at"]), parse(event["onset_at"]) + timedelta(minutes=60)
        hits = [p for p in pages if p["brand"] == event["brand"] and onset <= parse(p["detected_at"]) <= limit]
        if hits:
            first = min(hits, key=lambda p: p["detected_at"])
            delays.append((parse(first["detected_at"]) - onset).total_seconds() / 60)
            delays_by_crisis[crisis_key(event)] = delays[-1]
        else:
            missed.append(f"{event['brand']} {event['shape'].split(' ')[0].split('{')[0]}")
        for p in hits:
            matched.add(id(p))
    # Pages during a crisis of that brand, beyond the 60 minutes, are not counted as false.
    def inside_event(page) -> bool:
        t = parse(page["detected_at"])
        return any(e["brand"] == page["brand"] and parse(e["onset_at"]) <= t <= parse(e["end_at"]) + timedelta(minutes=30) and e["crisis"] for e in truth)
    first_pages = {}
    for index, page in enumerate(sorted(pages, key=lambda p: p["detected_at"])):
        first_pages.setdefault(page.get("id", f"line-{index}"), page)
    explain_delays = []
    for event in truth:
        term = event.get("term") or "#issue" + str(int(event["brand"].rsplit("-", 1)[-1]))
        onset, limit = parse(event["onset_at"]), parse(event["onset_at"]) + timedelta(minutes=60)
        named = [parse(a["detected_at"]) for a in alerts
                 if a["brand"] == event["brand"] and onset <= parse(a["detected_at"]) <= limit
                 and any(t["term"] == term for t in a.get("evidence", {}).get("top_terms", []))]
        if named:
            explain_delays.append((min(named) - onset).total_seconds() / 60)
    false_pages = [p for p in first_pages.values() if id(p) not in matched and not inside_event(p)]
    crises = sum(1 for e in truth if e["crisis"])
    median, p90 = median_and_p90(delays)
    brand_weeks = len(brands) * days / 7
    print(json.dumps({
        "crises": crises, "detected_within_60_min": len(delays), "recall": round(len(delays) / max(crises, 1), 3),
        "median_delay_min": median, "p90_delay_min": p90,
        "pages": len(pages), "incidents_paged": len(first_pages), "false_pages": len(false_pages), "false_pages_per_brand_week": round(len(false_pages) / max(brand_weeks, 1e-9), 3),
        "false_page_examples": [p["summary"][:120] for p in false_pages[:5]],
        "missed": missed,
        "delays_by_crisis": delays_by_crisis,
        "events": len(truth), "explained_within_60_min": len(explain_delays),
        "explain_median_delay_min": statistics.median(explain_delays) if explain_delays else float("nan"),
    }, indent=2))


if __name__ == "__main__":
    main()
