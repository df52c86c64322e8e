# Shared by scale.sh and paper.sh: build lrctl, run a suite resumably, export and report it.
# Sourced, not run. Needs: SUITE, STUDY, OUT (a directory under results/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The store lives outside the repository (commit the exported results, not the store); a
# rerun of the same command resumes it where it stopped, on this or another machine that
# shares the file (or a PostgreSQL URL in LRCTL_STORE).
STORE="${LRCTL_STORE:-${XDG_CACHE_HOME:-$HOME/.cache}/lrctl/results-${STUDY}.db}"
JOBS="${JOBS:-2}"
# SEEDS=3 runs seeds 0-2 only; a later run with more seeds adds the missing cells to the same
# study (finished cells are never retrained).
SEEDS_ARG=()
if [ -n "${SEEDS:-}" ]; then SEEDS_ARG=(--seeds "$SEEDS"); fi
mkdir -p "$(dirname "$STORE")"
# The data mirror beside the clone (as the tests use it) unless LRCTL_DATA_DIR says otherwise.
if [ -z "${LRCTL_DATA_DIR:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  export LRCTL_DATA_DIR="$ROOT/../shared/data"
fi

cargo build --release -p lrctl-cli --manifest-path "$ROOT/Cargo.toml"
LRCTL="$ROOT/target/release/lrctl"

"$LRCTL" suites | grep -E "^(suite|$SUITE) "
"$LRCTL" run --suite "$SUITE" --study "$STUDY" --store "$STORE" --jobs "$JOBS" "${SEEDS_ARG[@]}" --progress log

mkdir -p "$ROOT/$OUT"
"$LRCTL" export --study "$STUDY" --store "$STORE" --table cells --format csv --out "$ROOT/$OUT/cells.csv"
# The report: report.md with figures/ and tables/ (index.html is the same as one page).
rm -rf "$ROOT/$OUT/report"
"$LRCTL" report --study "$STUDY" --store "$STORE" --out "$ROOT/$OUT/report"
"$LRCTL" show --study "$STUDY" --store "$STORE" > "$ROOT/$OUT/summary.md"
