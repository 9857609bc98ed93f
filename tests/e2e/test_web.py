"""The status page at `/` in a real headless Chromium (docs/WEB.md).

An agent runs the quickstart example plus a 1 s plugin with two tag sets and a plugin that always
raises; tests/e2e/web/drive.js (playwright-core, pinned in tests/e2e/web/package-lock.json and
installed there with `npm ci` when missing) loads the page at 1280x800 and 375x812 and checks
it. Screenshots go to tests/e2e/artifacts/web-desktop.png and web-phone.png. Skipped only when
Chromium or node/npm is missing (scripts/setup.sh installs them).
"""

import json
import os
import shutil
import socket
import subprocess
import unittest

from harness import AGENT_CONF, REPO, Agent, input_conf, wait_for

E2E = os.path.dirname(os.path.abspath(__file__))
DRIVER_DIR = os.path.join(E2E, "web")
ARTIFACTS = os.path.join(E2E, "artifacts")
CHROMIUM = os.environ.get("PYTHOND_CHROMIUM", "/usr/bin/chromium")
QUICKSTART = os.path.join(REPO, "examples", "quickstart", "python.d")

WAVE = '''
import math
import time

from datakit_framework import DataKitFramework


class Wave(DataKitFramework):
    """Two tag sets every second, so the explorer has lines to draw."""
    name = "wave"
    interval = 1

    def run(self):
        t = time.time()
        for phase in ("a", "b"):
            shift = 0 if phase == "a" else 1.5
            self.feed_metric(measurement="web_wave", tags={"phase": phase},
                             fields={"value": math.sin(t / 5 + shift), "up": True})
'''

BROKEN = '''
from datakit_framework import DataKitFramework


class Broken(DataKitFramework):
    name = "broken"
    interval = 1

    def run(self):
        settings = {}
        return settings["web-test-missing-key"]
'''


def missing_tools():
    """Why the browser test cannot run here, or "" when it can."""
    for tool, path in (("chromium", CHROMIUM), ("node", shutil.which("node")),
                       ("npm", shutil.which("npm"))):
        if not path or not os.path.exists(path):
            return "%s is not installed (scripts/setup.sh installs it)" % tool
    return ""


def install_driver():
    """npm ci in tests/e2e/web when playwright-core is not there yet."""
    if os.path.exists(os.path.join(DRIVER_DIR, "node_modules", "playwright-core", "package.json")):
        return
    out = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"],
                         cwd=DRIVER_DIR, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise AssertionError("npm ci in %s failed:\n%s%s" % (DRIVER_DIR, out.stdout, out.stderr))


def non_loopback_address():
    """An address of this machine other than loopback (no packet is sent), or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        address = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if address.startswith("127.") else address


def example_files():
    files = {"conf.d/pythond/example.conf": input_conf("host", ["host"]) +
             input_conf("some-python-inputs", ["mytest"]) + input_conf("web", ["web"]),
             "python.d/web/wave.py": WAVE, "python.d/web/broken.py": BROKEN}
    for sub in ("host", "mytest"):
        for name in os.listdir(os.path.join(QUICKSTART, sub)):
            if name.endswith(".py"):
                with open(os.path.join(QUICKSTART, sub, name)) as f:
                    files["python.d/%s/%s" % (sub, name)] = f.read()
    return files


@unittest.skipIf(missing_tools(), missing_tools())
class WebPageTest(unittest.TestCase):
    def test_page_in_headless_chromium(self):
        install_driver()
        agent = Agent(example_files()).start()
        try:
            def ready():
                stats = agent.stats()
                plugins = {i["name"] + "/" + p["name"]: p
                           for i in stats["inputs"] for p in i["plugins"]}
                broken = plugins.get("web/broken")
                if not broken or not broken["failures"] or not broken["last_traceback"]:
                    return None
                if len(plugins) < 6 or agent.count("measurement = 'web_wave'") < 6:
                    return None
                return plugins

            plugins = wait_for(ready, 20, "data from the example plugins and a failed run")
            self.assertTrue({"host/loadavg", "host/meminfo", "host/cpustat",
                             "some-python-inputs/MyTest", "web/wave"} <= set(plugins),
                            sorted(plugins))
            options = {"base": "http://" + agent.address, "artifacts": ARTIFACTS,
                       "plugins": sorted(plugins), "failing": "web/broken",
                       "failing_text": "web-test-missing-key",
                       "measurement": "metric/web_wave", "field": "value",
                       "chromium": CHROMIUM}
            out = subprocess.run(["node", os.path.join(DRIVER_DIR, "drive.js"),
                                  json.dumps(options)],
                                 capture_output=True, text=True, timeout=180)
            self.assertEqual(out.returncode, 0,
                             "the page driver failed:\n%s%s" % (out.stdout, out.stderr))
            for name in ("web-desktop.png", "web-phone.png"):
                self.assertGreater(os.path.getsize(os.path.join(ARTIFACTS, name)), 10000, name)
        finally:
            agent.cleanup()


class WebAccessTest(unittest.TestCase):
    """`/` and the explorer are loopback-only unless public_apis opens them."""

    def fetch(self, address, port, path):
        import http.client
        conn = http.client.HTTPConnection(address, port, timeout=10)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.getheader("Content-Type"), r.read().decode(errors="replace")
        finally:
            conn.close()

    def run_agent(self, extra_http_api=""):
        conf = AGENT_CONF.replace('listen = "127.0.0.1:0"',
                                  'listen = "0.0.0.0:0"\n' + extra_http_api)
        agent = Agent(agent_conf=conf).start()
        self.addCleanup(agent.cleanup)
        return agent, int(agent.address.rsplit(":", 1)[1])

    def test_loopback_gets_the_page(self):
        agent = Agent().start()
        self.addCleanup(agent.cleanup)
        host, port = agent.address.rsplit(":", 1)
        status, ctype, body = self.fetch(host, int(port), "/")
        self.assertEqual(status, 200)
        self.assertEqual(ctype, "text/html; charset=utf-8")
        self.assertIn("/ui/app.js", body)
        status, ctype, _ = self.fetch(host, int(port), "/ui/uPlot.iife.min.js")
        self.assertEqual((status, ctype), (200, "text/javascript; charset=utf-8"))
        status, _, body = self.fetch(host, int(port), "/v1/store/measurements")
        self.assertEqual(status, 200, body)
        self.assertIn("measurements", json.loads(body))
        status, _, body = self.fetch(host, int(port), "/v1/store/measurements?since=soon")
        self.assertEqual(status, 400, body)

    def test_other_hosts_get_403_unless_public_apis_opens_it(self):
        address = non_loopback_address()
        if not address:
            self.skipTest("this machine has no non-loopback IPv4 address")
        _, port = self.run_agent()
        for path in ("/", "/ui/app.js", "/v1/store/measurements"):
            status, _, body = self.fetch(address, port, path)
            self.assertEqual(status, 403, path)
            self.assertEqual(json.loads(body)["error_code"], "datakit.publicAccessDisabled")
        self.assertEqual(self.fetch(address, port, "/v1/ping")[0], 200)

        _, port = self.run_agent(
            'public_apis = ["/v1/write/*", "/v1/ping", "/", "/ui/*", "/v1/stats", "/v1/store/*"]')
        for path in ("/", "/ui/app.js", "/v1/store/measurements"):
            self.assertEqual(self.fetch(address, port, path)[0], 200, path)


if __name__ == "__main__":
    unittest.main()
