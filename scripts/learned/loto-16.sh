#!/bin/sh
# The README's 16-task leave-one-task-out measurement of `learned-loto`: the libsvm, vision and
# lm suites with the selection study's methods (8 plain methods, `race`, `race-restart`,
# `auto`; 2 seeds) plus `learned-loto` and `learned-loto-prodigy`, whose policy for each task
# is meta-trained on the 15 others (a linear policy over adam-fixed, resp. over Prodigy's d·lr;
# CMA-ES, 6 generations: 5 at 20 % of each budget, the last at 100 %). Cells already in the
# store (the selection study's) are reused; only the learned cells train.
#
# Cost: each of the 16 folds trains 11 candidates (CMA-ES's default population for the 14
# weights) on the 15 other tasks at 5 × 20 % + 1 × 100 % = 2 full budgets, plus the base runs:
# about 23 full runs of every other task per fold. One full run of all 16 tasks is about
# 190 s of one core on the 2-core VM (lm 110 s, each vision task 18 s, each LIBSVM task < 2 s),
# so about 1.2 CPU-hours per fold and 19 CPU-hours per learned method (38 for both; drop one
# of the two `--method learned-…` to halve it), on top of the selection study's cells (reused
# if STORE has them, else about 3 CPU-hours more). `--jobs` divides the wall
# time. A killed run resumes from the generations stored after each one.
# Usage:
#   scripts/learned/loto-16.sh [STORE] [REPORT_DIR] [JOBS]   (defaults: selection.db, learned-16-report, all cores)
set -eu
STORE="${1:-selection.db}"
REPORT="${2:-learned-16-report}"
JOBS="${3:-$(nproc)}"
LRCTL="${LRCTL:-lrctl}"
"$LRCTL" run --study selection --store "$STORE" --seeds 2 --jobs "$JOBS" --progress log \
  --suite libsvm --suite vision --suite lm \
  --method adam-fixed --method cawr-default --method adamw-cosine --method dadapt-adam \
  --method prodigy --method cocob --method dowg --method schedulefree-adamw \
  --method race --method race-restart --method auto \
  --method learned-loto --method learned-loto-prodigy
"$LRCTL" report --study selection --store "$STORE" --out "$REPORT"
