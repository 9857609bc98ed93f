#!/usr/bin/env python3
"""Helper for bench/ingest/run.sh (Python 3 stdlib only).

  corpus DIR [--seed N]        write DIR/body_1000.lp and DIR/body_5000.lp (deterministic)
  port                         print a free TCP port on 127.0.0.1
  ready URL PID [--timeout S]  poll URL until it answers 2xx (fails if PID exits or on deadline)
  measure ...                  warm-up, measured wrk run, CPU/RSS of the server's process tree;
                               prints the RESULT line and appends a JSON record to --results
  report RESULTS               human table, ratio RESULT lines and the tracked targets
"""

import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import (CLK_TCK, alive, append_result, cpu_ticks_sum, descendants,  # noqa: E402
                      free_port, load_results, ok, print_table, print_targets, quiesce, ratio,
                      run_main, status_kib, subcommands, wait_ready)
from corpus import make_body, make_hosts  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Corpus (bench/corpus.py: 5 measurements x 2,000 hosts, shared with bench/store)

def cmd_corpus(a):
    os.makedirs(a.dir, exist_ok=True)
    for lines in (1000, 5000):
        rng = random.Random("%d/%d" % (a.seed, lines))
        hosts = make_hosts(random.Random(a.seed))  # the same fleet for both bodies
        body = make_body(rng, hosts, lines)
        path = os.path.join(a.dir, "body_%d.lp" % lines)
        with open(path, "wb") as f:
            f.write(body)
        print("corpus: %s: %d lines, %d bytes (%.0f B/line)" %
              (path, lines, len(body), len(body) / lines), file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Process tree accounting (/proc)

def tree_pids(root):
    return [root] + descendants(root)


def tree_cpu_ticks(root):
    return cpu_ticks_sum(tree_pids(root))


def tree_hwm_kib(root):
    return sum(status_kib(p, "VmHWM") for p in tree_pids(root))


def quiesce_tree(pid):
    """Seconds until the server's tree goes quiet (see benchlib.quiesce). Background work left
    by the load (queued store writes, flushes) thus counts as part of the run, to within 0.1 s.
    Bounded by 60 s."""
    return quiesce(lambda: tree_cpu_ticks(pid), "pid %d" % pid)


# ---------------------------------------------------------------------------------------------
# Commands

def cmd_port(a):
    print(free_port())


def cmd_ready(a):
    wait_ready(a.url, a.pid, a.timeout)


def run_wrk(url, body, seconds, timeout_s=10):
    cmd = ["wrk", "-t2", "-c4", "-d%ds" % seconds, "--timeout", "%ds" % timeout_s,
           "-s", os.path.join(HERE, "post.lua"), url]
    env = dict(os.environ, BENCH_BODY=body)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    if p.returncode != 0:
        sys.exit("wrk failed (%d): %s%s" % (p.returncode, p.stdout, p.stderr))
    for line in p.stdout.splitlines():
        if line.startswith("WRK "):
            return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    sys.exit("wrk printed no WRK line:\n" + p.stdout + p.stderr)


def cmd_measure(a):
    with open(a.body, "rb") as f:
        lines = f.read().count(b"\n")
    if a.warmup > 0:
        w = run_wrk(a.url, a.body, a.warmup)
        if w["requests"] == 0 or w["non2xx"] == w["requests"]:
            sys.exit("%s: warm-up got no 2xx answer (%s)" % (a.name, w))
    quiesce_tree(a.pid)
    c0 = tree_cpu_ticks(a.pid)
    w = run_wrk(a.url, a.body, a.seconds)
    drain = quiesce_tree(a.pid)
    c1 = tree_cpu_ticks(a.pid)
    hwm = tree_hwm_kib(a.pid)
    if not alive(a.pid):
        sys.exit("%s: the server (pid %d) exited during the run" % (a.name, a.pid))

    ok = w["requests"] - w["non2xx"]
    points = ok * lines
    elapsed = w["duration_us"] / 1e6 + drain  # sustained: includes work left after the load
    cpu_s = (c1 - c0) / CLK_TCK
    rec = {
        "server": a.name, "body_lines": lines, "points": points, "elapsed_s": elapsed,
        "drain_s": drain, "points_per_s": points / elapsed if elapsed > 0 else 0.0,
        "cpu_s": cpu_s, "cpu_us_per_point": cpu_s / points * 1e6 if points else float("nan"),
        "cpu_cores": cpu_s / elapsed if elapsed > 0 else 0.0,
        "peak_rss_mib": hwm / 1024.0, "non2xx": w["non2xx"], "requests": w["requests"],
        "socket_errors": w["err_connect"] + w["err_read"] + w["err_write"] + w["err_timeout"],
        "lat_p50_ms": w["lat_p50_us"] / 1e3, "lat_p99_ms": w["lat_p99_us"] / 1e3,
    }
    # One line per run; `report` gives the RESULT line of each figure (the median run).
    print("RUN bench=ingest server=%s body_lines=%d points_per_s=%.0f cpu_us_per_point=%.3f "
          "peak_rss_mib=%.1f non2xx=%d" % (a.name, lines, rec["points_per_s"],
                                           rec["cpu_us_per_point"], rec["peak_rss_mib"],
                                           rec["non2xx"]), flush=True)
    if rec["non2xx"] or rec["socket_errors"]:
        print("WARN: %s body_lines=%d: %d non-2xx answers, %d socket errors (of %d requests)" %
              (a.name, lines, rec["non2xx"], rec["socket_errors"], rec["requests"]), flush=True)
    append_result(a.results, rec)


def median_runs(recs):
    """Per (server, body lines): the run with the median points/s, carrying the spread of all
    runs (`runs`, `min_points_per_s`, `max_points_per_s`) and the non-2xx answers of all runs
    (a refusal in any run counts). Servers keep their first-seen order."""
    groups = {}
    for r in recs:
        groups.setdefault((r["server"], r["body_lines"]), []).append(r)
    out = []
    for runs in groups.values():
        ranked = sorted(runs, key=lambda r: r["points_per_s"])
        m = dict(ranked[(len(ranked) - 1) // 2])
        m["runs"] = len(runs)
        m["min_points_per_s"] = ranked[0]["points_per_s"]
        m["max_points_per_s"] = ranked[-1]["points_per_s"]
        m["non2xx"] = sum(r["non2xx"] for r in runs)
        m["socket_errors"] = sum(r["socket_errors"] for r in runs)
        m["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
        out.append(m)
    return out


def cmd_report(a):
    recs = median_runs(load_results(a.results))
    for r in recs:
        print("RESULT bench=ingest server=%s body_lines=%d points_per_s=%.0f "
              "cpu_us_per_point=%.3f peak_rss_mib=%.1f non2xx=%d runs=%d min=%.0f max=%.0f" % (
                  r["server"], r["body_lines"], r["points_per_s"], r["cpu_us_per_point"],
                  r["peak_rss_mib"], r["non2xx"] + r["socket_errors"], r["runs"],
                  r["min_points_per_s"], r["max_points_per_s"]))
    print()
    by = {(r["server"], r["body_lines"]): r for r in recs}
    hdr = "%-16s %6s %12s %9s %9s %7s %7s %7s %8s %8s" % (
        "server", "lines", "points/s", "cpu_us/pt", "cores", "rss_MiB", "drain_s", "non2xx",
        "p50_ms", "p99_ms")
    print_table(hdr, ["%-16s %6d %12.0f %9.3f %9.2f %7.1f %7.2f %7d %8.2f %8.2f" % (
        r["server"], r["body_lines"], r["points_per_s"], r["cpu_us_per_point"],
        r["cpu_cores"], r["peak_rss_mib"], r["drain_s"], r["non2xx"] + r["socket_errors"],
        r["lat_p50_ms"], r["lat_p99_ms"]) for r in recs])
    print()
    targets = []
    for lines in sorted({r["body_lines"] for r in recs}):
        p, vm = by.get(("pythond", lines)), by.get(("victoriametrics", lines))
        d, ng = by.get(("pythond_dry", lines)), by.get(("nginx", lines))
        if p and vm:
            rp = ratio(p["points_per_s"], vm["points_per_s"])
            rc = ratio(p["cpu_us_per_point"], vm["cpu_us_per_point"])
            print("RESULT bench=ingest ratio=pythond_vs_victoriametrics body_lines=%d "
                  "points=%.2f cpu=%.2f" % (lines, rp, rc))
            targets.append("body_lines=%d pythond/VM points/s %.2f (target >= 2): %s; "
                           "CPU/pt %.2f (target <= 1): %s; non-2xx %d (target 0): %s" %
                           (lines, rp, ok(rp >= 2), rc, ok(rc <= 1),
                            p["non2xx"] + p["socket_errors"],
                            ok(p["non2xx"] + p["socket_errors"] == 0)))
        if d and ng:
            rd = ratio(d["points_per_s"], ng["points_per_s"])
            print("RESULT bench=ingest ratio=pythond_dry_vs_nginx body_lines=%d points=%.2f" %
                  (lines, rd))
            targets.append("body_lines=%d pythond dry points/s %.0f (target >= 1,000,000): %s" %
                           (lines, d["points_per_s"], ok(d["points_per_s"] >= 1e6)))
        for name in ("pythond", "pythond_dry"):
            r = by.get((name, lines))
            if r:
                targets.append("body_lines=%d %s peak RSS %.1f MiB (target <= 96): %s" %
                               (lines, name, r["peak_rss_mib"], ok(r["peak_rss_mib"] <= 96)))
    print_targets(targets)
    print("\nnotes: each figure is the median of the runs (min and max beside it; peak RSS and "
          "non-2xx\nover all runs); points/s = 2xx requests x lines / (wrk time + drain, the time "
          "the server kept\nworking after the load); CPU and RSS (VmHWM) are summed over the server's "
          "process tree;\nnginx answers 204 from `return` and discards (reads, drops) the body.")


def main():
    ap, sub = subcommands()
    p = sub.add_parser("corpus")
    p.add_argument("dir")
    p.add_argument("--seed", type=int, default=20240101)
    p.set_defaults(fn=cmd_corpus)
    p = sub.add_parser("port")
    p.set_defaults(fn=cmd_port)
    p = sub.add_parser("ready")
    p.add_argument("url")
    p.add_argument("pid", type=int)
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(fn=cmd_ready)
    p = sub.add_parser("measure")
    p.add_argument("--name", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--body", required=True)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--results", required=True)
    p.set_defaults(fn=cmd_measure)
    run_main(ap, sub, cmd_report)


if __name__ == "__main__":
    main()
