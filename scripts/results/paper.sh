#!/usr/bin/env bash
# Regenerates results/paper/: the `paper` suite (the paper's LIBSVM datasets in the mirror, a
# CNN and the LM, the paper's eight methods, 10 seeds; `lrctl suites` estimates ~5.6
# CPU-hours), its cells as CSV and the report. Resumable: run it again after an interruption.
#   JOBS=2 scripts/results/paper.sh
#   SEEDS=3 JOBS=2 scripts/results/paper.sh   # seeds 0-2 only (~1.7 CPU-hours)
SUITE=paper
STUDY=paper
OUT=results/paper
source "$(dirname "$0")/common.sh"
echo "wrote $ROOT/$OUT"
