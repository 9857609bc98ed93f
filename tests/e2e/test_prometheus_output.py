"""The prometheus output scraped by a real Prometheus 2.42: metric points written to the agent
show up in Prometheus' query API as gauges with the expected names, labels and values, and a
newer write replaces the value."""

import json
import os
import shutil
import unittest
import urllib.parse

from harness import AGENT_CONF, Agent, wait_for
from servers import Server, http

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PATH = "/v1/prometheus"

# Old timestamps on purpose: the page carries no sample timestamps, so Prometheus stamps them
# with the scrape time and keeps them (it would drop samples from 2023 as out of bounds).
OLD_NS = 1700000000000000000


class Prometheus(Server):
    """A real Prometheus scraping one target every second."""
    name = "prometheus"

    def __init__(self, target, metrics_path):
        super().__init__()
        self.conf = os.path.join(self.dir, "prometheus.yml")
        with open(self.conf, "w") as f:
            f.write("""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: pythond
    metrics_path: %s
    static_configs:
      - targets: [%s]
""" % (json.dumps(metrics_path), json.dumps(target)))

    def command(self):
        return [PROMETHEUS, "--config.file=" + self.conf,
                "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"]

    def ready_url(self):
        return "http://127.0.0.1:%d/-/ready" % self.port

    def api(self, path):
        status, body = http("GET", "http://127.0.0.1:%d/api/v1/%s" % (self.port, path))
        if status != 200:
            raise AssertionError("Prometheus %s answered %s: %s" % (path, status, body))
        return json.loads(body)["data"]

    def query(self, promql):
        """The result vector of an instant query: [(labels without __name__, value)] sorted."""
        out = []
        for item in self.api("query?" + urllib.parse.urlencode({"query": promql}))["result"]:
            labels = {k: v for k, v in item["metric"].items() if k != "__name__"}
            out.append((labels, float(item["value"][1])))
        return sorted(out, key=lambda x: sorted(x[0].items()))

    def target_health(self):
        targets = self.api("targets")["activeTargets"]
        return [(t["health"], t.get("lastError", "")) for t in targets]


@unittest.skipUnless(os.path.exists(PROMETHEUS), "needs prometheus (apt-get install prometheus)")
class PrometheusOutputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent(agent_conf=AGENT_CONF + '\n[[outputs.prometheus]]\npath = "%s"\n' % PATH)
        cls.prometheus = None
        try:
            cls.agent.start()
            cls.prometheus = Prometheus(cls.agent.address, PATH)
            cls.prometheus.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.prometheus is not None:
                cls.prometheus.cleanup()
        finally:
            cls.agent.cleanup()

    def write(self, category, body):
        # Without the agent's global host tag, so the expected labels are the point's own.
        status, text = self.agent.http("POST", "/v1/write/%s?ignore_global_tags=1" % category,
                                       body=body)
        self.assertEqual(status, 200, text)

    def wait_query(self, promql, expected, timeout=30):
        """Waits until the instant query returns exactly `expected` ([(labels, value)]); labels
        there are the point's plus the job and instance Prometheus adds."""
        target = {"job": "pythond", "instance": self.agent.address}
        want = sorted([(dict(labels, **target), value) for labels, value in expected],
                      key=lambda x: sorted(x[0].items()))
        last = []

        def matches():
            last[:] = [self.prometheus.query(promql), self.prometheus.target_health()]
            return last[0] == want

        try:
            wait_for(matches, timeout, "%s = %r" % (promql, want), interval=0.2)
        except AssertionError as e:
            raise AssertionError("%s\nlast result: %r\ntargets: %r\nagent page:\n%s" % (
                e, last[0] if last else None, last[1] if last else None,
                self.agent.http("GET", PATH)[1])) from None

    def test_scraped_gauges_follow_the_latest_write(self):
        self.write("metric",
                   'prom_cpu,host=a,cpu=cpu-total usage=0.5,n=3i,u=7u,up=true,msg="text" %d\n'
                   'prom_cpu,host=b,cpu=cpu0 usage=0.25 %d\n'
                   'prom.disk-io,dev\\ name=sda,path=C:\\\\tmp,quote=say"hi",city=Z\xfcrich '
                   'read=10i %d\n' % (OLD_NS, OLD_NS, OLD_NS))
        self.write("logging", "prom_app,host=a n=1i %d\n" % OLD_NS)

        status, page = self.agent.http("GET", PATH)
        self.assertEqual(status, 200, page)
        self.assertIn("# TYPE prom_cpu_usage gauge\n", page)

        self.wait_query("prom_cpu_usage", [({"host": "a", "cpu": "cpu-total"}, 0.5),
                                           ({"host": "b", "cpu": "cpu0"}, 0.25)])
        # Everything on the page came with the same scrape.
        self.assertEqual(self.prometheus.query("prom_cpu_n"), [
            ({"host": "a", "cpu": "cpu-total", "job": "pythond",
              "instance": self.agent.address}, 3.0)])
        self.assertEqual([v for _, v in self.prometheus.query("prom_cpu_u")], [7.0])
        self.assertEqual([v for _, v in self.prometheus.query("prom_cpu_up")], [1.0])
        self.assertEqual(self.prometheus.query('{__name__=~"prom_cpu_msg.*|prom_app.*"}'), [])
        self.assertEqual(self.prometheus.query("prom_disk_io_read"), [
            ({"dev_name": "sda", "path": "C:\\tmp", "quote": 'say"hi"', "city": "Z\xfcrich",
              "job": "pythond", "instance": self.agent.address}, 10.0)])
        self.assertEqual(self.prometheus.query('up{job="pythond"}')[0][1], 1.0)

        # A newer point replaces the value; an older one arriving after it does not.
        self.write("metric", "prom_cpu,host=a,cpu=cpu-total usage=0.75 %d\n" % (OLD_NS + 2))
        self.write("metric", "prom_cpu,host=a,cpu=cpu-total usage=0.1 %d\n" % (OLD_NS + 1))
        self.wait_query("prom_cpu_usage", [({"host": "a", "cpu": "cpu-total"}, 0.75),
                                           ({"host": "b", "cpu": "cpu0"}, 0.25)])
        _, page = self.agent.http("GET", PATH)
        self.assertIn('prom_cpu_usage{cpu="cpu-total",host="a"} 0.75\n', page)


if __name__ == "__main__":
    unittest.main()
