#!/usr/bin/env bash
# SDK throughput benchmark: one plugin calls report({'M': [10 points]}) in a tight loop
# against the running agent for BENCH_SDK_SECONDS (10), in two modes, each in a fresh agent
# with its root in a temp dir:
#   default  the SDK's own transport inside a pythond worker (whatever it is today)
#   http     DataKitFramework(ip=, port=) with the agent's address: one HTTP POST per report,
#            standing in for DataKit's SDK
# Then waits (30 s at most) until every accepted point is in the store. Prints one RESULT
# line per mode (points/s, CPU per report of the plugin's worker and of the agent, failed
# reports, stored and lost points), a table, ratios to the DataKit SDK figure from the issue
# (9.2k points/s, 1.08 ms CPU per report; not measured here) and the targets.
#
# Env: BENCH_SDK_SECONDS (10), BENCH_SDK_MODES ("default http"), PYTHOND (build/pythond),
#      BENCH_SDK_PYTHON_DIR (the repo's python/: the worker and the SDK the agent runs),
#      BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SECONDS_RUN=${BENCH_SDK_SECONDS:-10}
MODES=${BENCH_SDK_MODES:-default http}
PYTHOND=${PYTHOND:-$REPO/${BUILD_DIR:-build}/pythond}
PYTHON_DIR=${BENCH_SDK_PYTHON_DIR:-$REPO/python}
HELPER=(python3 "$HERE/sdk.py")
TAG=sdk
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$HERE/../lib.sh"

require_cmds python3
[[ -x $PYTHOND ]] || die "no pythond binary at $PYTHOND"
[[ -f $PYTHON_DIR/pythond_worker.py && -f $PYTHON_DIR/datakit_framework.py ]] ||
  die "no worker and SDK in $PYTHON_DIR"

# --- Temp dir, process bookkeeping, cleanup (bench/lib.sh). ---
bench_tmpdir

# Private copies (others may rebuild build/pythond or edit python/ while this runs), laid out
# as the agent looks for its worker: BIN/../python.
mkdir -p "$TMP/bin"
cp "$PYTHOND" "$TMP/bin/pythond"
cp -r "$PYTHON_DIR" "$TMP/python"
RESULTS=$TMP/results.jsonl
: >"$RESULTS"

show_logs() {  # DIR
  tail -n 20 "$1/agent.log" "$1"/root/log/*.log >&2 2>/dev/null || true
}

run_one() {  # MODE
  local mode=$1 dir
  dir=$TMP/$mode
  mkdir -p "$dir"
  "${HELPER[@]}" setup "$dir/root" --mode "$mode" --seconds "$SECONDS_RUN" --loop "$HERE/loop.py"
  env -u PYTHOND_PYTHON_DIR "$TMP/bin/pythond" run --root "$dir/root" --log-level warn \
    >"$dir/agent.log" 2>&1 &
  CURRENT_PID=$!
  if ! helper_wait up "$dir/root" "$CURRENT_PID" --timeout 60 >/dev/null; then
    show_logs "$dir"
    exit 1
  fi
  if ! helper_wait measure --root "$dir/root" --pid "$CURRENT_PID" --mode "$mode" \
      --pythond "$TMP/bin/pythond" --seconds "$SECONDS_RUN" --results "$RESULTS"; then
    show_logs "$dir"
    exit 1
  fi
  stop_pid "$CURRENT_PID"
  CURRENT_PID=
  if grep -q . "$dir/agent.log"; then
    echo "sdk: mode=$mode: the agent logged (warn and above, last 5 lines):" >&2
    tail -n 5 "$dir/agent.log" >&2
  fi
  [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$dir"  # the store can be large
}

echo "sdk: ${SECONDS_RUN}s per mode ($MODES), $(machine_load)" >&2
for mode in $MODES; do
  run_one "$mode"
done
"${HELPER[@]}" report "$RESULTS"
