#!/usr/bin/env bash
# Builds the widget into dist/widget/ and checks the size budget (issue 11: what a sampled visitor
# downloads after the loader <= 24576 B gzipped, stretch goal 20480; loader.js <= 1024 B gzipped).
# Exits non-zero when over budget.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=dist/widget
BUDGET=24576
STRETCH=20480
LOADER_BUDGET=1024
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

# std itself is rebuilt for the widget (-Zbuild-std, from the toolchain's rust-src, which
# scripts/setup.sh installs) so that a panic aborts at once: no panic message, no `core::fmt`, no
# file names of `#[track_caller]` sites, and Debug impls compiled to nothing. gloo-net links std,
# so without this the panic machinery and its formatting stay in the wasm (about 2.1 KiB gzipped
# more). These flags are unstable: RUSTC_BOOTSTRAP=1 lets the pinned stable toolchain accept
# them, for this one build only, in a target directory of its own so the host build and the
# browser tests (normal std) are not rebuilt each time. The build stays reproducible: same
# toolchain, same rust-src, same flags.
STD_TARGET_DIR="$TARGET_DIR/widget-std"
RUSTC_BOOTSTRAP=1 \
  RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none" \
  nice -n 5 cargo build -p vantage-widget --lib --target wasm32-unknown-unknown --profile wasm \
  -Zbuild-std=std,panic_abort --target-dir "$STD_TARGET_DIR"
rm -rf "$OUT"
mkdir -p "$OUT"
wasm-bindgen --target web --out-dir "$OUT" --no-typescript \
  "$STD_TARGET_DIR/wasm32-unknown-unknown/wasm/vantage_widget.wasm"
wasm-opt -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$OUT/vantage_widget_bg.wasm" -o "$OUT/vantage_widget_bg.wasm.opt"
mv "$OUT/vantage_widget_bg.wasm.opt" "$OUT/vantage_widget_bg.wasm"

# Shorten the import names (wasm-bindgen's `__wbg_<name>_<hash>` and the module
# "./vantage_widget_bg.js") in the wasm and the glue alike: about 3 KiB raw, poorly compressible.
# Also repairs what binaryen 108 (Debian 12's wasm-opt) breaks with two tables: it points the
# `__wbindgen_externrefs` export at the funcref table; it must name the externref table.
node --input-type=module - "$OUT/vantage_widget_bg.wasm" "$OUT/vantage_widget.js" <<'JS'
import { readFileSync, writeFileSync } from 'node:fs';
const [wasmPath, gluePath] = process.argv.slice(2);
const b = readFileSync(wasmPath);
let i = 8;
const leb = () => { let r = 0, s = 0, x; do { x = b[i++]; r += (x & 0x7f) * 2 ** s; s += 7 } while (x & 0x80); return r };
const enc = n => { const o = []; do { let x = n & 0x7f; n = Math.floor(n / 128); if (n) x |= 0x80; o.push(x) } while (n); return o };
const str = s => { const u = Buffer.from(s); return [...enc(u.length), ...u] };
const name = () => { const n = leb(), s = b.subarray(i, i + n).toString(); i += n; return s };
const limits = () => { const f = b[i++]; leb(); if (f & 1) leb() };
const out = [b.subarray(0, 8)];
const renames = new Map();
let externTable = -1;
let glue = readFileSync(gluePath, 'utf8');
while (i < b.length) {
  const id = b[i++], size = leb(), start = i;
  if (id === 4) {
    const n = leb();
    for (let k = 0; k < n; k++) { if (b[i++] === 0x6f) externTable = k; limits() }
    i = start;
  }
  if (id === 7) {
    const n = leb(), body = [...enc(n)];
    for (let k = 0; k < n; k++) {
      const field = name(), kind = b[i++];
      let idx = leb();
      if (kind === 1 && field === '__wbindgen_externrefs') {
        if (externTable < 0) throw new Error('no externref table');
        idx = externTable;
      }
      body.push(...str(field), kind, ...enc(idx));
    }
    out.push(Buffer.from([7, ...enc(body.length), ...body]));
    continue;
  }
  if (id !== 2) { i = start + size; out.push(Buffer.concat([Buffer.from([id, ...enc(size)]), b.subarray(start, i)])); continue }
  const n = leb(), body = [...enc(n)];
  for (let k = 0; k < n; k++) {
    const mod = name(), field = name(), d0 = i, kind = b[i++];
    if (kind === 0) leb(); else if (kind === 1) { i++; limits() } else if (kind === 2) limits();
    else if (kind === 3) i += 2; else if (kind === 4) { i++; leb() } else throw new Error('import kind ' + kind);
    let nf = field;
    if (mod === './vantage_widget_bg.js') {
      if (!renames.has(field)) renames.set(field, 'i' + renames.size.toString(36));
      nf = renames.get(field);
    }
    body.push(...str(mod === './vantage_widget_bg.js' ? 'a' : mod), ...str(nf), ...b.subarray(d0, i));
  }
  out.push(Buffer.from([2, ...enc(body.length), ...body]));
}
for (const [from, to] of renames) {
  const re = new RegExp('\\b' + from + '\\b', 'g');
  if (!re.test(glue)) throw new Error('import not in glue: ' + from);
  glue = glue.replace(re, to);
}
glue = glue.split('"./vantage_widget_bg.js"').join('"a"');
if (glue.includes('./vantage_widget_bg.js')) throw new Error('module name left in glue');
writeFileSync(wasmPath, Buffer.concat(out));
writeFileSync(gluePath, glue);
JS

