#!/usr/bin/env bash
# The script author's loop: `pythond test` / `pythond check` wall times (bench.py).
# Env: PYTHOND (build/pythond), BENCH_TOOLS_ROUNDS (10).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
exec python3 "$HERE/bench.py"
