"""Reload: SIGHUP and file changes (inotify) apply a new configuration without restarting the
agent. A changed script or input restarts only that input's workers, with its new interval and
timeout; other inputs keep their workers, their slots and every run; a configuration that does
not load is rejected and the running one stays; added inputs start, removed ones stop.
"""

import os
import signal
import time
import unittest

from harness import AGENT_CONF, Agent, input_conf, wait_for

SCRIPT = '''
from datakit_framework import DataKitFramework

class {cls}(DataKitFramework):
    name = "{name}"
    interval = {interval}

    def run(self):
        return self.feed_metric(measurement="{name}", tags={{"k": "v"}}, fields={{"n": 1}})
'''


def script(name, interval):
    return SCRIPT.format(cls=name.capitalize(), name=name, interval=interval)


def same_phase(a_ns, b_ns, period_ns):
    """Whether two unix times sit on one grid of `period_ns` (within 1 ms: they are converted
    from the monotonic clock at different moments)."""
    d = (a_ns - b_ns) % period_ns
    return min(d, period_ns - d) < 1_000_000


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class ReloadTestBase(unittest.TestCase):
    AGENT_CONF = AGENT_CONF

    def setUp(self):
        files = {
            "conf.d/steady.conf": input_conf("steady", ["steady"]),
            "python.d/steady/steady.py": script("steady", 1),
            "conf.d/changing.conf": input_conf("changing", ["changing"]),
            "python.d/changing/changing.py": script("changing", 1),
        }
        self.agent = Agent(files, agent_conf=self.AGENT_CONF)
        self.addCleanup(self.agent.cleanup)
        self.agent.start()
        for name in ("steady", "changing"):
            self.wait_plugin(name, lambda p: p["runs"] >= 2, "two runs of " + name)

    def wait_plugin(self, name, condition, what, timeout=20):
        def check():
            p = self.agent.plugin(name, name)
            return p if p and condition(p) else None
        return wait_for(check, timeout, what, interval=0.1)

    def pid(self, name):
        workers = self.agent.workers(name)
        return workers[0]["pid"] if workers else None

    def reload_stats(self):
        return self.agent.stats()["reload"]

    def hup(self):
        self.agent.proc.send_signal(signal.SIGHUP)

    def assert_steady_untouched(self, pid, offset, slot_phase, since_runs, since_time):
        """`steady` kept its worker and its slots and missed no run since `since_time`."""
        p = self.agent.plugin("steady", "steady")
        self.assertEqual(self.pid("steady"), pid)
        self.assertEqual(p["offset_s"], offset)
        self.assertTrue(same_phase(p["next_run_unix_ns"], slot_phase, 1_000_000_000), p)
        self.assertEqual(p["skipped"], 0)
        self.assertEqual(p["failures"], 0)
        elapsed = time.monotonic() - since_time
        # One run per second on its grid: every slot that passed ran (±1 at either edge).
        self.assertGreaterEqual(p["runs"] - since_runs, int(elapsed) - 1, p)