# Minify the glue with terser, installed here (target/ is not committed) at a pinned version.
TOOLS="$TARGET_DIR/widget-tools"
if [ ! -x "$TOOLS/node_modules/.bin/terser" ]; then
  npm install --prefix "$TOOLS" --no-audit --no-fund --silent terser@5.51.4
fi
"$TOOLS/node_modules/.bin/terser" "$OUT/vantage_widget.js" --module --compress passes=2 --mangle \
  --comments false -o "$OUT/vantage_widget.min.js"
mv "$OUT/vantage_widget.min.js" "$OUT/vantage_widget.js"

# The loader and the frame script are served minified from the widget dir (the collector falls
# back to the readable www/ sources when these are missing); comments stay in the sources.
"$TOOLS/node_modules/.bin/terser" www/loader.js --compress passes=2 --mangle --comments false -o "$OUT/loader.js"
"$TOOLS/node_modules/.bin/terser" www/frame.js --module --compress passes=2 --mangle --comments false -o "$OUT/frame.js"
"$TOOLS/node_modules/.bin/terser" www/worker.js --module --compress passes=2 --mangle --comments false -o "$OUT/worker.js"

gz() { gzip -9 -c "$1" | wc -c; }
raw() { wc -c <"$1"; }
total_raw=0
total_gz=0
printf '%-32s %8s %8s\n' file raw gzip
for f in www/frame.html "$OUT/frame.js" "$OUT/worker.js" "$OUT/vantage_widget.js" "$OUT/vantage_widget_bg.wasm"; do
  r=$(raw "$f"); g=$(gz "$f")
  total_raw=$((total_raw + r)); total_gz=$((total_gz + g))
  printf '%-32s %8d %8d\n' "$f" "$r" "$g"
done
printf '%-32s %8d %8d  (budget %d, stretch goal %d)\n' "total after loader" "$total_raw" "$total_gz" "$BUDGET" "$STRETCH"
lr=$(raw "$OUT/loader.js"); lg=$(gz "$OUT/loader.js")
printf '%-32s %8d %8d  (budget %d)\n' "$OUT/loader.js" "$lr" "$lg" "$LOADER_BUDGET"

fail=0
if [ "$total_gz" -gt "$BUDGET" ]; then echo "build-widget: over budget: $total_gz > $BUDGET gzip bytes" >&2; fail=1; fi
if [ "$lg" -gt "$LOADER_BUDGET" ]; then echo "build-widget: loader.js over budget: $lg > $LOADER_BUDGET gzip bytes" >&2; fail=1; fi
exit $fail
