# Shared by scale.sh and paper.sh: build lrctl, run a suite resumably, export and report it.
# Sourced, not run. Needs: SUITE, STUDY, OUT (a directory under results/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The store lives outside the repository (commit the exported results, not the store); a
# rerun of the same command resumes it where it stopped, on this or another machine that
# shares the file (or a PostgreSQL URL in LRCTL_STORE).
STORE="${LRCTL_STORE:-${XDG_CACHE_HOME:-$HOME/.cache}/lrctl/results-${STUDY}.db}"
JOBS="${JOBS:-2}"
mkdir -p "$(dirname "$STORE")"

cargo build --release -p lrctl-cli --manifest-path "$ROOT/Cargo.toml"
LRCTL="$ROOT/target/release/lrctl"

"$LRCTL" suites | grep -E "^(suite|$SUITE) "
"$LRCTL" run --suite "$SUITE" --study "$STUDY" --store "$STORE" --jobs "$JOBS" --progress log

mkdir -p "$ROOT/$OUT"
"$LRCTL" export --study "$STUDY" --store "$STORE" --table cells --format csv --out "$ROOT/$OUT/cells.csv"
# The report: report.md with figures/ and tables/ (index.html is the same as one page).
rm -rf "$ROOT/$OUT/report"
"$LRCTL" report --study "$STUDY" --store "$STORE" --out "$ROOT/$OUT/report"
"$LRCTL" show --study "$STUDY" --store "$STORE" > "$ROOT/$OUT/summary.md"
