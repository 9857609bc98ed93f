#!/usr/bin/env bash
# Scheduler benchmark: N plugins (BENCH_SCHED_N, default 100 and 1,000) each run every 1 s and
# report 10 points per run, on
#   pythond    `pythond run` with one [[inputs.pythond]] holding the N scripts (one worker)
#   collectd   collectd 5.12 (Debian collectd-core), N embedded-Python read callbacks, Interval 1,
#              ReadThreads 5, no write plugin (values go to an empty write chain: favours it)
# Each (server, N) gets a fresh process and temp dir: it must run every plugin once (else a
# warning), then BENCH_SCHED_WARMUP (10) s of warm-up, then a BENCH_SCHED_SECONDS (60) s
# window. Every run appends its start time to a records file; lateness is measured from it
# against each plugin's best-case fixed-rate grid, identically for both (schedbench.py). Prints one
# RESULT line per (server, N) (runs/s, lateness p50/p99/max, agent and workers CPU, CPU per
# run, RSS), ratio RESULT lines, a table and the tracked targets.
#
# Env: BENCH_SCHED_N ("100 1000"), BENCH_SCHED_SECONDS (60), BENCH_SCHED_WARMUP (10),
#      BENCH_SCHED_SERVERS ("pythond collectd"), PYTHOND (build/pythond),
#      BENCH_SCHED_READ_THREADS (5, collectd's ReadThreads), BENCH_SCHED_PYTHON (the
#      workers' Python: /usr/bin/python3 when present, as collectd embeds Debian's libpython),
#      BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NS=${BENCH_SCHED_N:-100 1000}
SECONDS_RUN=${BENCH_SCHED_SECONDS:-60}
WARMUP=${BENCH_SCHED_WARMUP:-10}
SERVERS=${BENCH_SCHED_SERVERS:-pythond collectd}
PYTHOND=${PYTHOND:-$REPO/${BUILD_DIR:-build}/pythond}
READ_THREADS=${BENCH_SCHED_READ_THREADS:-5}
# The workers' Python: Debian's (the same build as the libpython3.11 collectd embeds) when
# there is one, so that both run the scripts on the same interpreter.
if [[ -x /usr/bin/python3 ]]; then DEFAULT_PY=/usr/bin/python3; else DEFAULT_PY=python3; fi
WORKER_PY=${BENCH_SCHED_PYTHON:-$DEFAULT_PY}
HELPER=(python3 "$HERE/schedbench.py")
TAG=sched
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$HERE/../lib.sh"

# --- Install collectd when missing. python.so links libpython3.11, which collectd-core only
# suggests. ---
PKGS=()
[[ " $SERVERS " == *" collectd "* ]] && PKGS+=(collectd-core libpython3.11)
install_pkgs "${PKGS[@]}"
require_cmds python3
if [[ " $SERVERS " == *" collectd "* ]]; then
  [[ -x /usr/sbin/collectd && -f /usr/lib/collectd/python.so ]] ||
    die "collectd or its python plugin not found"
fi
if [[ " $SERVERS " == *" pythond "* ]]; then
  [[ -x $PYTHOND ]] || die "no pythond binary at $PYTHOND"
fi

# --- Temp dir, process bookkeeping, cleanup (bench/lib.sh). ---
bench_tmpdir
CURRENT_KIND=  # the kind of CURRENT_PID: pythond or collectd
stop_current() {  # for cleanup
  stop_server "$CURRENT_PID" "$CURRENT_KIND"
}
stop_server() {  # PID KIND: the server, then any of its pythond workers left behind
  local pid=$1 kind=$2 kids=() k
  if [[ $kind == pythond ]]; then
    mapfile -t kids < <("${HELPER[@]}" descendants "$pid" 2>/dev/null || true)
  fi
  stop_pid "$pid"
  for k in "${kids[@]}"; do
    # Only if the PID still names one of the workers (not a reused PID).
    if grep -qs pythond_worker "/proc/$k/cmdline"; then
      echo "sched: worker $k outlived the agent; stopping it" >&2
      stop_pid "$k"
    fi
  done
}

# A private copy of the binary and of the Python it runs (found at <exe>/../python): others
# may rebuild build/pythond or edit python/ while this runs.
if [[ " $SERVERS " == *" pythond "* ]]; then
  mkdir -p "$TMP/bin"
  cp "$PYTHOND" "$TMP/bin/pythond"
  cp -r "$(dirname "$PYTHOND")/../python" "$TMP/python" 2>/dev/null || cp -r "$REPO/python" "$TMP/python"
