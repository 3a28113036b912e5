#!/usr/bin/env bash
# Detection quality and speed of the alerter against the two commercial
# anchor rules, on one labeled synthetic stream; prints a table for
# BENCHMARKS.md.
#   benches/scripts/alerter_quality.sh [BRANDS] [DAYS] [SEED] [TEXTS] [THREADS] [REPOSTS]
#   (default 40 14 3 real 0 0). TEXTS: `real` draws each mention's text from
#   real brand tweets and insults by its labels (alerter_text_pool.py),
#   `words` from the generator's built-in twenty-word list. THREADS and
#   REPOSTS: the share of each brand's mentions that take its previous
#   mention's labels, or repeat it whole (`synth --thread-share`,
#   `--repost-share`; BENCHMARKS.md, stop 41).
source "$(dirname "$0")/../../scripts/common.sh"
BRANDS="${1:-40}"
DAYS="${2:-14}"
SEED="${3:-3}"
TEXTS="${4:-real}"
THREADS="${5:-0}"
REPOSTS="${6:-0}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ALERTER="$ROOT/target/release/earshot-alerter"
[ -x "$ALERTER" ] || die "build first: cargo build --release -p earshot-alerter"

TEXT_ARGS=()
case "$TEXTS" in
  real) TEXT_ARGS=(--texts "$("$ROOT/benches/scripts/alerter_text_pool.sh")") ;;
  words) ;;
  *) die "TEXTS must be real or words, not $TEXTS" ;;
esac
step "synthetic stream: $BRANDS brands, $DAYS days, seed $SEED, $TEXTS texts, threads $THREADS, reposts $REPOSTS"
"$ALERTER" synth --output "$WORK/scored.jsonl" --truth "$WORK/truth.jsonl" \
  --brands "$BRANDS" --days "$DAYS" --seed "$SEED" "${TEXT_ARGS[@]}" \
  --thread-share "$THREADS" --repost-share "$REPOSTS"
step "earshot-alerter backtest (balanced preset)"
"$ALERTER" backtest --input "$WORK/scored.jsonl" --output "$WORK/earshot.jsonl" 2> "$WORK/backtest.log"
cat "$WORK/backtest.log" >&2
step "anchor rules (meltwater: 1 h > 2x 12 h mean; socialmetrix: 1 h > mean + 3 sd of 7 days)"
"$VENV/bin/python" "$ROOT/benches/scripts/alerter_anchors.py" "$WORK/scored.jsonl" \
  "$WORK/meltwater.jsonl" "$WORK/socialmetrix.jsonl" >/dev/null
for rule in earshot meltwater socialmetrix; do
  "$VENV/bin/python" "$ROOT/scripts/evaluate_alerts.py" "$WORK/truth.jsonl" "$WORK/$rule.jsonl" "$DAYS" > "$WORK/$rule.eval.json"
done
"$VENV/bin/python" - "$WORK" "$(grep -o '[0-9]* mentions/s' "$WORK/backtest.log" | cut -d' ' -f1)" "$ROOT/scripts" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[3])
from evaluate_alerts import median_and_p90
work, speed = sys.argv[1], sys.argv[2]
rows = {rule: json.load(open(f"{work}/{rule}.eval.json")) for rule in ("earshot", "meltwater", "socialmetrix")}
print(f"| figure | earshot | anchor: 1 h > 2x 12 h mean | anchor: 1 h > mean + 3 sd of 7 d |")
print("|---|---|---|---|")
line = lambda name, key: print(f"| {name} | " + " | ".join(str(rows[r][key]) for r in rows) + " |")
line("recall within 60 min of onset", "recall")
line("median detection delay (min)", "median_delay_min")
line("p90 detection delay (min)", "p90_delay_min")
line("false pages", "false_pages")
line("false pages per brand-week", "false_pages_per_brand_week")
print(f"\ncrises: {rows['earshot']['crises']}; backtest speed: {speed} mentions/s")
# Each rule's delays above are over the crises it detects, so a rule that
# finds only the loudest crises has short delays by that alone; here the
# delays of earshot and each anchor on the crises both detect.
ours = rows["earshot"]["delays_by_crisis"]
for anchor in ("meltwater", "socialmetrix"):
    theirs = rows[anchor]["delays_by_crisis"]
    both = sorted(set(ours) & set(theirs))
    if not both:
        print(f"{anchor}: no crisis detected by both")
        continue
    (our_median, our_p90), (their_median, their_p90) = (
        median_and_p90([rule[crisis] for crisis in both]) for rule in (ours, theirs))
    sooner = sum(ours[crisis] < theirs[crisis] for crisis in both)
    later = sum(ours[crisis] > theirs[crisis] for crisis in both)
    print(f"on the {len(both)} crises earshot and {anchor} both detect: median {our_median} vs {their_median} min, "
          f"p90 {our_p90} vs {their_p90} min; earshot sooner on {sooner}, later on {later}")
for rule, row in rows.items():
    if row.get("missed"):
        print(f"{rule} missed: {', '.join(row['missed'])}")
PY
step "what earshot's misses left to see (hindsight tests against each brand's same hour on other days), and recall on the crises with the minimum evidence"
"$VENV/bin/python" "$ROOT/benches/scripts/alerter_misses.py" "$WORK/scored.jsonl" "$WORK/truth.jsonl" \
  "$WORK/earshot.eval.json" meltwater="$WORK/meltwater.eval.json" socialmetrix="$WORK/socialmetrix.eval.json"
