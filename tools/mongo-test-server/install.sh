#!/bin/sh
# install.sh - installs the MongoDB test server (CongoDB) used by Dropin's
# tests into this directory, only when it is missing or outdated.
#
# CongoDB lives in the npm package @push.rocks/smartmongo@2.2.0, whose own
# `npm install` fails (it depends on packages that download a real mongod at
# run time). So: the few runtime packages CongoDB imports are installed from
# package.json/package-lock.json (pinned) with `npm ci`, and smartmongo itself
# is fetched with `npm pack` (its sha1 checked against the pinned one) and
# unpacked into ./vendor/smartmongo, where server.js imports it. Nothing is
# downloaded but from the npm registry; install scripts are not run.
# A stamp file (.installed) records what was installed: a second run with the
# same lock file does nothing. Needs node (>= 18) and npm (Debian: apt-get
# install nodejs npm). Exit status 0 when installed.
set -eu

DIR=$(cd "$(dirname "$0")" && pwd)
PKG=@push.rocks/smartmongo
VERSION=2.2.0
SHA1=8e8d6fe2de716cc16385447467cc47ce35e10af2
TARBALL=push.rocks-smartmongo-$VERSION.tgz

for tool in node npm sha1sum tar; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install.sh: $tool not found (Debian: apt-get install nodejs npm)" >&2
        exit 1
    fi
done

lock_sum=$(sha1sum "$DIR/package-lock.json" | cut -d' ' -f1)
want="$PKG@$VERSION $SHA1 lock=$lock_sum"
if [ -f "$DIR/.installed" ] && [ "$(cat "$DIR/.installed")" = "$want" ] &&
   [ -f "$DIR/vendor/smartmongo/dist_ts/congodb/index.js" ] &&
   [ -f "$DIR/node_modules/mingo/package.json" ]; then
    echo "install.sh: mongo test server already installed in $DIR"
    exit 0
fi

rm -f "$DIR/.installed"
cd "$DIR"
npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "$PKG@$VERSION" --loglevel=error >/dev/null)
got=$(sha1sum "$tmp/$TARBALL" | cut -d' ' -f1)
if [ "$got" != "$SHA1" ]; then
    echo "install.sh: $TARBALL has sha1 $got, expected $SHA1" >&2
    exit 1
fi
mkdir "$tmp/smartmongo"
tar xzf "$tmp/$TARBALL" -C "$tmp/smartmongo" --strip-components=1
rm -rf "$DIR/vendor/smartmongo"
mkdir -p "$DIR/vendor"
mv "$tmp/smartmongo" "$DIR/vendor/smartmongo"

# Smoke test: the module loads with the packages installed above.
node --input-type=module -e \
    "import('$DIR/vendor/smartmongo/dist_ts/congodb/index.js').then(m => { if (!m.CongoServer) process.exit(1); })"
echo "$want" > "$DIR/.installed"
echo "install.sh: mongo test server installed in $DIR"
