#!/bin/sh
# The small leave-one-task-out measurement of the README's "Learned controllers" section:
# six LIBSVM tasks, the eight plain methods of the selection study, `race`, `auto` and
# `learned-loto` and `learned-loto-prodigy` (each task's policy meta-trained on the five
# others), two seeds, one job.
# About 3 CPU-minutes on the 2-core development VM. Usage:
#   scripts/learned/loto-small.sh [STORE] [REPORT_DIR]   (defaults: learned-small.db, learned-small-report)
set -eu
STORE="${1:-learned-small.db}"
REPORT="${2:-learned-small-report}"
LRCTL="${LRCTL:-lrctl}"
"$LRCTL" run --study learned-small --store "$STORE" --seeds 2 --jobs 1 --progress log \
  --task libsvm/iris --task libsvm/wine --task libsvm/vowel --task libsvm/vehicle \
  --task libsvm/dna --task libsvm/pendigits \
  --method adam-fixed --method cawr-default --method adamw-cosine --method dadapt-adam \
  --method prodigy --method cocob --method dowg --method schedulefree-adamw \
  --method race --method auto --method learned-loto --method learned-loto-prodigy
"$LRCTL" report --study learned-small --store "$STORE" --out "$REPORT"
