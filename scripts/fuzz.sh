#!/usr/bin/env bash
# Fuzzes report parsing and validation (vantage-protocol's parse_report) for a bounded time.
#   scripts/fuzz.sh [SECONDS]     default 60; CI calls it with ~30
# Installs cargo-fuzz if missing. Needs the nightly toolchain (`rustup toolchain install nightly`).
# Seeds: fuzz/seeds/parse_report (committed); the growing corpus and any crash land in
# fuzz/corpus and fuzz/artifacts (gitignored). A crash fails this script: turn the artifact into
# a regression test (crates/protocol/src/validate/tests.rs or the collector's tests/it/malformed.rs).
set -euo pipefail
seconds="${1:-60}"
case "$seconds" in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2;; esac
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: the nightly toolchain is missing: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

target=parse_report
mkdir -p "corpus/$target" artifacts
# -max_total_time bounds the run; -max_len is the collector's body limit; seeds are read, not written.
cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
  -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
