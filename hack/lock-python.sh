#!/usr/bin/env bash
# Locks flowgate's Python dependencies, every one pinned with the hashes of its files on PyPI:
#
#   requirements.lock      what the image installs (pip --require-hashes): pyproject.toml's
#                          dependencies and its build backend (setuptools, wheel)
#   requirements-dev.lock  what `make setup` installs into .venv/ (pip --require-hashes): the same
#                          versions, plus the development tools and the testbed's dependencies
#
# Run it (or `make lock`) after changing the dependencies in pyproject.toml, testbed/pyproject.toml
# or requirements-dev.in, and to take newer versions within their ranges; commit both files.
# --check changes nothing and fails when a lock no longer satisfies what pyproject.toml asks.
# It uses uv from .venv/ (`make setup` installs it); PyPI must be reachable.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
UV=${UV:-$ROOT/.venv/bin/uv}
cd "$ROOT"
check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "flowgate: lock-python.sh takes only --check, not '$1'." >&2; exit 2 ;;
esac
[ -x "$UV" ] || { echo "flowgate: $UV is missing; run 'make setup' first (it installs uv into .venv/)." >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# pyproject.toml's build backend, which the image builds flowgate with (no unhashed download).
python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
  >"$out/build.in"
common=(--quiet --generate-hashes --python-version 3.11 --universal --no-header --no-annotate)
upgrade=(--upgrade)
if $check; then upgrade=(); fi
for lock in requirements.lock requirements-dev.lock; do
  [ ! -f "$lock" ] || cp "$lock" "$out/$lock"
done
# The development set first (the larger one), then the image's within it: both hold the same versions.
"$UV" pip compile "${common[@]}" "${upgrade[@]}" requirements-dev.in "$out/build.in" \
  --no-emit-package flowgate --no-emit-package flowgate-testbed -o "$out/requirements-dev.lock"
"$UV" pip compile "${common[@]}" pyproject.toml "$out/build.in" -c "$out/requirements-dev.lock" -o "$out/requirements.lock"
for lock in requirements.lock requirements-dev.lock; do
  { printf '# %s: made by hack/lock-python.sh (make lock); do not edit.\n' "$lock"; grep -v '^#' "$out/$lock"; } \
    >"$out/$lock.final"
done
if $check; then
  stale=()
  for lock in requirements.lock requirements-dev.lock; do
    cmp -s "$out/$lock.final" "$lock" || stale+=("$lock")
  done
  if [ ${#stale[@]} -gt 0 ]; then
    echo "flowgate: ${stale[*]} no longer match what pyproject.toml and requirements-dev.in ask; run hack/lock-python.sh." >&2
    exit 1
  fi
  echo "flowgate: requirements.lock and requirements-dev.lock are current"
else
  for lock in requirements.lock requirements-dev.lock; do cp "$out/$lock.final" "$lock"; done
  echo "flowgate: wrote requirements.lock ($(grep -c '==' requirements.lock) packages) and requirements-dev.lock ($(grep -c '==' requirements-dev.lock) packages)"
fi
