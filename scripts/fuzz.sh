#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (clang 14, ASan + UBSan) into build-fuzz/ and runs each
# for SECONDS_PER_TARGET seconds (default 60).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     e.g. scripts/fuzz.sh 300 fuzz_body_decoder
#
# Each target starts from fuzz/corpus/<target>/ (the seeds in git) plus what earlier runs found,
# kept in build-fuzz/corpus/<target>/ so new inputs never land in the source tree. Findings
# (crash-*, leak-*, timeout-*, oom-*) are copied to fuzz/corpus/<target>/crashes/; reproduce one
# with `build-fuzz/<target> fuzz/corpus/<target>/crashes/<file>`. One summary line per target:
#   FUZZ target=fuzz_line_protocol seconds=60 execs=1234567 result=ok
# Exits 1 if any target found something, 2 if the build failed.
# Environment: CXX_FUZZ (default clang++-14), FUZZ_JOBS (parallel compiles, default nproc),
# FUZZ_ARGS (extra libFuzzer flags, e.g. -max_len=65536 or -jobs=4).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:-60}
shift || true
CXX=${CXX_FUZZ:-clang++-14}
JOBS=${FUZZ_JOBS:-$(nproc)}
OUT=build-fuzz
SAN=address,undefined
CXXFLAGS=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  -Isrc -Ifuzz -DSPDLOG_FMT_EXTERNAL)
LIBS=(-lsimdjson -lz -lzstd -lspdlog -lfmt -pthread)

# clang 14 and its sanitizer runtimes (not needed by `make test`, so installed here).
missing=()
for p in clang-14 libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v "$CXX" >/dev/null; then
  echo "fuzz: $CXX not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi

# Targets: every fuzz/fuzz_*.cc, or those named on the command line.
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in fuzz/fuzz_*.cc; do targets+=("$(basename "$f" .cc)"); done
fi

# The code under test, as one static library so each target links only what it uses: all of
# src/common and src/model (they depend on nothing else) and the body decoder.
mkdir -p "$OUT/obj"
sources=()
for f in src/common/*.cc src/model/*.cc src/ingest/body_decoder.cc src/store/chunk_codec.cc \
  src/store/wal_record.cc; do
  case "$f" in *_test.cc) continue ;; esac
  sources+=("$f")
done
# Rebuild an object when its source, or any header it may include, is newer.
newest_header=$(find src/common src/model src/ingest/body_decoder.h src/store/chunk_codec.h \
  src/store/wal_record.h fuzz -name '*.h' -printf '%T@\n' |
  sort -n | tail -1)
stale=()
for f in "${sources[@]}"; do
  o="$OUT/obj/$(echo "${f%.cc}" | tr / _).o"
  if [ ! -f "$o" ] || [ "$f" -nt "$o" ] ||
    [ "$(stat -c %Y "$o")" -lt "${newest_header%.*}" ]; then
    stale+=("$f")
  fi
done
compile() {  # source → $OUT/obj/<path_with_underscores>.o; marks a failure in $OUT/obj/FAILED
  local o
  o="$OUT/obj/$(echo "${1%.cc}" | tr / _).o"
  "$CXX" "${CXXFLAGS[@]}" -fsanitize=fuzzer-no-link,$SAN -c "$1" -o "$o" || touch "$OUT/obj/FAILED"
}
if [ ${#stale[@]} -gt 0 ]; then
  echo "fuzz: compiling ${#stale[@]} source(s) with $CXX" >&2
  rm -f "$OUT/obj/FAILED"
  for f in "${stale[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    compile "$f" &
  done
  wait
  if [ -f "$OUT/obj/FAILED" ]; then
    echo "fuzz: build failed" >&2
    exit 2
  fi
fi
objects=()
for f in "${sources[@]}"; do objects+=("$OUT/obj/$(echo "${f%.cc}" | tr / _).o"); done
rm -f "$OUT/libfuzzdeps.a"
ar rcs "$OUT/libfuzzdeps.a" "${objects[@]}"

for t in "${targets[@]}"; do
  if [ ! -f "fuzz/$t.cc" ]; then
    echo "fuzz: no fuzz/$t.cc" >&2
    exit 2
  fi
  echo "fuzz: linking $t" >&2
  if ! "$CXX" "${CXXFLAGS[@]}" -fsanitize=fuzzer,$SAN "fuzz/$t.cc" "$OUT/libfuzzdeps.a" \
    "${LIBS[@]}" -o "$OUT/$t"; then
    echo "fuzz: build of $t failed" >&2
    exit 2
  fi
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=0
summary=()
for t in "${targets[@]}"; do
  corpus="$OUT/corpus/$t"
  artifacts="$OUT/artifacts/$t"
  log="$OUT/$t.log"
  mkdir -p "$corpus" "$artifacts"
  rm -f "$artifacts"/*
  # Seeds from git (not the saved crashes: those are reproducers, run them by hand).
  if [ -d "fuzz/corpus/$t" ]; then
    find "fuzz/corpus/$t" -maxdepth 1 -type f -exec cp -f {} "$corpus/" \;
  fi
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=("-dict=fuzz/$t.dict")
  echo "fuzz: running $t for ${SECONDS_PER_TARGET}s (log: $log)" >&2
  set +e
  # shellcheck disable=SC2086
  "$OUT/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=25 -rss_limit_mb=2560 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" \
    ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' ||
    true)
  [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#' || true)
  found=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | sort)
  result=ok
  if [ -n "$found" ] || [ $rc -ne 0 ]; then
    result=crash
    failed=1
    if [ -n "$found" ]; then
      mkdir -p "fuzz/corpus/$t/crashes"
      for f in $found; do cp -f "$f" "fuzz/corpus/$t/crashes/"; done
      echo "fuzz: $t: finding(s) copied to fuzz/corpus/$t/crashes/" >&2
    fi
    echo "fuzz: $t exited $rc; the report:" >&2
    grep -E -A40 '^==[0-9]+==ERROR|runtime error|^(line protocol|body decoder|error bookkeeping)|deadly signal|Timeout|out-of-memory' "$log" |
      head -60 >&2 || true
  fi
  summary+=("FUZZ target=$t seconds=$SECONDS_PER_TARGET execs=${execs:-0} result=$result")
done
printf '%s\n' "${summary[@]}"
exit $failed
