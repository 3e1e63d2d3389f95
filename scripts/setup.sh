#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test Vantage.
# Idempotent: each step checks first and skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen crate in Cargo.lock
GECKODRIVER_VERSION=0.37.1

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

# Debian packages: browsers and their drivers for the widget tests, binaryen for wasm-opt; wrk,
# nginx-light (the ingest benchmark's baseline) and clickhouse-server for the benchmarks and tests.
apt_pkgs=(chromium chromium-driver firefox-esr binaryen wrk nginx-light clickhouse-server)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The benchmark starts its own nginx with a generated config; the system service stays off.
    if [[ " ${missing[*]} " == *" nginx-light "* ]]; then
      if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now nginx.service >/dev/null 2>&1 || true
      else
        service nginx stop >/dev/null 2>&1 || true
        update-rc.d nginx disable >/dev/null 2>&1 || true
      fi
    fi
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# The widget's build rebuilds std with panics that abort at once (scripts/build-widget.sh).
if ! rustup component list --installed | grep -q '^rust-src$'; then
  say "adding rust component rust-src (the widget rebuilds std for size)"
  rustup component add rust-src
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # --locked first; this registry lacks one crate version the CLI's lock file names
  # (webpki-roots 1.0.11), so fall back to a fresh resolution of the same pinned CLI.
  cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --locked --quiet \
    || cargo install wasm-bindgen-cli --version "=$WASM_BINDGEN_VERSION" --quiet
fi

if ! command -v geckodriver >/dev/null 2>&1; then
  say "installing geckodriver $GECKODRIVER_VERSION (once)"
  cargo install geckodriver --version "=$GECKODRIVER_VERSION" --locked --quiet \
    || cargo install geckodriver --version "=$GECKODRIVER_VERSION" --quiet
fi

# playwright-core drives Debian's Chromium in the end-to-end tests (it never downloads a browser);
# axe-core and ajv check accessibility and the OpenAPI document. Reinstall when any is missing.
if ! (cd tests/e2e && node -e "for (const d of Object.keys(require('./package.json').dependencies)) require.resolve(d + '/package.json')" 2>/dev/null); then
  say "installing the end-to-end test packages (npm ci)"
  (cd tests/e2e && npm ci --no-audit --no-fund --silent)
fi
say "setup complete"
