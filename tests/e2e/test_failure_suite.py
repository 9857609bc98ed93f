"""The runner's failure suite: scripts that raise, hang (in Python and in C), busy-loop, exit,
segfault, leave a child that ignores SIGTERM, leak past max_rss, print 10 MB per run, do not
parse, or set a bad interval — and a `cmd` that does not exist. For each: the agent stays up,
a sibling keeps its schedule, the state and reason are in /v1/stats, and nothing is left behind
(processes, the agent's fds).
"""

import os
import signal
import time
import unittest

from harness import Agent, input_conf, wait_for

BEAT = '''
from datakit_framework import DataKitFramework

class Beat(DataKitFramework):
    name = "beat"
    interval = 1

    def run(self):
        return self.feed_metric(measurement="beat", tags={"k": "v"}, fields={"n": 1})
'''

RAISES = '''
from datakit_framework import DataKitFramework

class Raises(DataKitFramework):
    name = "raises"
    interval = 1

    def run(self):
        raise RuntimeError("collector exploded")
'''

HANGS = '''
import time
from datakit_framework import DataKitFramework

class Hangs(DataKitFramework):
    name = "hangs"
    interval = 1

    def run(self):
        time.sleep(10 ** 9)
'''

BLOCKS_IN_C = '''
import os
from datakit_framework import DataKitFramework

READ_END, WRITE_END = os.pipe()  # nobody ever writes

class BlocksInC(DataKitFramework):
    name = "blocks-in-c"
    interval = 1

    def run(self):
        os.read(READ_END, 1)
'''

BUSY = '''
from datakit_framework import DataKitFramework

class Busy(DataKitFramework):
    name = "busy"
    interval = 1

    def run(self):
        while True:
            pass
'''

EXITS = '''
import os
from datakit_framework import DataKitFramework

class Exits(DataKitFramework):
    name = "exits"
    interval = 1

    def run(self):
        os._exit(1)
'''

SEGFAULTS = '''
import ctypes
from datakit_framework import DataKitFramework

class Segfaults(DataKitFramework):
    name = "segfaults"
    interval = 1

    def run(self):
        ctypes.string_at(0)
'''

# Forks a child that ignores SIGTERM and records its pid, then hangs: the worker gets recycled
# and the child must go with it.
STUBBORN_CHILD = '''
import os, signal, time
from datakit_framework import DataKitFramework

class StubbornChild(DataKitFramework):
    name = "stubborn-child"
    interval = 1

    def run(self):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            while True:
                time.sleep(1)
        with open(os.environ["CHILD_PIDS"], "a") as f:
            f.write("%d\\n" % pid)
        time.sleep(10 ** 9)
'''

LEAKS = '''
from datakit_framework import DataKitFramework

HOARD = []

class Leaks(DataKitFramework):
    name = "leaks"
    interval = 1

    def run(self):
        HOARD.append(bytearray(40 * 1024 * 1024))  # touched: really resident
        for chunk in HOARD:
            chunk[::4096] = b"x" * len(chunk[::4096])
'''

FLOODS = '''
import sys
from datakit_framework import DataKitFramework

class Floods(DataKitFramework):
    name = "floods"
    interval = 1

    def run(self):
        line = "z" * 1023 + "\\n"
        sys.stdout.write(line * (10 * 1024))  # 10 MiB per run
'''

SYNTAX = '''
from datakit_framework import DataKitFramework

class Broken(DataKitFramework)
    pass
'''

BAD_INTERVALS = '''
from datakit_framework import DataKitFramework

class Zero(DataKitFramework):
    name = "zero"
    interval = 0
    def run(self):
        pass

class Negative(DataKitFramework):
    name = "negative"
    interval = -5
    def run(self):
        pass

class Text(DataKitFramework):
    name = "text"
    interval = "often"
    def run(self):
        pass
'''

CASES = {
    "raises": RAISES, "hangs": HANGS, "blocks_in_c": BLOCKS_IN_C, "busy": BUSY,
    "exits": EXITS, "segfaults": SEGFAULTS, "stubborn_child": STUBBORN_CHILD, "leaks": LEAKS,
    "floods": FLOODS, "syntax": SYNTAX, "bad_intervals": BAD_INTERVALS,
}

