"""Scripts that attack the worker protocol or the agent's resources: the agent stays up, the
bad input is contained, and nothing of the agent leaks into workers."""

import json
import os
import re
import unittest
import urllib.error
import urllib.request

from harness import AGENT_CONF, Agent, input_conf, wait_for

BEAT = '''
from datakit_framework import DataKitFramework

class Beat(DataKitFramework):
    name = "beat"
    interval = 1

    def run(self):
        self.feed_metric(measurement="beat_%s", fields={"v": 1})
'''

ESCAPES = '''
import sys
from datakit_framework import DataKitFramework

class Escapes(DataKitFramework):
    name = "esc\\x1b[31mred"
    interval = 1

    def run(self):
        print("clear\\x1b[2Jscreen\\rover")
        sys.stdout.flush()
        self.feed_metric(measurement="escapes", fields={"v": 1})
'''

FORGES_PROTOCOL = '''
import os
from datakit_framework import DataKitFramework

class Forger(DataKitFramework):
    name = "forger"
    interval = 1

    def run(self):
        os.write(3, b'{"t":"hello","plugins":[]}\\n')
        os.write(3, b'{"t":"done","id":0,"ok":true,"duration":0}\\n')
        os.write(3, b'{"t":"done","id":99,"ok":true,"duration":0}\\n')
        os.write(3, b'not json at all\\n')
'''

# Closes fd 3 once (the marker file survives the worker's restart).
CLOSES_FD3 = '''
import os
from datakit_framework import DataKitFramework

class Closer(DataKitFramework):
    name = "closer"
    interval = 1

    def run(self):
        if not os.path.exists("closed-fd3.marker"):
            open("closed-fd3.marker", "w").close()
            os.close(3)
'''

BAD_INTERVALS = '''
from datakit_framework import DataKitFramework

class NanInterval(DataKitFramework):
    name = "nan"
    interval = float("nan")

    def run(self):
        self.feed_metric(measurement="nan_interval", fields={"v": 1})

class HugeInterval(DataKitFramework):
    name = "huge"
    interval = 1e12

    def run(self):
        self.feed_metric(measurement="huge_interval", fields={"v": 1})
'''

# A collector file named like a stdlib module must not shadow it for its siblings.
SQLITE3_NAMED = '''
from datakit_framework import DataKitFramework

class Sqlite3Named(DataKitFramework):
    name = "sqlite3-named"
    interval = 1

    def run(self):
        self.feed_metric(measurement="shadow_named", fields={"v": 1})
'''

USES_SQLITE3 = '''
import sqlite3
from datakit_framework import DataKitFramework

class UsesSqlite(DataKitFramework):
    name = "uses-sqlite"
    interval = 1

    def run(self):
        conn = sqlite3.connect(":memory:")
        value = conn.execute("select 41 + 1").fetchone()[0]
        self.feed_metric(measurement="shadow_user", fields={"v": value})
'''

SURROGATE_ERROR = '''
from datakit_framework import DataKitFramework

class Surrogate(DataKitFramework):
    name = "surrogate"
    interval = 1

    def run(self):
        raise OSError("cannot open " + b"caf\\xe9".decode("utf-8", "surrogateescape"))
'''

# Reports its own run as done (as the worker would), then kills the interpreter at once: the
# agent reads the last protocol line before it handles the exit.
DONE_THEN_EXIT = '''
import os, sys, time
from datakit_framework import DataKitFramework

# The worker writes this run's "done" (with the agent's token), and the process exits right
# after: the agent must still read that last line before it sees the exit.
worker = sys.modules["__main__"]
send = worker._send

def send_then_exit(message):
    send(message)
    if message.get("t") == "done":
        os._exit(7)

class DoneThenExit(DataKitFramework):
    name = "done-then-exit"
    interval = 1

    def run(self):
        worker._send = send_then_exit
        time.sleep(0.25)
'''

FD_REPORT = '''
import os
from datakit_framework import DataKitFramework

class Fds(DataKitFramework):
    name = "fds"
    interval = 60

    def run(self):
        links = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                links.append(os.readlink("/proc/self/fd/" + fd))
            except OSError:  # the listing's own fd, closed by now
                pass
        self.feed_logging(source="fds", message=" ".join(links))
'''


class HostileScriptsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent({
            "conf.d/pythond.conf":
                input_conf("forge", ["forge"]) + input_conf("closer", ["closer"]) +
                input_conf("intervals", ["intervals"]) + input_conf("shadow", ["shadow"]) +
                input_conf("采集 demo", ["fds"]) + input_conf("dies", ["dies"]),
            "python.d/dies/done_then_exit.py": DONE_THEN_EXIT,
            "python.d/forge/beat.py": BEAT % "forge",
            "python.d/forge/forger.py": FORGES_PROTOCOL,
            "python.d/forge/surrogate.py": SURROGATE_ERROR,
            "python.d/closer/beat.py": BEAT % "closer",
            "python.d/closer/closer.py": CLOSES_FD3,
            "python.d/intervals/intervals.py": BAD_INTERVALS,
            "python.d/shadow/sqlite3.py": SQLITE3_NAMED,
            "python.d/shadow/user.py": USES_SQLITE3,
            "python.d/fds/fds.py": FD_REPORT,
            "python.d/forge/escapes.py": ESCAPES,
        }).start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.cleanup()

    def test_forged_protocol_lines_are_ignored(self):
        wait_for(lambda: self.agent.count("measurement = 'beat_forge'") >= 4, 20, "4 beats")
        log = self.agent.log()
        self.assertIn("unexpected second hello", log)
        # A forged "done" for a sibling: not running, or running and without its run's token.
        self.assertTrue("that is not running" in log or "without its run's token" in log)
        self.assertIn("malformed message from worker", log)
        self.assertIsNone(self.agent.proc.poll())

    def test_undecodable_error_text_still_reports_the_run(self):
        cli = wait_for(lambda: (lambda t: "surrogate (surrogate.Surrogate) failed" in t and t)(
            self.agent.seed_log("_datakit_pythond_cli.log")), 15, "the surrogate failure")
        self.assertIn("OSError: cannot open caf\\udce9", cli)

    def test_closing_the_protocol_pipe_restarts_the_worker(self):
        killed = re.compile(r"input 'closer': worker pid \d+ closed its protocol pipe \(fd 3\); "
                            r"killing it")

        def after_kill():
            # What the agent logged about 'closer' after the kill (other inputs' workers exit
            # and restart too, so only this input's lines count).
            log = self.agent.log()
            m = killed.search(log)
            return m and [line for line in log[m.end():].splitlines()
                          if "input 'closer':" in line]

        wait_for(lambda: any("restarting in" in line for line in after_kill() or []), 15,
                 "the killed worker's restart to be scheduled")
        # The restarted worker runs its plugins again.
        wait_for(lambda: any(re.search(r"worker pid \d+ started", line)
                             for line in after_kill()), 15, "the restarted worker")
        n = self.agent.count("measurement = 'beat_closer'")
        wait_for(lambda: self.agent.count("measurement = 'beat_closer'") > n, 15, "more beats")

    def test_control_characters_from_scripts_reach_the_log_escaped(self):
        wait_for(lambda: "clear\\x1b[2Jscreen\\rover" in self.agent.log(), 15, "the line")
        log = self.agent.log()
        # The plugin's name is made safe where it is read (as the API makes the SDK's header).
        self.assertIn("esc\ufffd[31mred] clear\\x1b[2Jscreen\\rover", log)
        self.assertIsNotNone(self.agent.plugin("forge", "esc\ufffd[31mred"))
        self.assertNotIn("\x1b", log)
        self.assertNotIn("\r", log)

    def test_last_lines_before_an_exit_are_read(self):
        cli = wait_for(lambda: (lambda t: "exited with status 7" in t and t)(
            self.agent.seed_log("_datakit_pythond_cli.log")), 15, "the worker's exit")
        self.assertRegex(cli, r"done-then-exit \(done_then_exit.DoneThenExit\) ran ok in 0\.2[5-9]\d*s")
        self.assertNotIn("DoneThenExit) failed", cli)

    def test_bad_intervals_are_made_safe(self):
        wait_for(lambda: self.agent.count("measurement IN ('nan_interval', 'huge_interval')") >= 2,
                 15, "one run of each")
        log = self.agent.log()
        self.assertIn("nan(intervals.NanInterval, every 10.0s,", log)
        self.assertIn("huge(intervals.HugeInterval, every 2592000.0s,", log)
        self.assertEqual(self.agent.count("measurement = 'huge_interval'"), 1)

    def test_a_script_named_like_a_stdlib_module_does_not_shadow_it(self):
        wait_for(lambda: self.agent.count("measurement = 'shadow_user'") >= 1, 15, "sqlite3 user")
        self.assertGreaterEqual(self.agent.count("measurement = 'shadow_named'"), 1)
        row = self.agent.query("SELECT fields FROM points WHERE measurement = 'shadow_user'")[0]
        self.assertEqual(json.loads(row["fields"]), {"v": 42})

    def test_worker_gets_no_agent_fds_and_a_non_ascii_input_name(self):
        wait_for(lambda: self.agent.count("measurement = 'fds'") >= 1, 15, "the fd report")
        row = self.agent.query("SELECT fields, input FROM points WHERE measurement = 'fds'")[0]
        self.assertEqual(row["input"], "采集 demo")
        links = json.loads(row["fields"])["message"].split()
        self.assertFalse([l for l in links if l.startswith("socket:")], links)
        self.assertFalse([l for l in links if "_datakit_pythond_cli.log" in l], links)


SLOW_SIBLING = '''
import time
from datakit_framework import DataKitFramework

class ASlow(DataKitFramework):
    name = "a-slow"
    interval = 1

    def run(self):
        time.sleep(0.6)
        self.feed_metric(measurement="slow_sibling", fields={"v": 1})
'''

