"""docs/WRITING-SCRIPTS.md walks a new user from an empty folder to a tested, running script.
This test follows it: every block marked `<!-- tutorial: ... -->` is written or run, in order,
in a fresh empty folder, with `pythond` being the binary under test.

Markers: `file PATH` (write the next block to PATH), `sh [expect "TEXT"]` (run the next block
with bash; exit 0 and TEXT in its output), `agent` (start `pythond run` in the background, on a
free port instead of 9529; stopped by PID at the end), `skip`.
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BIN, REPO, check_sanitizer_report

DOC = os.path.join(REPO, "docs", "WRITING-SCRIPTS.md")
MARKER = re.compile(r'<!-- tutorial: (\w+)(?: ([^\n]*?))? -->\n```\w*\n(.*?)\n```', re.S)


def tutorial_steps():
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    return [(m.group(1), m.group(2) or "", m.group(3)) for m in MARKER.finditer(text)]


class WritingScriptsDocTest(unittest.TestCase):
    def test_the_tutorial_runs_as_written(self):
        steps = tutorial_steps()
        kinds = [k for k, _, _ in steps]
        # The walk: files, a test run, a unit test, a check, the agent, a query.
        self.assertGreaterEqual(kinds.count("file"), 3, kinds)
        self.assertIn("agent", kinds)
        root = tempfile.mkdtemp(prefix="pythond-doc-")
        self.addCleanup(shutil.rmtree, root, True)
        agent = None
        agent_log = os.path.join(root, "..", os.path.basename(root) + ".agent.log")
        self.addCleanup(lambda: os.path.exists(agent_log) and os.unlink(agent_log))
        prelude = 'pythond() { %s "$@"; }\n' % shlex.quote(BIN)
        # The seed's log files go to the home folder: keep them in the test's folder.
        env = dict(os.environ, HOME=root)
        try:
            for kind, arg, body in steps:
                if kind == "skip":
                    continue
                if kind == "file":
                    path = os.path.join(root, arg)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(body + "\n")
                elif kind == "agent":
                    self.assertEqual(body.strip(), "pythond run")
                    log = open(agent_log, "w")
                    agent = subprocess.Popen([BIN, "run", "--listen", "127.0.0.1:0"], cwd=root,
                                             stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env)
                    log.close()
                elif kind == "sh":
                    expect = re.fullmatch(r'expect "(.*)"', arg)
                    expect = expect.group(1) if expect else None
                    # After the agent started, a query may need its first run: retry until the
                    # expected text shows up, within a deadline.
                    deadline = time.monotonic() + (30 if agent else 0)
                    while True:
                        proc = subprocess.run(["bash", "-ec", prelude + body], cwd=root,
                                              capture_output=True, text=True, timeout=120,
                                              stdin=subprocess.DEVNULL, env=env)
                        output = proc.stdout + proc.stderr
                        ok = proc.returncode == 0 and (expect is None or expect in output)
                        if ok or time.monotonic() >= deadline:
                            break
                        time.sleep(0.2)
                    self.assertEqual(check_sanitizer_report(output), "")
                    self.assertTrue(ok, "step failed: %s\nexit %d, expected %r\n%s" % (
                        body, proc.returncode, expect, output))
                else:
                    self.fail("unknown tutorial marker %r" % kind)
        finally:
            if agent is not None:
                agent.send_signal(signal.SIGTERM)
                try:
                    agent.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    agent.kill()
                    agent.wait()
        self.assertIsNotNone(agent)
        self.assertEqual(agent.returncode, 0)
        with open(agent_log) as f:
            log = f.read()
        self.assertEqual(check_sanitizer_report(log), "")
        self.assertIn("input 'diskfree': worker pid", log)


if __name__ == "__main__":
    unittest.main()
