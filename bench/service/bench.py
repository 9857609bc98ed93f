"""bench/service: what running pythond as a service costs, with two Debian services as peers.

For each of N rounds, each server is started on a free 127.0.0.1 port in a fresh folder:
  ready_ms   exec → ready: for pythond the READY=1 datagram on $NOTIFY_SOCKET (what systemd's
             Type=notify waits for), for all three the first accepted TCP connection
  stop_ms    SIGTERM → the process has exited
  rss_kib    VmRSS one second after ready, idle: the server alone (idle_rss_kib), and with its
             child processes (total_rss_kib: for pythond its Python worker)
pythond runs the seed's example (one input, one worker) and, as `pythond_empty`, a root with
no input. One RESULT line per server and figure (p50 and max).
"""

import glob
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import benchlib  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHOND = os.path.abspath(os.environ.get("PYTHOND", os.path.join(REPO, "build", "pythond")))
ROUNDS = int(os.environ.get("BENCH_SERVICE_ROUNDS", "10"))
SEED = """from datakit_framework import DataKitFramework

class MyTest(DataKitFramework):
    name = 'MyTest'
    interval = 10

    def run(self):
        data = [{"measurement": "abc", "tags": {"t1": "b"}, "fields": {"f1": 123}}]
        return self.report({'M': data, 'input': "datakitpy"})
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pythond_cmd(folder, port, inputs):
    os.makedirs(folder + "/conf.d")
    with open(folder + "/conf.d/agent.conf", "w") as f:
        f.write('[log]\nlevel = "warn"\nseed_log_dir = "log"\n[reload]\nwatch = false\n')
    if inputs:
        os.makedirs(folder + "/python.d/mytest")
        with open(folder + "/python.d/mytest/test.py", "w") as f:
            f.write(SEED)
        with open(folder + "/conf.d/pythond.conf", "w") as f:
            f.write("[[inputs.pythond]]\nname = 'some-python-inputs'\ncmd = 'python3'\n"
                    "dirs = ['mytest']\n")
    return [PYTHOND, "run", "--root", folder, "--listen", "127.0.0.1:%d" % port]


SERVERS = {
    "pythond": lambda d, p: pythond_cmd(d, p, True),
    "pythond_empty": lambda d, p: pythond_cmd(d, p, False),
    "victoriametrics": lambda d, p: ["/usr/bin/victoria-metrics", "-storageDataPath=" + d + "/vm",
                                     "-httpListenAddr=127.0.0.1:%d" % p, "-loggerLevel=ERROR"],
    "prometheus": lambda d, p: [
        "/usr/bin/prometheus", "--config.file=" + write_prom_config(d),
        "--storage.tsdb.path=" + d + "/tsdb", "--web.listen-address=127.0.0.1:%d" % p,
        "--log.level=error"],
}


def write_prom_config(d):
    path = d + "/prometheus.yml"
    with open(path, "w") as f:
        f.write("global:\n  scrape_interval: 1h\n")
    return path


def one_round(name):
    folder = tempfile.mkdtemp(prefix="bench-service-")
    try:
        port = free_port()
        cmd = SERVERS[name](folder, port)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(folder + "/notify")
        env = dict(os.environ, NOTIFY_SOCKET=folder + "/notify")
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            ready = None
            if name.startswith("pythond"):
                notify.settimeout(30)
                msg = notify.recv(4096).decode()
                if "READY=1" not in msg:
                    raise RuntimeError("%s: unexpected notify %r" % (name, msg))
                ready = time.monotonic() - t0
            deadline = time.monotonic() + 30
            while not accepts(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("%s did not listen on %d" % (name, port))
                time.sleep(0.002)
            listening = time.monotonic() - t0
            time.sleep(1)
            rss = benchlib.status_kib(proc.pid, "VmRSS")
            total = rss + sum(benchlib.status_kib(c, "VmRSS")
                              for c in benchlib.descendants(proc.pid))
            t1 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
            stop = time.monotonic() - t1
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            notify.close()
        return ready, listening, stop, rss, total
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ms_p50_max(figure, seconds):
    """` FIGURE_ms_p50=… FIGURE_ms_max=…` of durations in seconds."""
    return " %s_ms_p50=%.1f %s_ms_max=%.1f" % (figure, statistics.median(seconds) * 1000,
                                               figure, max(seconds) * 1000)


def main():
    debs = glob.glob(os.path.join(os.path.dirname(PYTHOND), "pythond_*.deb"))
    deb = os.environ.get("PYTHOND_DEB") or (debs[0] if debs else "")
    if deb and os.path.exists(deb):
        installed = subprocess.run(["dpkg-deb", "-f", deb, "Installed-Size"],
                                   stdout=subprocess.PIPE, text=True).stdout.strip()
        print("RESULT bench=service case=package file=%s deb_bytes=%d installed_kib=%s" % (
            os.path.basename(deb), os.path.getsize(deb), installed))
    for name in SERVERS:
        rounds = [one_round(name) for _ in range(ROUNDS)]
        ready = [r[0] for r in rounds if r[0] is not None]
        line = "RESULT bench=service case=%s rounds=%d" % (name, ROUNDS)
        if ready:
            line += ms_p50_max("notify_ready", ready)
        line += ms_p50_max("listening", [r[1] for r in rounds])
        line += ms_p50_max("stop", [r[2] for r in rounds])
        line += " idle_rss_kib_p50=%d" % statistics.median(r[3] for r in rounds)
        line += " total_rss_kib_p50=%d" % statistics.median(r[4] for r in rounds)
        print(line, flush=True)


if __name__ == "__main__":
    main()
