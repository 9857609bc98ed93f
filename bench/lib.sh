# shellcheck shell=bash
# Shared by the benchmark drivers bench/*/run.sh, which source it after setting
#   TAG     the bench's name: the prefix of its messages and of its temp dir's name
#   HELPER  its Python helper's command line, an array (run by helper_wait)
# and give: die, require_cmds, install_pkgs, bench_tmpdir (TMP, the EXIT/INT/TERM traps and
# cleanup), stop_pid, is_running, helper_wait, machine_load. A driver runs one server at a time
# with its PID in CURRENT_PID; cleanup stops it with stop_current, which a driver may redefine.

die() {  # MESSAGE...: "TAG: MESSAGE" on stderr, exit 1
  echo "$TAG: $*" >&2
  exit 1
}

require_cmds() {  # CMD...: each must be on PATH (or an executable path)
  local b
  for b in "$@"; do
    command -v "$b" >/dev/null || die "$b not found"
  done
}

# Installs PKG... when any is missing (idempotent; Debian 12 package names). policy-rc.d
# (containers) or systemd may start a packaged service: the benches run their own.
install_pkgs() {  # PKG...
  local p missing=() sudo=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "$TAG: installing ${missing[*]}" >&2
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

machine_load() {  # "<n> CPUs, load average <1 5 15 min>"
  echo "$(nproc) CPUs, load average $(cut -d" " -f1-3 /proc/loadavg)"
}

# --- Temp dir, process bookkeeping, cleanup. ---
bench_tmpdir() {  # sets TMP (removed on exit; BENCH_KEEP=1 keeps it) and the traps
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/pythond-$TAG.XXXXXX")
  CURRENT_PID=  # the one server running now (servers run one at a time)
  HELPER_PID=   # the helper running now
  trap cleanup EXIT
  # Helpers run in the background and are waited for (helper_wait), so that INT/TERM reach
  # the trap at once (bash defers traps while a foreground child runs).
  trap 'exit 130' INT TERM
}

cleanup() {
  [[ -n $HELPER_PID ]] && stop_pid "$HELPER_PID"
  [[ -n $CURRENT_PID ]] && stop_current
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "$TAG: kept $TMP" >&2; else rm -rf "$TMP"; fi
}

stop_current() {  # how cleanup stops the server in CURRENT_PID
  stop_pid "$CURRENT_PID"
}

# PID exists and has not exited (a zombie has). One read of its state: with two checks (kill -0,
# then "is it a zombie?") bash could reap an exited child in between and it would look alive.
is_running() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st%% *}
  [[ -n $st && $st != Z && $st != X ]]
}

stop_pid() {  # PID: TERM, wait up to 30 s, then KILL; every loop bounded
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    is_running "$pid" || break  # gone, or our child exited (a zombie until reaped below)
    sleep 0.1
  done
  if is_running "$pid"; then
    echo "$TAG: pid $pid ignored TERM for 30 s; killing" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      is_running "$pid" || break
      sleep 0.1
    done
  fi
  wait "$pid" 2>/dev/null || true  # reaps it if it is our child
}

helper_wait() {  # ARGS...: "${HELPER[@]}" ARGS in the background, waited for; its status
  local rc=0
  "${HELPER[@]}" "$@" &
  HELPER_PID=$!
  wait "$HELPER_PID" || rc=$?
  HELPER_PID=
  return "$rc"
}
