#!/usr/bin/env bash
# Builds the widget into dist/widget/ and checks the size budget (PROTOCOL: what a sampled
# visitor downloads after the loader <= 20480 B gzipped; loader.js <= 1024 B gzipped).
# Exits non-zero when over budget.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=dist/widget
BUDGET=20480
LOADER_BUDGET=1024
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

nice -n 5 cargo build -p vantage-widget --lib --target wasm32-unknown-unknown --profile wasm
rm -rf "$OUT"
mkdir -p "$OUT"
wasm-bindgen --target web --out-dir "$OUT" --no-typescript \
  "$TARGET_DIR/wasm32-unknown-unknown/wasm/vantage_widget.wasm"
wasm-opt -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$OUT/vantage_widget_bg.wasm" -o "$OUT/vantage_widget_bg.wasm.opt"
mv "$OUT/vantage_widget_bg.wasm.opt" "$OUT/vantage_widget_bg.wasm"

gz() { gzip -9 -c "$1" | wc -c; }
raw() { wc -c <"$1"; }
total_raw=0
total_gz=0
printf '%-32s %8s %8s\n' file raw gzip
for f in www/frame.html www/frame.js "$OUT/vantage_widget.js" "$OUT/vantage_widget_bg.wasm"; do
  r=$(raw "$f"); g=$(gz "$f")
  total_raw=$((total_raw + r)); total_gz=$((total_gz + g))
  printf '%-32s %8d %8d\n' "$f" "$r" "$g"
done
printf '%-32s %8d %8d  (budget %d)\n' "total after loader" "$total_raw" "$total_gz" "$BUDGET"
lr=$(raw www/loader.js); lg=$(gz www/loader.js)
printf '%-32s %8d %8d  (budget %d)\n' www/loader.js "$lr" "$lg" "$LOADER_BUDGET"

fail=0
if [ "$total_gz" -gt "$BUDGET" ]; then echo "build-widget: over budget: $total_gz > $BUDGET gzip bytes" >&2; fail=1; fi
if [ "$lg" -gt "$LOADER_BUDGET" ]; then echo "build-widget: loader.js over budget: $lg > $LOADER_BUDGET gzip bytes" >&2; fail=1; fi
exit $fail
