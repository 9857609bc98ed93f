"""Scripts that raise, fail to import, have syntax errors, lack `interval`, flood stdout or
kill their interpreter: the sibling keeps its schedule and the agent stays up."""

import json
import os
import signal
import time
import unittest

from harness import AGENT_CONF, Agent, input_conf, wait_for

SIBLING = '''
from datakit_framework import DataKitFramework

class Heartbeat(DataKitFramework):
    name = "heartbeat"
    interval = 1

    def run(self):
        self.feed_metric(measurement="heartbeat", fields={"alive": 1})
'''

RAISES = '''
from datakit_framework import DataKitFramework

class Raises(DataKitFramework):
    name = "raises"
    interval = 1

    def run(self):
        raise RuntimeError("collector exploded")
'''

IMPORT_FAILS = '''
import module_that_does_not_exist_anywhere
from datakit_framework import DataKitFramework

class NeverLoaded(DataKitFramework):
    pass
'''

SYNTAX_ERROR = '''
from datakit_framework import DataKitFramework

class Broken(DataKitFramework)
    def run(self):
        pass
'''

NO_INTERVAL = '''
from datakit_framework import DataKitFramework

class NoInterval(DataKitFramework):
    name = "no-interval"

    def run(self):
        self.feed_metric(measurement="no_interval", fields={"v": 1})
'''

CHATTY = '''
import sys
from datakit_framework import DataKitFramework

class Chatty(DataKitFramework):
    name = "chatty"
    interval = 1

    def run(self):
        line = "x" * 1023
        for _ in range(256):  # 256 KiB per run
            print(line)
        sys.stderr.write("E! " + "y" * 100000 + "\\n")  # one overlong line
'''

CRASHES = '''
import os
from datakit_framework import DataKitFramework

class Crashes(DataKitFramework):
    name = "crashes"
    interval = 1

    def run(self):
        os._exit(3)
'''


class BadScriptsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent({
            "conf.d/pythond.conf": input_conf("mixed", ["mixed"]) +
            input_conf("crashy", ["crashy"]),
            "python.d/mixed/sibling.py": SIBLING,
            "python.d/mixed/raises.py": RAISES,
            "python.d/mixed/import_fails.py": IMPORT_FAILS,
            "python.d/mixed/syntax_error.py": SYNTAX_ERROR,
            "python.d/mixed/no_interval.py": NO_INTERVAL,
            "python.d/mixed/chatty.py": CHATTY,
            "python.d/crashy/crashes.py": CRASHES,
        }).start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.cleanup()

    def test_sibling_reports_every_second(self):
        wait_for(lambda: self.agent.count("measurement = 'heartbeat'") >= 1, 15, "first beat")
        start = time.monotonic()
        wait_for(lambda: self.agent.count("measurement = 'heartbeat'") >= 7, 20, "7 beats")
        elapsed = time.monotonic() - start
        # 6 more beats at 1 s apiece: about 6 s, never a stall.
        self.assertLess(elapsed, 10, "heartbeat fell behind")
        times = [r["time"] for r in self.agent.query(
            "SELECT time FROM points WHERE measurement = 'heartbeat' ORDER BY time")]
        gaps = [(b - a) / 1e9 for a, b in zip(times, times[1:])]
        # On the 1 s grid: no beat missed (a gap of 2 s), none doubled.
        self.assertTrue(all(0.2 < g < 1.9 for g in gaps), gaps)
        self.assertEqual(self.agent.http("GET", "/v1/ping")[0], 200)
        self.assertIsNone(self.agent.proc.poll())

    def test_failures_are_reported_with_tracebacks(self):
        cli = wait_for(lambda: (lambda t: "collector exploded" in t and t)(
            self.agent.seed_log("_datakit_pythond_cli.log")), 15, "the raise in the cli log")
        self.assertIn("raises (raises.Raises) failed", cli)
        self.assertIn("Traceback (most recent call last)", cli)
        self.assertIn("module 'import_fails' failed to import: ModuleNotFoundError", cli)
        self.assertIn("module_that_does_not_exist_anywhere", cli)
        self.assertIn("module 'syntax_error' failed to import: SyntaxError", cli)
        log = self.agent.log()
        self.assertIn("RuntimeError: collector exploded", log)

    def test_class_without_interval_gets_ten_seconds(self):
        wait_for(lambda: self.agent.count("measurement = 'no_interval'") >= 1, 15, "one run")
        self.assertIn("no-interval(no_interval.NoInterval, every 10.0s, timeout 10.0s)", self.agent.log())

    def test_chatty_script_is_logged_and_limited(self):
        wait_for(lambda: "output rate limit" in self.agent.log(), 15, "the rate-limit notice")
        log = self.agent.log()
        # A line a plugin printed is logged under the input and the plugin's name.
        self.assertIn("[mixed/chatty] " + "x" * 1023, log)
        self.assertIn("more bytes cut", log)

    def test_dead_worker_is_restarted_with_backoff(self):
        log = wait_for(lambda: (lambda t: "restarting in 2.0s" in t and t)(self.agent.log()), 20,
                       "the crashing worker restarted twice")
        self.assertIn("exited with status 3", log)
        self.assertIn("restarting in 1.0s", log)
        self.assertIn("restarting in 2.0s", log)