AGENT_CONF = """
[http_api]
listen = "127.0.0.1:0"
[log]
level = "info"
seed_log_dir = "log"
[runner]
stop_grace = "2s"
spread = "1s"
rss_check_interval = "500ms"
restart_backoff_max = "2s"
"""


def _fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def _processes_in(root):
    """PIDs of live processes whose working directory is `root` (every worker and its
    children run there)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/cwd" % entry) == root:
                with open("/proc/%s/stat" % entry) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        found.append(int(entry))
                    else:
                        found.append(-int(entry))  # a zombie: reported as negative
        except OSError:
            continue
    return found


class FailureSuiteTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        files = {"conf.d/beat.conf": input_conf("beat", ["beat"])}
        files["python.d/beat/beat.py"] = BEAT
        extra = {"leaks": 'max_rss = "150MiB"'}
        for name, source in CASES.items():
            files["python.d/%s/%s.py" % (name, name)] = source
            files["conf.d/%s.conf" % name] = input_conf(name, [name], extra.get(name, ""))
        files["conf.d/nocmd.conf"] = (
            '[[inputs.pythond]]\nname = "nocmd"\ncmd = "/nonexistent/python9"\n'
            'dirs = ["beat"]\n')
        cls.agent = Agent(files, agent_conf=AGENT_CONF)
        cls.child_pids = os.path.join(cls.agent.root, "child_pids")
        conf = cls.agent.root + "/conf.d/stubborn_child.conf"
        with open(conf, "a") as f:
            f.write('envs = ["CHILD_PIDS=%s"]\n' % cls.child_pids)
        cls.agent.start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.cleanup()

    def plugin_where(self, input_name, plugin_name, condition, what, timeout=30):
        def check():
            p = self.agent.plugin(input_name, plugin_name)
            return p if p and condition(p) else None
        return wait_for(check, timeout, what, interval=0.2)

    def worker_where(self, input_name, condition, what, timeout=30):
        def check():
            for w in self.agent.workers(input_name):
                if condition(w):
                    return w
            return None
        return wait_for(check, timeout, what, interval=0.2)

    def test_01_every_case_is_visible_in_stats(self):
        a = self.agent
        started = time.monotonic()
        # raises: failing, with the error and its traceback.
        p = self.plugin_where("raises", "raises", lambda p: p["failures"] >= 2, "raises fails")
        self.assertEqual(p["state"], "failing")
        self.assertEqual(p["last_error"], "RuntimeError: collector exploded")
        self.assertIn("raise RuntimeError", p["last_traceback"])

        # Hangs in Python, blocks in C, busy-loops: timed out, where it was stuck, recycled.
        for name, frame in (("hangs", "time.sleep(10 ** 9)"), ("blocks-in-c", "os.read("),
                            ("busy", "busy.py")):
            input_name = {"blocks-in-c": "blocks_in_c"}.get(name, name)
            p = self.plugin_where(input_name, name, lambda p: p["timeouts"] >= 1 and
                                  "Stuck at" in p["last_traceback"],
                                  name + " timed out with its stack")
            # "run still going after its timeout of 1.0s", or once its worker was recycled
            # "worker recycled (plugin 'x' stuck in a run for 2.0s (timeout 1.0s)) ..."
            self.assertRegex(p["last_error"], r"timeout (of )?1\.0s")
            self.assertIn(frame, p["last_traceback"])
            w = self.worker_where(input_name, lambda w: "stuck in a run" in w["last_recycle"],
                                  name + " recycled")
            self.assertGreaterEqual(w["restarts"], 1)

        # os._exit and SIGSEGV: the exit is described, the worker restarted.
        w = self.worker_where("exits", lambda w: w["last_exit"] == "exited with status 1" and
                              w["restarts"] >= 2, "exits restarted")
        w = self.worker_where("segfaults", lambda w: "SIGSEGV" in w["last_exit"] and
                              w["restarts"] >= 2, "segfaults restarted")
        p = self.agent.plugin("segfaults", "segfaults")
        self.assertIn("killed by signal 11 (SIGSEGV)", p["last_error"])

        # Leaks past max_rss: recycled with the reason.
        w = self.worker_where("leaks", lambda w: "over max_rss 150.0 MiB" in w["last_recycle"],
                              "leaks recycled for its RSS")
        self.assertGreater(w["rss_peak_bytes"], 150 * 1024 * 1024)

        # 10 MB per run: logged (rate-limited) and the runs go on.
        self.plugin_where("floods", "floods", lambda p: p["runs"] >= 3 and p["failures"] == 0,
                          "floods keeps running")
        wait_for(lambda: "[floods/floods] zzz" in a.log() and "output rate limit" in a.log(), 20,
                 "the flood logged and limited")

        # A syntax error: the import error with file and line.
        w = self.worker_where("syntax", lambda w: w["import_errors"], "the import error")
        self.assertIn("SyntaxError", w["import_errors"][0]["error"])
        self.assertTrue(w["import_errors"][0]["file"].endswith("syntax.py"))

        # Bad intervals: 10 s, with a warning each.
        for name, shown in (("zero", "0"), ("negative", "-5"), ("text", "'often'")):
            p = self.plugin_where("bad_intervals", name, lambda p: True, name)
            self.assertEqual(p["interval_s"], 10)
            self.assertIn("interval = %s is not a positive number" % shown, p["warnings"][0])

        # A cmd that does not exist: a clear error, retried.
        w = self.worker_where("nocmd", lambda w: w["restarts"] >= 2, "nocmd retried")
        self.assertIn("cmd '/nonexistent/python9' is not an executable file", w["last_exit"])

        # Through all of that the sibling kept its schedule: a run every second, none skipped,
        # none late by more than a quarter second.
        elapsed = time.monotonic() - started
        beat = self.agent.plugin("beat", "beat")
        self.assertEqual(beat["state"], "running")
        self.assertEqual(beat["skipped"], 0)
        self.assertEqual(beat["failures"], 0)
        self.assertGreaterEqual(beat["runs"], int(elapsed) - 1)
        self.assertLess(beat["lateness_ms"]["max"], 500, beat)
        self.assertIsNone(a.proc.poll(), "the agent died")

    def test_02_the_stubborn_child_goes_with_its_worker(self):
        self.worker_where("stubborn_child", lambda w: w["restarts"] >= 2,
                          "stubborn_child recycled twice")
        with open(self.child_pids) as f:
            pids = [int(x) for x in f.read().split()]
        self.assertGreaterEqual(len(pids), 2)
        # Every child of a recycled worker is gone (killed with the group, reaped: no zombie);
        # at most the current worker's child may be alive.
        for pid in pids[:-1]:
            wait_for(lambda: not os.path.exists("/proc/%d" % pid), 10,
                     "child %d gone" % pid)

    def test_03_no_fd_leak_across_restarts(self):
        a = self.agent
        exits = lambda: [w for w in a.workers("exits")][0]["restarts"]  # noqa: E731
        nocmd = lambda: [w for w in a.workers("nocmd")][0]["restarts"]  # noqa: E731
        def own_fds():
            """The agent's fds minus the four pipes of each worker alive right now (how many
            are alive varies: workers of this suite die and restart all the time)."""
            for _ in range(20):
                live = sum(1 for i in a.stats()["inputs"] for w in i["workers"] if w["pid"] > 0)
                fds = _fd_count(a.proc.pid)
                again = sum(1 for i in a.stats()["inputs"] for w in i["workers"] if w["pid"] > 0)
                if live == again:
                    return fds - 4 * live
            raise AssertionError("workers kept changing while counting fds")

        wait_for(lambda: exits() >= 2 and nocmd() >= 2, 30, "a few restarts first")
        before = own_fds()
        r1, r2 = exits(), nocmd()
        wait_for(lambda: exits() >= r1 + 2 and nocmd() >= r2 + 2, 40, "two more restarts")
        after = own_fds()
        self.assertLessEqual(after, before + 2, "fds grew from %d to %d" % (before, after))

    def test_04_nothing_left_after_stop(self):
        a = self.agent
        self.assertTrue(_processes_in(a.root), "no worker running?")
        self.assertEqual(a.stop(timeout=20), 0)
        self.assertEqual(_processes_in(a.root), [])


ISOLATED = '''
import os
from datakit_framework import DataKitFramework

class First(DataKitFramework):
    name = "first"
    interval = 1
    def run(self):
        return self.feed_metric(measurement="iso", tags={"who": "first", "pid": str(os.getpid())},
                                fields={"n": 1})

class Second(DataKitFramework):
    name = "second"
    interval = 1
    timeout = 0.5
    def run(self):
        return self.feed_metric(measurement="iso", tags={"who": "second", "pid": str(os.getpid())},
                                fields={"n": 1})
'''

CRASHER = '''
import os
from datakit_framework import DataKitFramework

class Crasher(DataKitFramework):
    name = "crasher"
    interval = 1
    def run(self):
        os._exit(3)
'''

SLOW_FINISH = '''
import time
from datakit_framework import DataKitFramework

class SlowFinish(DataKitFramework):
    name = "slow-finish"
    interval = 1
    def run(self):
        time.sleep(0.8)
        return self.feed_metric(measurement="late", tags={"k": "v"}, fields={"n": 1})
'''


class IsolationAndStopTest(unittest.TestCase):
    def test_process_isolation_gives_each_plugin_its_worker(self):
        files = {
            "conf.d/iso.conf": input_conf("iso", ["iso"],
                                          'isolation = "process"\ntimeout = "3s"'),
            "python.d/iso/two.py": ISOLATED,
            "python.d/iso/crasher.py": CRASHER,
            "python.d/iso/helper.py": "VALUE = 1\n",  # no plugin: its worker is retired
        }
        agent = Agent(files, agent_conf=AGENT_CONF)
        self.addCleanup(agent.cleanup)
        agent.start()
        wait_for(lambda: agent.count("measurement = 'iso'") >= 6, 20, "both plugins' points")
        rows = agent.query("SELECT DISTINCT json_extract(tags, '$.who') AS who, "
                           "json_extract(tags, '$.pid') AS pid FROM points "
                           "WHERE measurement = 'iso'")
        pids = {r["who"]: r["pid"] for r in rows}
        self.assertEqual(set(pids), {"first", "second"})
        self.assertNotEqual(pids["first"], pids["second"])
        labels = {w["label"]: w for w in agent.workers("iso")}
        self.assertIn("iso/first", labels)
        self.assertIn("iso/second", labels)
        self.assertIn("iso/crasher", labels)
        wait_for(lambda: {w["label"]: w for w in agent.workers("iso")}["iso/helper"]["state"] ==
                 "idle", 10, "the helper module's worker retired")
        # The crasher restarts alone; the others keep their worker.
        wait_for(lambda: {w["label"]: w for w in agent.workers("iso")}["iso/crasher"]
                 ["restarts"] >= 2, 20, "the crasher restarted")
        labels = {w["label"]: w for w in agent.workers("iso")}
        self.assertEqual(labels["iso/first"]["restarts"], 0)
        self.assertEqual(labels["iso/second"]["restarts"], 0)
        # Timeouts: the class attribute wins over the input's.
        self.assertEqual(agent.plugin("iso", "second")["timeout_s"], 0.5)
        self.assertEqual(agent.plugin("iso", "first")["timeout_s"], 3)

    def test_stop_lets_in_flight_runs_finish_and_store(self):
        files = {"conf.d/slow.conf": input_conf("slow", ["slow"]),
                 "python.d/slow/slow.py": SLOW_FINISH}
        agent = Agent(files, agent_conf=AGENT_CONF)
        self.addCleanup(agent.cleanup)
        agent.start()
        wait_for(lambda: agent.count("measurement = 'late'") >= 1, 15, "a first run")
        # Stop in the middle of a run: wait for a run that started under 0.4 s ago (each run
        # sleeps 0.8 s, so it is still going), then SIGTERM. Every run opens a new window, so a
        # slow poll (sanitizer builds) that misses one catches the next.
        plugin = wait_for(lambda: (lambda p: p if p["last_run_unix_ns"] > 0 and
                                   time.time_ns() - p["last_run_unix_ns"] < 400_000_000
                                   else None)(agent.plugin("slow", "slow-finish")),
                          20, "a run in flight", interval=0.01)
        agent.proc.send_signal(signal.SIGTERM)
        self.assertEqual(agent.proc.wait(15), 0)
        # Each finished run stored one point; the one in flight finished within the grace and
        # its point was stored too.
        self.assertEqual(agent.count("measurement = 'late'"), plugin["runs"] + 1)
        self.assertNotIn("still running after the", agent.log())


if __name__ == "__main__":
    unittest.main()
