#!/bin/sh
# install.sh - installs the official OpenTok server SDK (npm opentok, pinned
# in package.json / package-lock.json) into this directory. The tests only
# use it to make reference T1 tokens with fixed inputs and compare dropind's
# token layout byte for byte (tests/integration/test_video.py); dropind never
# runs it. Needs node and npm; install scripts are not run. A second run with
# the same lock file does nothing.
set -eu

DIR=$(cd "$(dirname "$0")" && pwd)
for tool in node npm sha1sum; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install.sh: $tool not found (Debian: apt-get install nodejs npm)" >&2
        exit 1
    fi
done
want="lock=$(sha1sum "$DIR/package-lock.json" | cut -d' ' -f1)"
if [ -f "$DIR/.installed" ] && [ "$(cat "$DIR/.installed")" = "$want" ] &&
   [ -f "$DIR/node_modules/opentok/lib/opentok.js" ]; then
    echo "install.sh: opentok reference SDK already installed in $DIR"
    exit 0
fi
rm -f "$DIR/.installed"
cd "$DIR"
npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
node -e 'require("opentok")'
echo "$want" > "$DIR/.installed"
echo "install.sh: opentok reference SDK installed in $DIR"
