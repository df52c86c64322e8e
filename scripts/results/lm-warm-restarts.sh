#!/usr/bin/env bash
# Regenerates results/lm-warm-restarts/ (README Findings (d)): the byte-level transformer LM
# (`lm/tinyshakespeare`, trained from scratch, 600 steps) under AdamW at a constant 1e-3
# (`adam-fixed`), SGDR with a 10-step first period from 0.005 (`cawr-default`), and — the
# control that separates the schedule from its larger rate — AdamW at a constant 0.005, three
# seeds each (~10 CPU-minutes). Resumable: run it again after an interruption.
#   scripts/results/lm-warm-restarts.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STORE="${LRCTL_STORE:-${XDG_CACHE_HOME:-$HOME/.cache}/lrctl/results-lm-warm-restarts.db}"
OUT="$ROOT/results/lm-warm-restarts"
mkdir -p "$(dirname "$STORE")" "$OUT"
if [ -z "${LRCTL_DATA_DIR:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  export LRCTL_DATA_DIR="$ROOT/../shared/data"
fi
cargo build --release -p lrctl-cli --manifest-path "$ROOT/Cargo.toml"
LRCTL="$ROOT/target/release/lrctl"
TASK=lm/tinyshakespeare
# Two studies: `--set` changes adam-fixed's configuration, which would replace the plain
# adam-fixed cells within one study.
"$LRCTL" run --task "$TASK" --method adam-fixed --method cawr-default --seeds 3 \
  --study lm-warm-restarts --store "$STORE" --jobs "${JOBS:-2}" --progress log
"$LRCTL" run --task "$TASK" --method adam-fixed --set controller.lr=0.005 --seeds 3 \
  --study lm-constant-5e-3 --store "$STORE" --jobs "${JOBS:-2}" --progress log
for study in lm-warm-restarts lm-constant-5e-3; do
  "$LRCTL" export --study "$study" --store "$STORE" --table cells --format csv \
    --out "$OUT/$study.csv"
  "$LRCTL" show --study "$study" --store "$STORE" > "$OUT/$study.md"
done
echo "wrote $OUT"
