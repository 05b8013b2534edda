#!/usr/bin/env bash
# Builds the web UI from plugin-ui/ (the OpenShift console plugin, the standalone page and
# GraphiQL) and installs the outputs into the Python package (gateway/web/), which serves them.
#   hack/build-ui.sh          npm ci when the lockfile changed, then the production build
#   hack/build-ui.sh --check  also lint, type check and the jest tests first
#   hack/build-ui.sh --check-only  lint, type check and the jest tests only: nothing is built or
#                                  installed (what `make test` runs beside the other tests)
# npm uses its own cache (~/.npm); builds are cached outside the clone, keyed by the sources, so
# an unchanged tree installs the same files again in a second. Nothing built is committed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
UI=$ROOT/plugin-ui
WEB=$ROOT/gateway/web
CACHE=${FLOWGATE_CACHE:-$HOME/.cache/flowgate}/ui
LOGS=${FLOWGATE_CACHE:-$HOME/.cache/flowgate}/logs
check=false
build=true
case "${1:-}" in
  --check) check=true ;;
  --check-only) check=true build=false ;;
  "") ;;
  *) echo "flowgate: hack/build-ui.sh takes --check, --check-only or nothing, not '$1'." >&2; exit 2 ;;
esac
mkdir -p "$LOGS"

# step NAME COMMAND...: run quietly into a log; on failure show its end and stop.
step() {
  local name=$1 log=$LOGS/ui-$1.log start=$SECONDS
  shift
  if ! "$@" >"$log" 2>&1; then
    echo "flowgate: web UI $name failed; the end of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  echo "flowgate:   web UI $name passed ($((SECONDS - start))s)"
}

if ! command -v npm >/dev/null; then
  echo "flowgate: building the web UI needs Node.js 20 and npm, and npm is not on PATH." >&2
  exit 1
fi
cd "$UI"
lock=$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "node_modules/.flowgate-$lock" ]; then
  echo "flowgate: installing the web UI's npm packages (npm ci) ..."
  step install npm ci --no-audit --no-fund --loglevel=error
  touch "node_modules/.flowgate-$lock"
fi
if $check; then
  echo "flowgate: web UI lint, type check and tests ..."
  step lint npm run lint
  step typecheck npm run typecheck
  step tests npm test -- --ci
fi
$build || exit 0
# Everything the build reads: tracked and untracked sources, not what npm or a build wrote.
key=$(cd "$ROOT" && { git ls-files -co --exclude-standard plugin-ui | sort | xargs sha256sum; echo "$lock"; } | sha256sum | cut -c1-16)
built=$CACHE/$key
if [ ! -f "$built/.complete" ]; then
  echo "flowgate: building the web UI (console plugin, standalone page, GraphiQL) ..."
  step build npm run build
  rm -rf "$built.tmp" && mkdir -p "$built.tmp"
  cp -r dist "$built.tmp/plugin" && cp -r dist-standalone "$built.tmp/ui" && cp -r dist-graphiql "$built.tmp/graphiql"
  touch "$built.tmp/.complete"
  rm -rf "$built" && mv "$built.tmp" "$built"
else
  echo "flowgate: web UI ready (cached build of these sources)"
fi
for part in plugin ui graphiql; do
  rm -rf "${WEB:?}/$part"
  cp -r "$built/$part" "$WEB/$part"
done