ENDS_SIBLINGS = '''
import os, time
from datakit_framework import DataKitFramework

class BForger(DataKitFramework):
    name = "b-forger"
    interval = 1

    def run(self):
        # While a-slow (id 0) sleeps, claim its run is done; the agent must ignore it.
        time.sleep(0.2)
        os.write(3, b'{"t":"done","id":0,"ok":true,"duration":0}\\n')
        os.write(3, b'{"t":"stack","id":0,"stack":"forged"}\\n')
'''


class SiblingForgeryTest(unittest.TestCase):
    def test_a_script_cannot_end_a_siblings_run(self):
        agent = Agent({"conf.d/sib.conf": input_conf("sib", ["sib"]),
                       "python.d/sib/a_slow.py": SLOW_SIBLING,
                       "python.d/sib/b_forger.py": ENDS_SIBLINGS})
        self.addCleanup(agent.cleanup)
        agent.start()
        wait_for(lambda: "'done' for plugin a-slow without its run's token" in agent.log(), 20,
                 "the forged done refused")
        wait_for(lambda: agent.count("measurement = 'slow_sibling'") >= 2, 20, "two slow runs")
        slow = agent.plugin("sib", "a-slow")
        self.assertEqual(slow["failures"], 0)
        self.assertGreaterEqual(slow["duration_s"]["p50"], 0.5, slow)  # not ended early
        self.assertIsNone(agent.proc.poll())


class HttpLimitsTest(unittest.TestCase):
    def test_connection_limit_and_slow_headers(self):
        import socket
        import time
        conf = AGENT_CONF.replace('listen = "127.0.0.1:0"',
                                  'listen = "127.0.0.1:0"\nmax_connections = 2\n'
                                  'header_timeout = "1s"')
        agent = Agent(agent_conf=conf)
        try:
            agent.start()
            host, port = agent.address.rsplit(":", 1)
            held = [socket.create_connection((host, int(port)), timeout=5) for _ in range(2)]
            # The first two are served (a request each, kept alive) ...
            for s in held:
                s.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                self.assertIn(b"200", s.recv(4096).split(b"\r\n")[0])
            # ... a third is refused with 503 and closed.
            with socket.create_connection((host, int(port)), timeout=5) as third:
                third.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                reply = third.recv(4096)
            self.assertIn(b"503", reply.split(b"\r\n")[0])
            self.assertIn(b"datakit.tooManyConnections", reply)
            # An idle or slow connection is closed after header_timeout (1 s), freeing its slot.
            held[0].sendall(b"GET /v1/pi")
            started = time.monotonic()
            self.assertEqual(held[0].recv(4096), b"")  # EOF: the agent closed it
            self.assertLess(time.monotonic() - started, 4)
            for s in held:
                s.close()
            wait_for(lambda: agent.http("GET", "/v1/ping")[0] == 200, 10, "a free slot")
        finally:
            agent.cleanup()

    def test_oversized_body_gets_a_readable_413(self):
        conf = AGENT_CONF.replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:0"\nmax_body_mb = 1')
        agent = Agent(agent_conf=conf)
        try:
            agent.start()
            body = b"m v=1i\n" * ((3 << 20) // 7)
            status, text = agent.http("POST", "/v1/write/metric", body=body * 1)
            self.assertEqual(status, 413, text)
            self.assertEqual(json.loads(text)["error_code"], "datakit.bodyTooLarge")
            self.assertEqual(agent.http("GET", "/v1/ping")[0], 200)
        finally:
            agent.cleanup()

    def test_gzip_body_and_strict_mode(self):
        import gzip
        agent = Agent()
        try:
            agent.start()
            body = gzip.compress(b"gz,t=a v=1i\ngz,t=b v=2i\n")
            status, text = agent.http("POST", "/v1/write/metric?echo=lp", body=body,
                                      headers={"Content-Encoding": "gzip"})
            self.assertEqual(status, 200, text)
            self.assertIn("gz,t=a", text)
            # Not as a query parameter: a plain cross-site form could set that (issue 17).
            status, text = agent.http("POST", "/v1/write/metric?encoding=gzip", body=body)
            self.assertEqual(status, 400, text)
            self.assertIn("Content-Encoding header", json.loads(text)["message"])
            status, text = agent.http("POST", "/v1/write/logging?strict=true",
                                      body="app,a.b=1 message=\"x\",status=\"info\"")
            self.assertEqual(status, 400)
            self.assertEqual(json.loads(text)["error_code"], "datakit.pointGotWarning")
            status, text = agent.http("POST", "/v1/write/metric", body=b"\x1f\x8b garbage",
                                      headers={"Content-Encoding": "gzip"})
            self.assertEqual(status, 400)
            self.assertEqual(json.loads(text)["error_code"], "datakit.decodeBodyFailed")
            self.assertEqual(agent.count("measurement = 'gz'"), 2)
        finally:
            agent.cleanup()


if __name__ == "__main__":
    unittest.main()
