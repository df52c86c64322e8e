#!/usr/bin/env bash
# The dashboard's speed on the synthetic store of 10,000 cells and 5 million curve points (the
# table in README.md, "Dashboard (`lrctl serve`)"): every request of a study page, each as the
# first request of a freshly started `lrctl serve` ("cold"; the operating system's file cache is
# warm), then once more ("warm"), RUNS times; the first meaningful render in headless Chromium
# (the `first_render_time` test of crates/lrctl-serve/tests/browser.rs) on a fresh server; the
# server's peak memory. Prints a Markdown table, with the load average before each measurement.
#
#   scripts/bench/serve_cold.sh [STORE.db]
#
# STORE.db is made when missing (the `synthetic_store` example). Environment: LRCTL (the binary;
# default target/release/lrctl, built when missing), RUNS (default 3), PORT (default 8797),
# BROWSER=0 to skip the browser (it needs chromium and chromium-driver).
set -euo pipefail
cd "$(dirname "$0")/../.."

STORE=${1:-${TMPDIR:-/tmp}/lrctl-serve-bench.db}
RUNS=${RUNS:-3}
PORT=${PORT:-8797}
LRCTL=${LRCTL:-target/release/lrctl}
BROWSER=${BROWSER:-1}
BASE="http://127.0.0.1:$PORT"

[ -x "$LRCTL" ] || cargo build --release -p lrctl-cli >&2
[ -f "$STORE" ] || cargo run --release -p lrctl-serve --example synthetic_store -- "$STORE" >&2
if [ "$BROWSER" = 1 ]; then
  # Build the browser test before any timing, so that compiling it does not load the machine.
  cargo test -p lrctl-serve --test browser --no-run >&2 2>/dev/null || BROWSER=0
fi

SERVER=""
PEAK_KB=0
stop() {
  if [ -n "$SERVER" ]; then
    local hwm
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER/status" 2>/dev/null || echo 0)
    if [ "${hwm:-0}" -gt "$PEAK_KB" ]; then PEAK_KB=$hwm; fi
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
  fi
}
trap stop EXIT

start() {
  "$LRCTL" serve --store "$STORE" --bind "127.0.0.1:$PORT" 2>/dev/null &
  SERVER=$!
  for _ in $(seq 1 200); do
    curl -s -o /dev/null "$BASE/assets/app.css" && return 0
    sleep 0.05
  done
  echo "lrctl serve did not start" >&2
  exit 1
}

load() { cut -d' ' -f1 /proc/loadavg; }

# "seconds bytes" of one GET.
fetch() { curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "$BASE$1"; }

ms() { awk -v t="$1" 'BEGIN { printf "%.0f", t * 1000 }'; }

STUDY=synthetic
REQUESTS=(
  "/api/studies|\`/api/studies\`"
  "/api/study?study=$STUDY|\`/api/study\` (progress, workers, summary, first 300 cells)"
  "/api/study?study=$STUDY&filter=method-07&offset=300|\`/api/study\`, filtered, second page"
  "/api/study/curves?study=$STUDY&task=task-00&width=600&mode=mean|\`/api/study/curves\`, mean ± SE, 600 px"
  "/api/study/curves?study=$STUDY&task=task-00&width=600&mode=seeds|\`/api/study/curves\`, every seed (1,000 traces)"
  "/api/study/stats?study=$STUDY|\`/api/study/stats\` (answers \`pending\` at once)"
  "/api/cell?id=1234|\`/api/cell\`"
)

echo "| request | cold, ms (load) | warm, ms | size |"
echo "|---|---|---|---:|"
for entry in "${REQUESTS[@]}"; do
  path=${entry%%|*}
  label=${entry#*|}
  cold=() warm=() size=0
  for _ in $(seq 1 "$RUNS"); do
    start
    l=$(load)
    read -r t size < <(fetch "$path")
    cold+=("$(ms "$t") ($l)")
    read -r t _ < <(fetch "$path")
    warm+=("$(ms "$t")")
    stop
  done
  kb=$(awk -v b="$size" 'BEGIN { printf "%.1f KB", b / 1000 }')
  echo "| $label | $(IFS=,; echo "${cold[*]}" | sed 's/,/, /g') | $(IFS=,; echo "${warm[*]}" | sed 's/,/, /g') | $kb |"
done

if [ "$BROWSER" = 1 ]; then
  renders=()
  for _ in $(seq 1 "$RUNS"); do
    start
    l=$(load)
    out=$(LRCTL_BROWSER_TEST=1 LRCTL_SERVE_BENCH_URL="$BASE/#/study/$STUDY" \
      cargo test -q -p lrctl-serve --test browser first_render_time -- --nocapture 2>/dev/null)
    # Load 0 is the cold one (a fresh server and a fresh Chromium); 1 and 2 are reloads.
    first=$(echo "$out" | sed -n 's/.*load 0: \([0-9.]*\) ms.*/\1/p')
    later=$(echo "$out" | sed -n 's/.*load [12]: \([0-9.]*\) ms.*/\1/p' | awk '{printf "%s%.0f", (NR > 1 ? ", " : ""), $1}')
    renders+=("$(awk -v t="${first:-0}" 'BEGIN { printf "%.0f", t }') ($l); reloads $later")
    stop
  done
  echo "| first meaningful render (headless Chromium) | $(IFS=';'; echo "${renders[*]}" | sed 's/;/ · /g') | | |"
fi
echo
echo "Peak resident memory of the server: $((PEAK_KB / 1024)) MB. Load average (1 min) in brackets; $(nproc) cores; $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(basename "$LRCTL") $("$LRCTL" --version 2>/dev/null | head -1)."
