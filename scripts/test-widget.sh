#!/usr/bin/env bash
# Browser tests of the widget (tests/*.rs, wasm-bindgen-test) in headless Chromium and Firefox,
# against the fixture server (vantage-testkit fixtures) on a free port.
# Usage: scripts/test-widget.sh [chromium] [firefox]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
browsers=("$@")
[ ${#browsers[@]} -gt 0 ] || browsers=(chromium firefox)

nice -n 5 cargo build -q -p vantage-testkit
log=$(mktemp)
./target/debug/vantage-testkit fixtures --port 0 >"$log" 2>&1 &
fixtures=$!
trap 'kill $fixtures 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q 'listening on' "$log" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
[ -n "$port" ] || { echo "test-widget: fixture server did not start" >&2; cat "$log" >&2; exit 1; }
echo "test-widget: fixtures on 127.0.0.1:$port"

export VANTAGE_FIXTURE_PORT=$port
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/tests/webdriver.json"
# The frame in production is not cross-origin isolated; COEP require-corp would refuse every
# no-cors response without CORP.
export WASM_BINDGEN_TEST_NO_ORIGIN_ISOLATION=1
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-120}

status=0
for b in "${browsers[@]}"; do
  echo "test-widget: === $b ==="
  case $b in
    chromium) env -u GECKODRIVER CHROMEDRIVER=/usr/bin/chromedriver \
                nice -n 5 cargo test -p vantage-widget --target wasm32-unknown-unknown --tests --no-fail-fast || status=1 ;;
    firefox)  env -u CHROMEDRIVER GECKODRIVER="$(command -v geckodriver)" \
                nice -n 5 cargo test -p vantage-widget --target wasm32-unknown-unknown --tests --no-fail-fast || status=1 ;;
    *) echo "test-widget: unknown browser $b" >&2; status=2 ;;
  esac
done
exit $status
