#!/usr/bin/env bash
# Renders an lrctl HTML report in headless Chromium and checks that
#   (a) the page loads without console errors or failed resource loads and
#       its DOM has the title and every inline SVG of the source file, and
#   (b) a 1280x2000 screenshot is not blank (python3 stdlib PNG decoder).
#
# Usage: browser_check.sh REPORT.html OUT.png
#
# Environment:
#   CHROMIUM                 browser binary (default: chromium, chromium-browser,
#                            google-chrome, whichever is found first)
#   REQUIRE_CHART_COLOURS=1  also require pixels of at least two Okabe-Ito
#                            palette colours in the screenshot (charts drawn)
#   BROWSER_TIMEOUT          seconds per browser run (default 120)
#
# Exit status: 0 on success, 1 on a failed check, 2 on bad usage or a missing
# tool. Every failure prints a line starting with "browser_check: FAIL".
set -euo pipefail

fail() {
    echo "browser_check: FAIL: $*" >&2
    exit 1
}
usage() {
    echo "usage: $0 REPORT.html OUT.png" >&2
    exit 2
}

[ $# -eq 2 ] || usage
html=$1
png=$2
[ -f "$html" ] || { echo "browser_check: no such file: $html" >&2; exit 2; }
command -v python3 >/dev/null || { echo "browser_check: python3 not found" >&2; exit 2; }

browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
    for b in chromium chromium-browser google-chrome; do
        if command -v "$b" >/dev/null; then browser=$b; break; fi
    done
fi
[ -n "$browser" ] || { echo "browser_check: chromium not found (apt-get install -y chromium)" >&2; exit 2; }
limit=${BROWSER_TIMEOUT:-120}

html_abs="$(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
url="file://$html_abs"
mkdir -p "$(dirname "$png")"
png_abs="$(cd "$(dirname "$png")" && pwd)/$(basename "$png")"
rm -f "$png_abs"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

flags=(--headless --no-sandbox --disable-gpu --disable-background-networking
    --disable-component-update --disable-sync --no-first-run --disable-quic
    --disable-extensions --mute-audio)

# (a) Console errors and DOM.
status=0
timeout "$limit" "$browser" "${flags[@]}" --user-data-dir="$(mktemp -d -p "$work")" \
    --enable-logging=stderr --v=0 --virtual-time-budget=5000 --dump-dom "$url" \
    >"$work/dom.html" 2>"$work/console.log" || status=$?
[ "$status" -eq 0 ] || { tail -n 20 "$work/console.log" >&2; fail "chromium --dump-dom exited with status $status"; }

# Console messages are logged as "...:CONSOLE(line)] "message", source: ...".
# Any console message coming from the page, or an uncaught exception, fails.
if grep -E 'CONSOLE|Uncaught' "$work/console.log" >"$work/console_errors.log"; then
    cat "$work/console_errors.log" >&2
    fail "console messages from the page (see above)"
fi
# Failed loads (a self-contained report must not load anything).
if grep -E 'net::ERR_|Failed to load resource|Not allowed to load' "$work/console.log" >"$work/net.log"; then
    cat "$work/net.log" >&2
    fail "failed resource loads (see above)"
fi

python3 - "$html_abs" "$work/dom.html" <<'PY' || fail "DOM / self-containment check failed (see above)"
import re, sys
src = open(sys.argv[1], encoding="utf-8").read()
dom = open(sys.argv[2], encoding="utf-8", errors="replace").read()
problems = []
if "<h1" not in dom:
    problems.append("no <h1> in the rendered DOM")
if not dom.rstrip().endswith("</html>"):
    problems.append("DOM dump is truncated")
want, got = src.count("<svg"), dom.count("<svg")
if got != want:
    problems.append(f"{want} <svg> elements in the file but {got} in the DOM")
if re.search(r"<script\b", src, re.I):
    problems.append("the report contains <script> (it must not need JavaScript)")
# Self-contained: only in-page anchors and data: URLs may be referenced
# (attributes inside tags, url()/@import inside <style> and style="...").
tags = re.findall(r"<[A-Za-z][^>]*>", src)
refs = [v for t in tags for v in re.findall(r"""\s(?:src|href|srcset)\s*=\s*["']?([^"'\s>]*)""", t, re.I)]
css = re.findall(r"<style[^>]*>(.*?)</style>", src, re.I | re.S)
css += [v for t in tags for v in re.findall(r'\sstyle\s*=\s*"([^"]*)"', t, re.I)]
for block in css:
    refs += re.findall(r"""url\(\s*["']?([^"')]*)""", block, re.I)
    refs += re.findall(r"""@import\s+(?:url\()?["']?([^"')\s;]*)""", block, re.I)
external = sorted({r for r in refs if not (r.startswith("#") or r.lower().startswith("data:"))})
if external:
    problems.append("the report references external resources: " + ", ".join(external[:5]))
for p in problems:
    print("  " + p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"browser_check: DOM ok ({got} inline SVG figures, {len(dom)} bytes)")
PY

# (b) Screenshot.
status=0
timeout "$limit" "$browser" "${flags[@]}" --user-data-dir="$(mktemp -d -p "$work")" \
    --hide-scrollbars --virtual-time-budget=5000 --window-size=1280,2000 \
    --screenshot="$png_abs" "$url" >"$work/shot.log" 2>&1 || status=$?
[ "$status" -eq 0 ] || { tail -n 20 "$work/shot.log" >&2; fail "chromium --screenshot exited with status $status"; }
[ -s "$png_abs" ] || fail "no screenshot written to $png_abs"

python3 - "$png_abs" "${REQUIRE_CHART_COLOURS:-0}" <<'PY' || fail "screenshot check failed for $png_abs"
import struct, sys, zlib
from collections import Counter

path, need_colours = sys.argv[1], sys.argv[2] == "1"
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("  not a PNG file")
pos, idat, header = 8, [], None
while pos + 8 <= len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        header = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat.append(body)
    elif kind == b"IEND":
        break
    pos += 12 + length
if header is None or not idat:
    sys.exit("  PNG without IHDR/IDAT")
width, height, depth, ctype, _, _, interlace = header
channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
if depth != 8 or channels is None or interlace != 0:
    sys.exit(f"  unsupported PNG format (depth {depth}, colour type {ctype}, interlace {interlace})")
raw = zlib.decompress(b"".join(idat))
stride = width * channels
prev = bytearray(stride)
colours = Counter()
palette = {(0x00, 0x72, 0xB2), (0xD5, 0x5E, 0x00), (0x00, 0x9E, 0x73), (0xCC, 0x79, 0xA7),
           (0xE6, 0x9F, 0x00), (0x56, 0xB4, 0xE9)}
for y in range(height):
    start = y * (stride + 1)
    ftype = raw[start]
    line = bytearray(raw[start + 1:start + 1 + stride])
    if ftype == 1:
        for i in range(channels, stride):
            line[i] = (line[i] + line[i - channels]) & 0xFF
    elif ftype == 2:
        line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
    elif ftype == 3:
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
    elif ftype == 4:
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            line[i] = (line[i] + pred) & 0xFF
    elif ftype != 0:
        sys.exit(f"  bad PNG filter type {ftype} in row {y}")
    row = bytes(line)
    # Count colours (RGB only) on every row; cheap enough for 1280x2000.
    if channels >= 3:
        px = zip(row[0::channels], row[1::channels], row[2::channels])
    else:
        px = ((v, v, v) for v in row[0::channels])
    colours.update(px)
    prev = line
total = width * height
background, bg_count = colours.most_common(1)[0]
other = total - bg_count
found = sorted(c for c in palette if colours.get(c, 0) >= 20)
print(f"browser_check: screenshot {width}x{height}, {len(colours)} distinct colours, "
      f"{100.0 * other / total:.1f}% non-background pixels, {len(found)} palette colours")
if len(colours) < 2:
    sys.exit("  blank screenshot: every pixel has the same colour")
if other < total * 0.005:
    sys.exit(f"  nearly blank screenshot: only {other} pixels differ from the background")
if need_colours and len(found) < 2:
    sys.exit("  fewer than two Okabe-Ito chart colours visible: charts not rendered?")
PY

echo "browser_check: OK: $html -> $png"
