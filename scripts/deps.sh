#!/usr/bin/env bash
# Installs what Lifeline's tests need, when it is missing:
#   - Debian packages: chromium (browser tests), mosquitto and
#     mosquitto-clients (a second real broker and real clients), tshark (the
#     dissector oracle), dumpcap, dnsmasq and iproute2 (scripts/make-captures.sh);
#   - staticcheck, pinned, built into bin/tools;
#     dissector oracle), haproxy (the load-balanced deployment);
#   - wasmbrowsertest, built from the Go module proxy into bin/tools as
#     go_js_wasm_exec, which runs GOOS=js tests in headless Chromium.
# Quick and silent when everything is there. Run by `make deps` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package
declare -A need=(
  [chromium]=chromium
  [mosquitto]=mosquitto
  [mosquitto_pub]=mosquitto-clients
  [tshark]=tshark
  [dumpcap]=wireshark-common
  [node]=nodejs
  [npm]=npm
  [websockify]=websockify # make bench-proxy compares the proxy with it
  [dnsmasq]=dnsmasq       # scripts/make-captures.sh: the captures' DNS server
  [ip]=iproute2           # scripts/make-captures.sh: its network namespaces
  [haproxy]=haproxy       # the load-balanced deployment's e2e test
)
missing=()
for cmd in "${!need[@]}"; do
  if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1; then
    missing+=("${need[$cmd]}")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages: ${missing[*]}" >&2
    echo "deps: install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # With recommends: Chromium's fonts (fonts-liberation) are among them, and the
  # tests measure text on the page.
  apt-get install -y -q "${missing[@]}" >/dev/null
fi

# wasmbrowsertest pins its own chromedp, so it is installed with its own
# go.mod rather than as a tool of ours.
WBT_VERSION=v0.11.0
tools="$PWD/bin/tools"
stamp="$tools/.go_js_wasm_exec.$WBT_VERSION"
if [ ! -x "$tools/go_js_wasm_exec" ] || [ ! -f "$stamp" ]; then
  echo "deps: building wasmbrowsertest $WBT_VERSION into bin/tools/go_js_wasm_exec"
  mkdir -p "$tools"
  GOBIN="$tools" go install "github.com/agnivade/wasmbrowsertest@$WBT_VERSION"
  mv -f "$tools/wasmbrowsertest" "$tools/go_js_wasm_exec"
  rm -f "$tools"/.go_js_wasm_exec.*
  touch "$stamp"
fi

# staticcheck, pinned, run by make test (make staticcheck).
STATICCHECK_VERSION=v0.8.2 # staticcheck 2026.2.2
stamp="$tools/.staticcheck.$STATICCHECK_VERSION"
if [ ! -x "$tools/staticcheck" ] || [ ! -f "$stamp" ]; then
  echo "deps: building staticcheck $STATICCHECK_VERSION into bin/tools"
  mkdir -p "$tools"
  GOBIN="$tools" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
  rm -f "$tools"/.staticcheck.*
  touch "$stamp"
fi

# mqtt.js, a third-party client the end-to-end tests drive through the proxy,
# pinned by e2e/mqttjs/package-lock.json.
if [ ! -d e2e/mqttjs/node_modules/mqtt ] || [ e2e/mqttjs/package-lock.json -nt e2e/mqttjs/node_modules/.package-lock.json ]; then
  echo "deps: installing mqtt.js into e2e/mqttjs/node_modules"
  (cd e2e/mqttjs && npm ci --no-audit --no-fund --loglevel=error)
fi

# Mermaid's self-contained browser bundle, so that e2e/export_test.go parses
# the page's Mermaid export with Mermaid's own parser. Only the one file is
# taken from the pinned package (npm pack checks it against the registry's
# integrity; the sha256 pins it here too).
MERMAID_VERSION=11.17.2
MERMAID_SHA256=6ad2f42c3fc26bbf9e45cbb6d11898972573ea52b33a5f4ff51952899f950ffd
if [ ! -f "e2e/mermaid/mermaid-$MERMAID_VERSION.min.js" ]; then
  echo "deps: fetching mermaid $MERMAID_VERSION's browser bundle into e2e/mermaid"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "mermaid@$MERMAID_VERSION" >/dev/null &&
    echo "$MERMAID_SHA256  mermaid-$MERMAID_VERSION.tgz" | sha256sum -c --quiet &&
    tar -xzf "mermaid-$MERMAID_VERSION.tgz" package/dist/mermaid.min.js)
  mkdir -p e2e/mermaid
  mv "$tmp/package/dist/mermaid.min.js" "e2e/mermaid/mermaid-$MERMAID_VERSION.min.js"
  rm -rf "$tmp"
fi
