#!/usr/bin/env bash
# `make run`: runs the agent in the foreground on a copy of examples/quickstart.
# The copy (run/quickstart, git-ignored) holds the store, the logs and your edits; it is made
# once and kept. `rm -rf run/quickstart` starts over from the tracked example.
# PYTHOND_RUN_DIR, PYTHOND_LISTEN and PYTHOND_BIN override the folder, the listen address and
# the binary.
set -euo pipefail
cd "$(dirname "$0")/.."

run_dir=${PYTHOND_RUN_DIR:-run/quickstart}
listen=${PYTHOND_LISTEN:-127.0.0.1:9529}
if [ ! -d "$run_dir" ]; then
  mkdir -p "$run_dir"
  cp -r examples/quickstart/. "$run_dir/"
fi
root=$(cd "$run_dir" && pwd)
api_line="http://$listen   (scripts report here; try: curl http://$listen/v1/ping)"
case "$listen" in *:0) api_line="a free port: see 'listening on' below" ;; esac
bin=${PYTHOND_BIN:-$(pwd)/build/pythond}

cat <<MSG

  pythond: running the example root $root
    HTTP API   $api_line
    store      $root/data/pythond.db
    scripts    $root/python.d    configs  $root/conf.d
    logs       this terminal, and $root/log/_datakit_pythond_cli.log
    query      $bin query --root $root "SELECT measurement, datetime(time/1e9,'unixepoch') AS t, fields FROM points ORDER BY time DESC LIMIT 10"

  Ctrl-C stops the agent.

MSG
exec "$bin" run --root "$root" --listen "$listen"
