#!/usr/bin/env bash
# Starts the broker and the built services in the background; starts only what
# is not running. Logs and pid files live under .earshot/run.
source "$(dirname "$0")/common.sh"
RUN_DIR="$EARSHOT_STATE/run"
BIN_DIR="$ROOT/target/release"
mkdir -p "$RUN_DIR"
"$ROOT/scripts/broker.sh" start

start_service() {
  local name="$1"; shift
  local pid_file="$RUN_DIR/$name.pid"
  if pid_alive "$pid_file"; then
    step "$name already running (pid $(cat "$pid_file"))"
    return
  fi
  [ -x "$BIN_DIR/$name" ] || die "$BIN_DIR/$name is not built; run make build"
  step "starting $name (log: $RUN_DIR/$name.log)"
  nohup "$BIN_DIR/$name" "$@" >"$RUN_DIR/$name.log" 2>&1 &
  echo $! >"$pid_file"
}

start_service earshot-scorer serve --model-dir "$EARSHOT_MODEL_DIR" --http-addr 127.0.0.1:9471
for _ in $(seq 1 120); do
  curl -fsS http://127.0.0.1:9471/health >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS http://127.0.0.1:9471/health >/dev/null 2>&1 || die "scorer did not become healthy; see $RUN_DIR/earshot-scorer.log"
note "scorer healthy: http://127.0.0.1:9471/health"
