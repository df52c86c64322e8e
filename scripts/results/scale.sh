#!/usr/bin/env bash
# Regenerates results/scale/: the `ladder` suite (every family's width/depth ladder and logistic
# regression on the same images, the paper's eight methods, 3 seeds; `lrctl suites` estimates
# ~4 CPU-hours, ~2 h with --jobs 2), its cells as CSV, the report (with the Scale section) and
# `lrctl show --scale`. Resumable: run it again after an interruption.
#   JOBS=2 scripts/results/scale.sh
#   SUITE=ladder-mlp JOBS=2 scripts/results/scale.sh
# SUITE=ladder-mlp runs one family's ladder into the same study; `ladder` later adds the rest.
SUITE="${SUITE:-ladder}"
STUDY=scale
OUT=results/scale
source "$(dirname "$0")/common.sh"
"$LRCTL" show --scale --study "$STUDY" --store "$STORE" > "$ROOT/$OUT/scale.md"
echo "wrote $ROOT/$OUT"
