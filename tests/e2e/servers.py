"""Real backends from Debian, started on 127.0.0.1 with free ports in a temp dir and stopped by
their PID: InfluxDB 1.6.7 and VictoriaMetrics. Readiness is polled with deadlines."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request

from harness import wait_for

INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"
VICTORIA = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout, proc=None):
    """Waits until something accepts TCP connections on 127.0.0.1:port (and `proc` lives)."""
    def accepting():
        if proc is not None and proc.poll() is not None:
            raise AssertionError("the server exited with %s" % proc.returncode)
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(accepting, timeout, "a server on 127.0.0.1:%d" % port)


def http(method, url, body=None, timeout=30):
    """(status, body text); connection errors raise OSError."""
    req = urllib.request.Request(url, method=method,
                                 data=body.encode() if isinstance(body, str) else body)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Server:
    """A process with a temp dir; start() waits for `ready_url` to answer 2xx."""
    name = "server"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pythond-%s-" % self.name)
        self.port = free_port()
        self.proc = None
        self.log = None

    def command(self):
        raise NotImplementedError

    def ready_url(self):
        raise NotImplementedError

    def start(self):
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s:\n%s" % (
                    self.name, self.proc.returncode, self.log_text()[-2000:]))
            try:
                return 200 <= http("GET", self.ready_url(), timeout=2)[0] < 300
            except OSError:
                return False

        wait_for(ready, 60, "%s to answer %s" % (self.name, self.ready_url()), interval=0.1)
        return self

    def log_text(self):
        with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        """SIGTERM, then SIGKILL after 20 s; the data stays for a restart."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class InfluxDB(Server):
    name = "influxdb"

    def __init__(self, database="diff"):
        super().__init__()
        self.database = database
        self.conf = os.path.join(self.dir, "influxdb.conf")
        with open(self.conf, "w") as f:
            f.write("""reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = "%s/meta"
[data]
  dir = "%s/data"
  wal-dir = "%s/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
""" % (free_port(), self.dir, self.dir, self.dir, self.port))

    def command(self):
        return [INFLUXD, "-config", self.conf]

    def ready_url(self):
        return "http://127.0.0.1:%d/ping" % self.port

    def start(self):
        super().start()
        self.query("CREATE DATABASE %s" % self.database, method="POST")
        return self

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def query(self, q, method="GET"):
        params = urllib.parse.urlencode({"db": self.database, "q": q, "epoch": "ns"})
        status, body = http(method, "%s/query?%s" % (self.url(), params))
        if status != 200:
            raise AssertionError("InfluxDB query %r answered %s: %s" % (q, status, body))
        return json.loads(body)

    def write(self, body):
        """(status, error text) of a direct write."""
        status, text = http("POST", "%s/write?db=%s" % (self.url(), self.database), body)
        return status, text if status != 204 else ""


class VictoriaMetrics(Server):
    name = "victoria-metrics"

    def command(self):
        return [VICTORIA, "-storageDataPath=%s/data" % self.dir,
                "-httpListenAddr=127.0.0.1:%d" % self.port, "-retentionPeriod=100y",
                "-loggerLevel=WARN"]

    def ready_url(self):
        return "http://127.0.0.1:%d/health" % self.port

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def export(self, match='{__name__=~".+"}'):
        """Every series matching `match`: [(labels dict, [(ms, value)...])]."""
        status, _ = http("GET", self.url() + "/internal/force_flush")
        params = urllib.parse.urlencode({"match[]": match})
        status, body = http("GET", "%s/api/v1/export?%s" % (self.url(), params))
        if status != 200:
            raise AssertionError("VictoriaMetrics export answered %s: %s" % (status, body))
        out = []
        for line in body.splitlines():
            if line.strip():
                item = json.loads(line)
                out.append((item["metric"], list(zip(item["timestamps"], item["values"]))))
        return out
