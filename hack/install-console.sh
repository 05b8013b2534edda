#!/usr/bin/env bash
# Unpacks the real OpenShift console (its bridge and production frontend, built from
# openshift/console at $COMMIT) into the build cache, once, for the browser tests that run the
# console plugin inside it (tests/e2e/test_openshift_console.py).
#
#   hack/install-console.sh          unpack it if it is not there yet
#   hack/install-console.sh --dir    print where it is (or goes); exit 1 if it is not unpacked
#
# The archive (openshift-console-$COMMIT.tar.zst, 45 MB) comes from FLOWGATE_CONSOLE_ARCHIVE or
# from a shared/console/ folder beside this checkout. Without it nothing is unpacked and the tests
# that need the console skip, naming it; this script still succeeds.
set -euo pipefail
COMMIT=da1f132490
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CACHE=${FLOWGATE_CACHE:-$HOME/.cache/flowgate}
DIR=$CACHE/console/$COMMIT
ARCHIVE_NAME=openshift-console-$COMMIT.tar.zst

installed() { [ -x "$DIR/bin/bridge" ] && [ -f "$DIR/frontend/public/dist/index.html" ]; }

if [ "${1:-}" = "--dir" ]; then
  echo "$DIR"
  installed
  exit
fi
if installed; then
  echo "flowgate: OpenShift console $COMMIT ready (cached)"
  exit 0
fi
archive=${FLOWGATE_CONSOLE_ARCHIVE:-$(dirname "$ROOT")/shared/console/$ARCHIVE_NAME}
if [ ! -f "$archive" ]; then
  echo "flowgate: $ARCHIVE_NAME not found (set FLOWGATE_CONSOLE_ARCHIVE); the tests in the real OpenShift console will skip."
  exit 0
fi
command -v zstd >/dev/null || "$HERE/install-system-deps.sh" console
echo "flowgate: unpacking the OpenShift console $COMMIT into $DIR ..."
mkdir -p "$CACHE/console"
exec 9>"$CACHE/console/.$COMMIT.lock"
flock 9
installed && exit 0
rm -rf "$DIR.tmp" && mkdir -p "$DIR.tmp"
tar --zstd -xf "$archive" -C "$DIR.tmp"
rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
installed || { echo "flowgate: $archive holds no bin/bridge and frontend/public/dist" >&2; exit 1; }
echo "flowgate: OpenShift console $COMMIT ready"
