"""Shared by the benchmark helpers bench/*/*.py (Python 3 stdlib only), which import it after
putting bench/ first on sys.path.

  /proc        stat_fields, cpu_ticks, cpu_ticks_sum, alive, descendants, status_kib, quiesce
  servers      free_port, wait_ready
  results      append_result, load_results, ratio, ok, print_table, print_targets
  command line subcommands, run_main
"""

import argparse
import json
import math
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------------------------------------
# /proc


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name: [0] is field 3 (state), [1] the
    ppid, [11] + [12] utime + stime, [13] + [14] cutime + cstime (clock ticks)."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    return s[s.rindex(")") + 2:].split()


def cpu_ticks(pid):
    """utime + stime of the process (all its threads), in clock ticks."""
    rest = stat_fields(pid)
    return int(rest[11]) + int(rest[12])


def cpu_ticks_sum(pids):
    """cpu_ticks summed over pids, skipping the ones that are gone."""
    total = 0
    for p in pids:
        try:
            total += cpu_ticks(p)
        except (OSError, ValueError):
            pass
    return total


def alive(pid):
    """The process exists and has not exited (a zombie is not alive)."""
    try:
        return stat_fields(pid)[0] not in ("Z", "X")
    except (OSError, ValueError):
        return False


def descendants(root):
    """The PIDs of root's descendants (zombies included), from the ppid of every process."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(stat_fields(int(d))[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], list(children.get(root, []))
    while todo and len(out) < 10000:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def status_kib(pid, key):
    """A kB field of /proc/PID/status (VmRSS, VmHWM, ...); 0 when absent or gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def quiesce(ticks, what, step=0.1, window=5, max_ticks=2, limit=60.0):
    """Seconds until ticks() (CPU ticks of what is measured) goes quiet: the start of the first
    `window` steps of `step` s in which it grows by at most `max_ticks` (2 ticks in 0.5 s: <= 4%
    of a core). Bounded by `limit`: then a warning naming `what` ("pid 12") and the time spent."""
    start = time.monotonic()
    samples = [(start, ticks())]
    while True:
        time.sleep(step)
        samples.append((time.monotonic(), ticks()))
        if len(samples) > window:
            t0, c0 = samples[-1 - window]
            if samples[-1][1] - c0 <= max_ticks:
                return t0 - start
        if samples[-1][0] - start > limit:
            print("WARN: %s still busy after %.0f s" % (what, limit), file=sys.stderr)
            return samples[-1][0] - start


# ---------------------------------------------------------------------------------------------
# Servers


def free_port():
    """A free TCP port on 127.0.0.1 (free now: the caller starts its server on it next)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_ready(url, pid, timeout):
    """Polls url every 50 ms until it answers 2xx; exits with a message if pid exits first or
    after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive(pid):
            sys.exit("ready: pid %d exited while waiting for %s" % (pid, url))
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if 200 <= r.status < 300:
                    return
                last = "HTTP %d" % r.status
        except urllib.error.HTTPError as e:
            last = "HTTP %d" % e.code
        except (OSError, urllib.error.URLError) as e:
            last = str(e)
        time.sleep(0.05)
    sys.exit("ready: %s not ready after %.0f s (%s)" % (url, timeout, last))


# ---------------------------------------------------------------------------------------------
# Results (one JSON record a line) and the report


def append_result(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


def load_results(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def ratio(x, y):
    if x is None or y is None or math.isnan(x) or math.isnan(y) or y == 0:
        return float("nan")
    return x / y


def ok(cond):
    return "ok" if cond else "MISS"


def print_table(header, rows, units=None):
    """A blank line, the header (and a units line), a rule as wide as the header, the rows."""
    print()
    print(header)
    if units is not None:
        print(units)
    print("-" * len(header))
    for row in rows:
        print(row)


def print_targets(targets):
    if targets:
        print("\ntargets:")
        for t in targets:
            print("  " + t)


# ---------------------------------------------------------------------------------------------
# Command line


def subcommands():
    """The helpers' command line: an ArgumentParser and its subparsers; each subcommand sets
    fn (run_main calls fn(args))."""
    ap = argparse.ArgumentParser()
    return ap, ap.add_subparsers(dest="cmd", required=True)


def run_main(ap, sub, cmd_report):
    """Adds the last subcommand, `report RESULTS` (cmd_report), parses and runs fn(args)."""
    p = sub.add_parser("report")
    p.add_argument("results")
    p.set_defaults(fn=cmd_report)
    a = ap.parse_args()
    # On TERM unwind normally: subprocess.run then kills a running child (wrk, a query).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    a.fn(a)
