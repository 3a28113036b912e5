#!/usr/bin/env bash
# Replay at --speed max against a bare librdkafka producer (Python
# confluent-kafka, same settings), same file, same private broker, one run,
# alternating the two twice; prints a table for BENCHMARKS.md.
#   benches/scripts/replay_throughput.sh [MENTIONS]   (default 200000)
source "$(dirname "$0")/../../scripts/common.sh"
COUNT="${1:-200000}"
WORK="$(mktemp -d)"
export EARSHOT_STATE="$WORK/state"
export EARSHOT_BROKER_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export EARSHOT_TOPICS="bench.python.1 bench.replay.1 bench.python.2 bench.replay.2"
export EARSHOT_PARTITIONS=4
BROKERS="127.0.0.1:$EARSHOT_BROKER_PORT"
trap '"$ROOT/scripts/broker.sh" stop >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

[ -x "$ROOT/target/release/earshot-replay" ] || die "build first: cargo build --release -p earshot-replay"
step "input: $COUNT mentions from data/sample_mentions.jsonl with fresh ids"
"$VENV/bin/python" - "$ROOT/data/sample_mentions.jsonl" "$WORK/input.jsonl" "$COUNT" <<'PY'
import json, sys
source, target, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
mentions = [json.loads(line) for line in open(source, encoding="utf-8") if line.strip()]
with open(target, "w", encoding="utf-8") as out:
    for index in range(count):
        mention = dict(mentions[index % len(mentions)])
        mention["id"] = f"bench-{index}"
        out.write(json.dumps(mention, ensure_ascii=False) + "\n")
PY
note "$(du -h "$WORK/input.jsonl" | cut -f1) on disk"
"$ROOT/scripts/broker.sh" start

results="$WORK/results.txt"
for round in 1 2; do
  step "round $round: confluent-kafka (bare librdkafka)"
  "$VENV/bin/python" "$ROOT/benches/scripts/librdkafka_producer.py" --brokers "$BROKERS" \
    --topic "bench.python.$round" --input "$WORK/input.jsonl" | tee -a "$results" | sed 's/^/    /'
  step "round $round: earshot-replay file --speed max"
  summary="$("$ROOT/target/release/earshot-replay" --log-format json file --brokers "$BROKERS" \
    --input "$WORK/input.jsonl" --topic "bench.replay.$round" --speed max --http-addr off \
    --reject-file "$WORK/rejects.jsonl" 2>&1 >/dev/null | tail -1)"
  echo "    $summary"
  echo "replay $summary" >> "$results"
done

"$VENV/bin/python" - "$results" "$COUNT" <<'PY'
import json, re, sys
python_rates, replay_rates = [], []
for line in open(sys.argv[1]):
    if line.startswith("{"):
        python_rates.append(json.loads(line)["per_second"])
    elif line.startswith("replay"):
        match = re.search(r"replayed (\d+) of .* ([\d.]+) mentions/s", line)
        if not match or int(match.group(1)) != int(sys.argv[2]):
            sys.exit(f"replay did not send everything: {line.strip()}")
        replay_rates.append(float(match.group(2)))
best_python, best_replay = max(python_rates), max(replay_rates)
print()
print("| producer | mentions/s (best of 2) | all runs |")
print("|---|---|---|")
print(f"| confluent-kafka (bare librdkafka, keys precomputed) | {best_python:,.0f} | {', '.join(f'{r:,.0f}' for r in python_rates)} |")
print(f"| earshot-replay --speed max (parse, validate, re-encode) | {best_replay:,.0f} | {', '.join(f'{r:,.0f}' for r in replay_rates)} |")
print(f"\nratio replay / bare: {best_replay / best_python:.2f} (goal >= 0.8); replay >= 100k/s: {best_replay >= 100_000}")
PY
