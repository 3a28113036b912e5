#!/usr/bin/env bash
# The demo: broker and scorer up, sample brand mentions replayed, scored
# mentions read back, and where to look printed.
source "$(dirname "$0")/common.sh"
# The demo starts from empty topics so that a second run shows the same
# thing as the first (the broker is durable; replays would add up).
step "resetting demo state (broker data, Prometheus and Alertmanager data under $EARSHOT_STATE)"
"$ROOT/scripts/down.sh"
rm -rf "$EARSHOT_STATE/broker" "$EARSHOT_STATE/prometheus" "$EARSHOT_STATE/alertmanager" "$EARSHOT_STATE/webhook-received.jsonl"
# The sample covers six hours: the demo lets brands page after two.
export EARSHOT_ALERTER_CONFIG="${EARSHOT_ALERTER_CONFIG:-$ROOT/deploy/alerter/demo.json}"
"$ROOT/scripts/up.sh"
SAMPLE="$ROOT/data/sample_mentions.jsonl"
# Counters of a scorer that was already running: wait for this run's share only.
produced() { curl -fsS http://127.0.0.1:9471/metrics | awk -v topic="$1" '$0 ~ "^earshot_kafka_produced_messages_total\\{.*topic=\"" topic "\"" {sum += $2} END {print sum+0}'; }
scored_before="$(produced mentions.scored)"
dead_before="$(produced mentions.dlq)"
step "replaying $(wc -l <"$SAMPLE") sample mentions into topic mentions"
"$ROOT/target/release/earshot-replay" file --input "$SAMPLE" --topic mentions
expected="$(wc -l <"$SAMPLE")"
step "waiting for the scorer to score them"
scored=0
for _ in $(seq 1 600); do
  scored=$(( $(produced mentions.scored) - scored_before ))
  dead=$(( $(produced mentions.dlq) - dead_before ))
  [ $((scored + dead)) -ge "$expected" ] && break
  sleep 1
done
note "scored $scored, dead-lettered ${dead:-0} of $expected"
step "a few scored mentions from mentions.scored"
"$VENV/bin/python" "$ROOT/scripts/peek_topic.py" --brokers "127.0.0.1:$EARSHOT_BROKER_PORT" --topic mentions.scored --count 5
step "waiting for the alerter to reach the end of the sample (event time)"
ALERTS_FILE="$EARSHOT_STATE/demo-alerts.jsonl"
metric_sum() { curl -fsS "$1" | awk -v name="$2" 'index($0, name) == 1 {sum += $NF} END {print sum+0}'; }
for _ in $(seq 1 120); do
  consumed="$(metric_sum http://127.0.0.1:9472/metrics earshot_alerter_mentions_total)"
  emitted="$(metric_sum http://127.0.0.1:9472/metrics earshot_alerter_alerts_emitted_total)"
  delivered="$(metric_sum http://127.0.0.1:9472/metrics 'earshot_kafka_produced_messages_total{service="alerter",topic="alerts"}')"
  [ "$consumed" -ge "$scored" ] && [ "$delivered" -ge "$emitted" ] && break
  sleep 1
done
"$VENV/bin/python" "$ROOT/scripts/peek_topic.py" --brokers "127.0.0.1:$EARSHOT_BROKER_PORT" --topic alerts --count "$emitted" --raw >"$ALERTS_FILE"
note "$(wc -l <"$ALERTS_FILE") alert state changes on topic alerts, written to $ALERTS_FILE:"
"$VENV/bin/python" -c 'import json,sys
for line in open(sys.argv[1]):
    a = json.loads(line); print("    ", a["status"], a["severity"], a["kind"], "|", a["summary"][:150])' "$ALERTS_FILE" | tail -8
step "waiting for the webhook and Alertmanager sinks"
for _ in $(seq 1 60); do
  hooked="$(curl -fsS http://127.0.0.1:9472/metrics | awk '/^earshot_alerter_notifications_total/ && /sink="webhook"/ && /result="delivered"/ {sum += $NF} END {print sum+0}' || echo 0)"
  [ "$hooked" -ge "$emitted" ] && break
  sleep 1
done
note "webhook: $hooked alert state changes delivered to $EARSHOT_STATE/webhook-received.jsonl"
active="$(curl -fsS 'http://127.0.0.1:9093/api/v2/alerts?active=true&filter=alertname%3D%22EarshotCrisis%22' | "$VENV/bin/python" -c 'import json,sys; print(len(json.load(sys.stdin)))' || echo "?")"
note "Alertmanager: $active active EarshotCrisis alerts (open incidents, re-sent every 60 s)"
step "waiting for Prometheus to scrape the exporter"
for _ in $(seq 1 60); do
  seen="$(curl -fsS 'http://127.0.0.1:9090/api/v1/query?query=sum(earshot_mentions_total)' | "$VENV/bin/python" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)')"
  [ "$seen" -ge "$(produced mentions.scored)" ] && break
  sleep 2
done
note "Prometheus sees $seen mentions"
graph() { printf 'http://127.0.0.1:9090/graph?g0.expr=%s&g0.tab=0&g0.range_input=1h' "$("$VENV/bin/python" -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1")"; }
cat <<EOT

Prometheus graphs (brand):
  mentions/s by brand       $(graph 'brand:earshot_mentions:rate5m')
  negative share            $(graph 'brand:earshot_negative_share:ratio_rate15m')
  toxic share               $(graph 'brand:earshot_toxicity_share:ratio_rate15m')
  share of voice            $(graph 'brand_group:earshot_share_of_voice:ratio_rate15m')
  mentions by sentiment     $(graph 'sum by (brand, sentiment) (earshot_mentions_total)')
Prometheus graphs (pipeline):
  throughput per stage      $(graph 'sum by (service, topic) (rate(earshot_kafka_produced_messages_total[1m]))')
  consumer lag              $(graph 'sum by (service, topic) (earshot_kafka_consumer_lag_messages)')
  model time p99            $(graph 'histogram_quantile(0.99, sum by (le) (rate(earshot_scorer_inference_duration_seconds_bucket[5m])))')
  pipeline alerts (rules)   http://127.0.0.1:9090/alerts
Alertmanager alert list     http://127.0.0.1:9093/#/alerts
Alerts file                 $ALERTS_FILE
Webhook deliveries          $EARSHOT_STATE/webhook-received.jsonl
Grafana dashboards (import) deploy/grafana/dashboards/*.json

Where to look:
  scorer metrics   http://127.0.0.1:9471/metrics   (earshot_scorer_*, earshot_kafka_*)
  scorer health    http://127.0.0.1:9471/health
  alerter metrics  http://127.0.0.1:9472/metrics  (earshot_alerter_*)
  exporter metrics http://127.0.0.1:9464/metrics  (earshot_mentions_total, earshot_toxic_mentions_total, ...)
  scored topic     $VENV/bin/python scripts/peek_topic.py --topic mentions.scored --count 20
  dead letters     $VENV/bin/python scripts/peek_topic.py --topic mentions.dlq --count 20
  logs             $EARSHOT_STATE/run/*.log, broker: $EARSHOT_STATE/broker/tansu.log
  stop everything  make down
EOT
