#!/usr/bin/env bash
# Disk queue benchmark: durable appends through DiskQueue (fsync on, one Append of one BLOCK-byte
# record per write) against dd writing the same bytes in the same blocks with a sync per block
# (oflag=dsync), on the same filesystem (TMPDIR's, default /tmp). Per block size it writes
# min(BENCH_QUEUE_MIB, BLOCK x BENCH_QUEUE_MAX_WRITES) bytes with each, so that a disk with
# millisecond syncs stays within two minutes; then the same 1 KiB writes from
# BENCH_QUEUE_THREADS appenders at once (group commit: they share fsyncs).
#
# Prints one RESULT line per (writer, block size), ratio lines queue vs dd, and the group
# commit line.
#
# Env: BENCH_QUEUE_BLOCKS ("1024 4096 16384 65536"), BENCH_QUEUE_MIB (256),
#      BENCH_QUEUE_MAX_WRITES (2048), BENCH_QUEUE_THREADS (4),
#      QUEUE_BENCH (build/queue_bench), TMPDIR (picks the filesystem), BENCH_KEEP=1.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BLOCKS=${BENCH_QUEUE_BLOCKS:-1024 4096 16384 65536}
MIB=${BENCH_QUEUE_MIB:-256}
MAX_WRITES=${BENCH_QUEUE_MAX_WRITES:-2048}
THREADS=${BENCH_QUEUE_THREADS:-4}
QUEUE_BENCH=${QUEUE_BENCH:-$REPO/${BUILD_DIR:-build}/queue_bench}
TAG=queue
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$HERE/../lib.sh"

require_cmds dd awk "$QUEUE_BENCH"
bench_tmpdir
echo "queue: on $(df -PT "$TMP" | awk 'NR == 2 {print $2 " " $1}'), $(machine_load)" >&2

run_queue() {  # BLOCK BYTES THREADS: the RESULT line of queue_bench
  HELPER=("$QUEUE_BENCH")
  helper_wait "$TMP/q" "$@" >"$TMP/out" || die "queue_bench failed"
  rm -rf "$TMP/q"
  cat "$TMP/out"
}

run_dd() {  # BLOCK COUNT: the RESULT line of dd with a sync per block
  local block=$1 count=$2 seconds
  HELPER=(env LC_ALL=C dd if=/dev/zero of="$TMP/dd.out" bs="$block" count="$count" oflag=dsync)
  helper_wait 2>"$TMP/dd.err" || die "dd failed: $(cat "$TMP/dd.err")"
  rm -f "$TMP/dd.out"
  # "1048576 bytes (1.0 MB, 1.0 MiB) copied, 3.14 s, 334 kB/s"
  seconds=$(sed -n 's/.* copied, \([0-9.e+-]*\) s,.*/\1/p' "$TMP/dd.err")
  [[ -n $seconds ]] || die "cannot read dd's time: $(cat "$TMP/dd.err")"
  awk -v b="$block" -v n="$count" -v s="$seconds" 'BEGIN {
    mib = b * n / 1048576
    printf "RESULT bench=queue writer=dd_dsync block=%d threads=1 writes=%d mib=%.2f " \
           "seconds=%.3f mib_per_s=%.2f writes_per_s=%.0f\n", b, n, mib, s, mib / s, n / s }'
}

field() {  # LINE KEY: the value of KEY=value in a RESULT line
  sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"
}

for block in $BLOCKS; do
  count=$((MIB * 1048576 / block))
  ((count > MAX_WRITES)) && count=$MAX_WRITES
  queue_line=$(run_queue "$block" $((block * count)) 1)
  echo "$queue_line"
  dd_line=$(run_dd "$block" "$count")
  echo "$dd_line"
  awk -v b="$block" -v q="$(field "$queue_line" mib_per_s)" -v d="$(field "$dd_line" mib_per_s)" \
    'BEGIN { printf "RESULT bench=queue ratio=disk_queue_vs_dd block=%d mib_per_s=%.2f\n", b, q / d }'
done
run_queue 1024 $((1024 * MAX_WRITES)) "$THREADS"
