#!/usr/bin/env bash
# Starts the broker and the built services in the background; starts only what
# is not running. Logs and pid files live under .earshot/run.
source "$(dirname "$0")/common.sh"
RUN_DIR="$EARSHOT_STATE/run"
BIN_DIR="$ROOT/target/release"
mkdir -p "$RUN_DIR"
"$ROOT/scripts/broker.sh" start

# start_program NAME COMMAND...: starts COMMAND in the background unless the
# pid file of NAME says it runs already.
start_program() {
  local name="$1"; shift
  local pid_file="$RUN_DIR/$name.pid"
  if pid_alive "$pid_file"; then
    step "$name already running (pid $(cat "$pid_file"))"
    return
  fi
  step "starting $name (log: $RUN_DIR/$name.log)"
  nohup "$@" >"$RUN_DIR/$name.log" 2>&1 &
  echo $! >"$pid_file"
}

# start_service NAME ARGS...: start_program for an earshot binary.
start_service() {
  local name="$1"; shift
  pid_alive "$RUN_DIR/$name.pid" || [ -x "$BIN_DIR/$name" ] || die "$BIN_DIR/$name is not built; run make build"
  start_program "$name" "$BIN_DIR/$name" "$@"
}

wait_healthy() {
  local name="$1" url="$2"
  for _ in $(seq 1 120); do
    curl -fsS "$url" >/dev/null 2>&1 && { note "$name ready: $url"; return; }
    sleep 0.5
  done
  die "$name did not become ready; see $RUN_DIR/$name.log"
}

start_service earshot-scorer serve --model-dir "$EARSHOT_MODEL_DIR" --http-addr 127.0.0.1:9471
# The demo's webhook receiver (also Alertmanager's pager/ops receiver in
# deploy/alertmanager/alertmanager.yml): POSTs go to .earshot/webhook-received.jsonl.
start_program webhook-receiver python3 "$ROOT/scripts/webhook_receiver.py" "$EARSHOT_STATE/webhook-received.jsonl" 9095
start_service earshot-alerter serve --http-addr 127.0.0.1:9472 \
  --config "${EARSHOT_ALERTER_CONFIG:-$ROOT/deploy/alerter/alerter.json}" \
  --webhook-url "${EARSHOT_WEBHOOK_URL:-http://127.0.0.1:9095/earshot}" \
  --alertmanager-url "${EARSHOT_ALERTMANAGER_URL:-http://127.0.0.1:9093}"
start_service earshot-exporter --http-addr 127.0.0.1:9464 \
  --competitor-group "airlines=united,delta,southwest,jetblue,american,virgin,usairways" \
  --competitor-group "tech=apple,google"
start_program prometheus prometheus --config.file="$ROOT/deploy/prometheus/prometheus.yml" \
  --storage.tsdb.path="$EARSHOT_STATE/prometheus" --web.listen-address=127.0.0.1:9090
start_program alertmanager prometheus-alertmanager --config.file="$ROOT/deploy/alertmanager/alertmanager.yml" \
  --storage.path="$EARSHOT_STATE/alertmanager" --web.listen-address=127.0.0.1:9093 --cluster.listen-address=
wait_healthy earshot-scorer http://127.0.0.1:9471/health
wait_healthy earshot-alerter http://127.0.0.1:9472/health
wait_healthy earshot-exporter http://127.0.0.1:9464/health
wait_healthy prometheus http://127.0.0.1:9090/-/ready
wait_healthy alertmanager http://127.0.0.1:9093/-/ready
wait_healthy webhook-receiver http://127.0.0.1:9095/
