#!/usr/bin/env bash
# The dependency rules of ARCHITECTURE.md ("Must never depend on"), checked against the real
# dependency graph (normal dependencies only; dev-dependencies may reach further). Offline and
# about a second: `cargo tree` reads Cargo.lock, it builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

failed=0

# forbid PACKAGE "WHY" "CARGO TREE ARGS" CRATE...: fails naming every CRATE found in PACKAGE's tree.
forbid() {
  local package=$1 why=$2 args=$3
  shift 3
  local tree
  # shellcheck disable=SC2086 # $args is a list of cargo tree flags.
  tree=$(cargo tree --offline -q -p "$package" -e normal --prefix none --no-dedupe $args | awk '{print $1}' | sort -u)
  for crate in "$@"; do
    if grep -qx "$crate" <<<"$tree"; then
      echo "dependency rule broken: $package depends on $crate ($why); see: cargo tree -p $package -e normal -i $crate $args" >&2
      failed=1
    fi
  done
}

forbid vantage-protocol "the contract is types and rules only: no I/O, no other Vantage crate" "--no-default-features" \
  vantage-detect vantage-collector vantage-testkit vantage-bench vantage-widget serde_json tokio axum rusqlite reqwest
forbid vantage-detect "the detector is pure computation: no I/O, no store, no server, no JSON" "" \
  vantage-collector vantage-testkit vantage-bench vantage-widget serde_json tokio axum rusqlite reqwest clickhouse time
# serde itself is allowed: serde-wasm-bindgen (the user's choice, issue 11) serialises the report.
forbid vantage-widget "every byte ships to visitors: the user's packages, no JSON parser or runtime in the wasm" "--target wasm32-unknown-unknown" \
  vantage-protocol vantage-detect vantage-collector vantage-testkit serde_json getrandom once_cell tokio
forbid vantage-collector "production never links test or benchmark code" "" \
  vantage-testkit vantage-bench vantage-widget
forbid vantage-testkit "it stands in for the outside world, so it must not share code with what it tests" "" \
  vantage-protocol vantage-detect vantage-collector vantage-widget

if [ "$failed" -ne 0 ]; then
  exit 1
fi
echo "dependency rules hold (scripts/check-deps.sh)"
