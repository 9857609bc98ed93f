"""`make run`'s script on a fresh copy of the example: data is queryable within 30 s."""

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BIN, REPO, check_sanitizer_report, wait_for


class QuickstartTest(unittest.TestCase):
    def test_example_root_shows_data_within_30_seconds(self):
        tmp = tempfile.mkdtemp(prefix="pythond-quickstart-")
        run_dir = os.path.join(tmp, "quickstart")
        log_path = os.path.join(tmp, "out.log")
        env = dict(os.environ, PYTHOND_RUN_DIR=run_dir, PYTHOND_LISTEN="127.0.0.1:0")
        started = time.monotonic()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(["bash", os.path.join(REPO, "scripts/run-example.sh")],
                                    stdout=log, stderr=subprocess.STDOUT, env=env,
                                    stdin=subprocess.DEVNULL)
        try:
            def output():
                with open(log_path, errors="replace") as f:
                    return f.read()

            # The banner's ready-made query command line, run as a user would paste it.
            line = wait_for(lambda: next((l.strip() for l in output().splitlines()
                                          if l.strip().startswith("query ")), None),
                            10, "the banner's query line")
            argv = shlex.split(line[len("query "):])
            self.assertEqual(os.path.realpath(argv[0]), os.path.realpath(BIN))

            def rows():
                r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
                return r.stdout if r.returncode == 0 and r.stdout.count("\n") > 1 else None

            wait_for(rows, 30, "data from the example scripts")

            def measurements():
                r = subprocess.run(
                    [BIN, "query", "--root", run_dir,
                     "SELECT DISTINCT measurement FROM points ORDER BY 1"],
                    capture_output=True, text=True, timeout=30)
                found = set(r.stdout.split())
                return found >= {"abc", "def", "mem", "system_load", "cpu"} and found

            # Within 30 s of the start, as `make run` promises (the wait above is within it).
            wait_for(measurements, 30 - (time.monotonic() - started), "every example's data")
            self.assertFalse(os.path.exists(os.path.join(REPO, "examples/quickstart/data")))
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(20)
            with open(log_path, errors="replace") as f:
                report = check_sanitizer_report(f.read())
            shutil.rmtree(tmp, ignore_errors=True)
            self.assertEqual(report, "")
            self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main()
