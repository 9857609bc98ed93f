"""`pythond monitor`, the terminal view of a running agent, driven in a real terminal: a detached
tmux session of a fixed size runs it against a real agent with a healthy plugin and one whose run
raises. The tests read the screen with `tmux capture-pane`, press its keys with `send-keys`, stop
the agent under it, and check that the terminal is given back in its normal mode. Without a
terminal: `--once` and its exit codes, usage errors, frames on a pipe until the reader closes
it, and SIGTERM while a write blocks. Nothing sleeps and hopes: every wait has a deadline.

The frame of the healthy run is saved to tests/e2e/artifacts/monitor.txt (docs/MONITOR.md).
"""

import array
import fcntl
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import termios
import unittest

from harness import AGENT_CONF, BIN, REPO, Agent, input_conf, wait_for

HEALTHY = '''
from datakit_framework import DataKitFramework

class Healthy(DataKitFramework):
    name = "healthy"
    interval = 1

    def run(self):
        return self.feed_metric(measurement="beat", tags={"k": "v"}, fields={"n": 1})
'''

BOOM = '''
from datakit_framework import DataKitFramework

class Boom(DataKitFramework):
    name = "boom"
    interval = 1

    def run(self):
        raise RuntimeError('boom from monitor test')
'''

ARTIFACTS = os.path.join(REPO, "tests", "e2e", "artifacts")

# The workers' RSS within a second (the default check is every 5 s); lands in [runner].
MONITOR_AGENT_CONF = AGENT_CONF + 'rss_check_interval = "1s"\n'

# Printed by the pane's shell once the monitor has exited: its exit code, and whether the
# terminal is back in canonical mode with echo (the monitor switches both off for its keys).
AFTER_EXIT = ('echo "monitor exited with $?"; %s -c "import termios; f = termios.tcgetattr(0)[3]; '
              'print(\'TERMINAL-RESTORED\' if f & termios.ICANON and f & termios.ECHO '
              'else \'TERMINAL-RAW\')"; sleep 600' % shlex.quote(sys.executable))


def agent_files():
    return {
        "conf.d/monitor.conf": input_conf("healthy-input", ["good"]) +
                               input_conf("boom-input", ["bad"]),
        "python.d/good/healthy.py": HEALTHY,
        "python.d/bad/boom.py": BOOM,
    }


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def row(screen, first, second):
    """The whitespace-split cells of the table row starting with `first second`, or None."""
    for line in screen.splitlines():
        cells = line.split()
        if cells[:2] == [first, second]:
            return cells
    return None


class Tmux:
    """A tmux server of our own (its own socket) with one detached session of a fixed size."""

    def __init__(self, width=160, height=50):
        self.socket = "pythond-monitor-%d-%d" % (os.getpid(), id(self))
        self.width, self.height = width, height
        self.env = dict(os.environ, TERM=os.environ.get("TERM") or "xterm")

    def tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null"] + list(args),
                              capture_output=True, text=True, env=self.env, check=check,
                              timeout=30)

    def start(self, command):
        self.tmux("new-session", "-d", "-s", "mon", "-x", str(self.width), "-y", str(self.height),
                  command)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "mon", check=False).stdout

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "mon", *keys)

    def wait_screen(self, condition, what, timeout=30):
        """Waits until condition(screen) is true; returns that screen."""
        seen = {}

        def check():
            seen["screen"] = self.screen()
            return seen["screen"] if condition(seen["screen"]) else None

        try:
            return wait_for(check, timeout, what)
        except AssertionError:
            raise AssertionError("timed out after %ss waiting for %s; the screen:\n%s" %
                                 (timeout, what, seen.get("screen", "")))

    def monitor_pid(self):
        """The pid of the `pythond monitor` running under the pane's shell."""
        shell = int(self.tmux("display-message", "-p", "-t", "mon", "#{pane_pid}").stdout)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == shell and "(pythond)" in stat:
                return int(entry)
        return None

    def kill(self):
        self.tmux("kill-server", check=False)


