#!/usr/bin/env bash
# Ingest benchmark: the same line-protocol corpus, load generator (wrk, 2 threads, 4
# connections) and run against
#   nginx            `return 204` (the transport ceiling; nginx reads and discards the body)
#   pythond_dry      POST /v1/write/metric?dry=true (parse + check, no store)
#   pythond          POST /v1/write/metric (parse + SQLite store)
#   victoriametrics  POST /write (InfluxDB line protocol)
#   influxdb         POST /write?db=bench (InfluxDB 1.6.x)
# with 1,000- and 5,000-line bodies. Each (server, body) gets a fresh server process with its
# data in a temp dir: 2 s warm-up, then BENCH_SECONDS (10) of load; BENCH_REPEAT (3) passes over
# all servers. Prints one RESULT line per figure (the median run's points/s, server CPU us per
# point, peak RSS, non-2xx answers), a table and ratios.
#
# Env: BENCH_SECONDS (10), BENCH_WARMUP (2), BENCH_REPEAT (3),
#      BENCH_SERVERS (all, space-separated subset),
#      PYTHOND (build/pythond), BENCH_SEED (20240101), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SECONDS_RUN=${BENCH_SECONDS:-10}
REPEAT=${BENCH_REPEAT:-3}
WARMUP=${BENCH_WARMUP:-2}
SERVERS=${BENCH_SERVERS:-nginx pythond_dry pythond victoriametrics influxdb}
PYTHOND=${PYTHOND:-$REPO/${BUILD_DIR:-build}/pythond}
SEED=${BENCH_SEED:-20240101}
HELPER=(python3 "$HERE/ingest.py")
TAG=ingest
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$HERE/../lib.sh"

# --- Install the other servers and wrk when missing. ---
install_pkgs victoria-metrics influxdb nginx-light wrk
require_cmds wrk /usr/sbin/nginx /usr/bin/victoria-metrics /usr/bin/influxd curl python3
[[ -x $PYTHOND ]] || die "no pythond binary at $PYTHOND"

# --- Temp dir, process bookkeeping, cleanup (bench/lib.sh). ---
bench_tmpdir
chmod 755 "$TMP"  # nginx workers may run as nobody

# A private copy: others may rebuild build/pythond while this runs.
cp "$PYTHOND" "$TMP/pythond"
"${HELPER[@]}" corpus "$TMP/corpus" --seed "$SEED"
RESULTS=$TMP/results.jsonl
: >"$RESULTS"

# --- Servers: start_<name> DIR PORT sets SERVER_PID, READY_URL and WRITE_URL. ---
start_nginx() {
  local dir=$1 port=$2
  mkdir -p "$dir"/{body,proxy,fastcgi,uwsgi,scgi}
  cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  client_max_body_size 64m;
  client_body_buffer_size 8m;
  client_body_in_single_buffer on;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:$port;
    # 'return' runs before any body handler: nginx reads the body off the socket and drops
    # it (ngx_http_discard_request_body), so this is the pure transport floor.
    location / { return 204; }
  }
}
EOF
  /usr/sbin/nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
  SERVER_PID=$!
  READY_URL=http://127.0.0.1:$port/
  WRITE_URL=http://127.0.0.1:$port/write
}

start_pythond() {
  local dir=$1 port=$2
  mkdir -p "$dir/root"
  "$TMP/pythond" run --root "$dir/root" --listen "127.0.0.1:$port" --log-level warn \
    >"$dir/stdout.log" 2>&1 &
  SERVER_PID=$!
  READY_URL=http://127.0.0.1:$port/v1/ping
  WRITE_URL=http://127.0.0.1:$port/v1/write/metric
}

start_pythond_dry() {
  start_pythond "$@"
  WRITE_URL+="?dry=true"
}

start_victoriametrics() {
  local dir=$1 port=$2
  # The corpus is dated 2024-01-01: keep it inside the retention period (else it is dropped).
  /usr/bin/victoria-metrics -storageDataPath="$dir/data" -httpListenAddr="127.0.0.1:$port" \
    -retentionPeriod=100y -loggerLevel=WARN >"$dir/stdout.log" 2>&1 &
  SERVER_PID=$!
  READY_URL=http://127.0.0.1:$port/health
  WRITE_URL=http://127.0.0.1:$port/write
}

start_influxdb() {
  local dir=$1 port=$2 rpc
  rpc=$("${HELPER[@]}" port)
  mkdir -p "$dir"/{meta,data,wal}
  cat >"$dir/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$dir/meta"
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
[logging]
  level = "warn"
[http]
  enabled = true
  bind-address = "127.0.0.1:$port"
  log-enabled = false
  max-body-size = 67108864
EOF
  /usr/bin/influxd run -config "$dir/influxdb.conf" >"$dir/stdout.log" 2>&1 &
  SERVER_PID=$!
  READY_URL=http://127.0.0.1:$port/ping
  WRITE_URL="http://127.0.0.1:$port/write?db=bench"
  CREATE_DB_URL=http://127.0.0.1:$port/query
}

run_one() {  # SERVER LINES
  local name=$1 lines=$2 dir port
  dir=$TMP/$name-$lines
  mkdir -p "$dir"
  port=$("${HELPER[@]}" port)
  CREATE_DB_URL=
  "start_$name" "$dir" "$port"
  CURRENT_PID=$SERVER_PID
  if ! helper_wait ready "$READY_URL" "$SERVER_PID" --timeout 60; then
    tail -n 20 "$dir"/*.log >&2 || true
    exit 1
  fi
  if [[ -n $CREATE_DB_URL ]]; then
    curl -fsS --max-time 10 -XPOST "$CREATE_DB_URL" --data-urlencode 'q=CREATE DATABASE bench' \
      >/dev/null
  fi
  if ! helper_wait measure --name "$name" --pid "$SERVER_PID" --url "$WRITE_URL" \
      --body "$TMP/corpus/body_$lines.lp" --seconds "$SECONDS_RUN" --warmup "$WARMUP" \
      --results "$RESULTS"; then
    tail -n 20 "$dir"/*.log >&2 || true
    exit 1
  fi
  stop_pid "$SERVER_PID"
  CURRENT_PID=
  rm -rf "$dir"  # stores can be large; keep the temp dir small
}

echo "ingest: ${REPEAT} pass(es), ${SECONDS_RUN}s per run after ${WARMUP}s warm-up, wrk -t2 -c4," \
  "$(machine_load)" >&2
# Passes over every server in turn (not one server's runs back to back), so a slow spell of the
# machine touches all servers alike; the report takes each figure's median run.
for ((pass = 1; pass <= REPEAT; pass++)); do
  for name in $SERVERS; do
    for lines in 1000 5000; do
      run_one "$name" "$lines"
    done
  done
done
"${HELPER[@]}" report "$RESULTS"
