#!/usr/bin/env bash
# The whole suite as `make test` runs it, in two lanes at once:
#   fast lane    the web UI's lint, type check and jest tests, then the unit and integration tiers
#                (Python against real API servers): mostly busy on a CPU;
#   system lane  the end-to-end tier (real Open vSwitch, goflow2, Chromium, the OpenShift console,
#                the container image): mostly waiting on real daemons, traffic and timeouts.
# On two cores the pair takes about as long as the longer lane. The system lane's output streams;
# the fast lane's is kept and shown in full when both have ended, with a line as soon as it ends.
# The exit status is the first failing lane's. Extra arguments go to both pytest runs;
# FLOWGATE_JUNIT_DIR=dir writes each lane's JUnit report there (fast.xml, system.xml).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
cd "$ROOT"
PYTEST=${PYTEST:-$ROOT/.venv/bin/pytest}
FAST_TESTS=(tests/unit tests/integration)
SYSTEM_TESTS=(tests/e2e)

lanes=$(mktemp -d)
fast_log=$lanes/fast.log
junit() { [ -n "${FLOWGATE_JUNIT_DIR:-}" ] && echo "--junitxml=$FLOWGATE_JUNIT_DIR/$1.xml"; }
cleanup() {
  # The fast lane runs in its own process group (set -m below): stop all of it, by its PID.
  [ -n "${fast_pid:-}" ] && kill -- "-$fast_pid" 2>/dev/null
  rm -rf "$lanes"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The web UI's build is installed first: the system lane serves it.
hack/build-ui.sh || exit 1

set -m
(
  export FLOWGATE_SUITE_LANE=fast
  start=$SECONDS
  status=0
  {
    hack/build-ui.sh --check-only && "$PYTEST" -q -ra --durations=10 $(junit fast) "${FAST_TESTS[@]}" "$@"
  } >"$fast_log" 2>&1 || status=$?
  summary=$(tail -n 1 "$fast_log")  # pytest -q ends on its summary; a failed UI check on its log's end
  if [ "$status" -eq 0 ]; then
    echo "flowgate: fast lane (web UI checks, unit, integration) passed after $((SECONDS - start)) s: $summary"
  else
    echo "flowgate: fast lane (web UI checks, unit, integration) FAILED after $((SECONDS - start)) s: $summary (its output is below)"
  fi
  exit "$status"
) &
fast_pid=$!
set +m

echo "flowgate: the system lane (${SYSTEM_TESTS[*]}) runs here; the fast lane (web UI checks, ${FAST_TESTS[*]}) runs beside it"
system_status=0
FLOWGATE_SUITE_LANE=system "$PYTEST" -q -ra --durations=15 $(junit system) "${SYSTEM_TESTS[@]}" "$@" || system_status=$?

fast_status=0
wait "$fast_pid" || fast_status=$?
fast_pid=
echo
echo "flowgate: ---------------- the fast lane's output ----------------"
cat "$fast_log"
echo "flowgate: ---------------- end of the fast lane's output ----------------"
if [ "$system_status" -ne 0 ] || [ "$fast_status" -ne 0 ]; then
  echo "flowgate: the suite FAILED: system lane exit status $system_status, fast lane $fast_status" >&2
  [ "$system_status" -ne 0 ] && exit "$system_status"
  exit "$fast_status"
fi
echo "flowgate: the suite passed: both lanes"