@unittest.skipUnless(shutil.which("tmux"), "tmux is not installed")
class MonitorInTerminalTest(unittest.TestCase):
    def start_monitor(self, root, *args, width=160, height=50):
        tmux = Tmux(width, height)
        self.addCleanup(tmux.kill)
        command = " ".join(shlex.quote(a) for a in [BIN, "monitor", "--root", root] + list(args))
        tmux.start(command + "; " + AFTER_EXIT)
        return tmux

    def test_live_view_keys_and_the_agent_going_away(self):
        agent = Agent(files=agent_files(), agent_conf=MONITOR_AGENT_CONF)
        self.addCleanup(agent.cleanup)
        agent.start()
        tmux = self.start_monitor(agent.root, "--refresh", "200ms")

        def healthy_frame(screen):
            good = row(screen, "healthy-input", "healthy")
            bad = row(screen, "boom-input", "boom")
            rates = [line.split() for line in screen.splitlines() if line.startswith("points/s")]
            return (good and bad and good[2] == "running" and int(good[3]) >= 3 and
                    bad[2] == "failing" and int(bad[3]) >= 3 and int(bad[4]) >= 3 and
                    "boom-input/boom  failing" in screen and
                    "RuntimeError: boom from monitor test" in screen and
                    rates and rates[0][1] != "-" and
                    all("MiB" in " ".join(r) for r in (good, bad)))  # the workers' RSS

        screen = tmux.wait_screen(healthy_frame,
                                  "both plugins with runs and RSS, the error, a rate")
        header = screen.splitlines()[0]
        self.assertRegex(header, r"^pythond \d+\.\d+\.\d+  pid %d  up \d" % agent.proc.pid)
        self.assertIn("listen " + agent.address, header)
        self.assertRegex(header, r"refreshed \d\d:\d\d:\d\d$")
        self.assertIn("keys: q quit  e show tracebacks  r refresh now  (every 200ms)", screen)
        self.assertIn("2 inputs, 2 plugins: 1 running, 1 failing", screen)
        self.assertNotIn("Traceback (most recent call last)", screen)
        self.assertTrue(all(len(line) <= 160 for line in screen.splitlines()))
        os.makedirs(ARTIFACTS, exist_ok=True)
        with open(os.path.join(ARTIFACTS, "monitor.txt"), "w") as f:
            f.write(screen.rstrip("\n") + "\n")

        # --once against the same agent: one frame, no escape sequences on a pipe, exit 0.
        once = subprocess.run([BIN, "monitor", "--root", agent.root, "--once"],
                              capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, COLUMNS="100"))
        self.assertEqual(once.returncode, 0, once.stderr)
        self.assertNotIn("\x1b", once.stdout)
        self.assertIn("healthy", once.stdout)
        self.assertIn("RuntimeError: boom from monitor test", once.stdout)
        self.assertNotIn("keys:", once.stdout)
        self.assertTrue(all(len(line) <= 100 for line in once.stdout.splitlines()), once.stdout)

        # e: the traceback of the failing run; e again hides it.
        tmux.keys("e")
        screen = tmux.wait_screen(
            lambda s: "raise RuntimeError('boom from monitor test')" in s and
            "Traceback (most recent call last):" in s, "the traceback after e")
        self.assertRegex(screen, r'File ".*boom\.py", line \d+, in run')
        self.assertIn("(e: hide tracebacks)", screen)
        tmux.keys("e")
        tmux.wait_screen(lambda s: "Traceback" not in s and "(e: show tracebacks)" in s,
                         "the traceback hidden after a second e")

        # The agent stops: the monitor says so, keeps the address, and keeps retrying.
        self.assertEqual(agent.stop(), 0)
        tmux.wait_screen(
            lambda s: ("cannot reach the agent at %s: connection refused; retrying every 200ms" %
                       agent.address) in s, "the cannot-reach line")
        screen = tmux.wait_screen(lambda s: "last answer at" in s, "when it was last seen")
        self.assertNotIn("monitor exited", screen)
        self.assertIsNotNone(tmux.monitor_pid())

        # q: the monitor ends with 0 and gives the terminal back.
        tmux.keys("q")
        screen = tmux.wait_screen(lambda s: "TERMINAL-" in s, "the shell after q")
        self.assertIn("monitor exited with 0", screen)
        self.assertIn("TERMINAL-RESTORED", screen)
        self.assertNotIn("cannot reach", screen)  # the alternate screen is gone with its frame

    def test_waits_for_an_agent_refreshes_on_r_and_ends_on_sigterm(self):
        agent = Agent(files=agent_files())
        self.addCleanup(agent.cleanup)
        # A run.json left by an agent that is gone: nothing listens at its address.
        gone = "127.0.0.1:%d" % closed_port()
        agent.write("data/run.json", json.dumps({"pid": 1, "listen": gone}))
        tmux = self.start_monitor(agent.root, "--refresh", "1h", width=120, height=30)
        tmux.wait_screen(lambda s: "cannot reach the agent at %s: connection refused; "
                         "retrying every 1h" % gone in s, "the cannot-reach line")

        # The agent starts (a new run.json); nothing changes until r, the refresh is 1 h.
        os.remove(os.path.join(agent.root, "data", "run.json"))
        agent.start()
        wait_for(lambda: agent.plugin("healthy-input", "healthy") and
                 agent.plugin("healthy-input", "healthy")["runs"] > 0, 15, "a healthy run")
        self.assertIn("cannot reach", tmux.screen())
        tmux.keys("r")
        screen = tmux.wait_screen(lambda s: row(s, "healthy-input", "healthy") is not None,
                                  "the plugins after r")
        self.assertIn("listen " + agent.address, screen)
        self.assertTrue(all(len(line) <= 120 for line in screen.splitlines()), screen)

        pid = tmux.monitor_pid()
        self.assertIsNotNone(pid)
        os.kill(pid, signal.SIGTERM)
        screen = tmux.wait_screen(lambda s: "TERMINAL-" in s, "the shell after SIGTERM")
        self.assertIn("monitor exited with 0", screen)
        self.assertIn("TERMINAL-RESTORED", screen)


