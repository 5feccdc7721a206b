#!/bin/sh
# Runs one suite of the JS client for ctest (tests/CMakeLists.txt):
#   run.sh node      the client against a real dropind, and its type declarations
#   run.sh browser   the example page in headless chromium against a real dropind
# Exit 77 (ctest's SKIP_RETURN_CODE) with the reason when node or chromium is
# not installed (tools/install-deps.sh --test installs both, and the npm
# packages of clients/js with npm ci).
set -eu
cd "$(dirname "$0")/.."
suite=${1:-node}
if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node is not installed (tools/install-deps.sh --test installs it)"
  exit 77
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "SKIP: node $major is older than 20"
  exit 77
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "run.sh: npm ci in clients/js"
  npm ci --no-audit --no-fund
fi
case "$suite" in
  node)
    exec node --test test/client.test.js test/types.test.js ;;
  browser)
    chromium=${CHROMIUM:-/usr/bin/chromium}
    if [ ! -x "$chromium" ]; then
      echo "SKIP: no chromium at $chromium (tools/install-deps.sh --test installs Debian's chromium)"
      exit 77
    fi
    exec node --test test/browser.test.js ;;
  *)
    echo "usage: run.sh node|browser" >&2
    exit 2 ;;
esac
