#!/usr/bin/env bash
# The demo: broker and scorer up, sample brand mentions replayed, scored
# mentions read back, and where to look printed.
source "$(dirname "$0")/common.sh"
"$ROOT/scripts/up.sh"
SAMPLE="$ROOT/data/sample_mentions.jsonl"
step "replaying $(wc -l <"$SAMPLE") sample mentions into topic mentions"
"$ROOT/target/release/earshot-replay" file --input "$SAMPLE" --topic mentions
expected="$(wc -l <"$SAMPLE")"
step "waiting for the scorer to score them"
scored=0
for _ in $(seq 1 600); do
  scored="$(curl -fsS http://127.0.0.1:9471/metrics | awk '/^earshot_kafka_produced_messages_total\{.*topic="mentions.scored"/ {sum += $2} END {print sum+0}')"
  dead="$(curl -fsS http://127.0.0.1:9471/metrics | awk '/^earshot_kafka_produced_messages_total\{.*topic="mentions.dlq"/ {sum += $2} END {print sum+0}')"
  [ $((scored + dead)) -ge "$expected" ] && break
  sleep 1
done
note "scored $scored, dead-lettered ${dead:-0} of $expected"
step "a few scored mentions from mentions.scored"
"$VENV/bin/python" "$ROOT/scripts/peek_topic.py" --brokers "127.0.0.1:$EARSHOT_BROKER_PORT" --topic mentions.scored --count 5
cat <<EOT

Where to look:
  scorer metrics   http://127.0.0.1:9471/metrics   (earshot_scorer_*, earshot_kafka_*)
  scorer health    http://127.0.0.1:9471/health
  scored topic     $VENV/bin/python scripts/peek_topic.py --topic mentions.scored --count 20
  dead letters     $VENV/bin/python scripts/peek_topic.py --topic mentions.dlq --count 20
  logs             $EARSHOT_STATE/run/*.log, broker: $EARSHOT_STATE/broker/tansu.log
  stop everything  make down
EOT