class SighupTest(ReloadTestBase):
    AGENT_CONF = AGENT_CONF + '[reload]\nwatch = false\n'

    def test_script_and_config_changes_apply_and_others_keep_their_slots(self):
        a = self.agent
        steady = a.plugin("steady", "steady")
        steady_pid, changing_pid = self.pid("steady"), self.pid("changing")
        changing_runs = a.plugin("changing", "changing")["runs"]
        since = time.monotonic()
        a.write("python.d/changing/changing.py", script("changing", 2))
        a.write("conf.d/changing.conf", input_conf("changing", ["changing"], 'timeout = "1.5s"'))
        self.hup()
        p = self.wait_plugin("changing", lambda p: p["interval_s"] == 2 and p["timeout_s"] == 1.5
                             and p["runs"] > changing_runs, "the new interval and timeout")
        self.assertNotEqual(self.pid("changing"), changing_pid)
        self.assertGreaterEqual(p["runs"], changing_runs)  # its counters carried over
        r = self.reload_stats()
        self.assertEqual((r["reloads"], r["rejected"], r["last_ok"]), (1, 0, True), r)
        self.assertEqual(r["last_trigger"], "SIGHUP")
        self.assertIn("1 restarted (changing)", r["last_result"])
        self.assertIn("1 unchanged", r["last_result"])
        wait_for(lambda: not alive(changing_pid), 10, "the old worker of 'changing' to exit")
        # The new interval holds: its next slots are 2 s apart, on one grid.
        first_next = p["next_run_unix_ns"]
        p = self.wait_plugin("changing", lambda p: p["next_run_unix_ns"] > first_next,
                             "the next slot at 2 s")
        self.assertTrue(same_phase(p["next_run_unix_ns"], first_next, 2_000_000_000), p)
        self.assertGreaterEqual(p["next_run_unix_ns"] - p["last_run_unix_ns"], 1_900_000_000)
        self.assert_steady_untouched(steady_pid, steady["offset_s"],
                                     steady["next_run_unix_ns"],
                                     steady["runs"], since)
        self.assertIn("reload (SIGHUP): 0 added, 0 removed, 1 restarted (changing)", a.log())

    def test_a_broken_config_is_rejected_and_the_running_one_stays(self):
        a = self.agent
        pids = (self.pid("steady"), self.pid("changing"))
        runs = a.plugin("changing", "changing")["runs"]
        a.write("conf.d/changing.conf", "[[inputs.pythond]\nname = ")
        self.hup()
        r = wait_for(lambda: self.reload_stats()["rejected"] == 1 and self.reload_stats(), 10,
                     "the reload to be rejected")
        self.assertFalse(r["last_ok"])
        self.assertEqual(r["reloads"], 0)
        self.assertIn("changing.conf:1", r["last_result"])
        self.assertIn("TOML syntax error", r["last_result"])
        self.assertIn("the new configuration is rejected; the running one stays", a.log())
        self.wait_plugin("changing", lambda p: p["runs"] >= runs + 2, "runs after the rejection")
        self.assertEqual((self.pid("steady"), self.pid("changing")), pids)
        # Fixed again: the next reload applies, and nothing changed, so nothing restarts.
        a.write("conf.d/changing.conf", input_conf("changing", ["changing"]))
        self.hup()
        r = wait_for(lambda: self.reload_stats()["reloads"] == 1 and self.reload_stats(), 10,
                     "the next reload")
        self.assertTrue(r["last_ok"])
        self.assertIn("0 restarted, 2 unchanged", r["last_result"])
        self.assertEqual((self.pid("steady"), self.pid("changing")), pids)

    def test_agent_settings_that_need_a_restart_are_reported(self):
        a = self.agent
        a.write("conf.d/agent.conf", self.AGENT_CONF + '[global_tags]\nsite = "b"\n')
        self.hup()
        r = wait_for(lambda: self.reload_stats()["reloads"] == 1 and self.reload_stats(), 10,
                     "the reload")
        self.assertEqual(r["pending_restart"], ["global_tags"])
        self.assertIn("apply at the next restart: global_tags", a.log())


TWO_PLUGINS = """
from datakit_framework import DataKitFramework

class One(DataKitFramework):
    name = "one"
    interval = {interval}

    def run(self):
        return self.feed_metric(measurement="one", tags={{"k": "v"}}, fields={{"n": 1}})

class Two(DataKitFramework):
    name = "two"
    interval = {interval}

    def run(self):
        return self.feed_metric(measurement="two", tags={{"k": "v"}}, fields={{"n": 2}})
"""


class ProcessIsolationReloadTest(ReloadTestBase):
    AGENT_CONF = AGENT_CONF + '[reload]\nwatch = false\n'

    def test_every_worker_of_a_changed_input_is_replaced(self):
        a = self.agent
        a.write("python.d/iso/two.py", TWO_PLUGINS.format(interval=1))
        a.write("conf.d/iso.conf", input_conf("iso", ["iso"], 'isolation = "process"'))
        self.hup()
        wait_for(lambda: len([w for w in a.workers("iso") if w["state"] == "running"]) == 2,
                 20, "two workers for 'iso'")
        old = {w["pid"] for w in a.workers("iso")}
        self.assertIn("1 added (iso)", self.reload_stats()["last_result"])
        a.write("python.d/iso/two.py", TWO_PLUGINS.format(interval=2))
        self.hup()
        for name in ("one", "two"):
            wait_for(lambda: (a.plugin("iso", name) or {}).get("interval_s") == 2, 20,
                     name + " at its new interval")
        wait_for(lambda: len([w for w in a.workers("iso") if w["state"] == "running"]) == 2,
                 20, "two new workers for 'iso'")
        new = {w["pid"] for w in a.workers("iso")}
        self.assertFalse(old & new)
        wait_for(lambda: not any(alive(pid) for pid in old), 10, "the old workers to exit")