fi
RESULTS=$TMP/results.jsonl
: >"$RESULTS"

# --- Servers: start_<name> DIR N RECORDS sets SERVER_PID and EXTRA (wait-runs/measure args). ---
start_pythond() {
  local dir=$1 n=$2 records=$3
  "${HELPER[@]}" gen-pythond "$dir/root" "$n" "$records" --python "$WORKER_PY"
  "$TMP/bin/pythond" run --root "$dir/root" >"$dir/pythond.log" 2>&1 &
  SERVER_PID=$!
  WAIT_EXTRA=(--run-json "$dir/root/data/run.json")
  MEASURE_EXTRA=(--pythond "$TMP/bin/pythond" --root "$dir/root")
}

start_collectd() {
  local dir=$1 n=$2 records=$3
  "${HELPER[@]}" gen-collectd "$dir" "$n" "$records" --read-threads "$READ_THREADS"
  # -t: parse the config and exit (fails loudly on a config error).
  if ! /usr/sbin/collectd -t -C "$dir/collectd.conf" >"$dir/collectd-test.log" 2>&1; then
    echo "sched: collectd rejected its config:" >&2
    cat "$dir/collectd-test.log" >&2
    exit 1
  fi
  /usr/sbin/collectd -f -C "$dir/collectd.conf" >"$dir/collectd.stdout" 2>&1 &
  SERVER_PID=$!
  WAIT_EXTRA=()
  MEASURE_EXTRA=()
}

show_logs() {  # DIR
  local f
  for f in "$1"/*.log "$1"/*.stdout "$1"/root/log/*.log; do
    [[ -f $f ]] || continue
    echo "--- $f (last 20 lines)" >&2
    tail -n 20 "$f" >&2
  done
}

check_collectd_log() {  # DIR: fail loudly when a callback raised or collectd logged an error
  if grep -m 5 -E "Unhandled python exception|\[error\]" "$1/collectd.log" >&2; then
    echo "sched: collectd logged errors (above)" >&2
    show_logs "$1"
    exit 1
  fi
}

run_one() {  # SERVER N
  local name=$1 n=$2 dir records
  dir=$TMP/$name-$n
  records=$dir/records
  mkdir -p "$dir"
  : >"$records"
  "start_$name" "$dir" "$n" "$records"
  CURRENT_PID=$SERVER_PID
  CURRENT_KIND=$name
  if ! helper_wait wait-runs --name "$name" --pid "$SERVER_PID" --records "$records" --n "$n" \
      --timeout 120 "${WAIT_EXTRA[@]}"; then
    show_logs "$dir"
    exit 1
  fi
  [[ $name == collectd ]] && check_collectd_log "$dir"
  if ! helper_wait measure --name "$name" --pid "$SERVER_PID" --records "$records" --n "$n" \
      --seconds "$SECONDS_RUN" --warmup "$WARMUP" --results "$RESULTS" "${MEASURE_EXTRA[@]}"; then
    show_logs "$dir"
    exit 1
  fi
  [[ $name == collectd ]] && check_collectd_log "$dir"
  stop_server "$SERVER_PID" "$name"
  CURRENT_PID=
  if [[ $name == collectd ]]; then
    # What collectd logged (warnings and up), most frequent first: e.g. the absent writer.
    sed -E 's/^\[[^]]*\] //' "$dir/collectd.log" | sort | uniq -c | sort -rn | head -n 5 \
      | sed -E 's/^ *([0-9]+) /sched: collectd log (x\1): /' >&2 || true
  fi
  [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf "$dir"  # 1,000 scripts and a store: keep TMP small
}

echo "sched: N in ($NS), ${SECONDS_RUN}s window after ${WARMUP}s warm-up, servers: $SERVERS;" \
  "$(machine_load)" >&2
if [[ " $SERVERS " == *" collectd "* ]]; then
  echo "sched: collectd $(/usr/sbin/collectd -h 2>&1 | sed -n 's/^collectd \([0-9][0-9.]*[0-9]\).*/\1/p' | head -n 1)" \
    "with ReadThreads $READ_THREADS and no write plugin: values are dispatched to an empty" \
    "write chain, which favours collectd" >&2
fi
if [[ " $SERVERS " == *" pythond "* ]]; then
  echo "sched: pythond workers run $WORKER_PY ($("$WORKER_PY" -V 2>&1))" >&2
fi
for n in $NS; do
  for name in $SERVERS; do
    run_one "$name" "$n"
  done
done
"${HELPER[@]}" report "$RESULTS"
