#!/usr/bin/env bash
# The README's 16-task held-out measurement of a learned controller, at a cost two cores can
# pay: the libsvm, vision and lm suites (16 tasks) with the selection study's methods (8 plain
# methods, `race`, `race-restart`, `auto`; 2 seeds) and `learned-4fold-prodigy`, whose policy
# for a task is meta-trained on the 12 tasks of the other three cross-task folds (a linear
# policy over Prodigy's d·lr; CMA-ES, 6 generations: 5 at 20 % of each budget, the last at
# 100 %). Writes results/learned-16/: cells.csv, report/ (its "Learned controllers" section),
# summary.md.
#
# Cost (one core): the selection study's cells about 3 CPU-hours; each of the 4 folds trains
# 11 candidates on 12 tasks at 2 full budgets plus base runs, about 23 full runs of 12 tasks
# (~140 s a run of all 12), so ~0.9 CPU-hours per fold and ~3.6 for the learned method — a
# fifth of leave-one-task-out's 19 (`scripts/learned/loto-16.sh`). `JOBS=2` halves the wall
# time. Measured on 2 cores (2026-12-02, JOBS=2): the four folds' meta-training took 2.8
# CPU-hours; seed 0 with SEEDS=1 finished in 1 h 41 min, seed 1 added 26 min. Resumable: the
# store keeps finished cells and every fold's generations, so rerunning the same command after
# an interruption (kill -9 included) continues where it stopped.
#   JOBS=2 scripts/learned/folds-16.sh      (SEEDS=1 for one evaluation seed instead of 2)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STUDY=learned-16
OUT=results/learned-16
STORE="${LRCTL_STORE:-${XDG_CACHE_HOME:-$HOME/.cache}/lrctl/results-${STUDY}.db}"
JOBS="${JOBS:-2}"
SEEDS="${SEEDS:-2}"
mkdir -p "$(dirname "$STORE")"
if [ -z "${LRCTL_DATA_DIR:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  export LRCTL_DATA_DIR="$ROOT/../shared/data"
fi
cargo build --release -p lrctl-cli --manifest-path "$ROOT/Cargo.toml"
LRCTL="$ROOT/target/release/lrctl"
"$LRCTL" run --study "$STUDY" --store "$STORE" --seeds "$SEEDS" --jobs "$JOBS" --progress log \
  --suite libsvm --suite vision --suite lm \
  --method adam-fixed --method cawr-default --method adamw-cosine --method dadapt-adam \
  --method prodigy --method cocob --method dowg --method schedulefree-adamw \
  --method race --method race-restart --method auto \
  --method learned-4fold-prodigy
mkdir -p "$ROOT/$OUT"
"$LRCTL" export --study "$STUDY" --store "$STORE" --table cells --format csv --out "$ROOT/$OUT/cells.csv"
rm -rf "$ROOT/$OUT/report"
"$LRCTL" report --study "$STUDY" --store "$STORE" --out "$ROOT/$OUT/report"
"$LRCTL" show --study "$STUDY" --store "$STORE" > "$ROOT/$OUT/summary.md"
echo "wrote $ROOT/$OUT"
