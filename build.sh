#!/usr/bin/env bash
# Vantage's one entry point: ./build.sh setup|build|test|serve|bench
#   setup  install what this machine lacks (Debian packages, wasm target, pinned wasm-bindgen-cli
#          0.2.130, geckodriver, playwright-core); skips what is already there
#   build  the wasm widget (size budget enforced) and the collector
#   test   setup + build, then every test: native, widget in Chromium and Firefox, end to end
#   serve  setup + build, then the collector with the demo site on http://127.0.0.1:8080
#   bench  setup + build, then every benchmark (results in BENCHMARKS.md's format, JSON in bench-results/)
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n\033[1;32m==> %s\033[0m\n' "$*"; }

setup() { step "setup"; bash scripts/setup.sh; }

build_widget() { step "widget (wasm, size budget)"; bash scripts/build-widget.sh; }

# The collector compiles www/ and dist/widget/ into its binary (crates/collector/src/assets.rs),
# so every command below builds the widget before it.
build_native() {
  local profile_flag=("$@")
  step "collector and test kit ${profile_flag[*]}"
  cargo build "${profile_flag[@]}" -p vantage-collector -p vantage-testkit
}

# Lints, docs and dependency rules, denied as errors. Dev profile, so dependencies are checked
# once and shared with the test build's metadata. The widget is linted twice: its allocator
# (src/alloc_bump.rs) and its browser tests compile only for wasm32, which the host pass skips.
# Cost on the 2 shared cores (load average 11), in seconds, nothing changed / after touching
# vantage-protocol: clippy host 0.5 / 24, clippy wasm32 0.4 / 3.5 (about 50 the first time, for
# its wasm32 dependencies), rustdoc 0.9 / 25, dependency rules 1.
gates() {
  step "clippy, warnings denied (host, then the widget for wasm32)"
  cargo clippy --workspace --all-targets -- -D warnings
  cargo clippy -p vantage-widget --target wasm32-unknown-unknown --all-targets -- -D warnings
  step "rustdoc, warnings denied"
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
  step "dependency rules (ARCHITECTURE.md, \"Must never depend on\")"
  bash scripts/check-deps.sh
}

run_tests() {
  local started=$SECONDS
  step "formatting (cargo fmt --check; rustfmt.toml)"
  cargo fmt --all --check
  gates
  step "native tests (protocol, collector, detection, test kit, bench)"
  cargo test --workspace --exclude vantage-widget
  step "widget tests in headless Chromium and Firefox"
  bash scripts/test-widget.sh
  step "fuzzing report parsing for ${VANTAGE_FUZZ_SECONDS:-30} s"
  bash scripts/fuzz.sh "${VANTAGE_FUZZ_SECONDS:-30}"
  step "benchmark smoke run (numbers only; the goals are checked by ./build.sh bench)"
  cargo run -q -p vantage-bench -- all --smoke
  # Last, so its closing "# pass N / # fail N" lines are the run's summary.
  step "end-to-end: real collector, real Chromium, demo article, dashboard, badge"
  (cd tests/e2e && node --test --test-concurrency=1 ./*.test.mjs)
  step "all tests passed in $((SECONDS - started)) s"
}

serve() {
  local listen=${VANTAGE_LISTEN:-127.0.0.1:8080}
  step "starting the collector on http://$listen"
  echo "  demo article:  http://$listen/demo/"
  echo "  dashboard:     http://$listen/"
  echo "  stored reports: target/release/vantage export --raw --store sqlite:./data/vantage.db"
  exec target/release/vantage serve --listen "$listen" --store "sqlite:./data/vantage.db" "$@"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  build) setup; build_widget; build_native --release ;;
  test) setup; build_widget; build_native; run_tests ;;
  serve) setup; build_widget; build_native --release; serve "$@" ;;
  bench) setup; build_widget; build_native; cargo run --release -p vantage-bench -- all ;;
  *)
    echo "usage: ./build.sh setup|build|test|serve|bench" >&2
    echo "  serve: collector + demo site + dashboard on http://127.0.0.1:8080 (SQLite in ./data)" >&2
    echo "  test:  every test (native, both browsers, fuzz, bench smoke, end to end)" >&2
    echo "  bench: every benchmark, with ratios against a baseline measured in the same run" >&2
    exit 2 ;;
esac
