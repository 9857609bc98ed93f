#!/usr/bin/env bash
# Store benchmark: pythond (POST /v1/write/metric, embedded SQLite) against VictoriaMetrics
# (POST /write, InfluxDB line protocol), two figures over one corpus (store.py corpus): the
# 10,000 series of bench/corpus.py (5 measurements x 2,000 hosts, as bench/ingest) x
# BENCH_DISK_ROUNDS rounds 10 s apart, every point distinct and sent once, a 10,000-line body
# per round (1,000,000 points in 100 bodies by default).
#   store_disk  bytes on disk per point: the bodies POSTed one after another (http.client, no
#               Expect header), every answer 2xx (but see 503 below); what was stored is
#               checked (pythond: `pythond query` count(*) = points sent; VictoriaMetrics:
#               samples and series counted over its query API after /internal/force_flush);
#               then a clean stop (pythond: SIGTERM, it flushes; VictoriaMetrics:
#               /internal/force_flush, SIGTERM) and the size of the data folder (ROOT/data;
#               -storageDataPath, caches included) / points sent.
#   store_curl  the same bodies, each with its own `curl --data-binary @body` (curl adds
#               `Expect: 100-continue` to bodies over 1 MiB: a server that does not answer it
#               makes curl wait 1 s a body), timed from the first to the last.
# The curl figure gets its own server on a fresh data dir rather than reusing the disk run, so
# that each figure is measured alone: the disk one does not depend on how the bodies travel,
# and the curl time holds nothing but the uploads.
# Every answer must be 2xx: a 503 fails the bench (pythond holds a write back while its store
# is behind instead of refusing it). BENCH_RETRY_503=1 instead sends a refused body again after
# 0.1 s, as a DataKit client would, and counts it (retries_503=). Any other answer fails.
# Prints the RESULT lines, a table and the pythond/VictoriaMetrics ratios.
#
# Env: BENCH_DISK_ROUNDS (100), BENCH_SERVERS (pythond victoriametrics), PYTHOND
#      (build/pythond), BENCH_SEED (20240101), BENCH_RETRY_503 (0), BENCH_KEEP=1 keeps the
#      temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROUNDS=${BENCH_DISK_ROUNDS:-100}
SERVERS=${BENCH_SERVERS:-pythond victoriametrics}
PYTHOND=${PYTHOND:-$REPO/${BUILD_DIR:-build}/pythond}
SEED=${BENCH_SEED:-20240101}
RETRY=()
[[ ${BENCH_RETRY_503:-0} == 0 ]] && RETRY=(--no-retry-503)
HELPER=(python3 "$HERE/store.py")
TAG=store
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$HERE/../lib.sh"

install_pkgs victoria-metrics curl
require_cmds /usr/bin/victoria-metrics curl python3
[[ -x $PYTHOND ]] || die "no pythond binary at $PYTHOND"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_DISK_ROUNDS must be a positive integer"

bench_tmpdir
cp "$PYTHOND" "$TMP/pythond"  # a private copy: others may rebuild build/pythond meanwhile
RESULTS=$TMP/results.jsonl
: >"$RESULTS"
CORPUS=$TMP/corpus
helper_wait corpus "$CORPUS" --rounds "$ROUNDS" --seed "$SEED"

# --- Servers: start_<name> DIR PORT sets SERVER_PID, READY_URL, WRITE_URL and DATA_DIR. ---
start_pythond() {
  local dir=$1 port=$2
  mkdir -p "$dir/root"
  "$TMP/pythond" run --root "$dir/root" --listen "127.0.0.1:$port" --log-level warn \
    >"$dir/stdout.log" 2>&1 &
  SERVER_PID=$!
  READY_URL=http://127.0.0.1:$port/v1/ping
  WRITE_URL=http://127.0.0.1:$port/v1/write/metric
  DATA_DIR=$dir/root/data
}

start_victoriametrics() {
  local dir=$1 port=$2
  # The corpus is dated 2024-01-01: keep it inside the retention period (else it is dropped).
  /usr/bin/victoria-metrics -storageDataPath="$dir/data" -httpListenAddr="127.0.0.1:$port" \
    -retentionPeriod=100y -loggerLevel=WARN >"$dir/stdout.log" 2>&1 &
  SERVER_PID=$!
  READY_URL=http://127.0.0.1:$port/health
  WRITE_URL=http://127.0.0.1:$port/write
  BASE_URL=http://127.0.0.1:$port
  DATA_DIR=$dir/data
}

show_logs() {  # DIR
  tail -n 20 "$1"/*.log >&2 || true
}

start_server() {  # NAME DIR
  local name=$1 dir=$2 port
  mkdir -p "$dir"
  port=$("${HELPER[@]}" port)
  "start_$name" "$dir" "$port"
  CURRENT_PID=$SERVER_PID
  helper_wait ready "$READY_URL" "$SERVER_PID" --timeout 60 || { show_logs "$dir"; exit 1; }
}

stop_clean() {  # NAME DIR: SIGTERM the server, wait (<= 120 s) for it to exit with status 0
  local name=$1 dir=$2 pid=$CURRENT_PID i rc=0
  kill -TERM "$pid" 2>/dev/null || { show_logs "$dir"; die "$name exited before SIGTERM"; }
  for ((i = 0; i < 1200; i++)); do
    is_running "$pid" || break
    sleep 0.1
  done
  if is_running "$pid"; then
    show_logs "$dir"
    die "$name (pid $pid) still running 120 s after SIGTERM"  # cleanup kills it
  fi
  wait "$pid" || rc=$?
  CURRENT_PID=
  ((rc == 0)) || { show_logs "$dir"; die "$name exited with status $rc after SIGTERM"; }
}

disk_run() {  # NAME
  local name=$1 dir=$TMP/$1-disk
  start_server "$name" "$dir"
  helper_wait send --name "$name" --url "$WRITE_URL" --corpus "$CORPUS" --results "$RESULTS" \
    "${RETRY[@]}" || { show_logs "$dir"; exit 1; }
  if [[ $name == victoriametrics ]]; then
    helper_wait vm-count --url "$BASE_URL" --corpus "$CORPUS" || { show_logs "$dir"; exit 1; }
    curl -fsS --max-time 120 -o /dev/null "$BASE_URL/internal/force_flush"
  fi
  stop_clean "$name" "$dir"
  if [[ $name == pythond ]]; then
    helper_wait pythond-count --pythond "$TMP/pythond" --root "$dir/root" --corpus "$CORPUS"
  fi
  helper_wait disk --name "$name" --dir "$DATA_DIR" --corpus "$CORPUS" --results "$RESULTS"
  rm -rf "$dir"  # keep the temp dir small
}

curl_run() {  # NAME
  local name=$1 dir=$TMP/$1-curl
  start_server "$name" "$dir"
  helper_wait curl --name "$name" --url "$WRITE_URL" --corpus "$CORPUS" --results "$RESULTS" \
    "${RETRY[@]}" || { show_logs "$dir"; exit 1; }
  stop_clean "$name" "$dir"
  rm -rf "$dir"
}

echo "store: $ROUNDS round(s) of 10,000 points, $(machine_load)" >&2
for name in $SERVERS; do
  disk_run "$name"
done
for name in $SERVERS; do
  curl_run "$name"
done
"${HELPER[@]}" report "$RESULTS"
