"""How long the script author's loop takes: `pythond test` and `pythond check` on the seed's
example and on a folder of 20 plugins, against the floor of starting the same Python
(`python3 -c pass`) and against running the plugin in-process with the SDK's harness
(`datakit_framework.testing.run_plugin`). Wall time, median and max of BENCH_TOOLS_ROUNDS (10)
runs each, after one warm-up. One RESULT line per measurement.

DataKit has no such command (its only loop is: deploy, restart DataKit, watch the backend), so
the peers are the two floors above.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PYTHOND = os.path.abspath(os.environ.get("PYTHOND", os.path.join(REPO, "build", "pythond")))
ROUNDS = int(os.environ.get("BENCH_TOOLS_ROUNDS", "10"))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"

PLUGIN = '''from datakit_framework import DataKitFramework

class P{n}(DataKitFramework):
    name = "p{n}"
    interval = 10

    def run(self):
        return self.feed_metric(measurement="m{n}", tags={{"k": "v"}}, fields={{"n": {n}, "x": 1.5}})
'''


def timed(cmd, cwd, expect=0):
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=120)
    elapsed = time.monotonic() - started
    if proc.returncode != expect:
        sys.exit("bench/scripttools: %s exited %d\n%s%s" % (
            " ".join(cmd), proc.returncode, proc.stdout.decode(), proc.stderr.decode()))
    return elapsed


def measure(name, cmd, cwd):
    timed(cmd, cwd)  # warm-up: page cache, .pyc files
    times = [timed(cmd, cwd) for _ in range(ROUNDS)]
    print("RESULT bench=script_tools case=%s rounds=%d wall_ms_p50=%.1f wall_ms_max=%.1f" % (
        name, ROUNDS, statistics.median(times) * 1e3, max(times) * 1e3), flush=True)
    return statistics.median(times)


def main():
    if not os.access(PYTHOND, os.X_OK):
        sys.exit("bench/scripttools: no pythond binary at %s" % PYTHOND)
    root = tempfile.mkdtemp(prefix="pythond-bench-tools-")
    try:
        shutil.copytree(os.path.join(REPO, "examples", "quickstart", "python.d", "mytest"),
                        os.path.join(root, "python.d", "mytest"))
        os.makedirs(os.path.join(root, "python.d", "many"))
        for n in range(20):
            with open(os.path.join(root, "python.d", "many", "p%d.py" % n), "w") as f:
                f.write(PLUGIN.format(n=n))
        os.makedirs(os.path.join(root, "conf.d"))
        with open(os.path.join(root, "conf.d", "pythond.conf"), "w") as f:
            f.write('[[inputs.pythond]]\nname = "seed"\ncmd = "%s"\ndirs = ["mytest"]\n\n'
                    '[[inputs.pythond]]\nname = "many"\ncmd = "%s"\ndirs = ["many"]\n'
                    % (PYTHON, PYTHON))
        harness = ("import sys; sys.path[:0] = [%r, %r]; "
                   "from datakit_framework.testing import run_plugin; import test; "
                   "run_plugin(test.MyTest).assert_metric('abc')"
                   % (os.path.join(REPO, "python"), os.path.join(root, "python.d", "mytest")))
        floor = measure("python_startup", [PYTHON, "-c", "pass"], root)
        measure("harness_in_process", [PYTHON, "-c", harness], root)
        seed = measure("test_seed", [PYTHOND, "test", "python.d/mytest/test.py"], root)
        measure("test_20_plugins", [PYTHOND, "test", "python.d/many"], root)
        measure("check_2_inputs_21_plugins", [PYTHOND, "check"], root)
        print("RESULT bench=script_tools case=test_seed_over_python_startup ratio=%.1f" % (
            seed / floor))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
