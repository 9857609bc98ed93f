#!/usr/bin/env bash
# The installed service's costs (bench.py): package size; start → ready (READY=1 on
# $NOTIFY_SOCKET, and the port accepting) and SIGTERM → exit for pythond, against two Debian
# services started the same way (VictoriaMetrics, Prometheus); idle resident memory.
# Env: PYTHOND (build/pythond), PYTHOND_DEB (build/pythond_<version>_<arch>.deb, optional),
# BENCH_SERVICE_ROUNDS (10).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib.sh"
install_pkgs victoria-metrics prometheus
require_cmds /usr/bin/victoria-metrics /usr/bin/prometheus python3
exec python3 "$HERE/bench.py"