SLOW = """
import os, time
from datakit_framework import DataKitFramework

class Slow(DataKitFramework):
    name = "slow"
    interval = {interval}

    def run(self):
        with open(os.environ["STARTS"], "a") as f:
            f.write("start\\n")
        time.sleep(1.5)
        return self.feed_metric(measurement="slow", tags={{"k": "v"}}, fields={{"n": 1}})
"""


class InFlightRunTest(ReloadTestBase):
    """A run in flight when its input is reloaded finishes in the old worker, and is counted
    in the plugin's stats of the new version."""
    AGENT_CONF = AGENT_CONF + '[reload]\nwatch = false\n'

    def test_the_last_run_of_the_old_worker_is_counted(self):
        a = self.agent
        starts = os.path.join(a.root, "starts")
        a.write("python.d/slow/slow.py", SLOW.format(interval=3))
        a.write("conf.d/slow.conf", input_conf("slow", ["slow"], 'envs = ["STARTS=%s"]' % starts))
        self.hup()

        def started():
            if not os.path.exists(starts):
                return 0
            with open(starts) as f:
                return sum(1 for _ in f)

        p = self.wait_plugin("slow", lambda p: p["runs"] >= 1, "a first run of slow")
        # The moment a run has started and not finished: reload then.
        wait_for(lambda: started() == p["runs"] + 1 and started(), 10, "a run in flight")
        old_pid = self.pid("slow")
        # The new version runs every 30 s: no run of its own within this test.
        a.write("python.d/slow/slow.py", SLOW.format(interval=30))
        self.hup()
        wait_for(lambda: not alive(old_pid), 10, "the old worker to finish its run and exit")
        # The old worker's last 'done' may be read a moment after its exit is seen.
        p = self.wait_plugin("slow", lambda p: p["interval_s"] == 30 and p["runs"] == started(),
                             "the new version, with the old worker's last run counted")
        self.assertEqual(p["failures"], 0, p)


class WatchTest(ReloadTestBase):
    AGENT_CONF = AGENT_CONF + '[reload]\ndelay = "0.2s"\n'

    def test_files_added_changed_and_removed_reload_only_what_changed(self):
        a = self.agent
        steady = a.plugin("steady", "steady")
        steady_pid, changing_pid = self.pid("steady"), self.pid("changing")
        since = time.monotonic()
        # A new input: conf and script written, picked up without a signal.
        a.write("python.d/added/added.py", script("added", 1))
        a.write("conf.d/added.conf", input_conf("added", ["added"]))
        self.wait_plugin("added", lambda p: p["runs"] >= 1, "the added input to run")
        # A script edited in place: only its input restarts.
        a.write("python.d/changing/changing.py", script("changing", 3))
        self.wait_plugin("changing", lambda p: p["interval_s"] == 3, "the edited interval")
        self.assertNotEqual(self.pid("changing"), changing_pid)
        added_pid = self.pid("added")
        # A file touched without a change, and editor droppings: nothing restarts.
        reloads = self.reload_stats()["reloads"]
        os.utime(os.path.join(a.root, "python.d/steady/steady.py"))
        a.write("conf.d/steady.conf", input_conf("steady", ["steady"]))
        r = wait_for(lambda: self.reload_stats()["reloads"] > reloads and self.reload_stats(),
                     10, "a reload after rewriting steady.conf unchanged")
        self.assertIn("0 restarted, 3 unchanged", r["last_result"])
        # The input removed: its worker stops and it leaves /v1/stats.
        os.remove(os.path.join(a.root, "conf.d/added.conf"))
        wait_for(lambda: all(i["name"] != "added" for i in a.stats()["inputs"]), 10,
                 "'added' to leave /v1/stats")
        wait_for(lambda: not alive(added_pid), 10, "the removed input's worker to exit")
        self.assertIn("input 'added': removed by a reload", a.log())
        self.assert_steady_untouched(steady_pid, steady["offset_s"],
                                     steady["next_run_unix_ns"],
                                     steady["runs"], since)
        self.assertEqual(a.stop(), 0)


if __name__ == "__main__":
    unittest.main()
