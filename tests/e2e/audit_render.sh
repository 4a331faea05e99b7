#!/usr/bin/env bash
# report.html of `awqkit audit` as a browser shows it: a small audit of
# data/tiny-llama (FP16, RTN and AWQ 4-bit, RTN 3-bit, a not-applicable
# group size), then headless Chromium renders report.html to a PNG. Checks:
# the page and the standalone charts hold their <svg> elements with one
# point per measured configuration and one cell per layer x linear; the
# page references nothing outside itself; the screenshot is not blank
# (thousands of colours, the chart area drawn). The PNG stays in the
# test's scratch directory (path printed). Exit 77 (skip) without chromium.
. "$AWQ_TESTS/e2e/lib.sh"
J=${AWQ_JSON:?AWQ_JSON not set}
P=${AWQ_PNG_STATS:?AWQ_PNG_STATS not set}
M=$AWQ_DATA/tiny-llama
CHROME=""
for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then CHROME=$(command -v "$c"); break; fi
done

expect_exit 0 "small audit" "$AWQKIT" audit "$M" -o "$T/r" --text "$AWQ_DATA/text/wiki.test.raw" \
    --calib "$AWQ_DATA/text/calib-wikitext2-valid.jsonl.zst" --samples 4 --calib-seqlen 128 \
    --n-grid 5 --seqlen 128 --max-chunks 4 --device cpu --configs fp16,rtn-4-g128,awq-4-g128,rtn-3-g128,rtn-4-g96
H=$T/r/report.html
check "report.html written" test -s "$H"
count() { grep -o -- "$1" "$2" | wc -l; }
check "three inline charts" test "$(count '<svg ' "$H")" = 3
check "8 points (4 measured configurations x 2 scatter charts)" test "$(count 'class="pt"' "$H")" = 8
check "42 heat-map cells (6 layers x 7 linears)" test "$(count 'class="cell"' "$H")" = 42
check "Pareto front drawn" test "$(count 'class="front"' "$H")" -ge 1
check "no script" test "$(count '<script' "$H")" = 0
check "no external reference" test "$(count 'http' "$H")" = "$(count 'http://www.w3.org/2000/svg' "$H")"
check "not-applicable config listed" grep -q "rtn-4-g96</code>: not applicable" "$H"
for f in ppl_vs_size kl_vs_bpw heatmap; do
    check "$f.svg is an SVG document" grep -q '^<svg xmlns="http://www.w3.org/2000/svg"' "$T/r/$f.svg"
    check "$f.svg closed" test "$(tail -n 1 "$T/r/$f.svg")" = "</svg>"
done
check "ppl chart points carry data" \
    grep -q 'class="pt" data-name="awq-4-g128" data-x="[0-9]' "$T/r/ppl_vs_size.svg"
check "points = measured configurations" test "$(count 'class="pt"' "$T/r/kl_vs_bpw.svg")" = 4

if [ -z "$CHROME" ]; then
    finish || exit 1
    echo "SKIP: chromium is not installed (apt-get install chromium); the HTML checks passed"
    exit 77
fi
PNG=$T/report.png
# A private profile and HOME: tests run in parallel and as root in CI.
mkdir -p "$T/home"
HOME=$T/home timeout 180 "$CHROME" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --hide-scrollbars --user-data-dir="$T/profile" --window-size=1280,2400 \
    --screenshot="$PNG" "file://$H" >"$T/chrome.log" 2>&1
rc=$?
check "chromium exit status ($rc)" test "$rc" = 0
check "screenshot written" test -s "$PNG"
if [ -s "$PNG" ]; then
    echo "screenshot: $PNG"
    read -r _ w _ h _ colours _ nonwhite < <("$P" "$PNG")
    echo "  ${w}x${h}, $colours colours, non-white $nonwhite"
    check "screenshot size" test "$w x $h" = "1280 x 2400"
    check "not blank: many colours ($colours)" test "${colours:-0}" -ge 500
    check "not blank: ink ($nonwhite)" awk -v f="${nonwhite:-0}" 'BEGIN { exit !(f > 0.03) }'
    # the charts sit at the top: that band alone has the charts' colours
    read -r _ _ _ _ _ c2 _ n2 < <("$P" "$PNG" 0 150 1280 1100)
    check "chart area drawn ($c2 colours, $n2 ink)" \
        awk -v c="${c2:-0}" -v n="${n2:-0}" 'BEGIN { exit !(c >= 300 && n > 0.03) }'
else
    sed 's/^/  | /' "$T/chrome.log" | tail -20 >&2
fi
finish
