#!/usr/bin/env python3
"""Helper for bench/sdk/run.sh (Python 3 stdlib only).

  setup ROOT --mode M --seconds S --loop FILE   write a pythond root: agent.conf, pythond.conf
                                                (one input, envs BENCH_*), python.d/sdk/loop.py
  up ROOT PID [--timeout S]                     wait for ROOT/data/run.json of agent PID; print
                                                its listen address
  measure --root R --pid P --mode M --pythond BIN --seconds S --results FILE
                                                wait for the plugin's result, then until every
                                                point is stored; CPU of the agent and of the
                                                worker; prints the RESULT line, appends a JSON
                                                record to --results
  report RESULTS                                table, ratio RESULT lines, targets
"""

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import (CLK_TCK, alive, append_result, cpu_ticks, cpu_ticks_sum,  # noqa: E402
                      load_results, ok, print_table, print_targets, quiesce, ratio, run_main,
                      subcommands)

POINTS_PER_REPORT = 10
MEASUREMENT = "sdkbench"

# The figures for DataKit's own SDK (not measured here).
REF_LABEL = "reference (DataKit SDK, measured by the issue author)"
REF_POINTS_PER_S = 9200.0
REF_CPU_MS_PER_REPORT = 1.08
TARGET_X = 10.0


def toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cmd_setup(a):
    root = os.path.abspath(a.root)
    for d in ("conf.d", "python.d/sdk", "log", "data"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "conf.d", "agent.conf"), "w") as f:
        f.write('[http_api]\nlisten = "127.0.0.1:0"\n\n[log]\nseed_log_dir = "log"\n')
    envs = ["BENCH_OUT=" + os.path.join(root, "result.json"), "BENCH_SDK_MODE=" + a.mode,
            "BENCH_SDK_SECONDS=%g" % a.seconds]
    with open(os.path.join(root, "conf.d", "pythond.conf"), "w") as f:
        f.write("[[inputs.pythond]]\n  name = \"sdk\"\n  cmd = \"python3\"\n"
                "  dirs = [\"sdk\"]\n  envs = [%s]\n" %
                ", ".join(toml_str(e.replace("$", "$$")) for e in envs))
    shutil.copyfile(a.loop, os.path.join(root, "python.d", "sdk", "loop.py"))


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cmd_up(a):
    path = os.path.join(a.root, "data", "run.json")
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        if not alive(a.pid):
            sys.exit("up: the agent (pid %d) exited while starting" % a.pid)
        info = read_json(path)
        if info and info.get("pid") == a.pid and info.get("listen"):
            print(info["listen"])
            return
        time.sleep(0.05)
    sys.exit("up: no %s for pid %d after %.0f s" % (path, a.pid, a.timeout))


def stored_count(pythond, root):
    sql = "SELECT count(*) FROM points WHERE measurement='%s'" % MEASUREMENT
    p = subprocess.run([pythond, "query", "--root", root, sql], capture_output=True, text=True,
                       timeout=30)
    if p.returncode != 0:
        raise RuntimeError("query failed (%d): %s" % (p.returncode, p.stderr.strip()))
    return int(p.stdout.strip().splitlines()[-1])


def quiesce_pids(pids):
    """Waits until the processes together go quiet (see benchlib.quiesce), 30 s at most."""
    quiesce(lambda: cpu_ticks_sum(pids), "pids %s" % pids, limit=30.0)


def sdk_log_target(root):
    """What the SDK's log says about where the plugin reports (first matching line)."""
    path = os.path.join(root, "log", "_datakit_pythond_framework_sdk_.log")
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if "sdkbench" in line and "report" in line:
                    return line.strip()
    except OSError:
        pass
    return "(nothing in %s)" % os.path.basename(path)