class MonitorWithoutTerminalTest(unittest.TestCase):
    def test_once_exits_1_when_nothing_listens(self):
        address = "127.0.0.1:%d" % closed_port()
        out = subprocess.run([BIN, "monitor", "--to", address, "--once"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertEqual(out.stdout, "")
        self.assertIn("cannot reach the agent at %s: connection refused" % address, out.stderr)

    def test_bad_options_are_usage_errors(self):
        for args, message in ((["--refresh", "soon"], "bad --refresh 'soon'"),
                              (["--refresh", "0s"], "bad --refresh '0s'"),
                              (["--to", "localhost"], "bad --to 'localhost' (HOST:PORT)")):
            out = subprocess.run([BIN, "monitor", "--once"] + args, capture_output=True,
                                 text=True, timeout=30)
            self.assertEqual(out.returncode, 2, args)
            self.assertIn(message, out.stderr)

    def test_without_a_terminal_frames_follow_each_other_until_stdout_closes(self):
        agent = Agent(files=agent_files())
        self.addCleanup(agent.cleanup)
        agent.start()
        proc = subprocess.Popen([BIN, "monitor", "--root", agent.root, "--refresh", "100ms"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        headers = 0
        while headers < 3:
            line = proc.stdout.readline().decode()
            if not line:
                self.fail("the monitor ended: %s" % proc.stderr.read().decode())
            self.assertNotIn("\x1b", line)
            headers += line.startswith("pythond ")
        proc.stdout.close()  # the next frame finds no reader: the monitor ends
        self.assertEqual(proc.wait(15), 0)
        proc.stderr.close()

    def test_sigterm_stops_a_monitor_whose_reader_stopped_reading(self):
        agent = Agent(files=agent_files())
        self.addCleanup(agent.cleanup)
        agent.start()
        proc = subprocess.Popen([BIN, "monitor", "--root", agent.root, "--refresh", "50ms"],
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.addCleanup(proc.stdout.close)
        fd = proc.stdout.fileno()
        seen = []

        def blocked():
            with open("/proc/%d/wchan" % proc.pid) as f:
                wchan = f.read()
            if "pipe_write" in wchan:
                return True
            # A kernel that hides wchan ("0"): the queued bytes stop growing for 0.5 s (the
            # pipe holds about 60 KiB; frames of about 1 KiB come every 50 ms).
            queued = array.array("i", [0])
            fcntl.ioctl(fd, termios.FIONREAD, queued)
            seen.append(queued[0])
            return wchan in ("", "0") and queued[0] > 32768 and len(set(seen[-10:])) == 1 \
                and len(seen) >= 10

        wait_for(blocked, 30, "the monitor blocked on its full stdout pipe")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(15), 0)


if __name__ == "__main__":
    unittest.main()
