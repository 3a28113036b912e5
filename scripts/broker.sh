#!/usr/bin/env bash
# The embedded Kafka-protocol broker (tansu, sqlite storage) on 127.0.0.1.
#   broker.sh start | stop | status | topics
source "$(dirname "$0")/common.sh"
BROKER_DIR="$EARSHOT_STATE/broker"
PID_FILE="$BROKER_DIR/tansu.pid"
LOG_FILE="$BROKER_DIR/tansu.log"
URL="tcp://127.0.0.1:$EARSHOT_BROKER_PORT"
mkdir -p "$BROKER_DIR"

wait_ready() {
  for _ in $(seq 1 60); do
    if "$TANSU_BIN" topic list --broker "$URL" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  return 1
}

create_topics() {
  existing="$("$TANSU_BIN" topic list --broker "$URL" 2>/dev/null || true)"
  for topic in $EARSHOT_TOPICS; do
    if printf '%s' "$existing" | grep -q "\"$topic\""; then
      note "topic $topic exists"
    else
      "$TANSU_BIN" topic create "$topic" --broker "$URL" --partitions "$EARSHOT_PARTITIONS" >/dev/null
      note "topic $topic created with $EARSHOT_PARTITIONS partitions"
    fi
  done
}

case "${1:-status}" in
  start)
    [ -x "$TANSU_BIN" ] || die "tansu is not installed; run scripts/setup.sh"
    if pid_alive "$PID_FILE"; then
      step "broker already running on 127.0.0.1:$EARSHOT_BROKER_PORT (pid $(cat "$PID_FILE"))"
    else
      step "starting broker on 127.0.0.1:$EARSHOT_BROKER_PORT (data: $BROKER_DIR/earshot.db)"
      # tansu resolves the sqlite path against its working directory.
      (cd "$BROKER_DIR" && exec nohup "$TANSU_BIN" broker \
        --listener-url "$URL" --advertised-listener-url "$URL" \
        --storage-engine "sqlite://earshot.db" >"$LOG_FILE" 2>&1) &
      echo $! >"$PID_FILE"
      wait_ready || die "broker did not become ready; see $LOG_FILE"
    fi
    create_topics
    ;;
  stop)
    if pid_alive "$PID_FILE"; then
      step "stopping broker (pid $(cat "$PID_FILE"))"
      kill "$(cat "$PID_FILE")"
      for _ in $(seq 1 40); do pid_alive "$PID_FILE" || break; sleep 0.25; done
      pid_alive "$PID_FILE" && kill -9 "$(cat "$PID_FILE")" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    ;;
  status)
    if pid_alive "$PID_FILE"; then echo "broker running (pid $(cat "$PID_FILE"))"; else echo "broker stopped"; fi
    ;;
  topics) "$TANSU_BIN" topic list --broker "$URL" ;;
  *) die "usage: broker.sh start|stop|status|topics" ;;
esac