def cmd_measure(a):
    out = os.path.join(a.root, "result.json")
    deadline = time.monotonic() + a.seconds + 90  # worker start-up + the loop + slack
    r = None
    while time.monotonic() < deadline:
        if not alive(a.pid):
            sys.exit("measure: the agent (pid %d) exited before the plugin finished" % a.pid)
        r = read_json(out)
        if r is not None:
            break
        time.sleep(0.05)
    if r is None:
        sys.exit("measure: no result from the plugin in %s after %.0f s" %
                 (out, a.seconds + 90))
    if r.get("exception"):
        sys.exit("measure: the plugin's loop raised %s" % r["exception"])
    if r["agent_pid"] != a.pid:
        print("WARN: the worker's parent is pid %d, not the agent %d; agent CPU is wrong" %
              (r["agent_pid"], a.pid), file=sys.stderr)

    reports, failed = r["reports"], r["failed_reports"]
    expected = (reports - failed) * POINTS_PER_REPORT
    # Every point stored? Poll until the count reaches what was accepted (30 s deadline).
    stored, reached = -1, None
    vdeadline = time.monotonic() + 30
    while True:
        stored = stored_count(a.pythond, a.root)
        if stored >= expected:
            reached = time.time()
            break
        if time.monotonic() >= vdeadline:
            break
        time.sleep(0.2)
    drain = (reached - r["wall_end"]) if reached else float("nan")
    quiesce_pids([a.pid, r["worker_pid"]])
    agent_ticks = cpu_ticks(a.pid) - r["agent_ticks_start"]
    worker_ticks = cpu_ticks(r["worker_pid"]) - r["worker_ticks_start"]
    stored = stored_count(a.pythond, a.root)  # again: extra points would show here
    if not alive(a.pid):
        sys.exit("measure: the agent (pid %d) exited during the run" % a.pid)

    wall = r["wall_s"]
    per = lambda x: x / reports * 1e3 if reports else float("nan")  # noqa: E731 (s -> ms/rep)
    rec = {
        "mode": a.mode, "reports": reports, "failed_reports": failed, "wall_s": wall,
        "points_per_s": expected / wall if wall > 0 else 0.0,
        "reports_per_s": reports / wall if wall > 0 else 0.0,
        # The worker process (all threads), from the loop's start until every point is
        # stored, so a transport that sends after report() returns is counted too.
        "plugin_cpu_ms_per_report": per(worker_ticks / CLK_TCK),
        "loop_process_cpu_ms_per_report": per(r["process_cpu_s"]),
        "loop_thread_cpu_ms_per_report": per(r["thread_cpu_s"]),
        "agent_cpu_ms_per_report": per(agent_ticks / CLK_TCK),
        "agent_cpu_in_loop_ms_per_report":
            per((r["agent_ticks_end"] - r["agent_ticks_start"]) / CLK_TCK),
        "stored": stored, "expected": expected, "lost": expected - stored, "drain_s": drain,
        "last_report_error": r.get("last_report_error", ""), "sdk_log": sdk_log_target(a.root),
    }
    rec["total_cpu_ms_per_report"] = rec["plugin_cpu_ms_per_report"] + \
        rec["agent_cpu_ms_per_report"]
    print("RESULT bench=sdk mode=%s points_per_s=%.0f reports_per_s=%.0f "
          "plugin_cpu_ms_per_report=%.3f agent_cpu_ms_per_report=%.3f "
          "total_cpu_ms_per_report=%.3f failed_reports=%d stored=%d lost=%d drain_s=%.2f" % (
              a.mode, rec["points_per_s"], rec["reports_per_s"], rec["plugin_cpu_ms_per_report"],
              rec["agent_cpu_ms_per_report"], rec["total_cpu_ms_per_report"], failed, stored,
              rec["lost"], drain), flush=True)
    if failed:
        print("WARN: mode=%s: %d of %d reports failed; last: %s" %
              (a.mode, failed, reports, rec["last_report_error"]), flush=True)
    if rec["lost"]:
        print("WARN: mode=%s: %d points accepted, %d stored after 30 s" %
              (a.mode, expected, stored), flush=True)
    print("sdk: mode=%s: the SDK's log: %s" % (a.mode, rec["sdk_log"]), file=sys.stderr)
    append_result(a.results, rec)


