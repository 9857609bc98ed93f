#!/usr/bin/env bash
# bench/outputs: what the disk queue costs, and the long chaos run.
#   1. outputs_bench: the same points to a VictoriaMetrics started here, once sent directly
#      (InfluxDbSender, batch after batch) and once through a QueuedOutput (fsynced disk queue,
#      forwarder) — points/s of each and the queue's cost (target: <= 20 %).
#   2. The chaos test's long form (tests/e2e/test_outputs.py ChaosTest): points stream into
#      pythond while VictoriaMetrics is stopped and restarted and pythond is SIGKILLed and
#      restarted twice; every acknowledged point must be in VictoriaMetrics at the end.
# Env: BENCH_POINTS (1000000), BENCH_BATCH (5000), CHAOS_SERIES (200), CHAOS_ROUNDS (300),
#      BUILD_DIR (build), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=$REPO/${BUILD_DIR:-build}
TAG=outputs
HELPER=(true)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$HERE/../lib.sh"

install_pkgs victoria-metrics
require_cmds /usr/bin/victoria-metrics curl python3
[[ -x $BUILD/outputs_bench && -x $BUILD/pythond ]] || die "build first (make build)"
bench_tmpdir

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/victoria-metrics -storageDataPath="$TMP/vm" -httpListenAddr="127.0.0.1:$port" \
  -retentionPeriod=100y -loggerLevel=WARN >"$TMP/vm.log" 2>&1 &
CURRENT_PID=$!
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/health" >/dev/null || die "VictoriaMetrics did not start"

echo "$TAG: $(machine_load)" >&2
"$BUILD/outputs_bench" "http://127.0.0.1:$port" "${BENCH_POINTS:-1000000}" "${BENCH_BATCH:-5000}" \
  "$TMP/queue"
stop_pid "$CURRENT_PID"
CURRENT_PID=

# The long chaos run; its counts line becomes a RESULT line.
out=$(cd "$REPO/tests/e2e" && PYTHOND_BIN="$BUILD/pythond" \
  PYTHOND_CHAOS_SERIES=${CHAOS_SERIES:-200} PYTHOND_CHAOS_ROUNDS=${CHAOS_ROUNDS:-300} \
  python3 -m unittest test_outputs.ChaosTest 2>&1) || { echo "$out" >&2; die "chaos test failed"; }
line=$(grep '^CHAOS ' <<<"$out") || die "no CHAOS line in the test's output"
echo "RESULT bench=outputs_chaos ${line#CHAOS }"
