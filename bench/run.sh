#!/usr/bin/env bash
# `make bench`: runs every benchmark; each prints RESULT lines (name=value ...).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
"$BUILD_DIR/parse_bench"
"$BUILD_DIR/store_bench"
QUEUE_BENCH="$BUILD_DIR/queue_bench" bench/queue/run.sh
PYTHOND="$BUILD_DIR/pythond" bench/ingest/run.sh
PYTHOND="$BUILD_DIR/pythond" bench/store/run.sh
PYTHOND="$BUILD_DIR/pythond" bench/sdk/run.sh
PYTHOND="$BUILD_DIR/pythond" bench/sched/run.sh
BUILD_DIR="$BUILD_DIR" bench/outputs/run.sh
PYTHOND="$BUILD_DIR/pythond" bench/scripttools/run.sh
PYTHOND="$BUILD_DIR/pythond" bench/service/run.sh
