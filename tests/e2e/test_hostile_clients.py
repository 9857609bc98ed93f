"""Hostile clients against the default loopback listener (issue 17): what they send must not
grow the agent's state or break what operators read."""

import http.client
import json
import os
import socket
import subprocess
import unittest

from harness import AGENT_CONF, BIN, Agent, input_conf, wait_for


class HostileClientsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent().start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.cleanup()

    def post_many(self, requests):
        """POSTs (path, body, headers) over one keep-alive connection; the statuses."""
        host, port = self.agent.address.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        statuses = []
        try:
            for path, body, headers in requests:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                statuses.append(resp.status)
        finally:
            conn.close()
        return statuses

    def test_made_up_names_do_not_grow_the_stats(self):
        before = len(self.agent.http("GET", "/v1/stats")[1])
        other = self.agent.stats()["ingest"]["by_input"].get("(other)", {})
        statuses = self.post_many(
            [("/v1/write/metric?input=rand%d" % i, "not a point", {}) for i in range(1500)] +
            [("/v1/write/metric", "not a point", {"X-Pythond-Plugin": "in%d/p" % i})
             for i in range(1500)] +
            [("/v1/lasterror", json.dumps({"input": "le%d" % i, "err_content": "x" * 10000}), {})
             for i in range(300)])
        self.assertEqual(statuses.count(400), 3000)
        self.assertEqual(statuses.count(200), 300)
        stats = self.agent.stats()
        by_input = stats["ingest"]["by_input"]
        self.assertFalse([n for n in by_input if n.startswith(("rand", "in", "le"))], by_input)
        self.assertEqual(by_input["(other)"]["refused_requests"],
                         other.get("refused_requests", 0) + 3000)
        self.assertEqual(len(by_input["(other)"]["last_error"]), 4096)
        # Was 568 KB after 3,000 such writes; the page grows by one entry, not 3,000.
        self.assertLess(len(json.dumps(stats)), before + 4096 + 4096)

    def test_invalid_utf8_names_keep_metrics_valid(self):
        status, body = self.agent.http("POST", "/v1/write/metric?input=bad%FF%0Aname",
                                       "m v=1")
        self.assertEqual(status, 200, body)
        host, port = self.agent.address.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/metrics")
        page = conn.getresponse().read()
        conn.close()
        text = page.decode("utf-8")  # raises on invalid UTF-8 (Prometheus refuses the scrape)
        self.assertIn('input="bad\ufffd\ufffdname"', text)
        rows = self.agent.query("SELECT DISTINCT input FROM points WHERE measurement = 'm'")
        self.assertEqual(rows, [{"input": "bad\ufffd\ufffdname"}])

    def test_a_gzip_bomb_is_refused_cheaply(self):
        import gzip
        import threading
        bomb = gzip.compress(b"m v=1\n" * 700_000, 9)  # 4.2 MB of tiny lines
        self.assertLess(len(bomb), 16_384)
        before = self.agent.stats()["agent"]["rss_peak_bytes"]
        statuses = []

        def send():
            statuses.extend(self.post_many(
                [("/v1/write/metric", bomb, {"Content-Encoding": "gzip"})] * 10))

        threads = [threading.Thread(target=send) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(statuses, [413] * 40)
        self.assertEqual(self.agent.http("GET", "/v1/ping")[0], 200)
        # Each bomb once cost ~168 MiB; now at most 1 MiB of decoded body and no points. (A
        # sanitizer build keeps freed memory in quarantine for a while.)
        peak = self.agent.stats()["agent"]["rss_peak_bytes"]
        allowed = (160 if os.environ.get("PYTHOND_SANITIZED") else 48) << 20
        self.assertLess(peak - before, allowed, (before, peak))

    def raw(self, head):
        """Sends `head` (request line and headers, no body) on a new connection; the status
        line of the answer, read without sending any body."""
        host, port = self.agent.address.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(head.encode())
            return sock.makefile("rb").readline().decode().strip()

    def test_dns_rebinding_and_cross_site_requests_are_refused(self):
        for path in ("/v1/stats", "/metrics", "/v1/write/metric"):
            status, body = self.agent.http("GET", path,
                                           headers={"Host": "rebind.attacker.example:9529"})
            self.assertEqual(status, 403, path)
            self.assertEqual(json.loads(body)["error_code"], "datakit.hostNotAllowed")
        status, _ = self.agent.http("GET", "/v1/stats", headers={"Host": "localhost"})
        self.assertEqual(status, 200)
        # A page elsewhere posting text/plain (no preflight): refused, nothing stored.
        status, body = self.agent.http("POST", "/v1/write/metric", "csrf v=1",
                                       headers={"Origin": "http://evil.example",
                                                "Content-Type": "text/plain"})
        self.assertEqual(status, 403, body)
        self.assertEqual(json.loads(body)["error_code"], "datakit.originNotAllowed")
        status, _ = self.agent.http("POST", "/v1/lasterror",
                                    '{"input":"x","err_content":"y"}',
                                    headers={"Origin": "http://evil.example"})
        self.assertEqual(status, 403)
        self.assertEqual(self.agent.count("measurement = 'csrf'"), 0)
        # The agent's own origin may post.
        status, body = self.agent.http("POST", "/v1/write/metric", "sameorigin v=1",
                                       headers={"Origin": "http://" + self.agent.address})
        self.assertEqual(status, 200, body)

    def test_answers_tell_browsers_not_to_sniff_frame_or_run_them(self):
        host, port = self.agent.address.rsplit(":", 1)
        for path, csp in (("/v1/stats", "default-src 'none'"), ("/v1/nope", "default-src 'none'"),
                          ("/", "default-src 'self'")):
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            self.assertEqual(resp.getheader("X-Content-Type-Options"), "nosniff", path)
            self.assertIn(csp, resp.getheader("Content-Security-Policy"), path)
            self.assertIn("frame-ancestors 'none'", resp.getheader("Content-Security-Policy"))

    def test_refusals_come_before_the_body(self):
        # 30 MB announced, none sent: the answer must not wait for it.
        for head, want in (
                ("POST /v1/write/metric HTTP/1.1\r\nHost: evil.example\r\n"
                 "Content-Length: 30000000\r\n\r\n", "403"),
                ("POST /v1/write/metric HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Origin: http://evil.example\r\nContent-Length: 30000000\r\n\r\n", "403"),
                ("POST /v1/write/metric?encoding=gzip HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Content-Length: 30000000\r\n\r\n", "400")):
            self.assertEqual(self.raw(head).split(" ")[1], want, head)


NOFILE_SCRIPT = '''
import resource
from datakit_framework import DataKitFramework

class Nofile(DataKitFramework):
    name = "nofile"
    interval = 1
    def run(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        return self.feed_metric(measurement="nofile", tags={"k": "v"},
                                fields={"soft": soft, "hard": hard})
'''


class AgentLimitsTest(unittest.TestCase):
    def test_listen_without_a_host_is_refused(self):
        agent = Agent(agent_conf=AGENT_CONF.replace('listen = "127.0.0.1:0"', 'listen = ":0"'))
        self.addCleanup(agent.cleanup)
        out = subprocess.run([BIN, "run", "--root", agent.root], capture_output=True, text=True,
                             timeout=30, stdin=subprocess.DEVNULL)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("listen address ':0' names no host", out.stdout + out.stderr)
        self.assertIn('"0.0.0.0:0" (every interface', out.stdout + out.stderr)

    def test_one_client_cannot_take_every_connection(self):
        conf = AGENT_CONF.replace('listen = "127.0.0.1:0"',
                                  'listen = "127.0.0.1:0"\nmax_connections_per_client = 3')
        agent = Agent(agent_conf=conf)
        self.addCleanup(agent.cleanup)
        agent.start()
        host, port = agent.address.rsplit(":", 1)

        def ping_from(source):
            sock = socket.create_connection((host, int(port)), timeout=10,
                                            source_address=(source, 0))
            sock.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            return sock, sock.recv(4096)

        held = []
        for _ in range(3):
            sock, reply = ping_from("127.0.0.2")
            held.append(sock)
            self.assertIn(b" 200 ", reply.split(b"\r\n")[0])
        sock, reply = ping_from("127.0.0.2")  # a fourth from the same address
        held.append(sock)
        self.assertIn(b" 503 ", reply.split(b"\r\n")[0])
        self.assertIn(b"one client may hold at most 3 connections", reply)
        sock, reply = ping_from("127.0.0.3")  # another client still gets in
        held.append(sock)
        self.assertIn(b" 200 ", reply.split(b"\r\n")[0])
        for sock in held:
            sock.close()

    def test_the_store_is_owner_only(self):
        agent = Agent()
        self.addCleanup(agent.cleanup)
        agent.start()
        self.assertEqual(agent.http("POST", "/v1/write/metric", "m v=1")[0], 200)
        db = os.path.join(agent.root, "data", "pythond.db")
        for path in (db, db + "-wal"):
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600, path)
        agent.stop()
        os.chmod(db, 0o644)  # as an older version made it
        agent.start()
        self.assertEqual(os.stat(db).st_mode & 0o777, 0o600)

    def test_the_open_files_limit_is_raised_for_the_agent_only(self):
        agent = Agent({"conf.d/nofile.conf": input_conf("nofile", ["nofile"]),
                       "python.d/nofile/nofile.py": NOFILE_SCRIPT})
        self.addCleanup(agent.cleanup)
        agent.start(wrapper=["prlimit", "--nofile=256:4096"])
        with open("/proc/%d/limits" % agent.proc.pid) as f:
            line = [l for l in f if l.startswith("Max open files")][0]
        self.assertEqual(line.split()[3:5], ["4096", "4096"], line)
        wait_for(lambda: agent.count("measurement = 'nofile'") >= 1, 20, "a run")
        rows = agent.query("SELECT json_extract(fields, '$.soft') AS soft, "
                           "json_extract(fields, '$.hard') AS hard FROM points "
                           "WHERE measurement = 'nofile' LIMIT 1")
        self.assertEqual(rows, [{"soft": 256, "hard": 4096}])
        self.assertIn("open files limit raised from 256 to 4096", agent.log())


if __name__ == "__main__":
    unittest.main()