class LifecycleTest(unittest.TestCase):
    def test_sigterm_stops_workers_and_flushes(self):
        agent = Agent({
            "conf.d/pythond.conf": input_conf("beat", ["beat"]),
            "python.d/beat/sibling.py": SIBLING,
        })
        try:
            agent.start()
            pid = wait_for(lambda: (lambda m: m and int(m))(
                _worker_pid(agent.log(), "beat")), 15, "the worker's pid")
            wait_for(lambda: agent.count("measurement = 'heartbeat'") >= 1, 15, "a beat")
            self.assertEqual(agent.stop(), 0)
            self.assertFalse(_alive(pid), "worker %d survived the agent" % pid)
            self.assertFalse(os.path.exists(os.path.join(agent.root, "data", "run.json")))
            self.assertGreaterEqual(agent.count("measurement = 'heartbeat'"), 1)
        finally:
            agent.cleanup()

    def test_sighup_does_not_stop_the_agent(self):
        agent = Agent()
        try:
            agent.start()
            agent.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "SIGHUP" in agent.log(), 10, "the SIGHUP log line")
            self.assertEqual(agent.http("GET", "/v1/ping")[0], 200)
            self.assertEqual(agent.stop(), 0)
        finally:
            agent.cleanup()

    def test_broken_config_is_refused_with_file_and_line(self):
        agent = Agent({"conf.d/pythond.conf": "[[inputs.pythond]]\nname = 'x'\ncmd = 1\n"})
        try:
            agent.start()
        except AssertionError as e:
            self.assertIn("pythond.conf:3: inputs.pythond.cmd must be a string", str(e))
            self.assertIn("needs dirs", str(e))
        else:
            self.fail("agent started with a broken config")
        finally:
            agent.cleanup()

    def test_worker_stuck_at_import_is_killed_and_restarted(self):
        conf = AGENT_CONF.replace('stop_grace = "3s"', 'stop_grace = "3s"\nstart_timeout = "1s"')
        agent = Agent({
            "conf.d/pythond.conf": input_conf("stuck", ["stuck"]),
            "python.d/stuck/hang.py": "import time\ntime.sleep(3600)\n",
        }, agent_conf=conf)
        try:
            agent.start()
            log = wait_for(lambda: (lambda t: "restarting in 2.0s" in t and t)(agent.log()), 15,
                           "two stuck starts killed")
            self.assertIn("did not report ready within 1.0s", log)
            self.assertIn("killed by signal 9 (SIGKILL)", log)
        finally:
            agent.cleanup()

    def test_missing_cmd_is_retried(self):
        agent = Agent({
            "conf.d/pythond.conf": '[[inputs.pythond]]\nname = "nopy"\n'
                                   'cmd = "python-that-does-not-exist"\ndirs = ["a"]\n',
            "python.d/a/x.py": SIBLING,
        })
        try:
            agent.start()
            log = wait_for(lambda: (lambda t: "restarting in 2.0s" in t and t)(agent.log()), 15,
                           "two failed starts")
            self.assertIn("cmd 'python-that-does-not-exist' not found in PATH=", log)
            self.assertEqual(agent.http("GET", "/v1/ping")[0], 200)
        finally:
            agent.cleanup()


def _worker_pid(log, name):
    marker = "input '%s': worker pid " % name
    i = log.find(marker)
    if i < 0:
        return None
    return log[i + len(marker):].split()[0]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive for our purpose, but ours should have been reaped by the agent.
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split()[2] != "Z"


if __name__ == "__main__":
    unittest.main()