def cmd_report(a):
    recs = load_results(a.results)
    by = {r["mode"]: r for r in recs}
    hdr = "%-8s %9s %10s %9s %9s %9s %9s %9s %6s %10s %6s %7s" % (
        "mode", "reports/s", "points/s", "plugin", "loop_proc", "loop_thr", "agent", "total",
        "failed", "stored", "lost", "drain_s")
    units = "%-8s %9s %10s %9s %9s %9s %9s %9s" % ("", "", "", "ms/rep", "ms/rep", "ms/rep",
                                                  "ms/rep", "ms/rep")
    print_table(hdr, ["%-8s %9.0f %10.0f %9.3f %9.3f %9.3f %9.3f %9.3f %6d %10d %6d %7.2f" % (
        r["mode"], r["reports_per_s"], r["points_per_s"], r["plugin_cpu_ms_per_report"],
        r["loop_process_cpu_ms_per_report"], r["loop_thread_cpu_ms_per_report"],
        r["agent_cpu_ms_per_report"], r["total_cpu_ms_per_report"], r["failed_reports"],
        r["stored"], r["lost"], r["drain_s"]) for r in recs], units)
    print("%s: %.0f points/s, %.2f ms CPU per 10-point report" %
          (REF_LABEL, REF_POINTS_PER_S, REF_CPU_MS_PER_REPORT))
    print()
    targets = []
    for mode in ("default", "http"):
        r = by.get(mode)
        if not r:
            continue
        rp = ratio(r["points_per_s"], REF_POINTS_PER_S)
        print("RESULT bench=sdk ratio=%s_vs_datakit_reference points=%.2f plugin_cpu=%.2f "
              "total_cpu=%.2f" % (mode, rp,
                                  ratio(r["plugin_cpu_ms_per_report"], REF_CPU_MS_PER_REPORT),
                                  ratio(r["total_cpu_ms_per_report"], REF_CPU_MS_PER_REPORT)))
        if mode == "default":
            targets.append("default: points/s %.1fx the DataKit reference (target >= %g): %s" %
                           (rp, TARGET_X, ok(rp >= TARGET_X)))
        targets.append("%s: every point stored (%d of %d, %d failed reports): %s" % (
            mode, r["stored"], r["expected"], r["failed_reports"],
            ok(r["lost"] == 0 and r["failed_reports"] == 0)))
    print_targets(targets)
    print("\nnotes: one plugin calls report({'M': [10 points]}) in a loop (8 tags, 6 fields: "
          "int, float, str,\nbool); points/s = points accepted / loop time. plugin = the "
          "worker process (all threads) from\nthe loop's start until every point is stored; "
          "loop_proc / loop_thr = process_time() /\nthread_time() inside the loop; agent = "
          "the agent process over the same window; total =\nplugin + agent. default: the "
          "SDK's own transport in a worker; http: DataKitFramework(ip=,\nport=), one HTTP "
          "POST per report (DataKit's SDK style). The reference was measured on another\n"
          "machine.")


def main():
    ap, sub = subcommands()
    p = sub.add_parser("setup")
    p.add_argument("root")
    p.add_argument("--mode", required=True, choices=["default", "http"])
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--loop", required=True)
    p.set_defaults(fn=cmd_setup)
    p = sub.add_parser("up")
    p.add_argument("root")
    p.add_argument("pid", type=int)
    p.add_argument("--timeout", type=float, default=60)
    p.set_defaults(fn=cmd_up)
    p = sub.add_parser("measure")
    p.add_argument("--root", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--mode", required=True)
    p.add_argument("--pythond", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--results", required=True)
    p.set_defaults(fn=cmd_measure)
    run_main(ap, sub, cmd_report)


if __name__ == "__main__":
    main()
