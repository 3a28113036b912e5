#!/usr/bin/env bash
# Stops what scripts/up.sh started, by pid, services first, then the broker.
source "$(dirname "$0")/common.sh"
RUN_DIR="$EARSHOT_STATE/run"
for pid_file in "$RUN_DIR"/*.pid; do
  [ -e "$pid_file" ] || continue
  name="$(basename "$pid_file" .pid)"
  if pid_alive "$pid_file"; then
    step "stopping $name (pid $(cat "$pid_file"), SIGTERM: drains and commits)"
    kill -TERM "$(cat "$pid_file")"
    for _ in $(seq 1 120); do pid_alive "$pid_file" || break; sleep 0.25; done
    pid_alive "$pid_file" && { note "$name did not stop in 30 s, killing"; kill -9 "$(cat "$pid_file")"; }
  fi
  rm -f "$pid_file"
done
"$ROOT/scripts/broker.sh" stop
