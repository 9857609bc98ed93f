"""Runs the real `pythond` binary on a temporary root for end-to-end tests.

Nothing here sleeps and hopes: `wait_for` polls a condition until a deadline and fails with
what it last saw. Every agent started is stopped (SIGTERM, then SIGKILL) by its PID.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("PYTHOND_BIN", os.path.join(REPO, "build", "pythond"))

AGENT_CONF = """
[http_api]
listen = "127.0.0.1:0"
[log]
level = "debug"
seed_log_dir = "log"
[runner]
stop_grace = "3s"
# First runs within 1 s of the start, whatever the interval (the default spreads them over 10 s).
spread = "1s"
"""


def wait_for(condition, timeout, what, interval=0.05):
    """Calls condition() until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def write_file(root, rel, content):
    """Writes `content` to root/rel, making its folders; returns the path."""
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(content)
    return path


class Agent:
    """A temporary root plus a running `pythond run` on it."""

    def __init__(self, files=None, agent_conf=AGENT_CONF, root=None):
        self.root = root or tempfile.mkdtemp(prefix="pythond-e2e-")
        self.owns_root = root is None
        self.write("conf.d/agent.conf", agent_conf)
        for path, content in (files or {}).items():
            self.write(path, content)
        self.proc = None
        self.log_path = os.path.join(self.root, "agent.log")
        self.address = None

    def write(self, rel, content):
        return write_file(self.root, rel, content)

    def start(self, extra_args=(), env=None, wrapper=()):
        """`wrapper`: a command the agent is run under (it must exec it, e.g. prlimit)."""
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(list(wrapper) + [BIN, "run", "--root", self.root] +
                                     list(extra_args),
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        run_file = os.path.join(self.root, "data", "run.json")

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("agent exited with %s:\n%s" % (self.proc.returncode,
                                                                  self.log()))
            if not os.path.exists(run_file):
                return None
            with open(run_file) as f:
                return json.load(f)

        info = wait_for(ready, 15, "data/run.json")
        self.address = info["listen"]
        return self

    def stop(self, timeout=15):
        """SIGTERM; returns the exit code (SIGKILL if it does not stop in time)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("agent did not stop within %ss after SIGTERM" % timeout)
        finally:
            self._log.close()

    def cleanup(self):
        try:
            self.stop()
        finally:
            if getattr(self, "_log", None) and not self._log.closed:
                self._log.close()
            sanitizer = check_sanitizer_report(self.log() if os.path.exists(self.log_path) else "")
            if self.owns_root:
                shutil.rmtree(self.root, ignore_errors=True)
            if sanitizer:
                raise AssertionError("sanitizer report in the agent's log:\n" + sanitizer)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def seed_log(self, name):
        path = os.path.join(self.root, "log", name)
        if not os.path.exists(path):
            return ""
        with open(path, errors="replace") as f:
            return f.read()

    def query(self, sql):
        """Runs `pythond query --format json` and returns the rows as dicts."""
        out = subprocess.run([BIN, "query", "--root", self.root, "--format", "json", sql],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise AssertionError("pythond query failed (%s): %s" % (out.returncode, out.stderr))
        return json.loads(out.stdout)

    def count(self, where="1"):
        rows = self.query("SELECT count(*) AS n FROM points WHERE " + where)
        return rows[0]["n"]

    def http(self, method, path, body=None, headers=None):
        """Returns (status, body text)."""
        req = urllib.request.Request("http://%s%s" % (self.address, path), method=method,
                                     data=body.encode() if isinstance(body, str) else body,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


    def stats(self):
        """GET /v1/stats as a dict."""
        status, body = self.http("GET", "/v1/stats")
        if status != 200:
            raise AssertionError("GET /v1/stats answered %s: %s" % (status, body))
        return json.loads(body)

    def plugin(self, input_name, plugin_name):
        """The /v1/stats entry of one plugin (None when not listed yet)."""
        for item in self.stats()["inputs"]:
            if item["name"] == input_name:
                for p in item["plugins"]:
                    if p["name"] == plugin_name:
                        return p
        return None

    def workers(self, input_name):
        for item in self.stats()["inputs"]:
            if item["name"] == input_name:
                return item["workers"]
        return []


def check_sanitizer_report(text):
    """The AddressSanitizer/UBSan report in `text`, or "" (the sanitizer CI build)."""
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        i = text.find(marker)
        if i >= 0:
            return text[max(0, i - 200):i + 3000]
    return ""


def python_cmd():
    """The Python the tests give to `cmd`: Debian's when present (what CI installs)."""
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"


def input_conf(name, dirs, extra=""):
    return "[[inputs.pythond]]\nname = %s\ncmd = %s\ndirs = %s\n%s\n" % (
        json.dumps(name), json.dumps(python_cmd()), json.dumps(dirs), extra)
