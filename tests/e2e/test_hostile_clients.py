"""Hostile clients against the default loopback listener (issue 17): what they send must not
grow the agent's state or break what operators read."""

import http.client
import json
import unittest

from harness import Agent


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
        self.assertEqual(by_input["(other)"]["refused_requests"], 3000)
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


if __name__ == "__main__":
    unittest.main()
