"""GET /metrics: the agent's own state in Prometheus' text format, linted by `promtool check
metrics` and scraped by a real Prometheus 2.42 whose query API then shows the plugins' runs,
failures and points, the HTTP routes and the store — the same numbers as /v1/stats.
"""

import os
import shutil
import subprocess
import unittest

from harness import AGENT_CONF, Agent, input_conf, wait_for
from test_prometheus_output import PROMETHEUS, Prometheus

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

GOOD = '''from datakit_framework import DataKitFramework

class Good(DataKitFramework):
    name = "good"
    interval = 1

    def run(self):
        return self.feed_metric(measurement="good", tags={"a.b": "x"}, fields={"v": 1})
'''

BAD = '''from datakit_framework import DataKitFramework

class Bad(DataKitFramework):
    name = "bad"
    interval = 1

    def run(self):
        raise RuntimeError("always")
'''


@unittest.skipUnless(os.path.exists(PROMETHEUS), "needs prometheus (apt-get install prometheus)")
class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent({"conf.d/m.conf": input_conf("m", ["m"]),
                           "python.d/m/good.py": GOOD, "python.d/m/bad.py": BAD},
                          agent_conf=AGENT_CONF)
        cls.prometheus = None
        try:
            cls.agent.start()
            wait_for(lambda: (cls.agent.plugin("m", "good") or {}).get("runs", 0) >= 2, 20,
                     "two runs of good")
            cls.prometheus = Prometheus(cls.agent.address, "/metrics").start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.prometheus:
            cls.prometheus.cleanup()
        cls.agent.cleanup()

    def scrape(self):
        status, body = self.agent.http("GET", "/metrics")
        self.assertEqual(status, 200)
        return body

    def test_the_page_passes_promtool(self):
        body = self.scrape()
        if not os.path.exists(PROMTOOL):
            self.skipTest("needs promtool (Debian's prometheus package)")
        lint = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                              text=True, timeout=30)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)
        self.assertIn('pythond_build_info{version="', body)
        self.assertIn("# TYPE pythond_plugin_runs_total counter", body)

    def test_prometheus_scrapes_it(self):
        p = self.prometheus
        wait_for(lambda: p.target_health() == [("up", "")], 30, "the target up")
        runs = wait_for(lambda: p.query('pythond_plugin_runs_total{plugin="good"}'), 20,
                        "the runs series")
        self.assertEqual(runs[0][0]["input"], "m")
        self.assertGreaterEqual(runs[0][1], 2)
        failures = wait_for(lambda: p.query('pythond_plugin_failures_total{plugin="bad"} > 0'),
                            20, "bad's failures")
        self.assertGreater(failures[0][1], 0)
        state = p.query('pythond_plugin_state{plugin="bad"} == 1')
        self.assertEqual(state[0][0]["state"], "failing")
        points = wait_for(lambda: p.query(
            'pythond_plugin_points_total{plugin="good",category="metric"} > 0'), 20, "points")
        self.assertGreater(points[0][1], 0)
        # A scrape is counted once answered: the next scrape shows it.
        wait_for(lambda: p.query('pythond_http_requests_total{route="/metrics",code="200"} > 0'),
                 20, "the /metrics route counted")
        self.assertTrue(p.query("pythond_store_rows_written_total > 0"))
        self.assertTrue(p.query("process_resident_memory_bytes > 1e6"))
        self.assertTrue(p.query('pythond_worker_up{input="m"} == 1'))

    def test_same_numbers_as_stats(self):
        stats = self.agent.stats()
        body = self.scrape()
        good = [p for i in stats["inputs"] for p in i["plugins"] if p["name"] == "good"][0]
        # Both are live counters: /metrics was read after /v1/stats, so it is never behind.
        line = [l for l in body.splitlines()
                if l.startswith('pythond_plugin_runs_total{input="m",plugin="good"}')][0]
        self.assertGreaterEqual(float(line.split()[-1]), good["runs"])
        self.assertIn("ingest", good)
        self.assertGreater(good["ingest"]["points"]["metric"], 0)
        self.assertIn("/v1/stats", stats["ingest"]["routes"])
        self.assertGreater(stats["agent"]["threads"], 1)
        self.assertGreater(stats["agent"]["open_files"], 3)
        self.assertGreater(stats["store"]["size_bytes"], 0)


if __name__ == "__main__":
    unittest.main()
