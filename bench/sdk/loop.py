"""bench/sdk plugin: report() with 10 points in a tight loop (copied to ROOT/python.d/sdk/).

Environment (set through the input's `envs`):
  BENCH_OUT          where to write the JSON result (atomically: OUT.tmp, then rename)
  BENCH_SDK_MODE     default: the SDK's own transport inside a pythond worker;
                     http: DataKitFramework(ip=, port=) with the agent's PYTHOND_HTTP_ADDR,
                     which forces one HTTP POST per report (DataKit's SDK style)
  BENCH_SDK_SECONDS  how long to loop (default 10)
"""

import json
import os
import time

from datakit_framework import DataKitFramework

MODE = os.environ.get("BENCH_SDK_MODE", "default")
POINTS_PER_REPORT = 10

# A small fleet: 8 tags per point, as a host collector would send.
_REGIONS = [("us-east-1", "iad"), ("eu-west-1", "dub"), ("ap-southeast-1", "sin")]
_SERVICES = ["api-gateway", "auth", "billing", "checkout", "search", "catalog", "orders"]
_TEAMS = ["core", "platform", "payments", "search", "sre"]
HOSTS = []
for _i in range(50):
    _region, _dc = _REGIONS[_i % 3]
    _service = _SERVICES[_i % 7]
    HOSTS.append({
        "az": _region + "abc"[_i % 3],
        "dc": "%s%d" % (_dc, 1 + _i % 2),
        "env": ("prod", "prod", "staging", "dev")[_i % 4],
        "host": "%s-%04d.%s.internal" % (_service, _i, _region),
        "rack": "%s%d-r%02d" % (_dc, 1 + _i % 2, 1 + _i % 8),
        "region": _region,
        "service": _service,
        "team": _TEAMS[_i % 5],
    })
STATES = ["running", "degraded", "draining", "starting up"]


def _ticks(path):
    """utime + stime (clock ticks) from /proc/<pid>/stat."""
    with open(path) as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()  # rest[0] is field 3 (state)
    return int(rest[11]) + int(rest[12])


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


class SdkBench(DataKitFramework):
    name = "sdkbench"
    interval = 3600  # one run per agent: the first is due at start-up

    def __init__(self, **kwargs):
        if MODE == "http":
            host, _, port = os.environ["PYTHOND_HTTP_ADDR"].rpartition(":")
            kwargs = dict(kwargs, ip=host.strip("[]"), port=int(port))
        super().__init__(**kwargs)

    def run(self):
        out = os.environ["BENCH_OUT"]
        seconds = float(os.environ.get("BENCH_SDK_SECONDS", "10"))
        agent_pid = os.getppid()  # the worker is spawned by the agent itself
        reports = failed = n = 0
        last_ns = 0
        result = {"mode": MODE, "agent_pid": agent_pid, "worker_pid": os.getpid(),
                  "points_per_report": POINTS_PER_REPORT, "seconds": seconds}
        result["agent_ticks_start"] = _ticks("/proc/%d/stat" % agent_pid)
        result["worker_ticks_start"] = _ticks("/proc/self/stat")
        result["wall_start"] = time.time()
        w0, p0, t0 = time.perf_counter(), time.process_time(), time.thread_time()
        try:
            while time.perf_counter() - w0 < seconds:
                now = time.time_ns()
                t = now if now > last_ns else last_ns + 1
                points = []
                for _ in range(POINTS_PER_REPORT):
                    n += 1
                    points.append({
                        "measurement": "sdkbench",
                        "tags": HOSTS[n % 50],
                        "fields": {
                            "seq": n,                          # unique: every point differs
                            "usage": (n % 1000) / 10.0 + 0.25,
                            "bytes": n * 4096 + 17,
                            "latency_ms": (n % 997) * 0.137,
                            "state": STATES[n % 4],
                            "healthy": n % 7 != 0,
                        },
                        "time": t,                             # ns, unique per point
                    })
                    t += 1
                last_ns = t - 1
                errors = self.report_errors
                self.report({"M": points})
                reports += 1
                if self.report_errors != errors:
                    failed += 1
        except Exception as e:  # noqa: BLE001 - recorded in the result
            result["exception"] = "%s: %s" % (type(e).__name__, e)
        result["wall_s"] = time.perf_counter() - w0
        result["process_cpu_s"] = time.process_time() - p0
        result["thread_cpu_s"] = time.thread_time() - t0
        result["wall_end"] = time.time()
        result["agent_ticks_end"] = _ticks("/proc/%d/stat" % agent_pid)
        result["worker_ticks_end"] = _ticks("/proc/self/stat")
        result["reports"] = reports
        result["failed_reports"] = failed
        result["points_sent"] = n
        result["last_report_error"] = self.last_report_error or ""
        _write_json(out, result)
        return ""
