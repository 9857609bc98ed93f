"""`pythond test` and `pythond check`: the script author's loop, with the real worker, SDK and
point checks, no agent running and nothing stored. Each exit code has a passing and a failing
case; the seed's `test.py` (a name the standard library also has), a venv interpreter, and the
explanations of a missing module are covered too.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from harness import BIN, REPO, check_sanitizer_report, python_cmd, write_file

# The seed's MyTest, as the quick-start example ships it.
with open(os.path.join(REPO, "examples", "quickstart", "python.d", "mytest", "test.py")) as f:
    SEED_TEST_PY = f.read()

SEED_CONF = '''
[[inputs.pythond]]
  name = 'some-python-inputs'  # required
  #envs = ['LD_LIBRARY_PATH=/path/to/lib:$LD_LIBRARY_PATH',]
  cmd = "%s" # required. python3 is recommended.
  dirs = ["mytest"]
''' % python_cmd()


def plugin(cls, body, name=None, interval=10, imports="", attrs=""):
    return '''import os, sys, time
%s
from datakit_framework import DataKitFramework

class %s(DataKitFramework):
    name = %r
    interval = %r
%s
    def run(self):
%s
''' % (imports, cls, name or cls.lower(), interval, attrs,
       "\n".join("        " + line for line in body.strip().splitlines()))


class ScriptToolsTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="pythond-tools-")
        self.addCleanup(shutil.rmtree, self.root, True)

    def write(self, rel, content):
        return write_file(self.root, rel, content)

    def pythond(self, *args, env=None, timeout=60):
        started = time.monotonic()
        proc = subprocess.run([BIN] + list(args), cwd=self.root, capture_output=True, text=True,
                              timeout=timeout, env=env, stdin=subprocess.DEVNULL)
        proc.elapsed = time.monotonic() - started
        report = check_sanitizer_report(proc.stderr)
        self.assertEqual(report, "", report)
        return proc

    def assertExit(self, proc, code):
        self.assertEqual(proc.returncode, code,
                         "exit %d, want %d\nstdout:\n%s\nstderr:\n%s" % (
                             proc.returncode, code, proc.stdout, proc.stderr))


class TestCommandTest(ScriptToolsTest):
    def test_seed_example_passes_and_prints_line_protocol(self):
        self.write("python.d/mytest/test.py", SEED_TEST_PY)
        proc = self.pythond("test", "python.d/mytest/test.py")
        self.assertExit(proc, 0)
        lines = [l for l in proc.stdout.splitlines() if l and not l.startswith("#")]
        self.assertEqual(len(lines), 2, proc.stdout)
        self.assertRegex(lines[0], r'^abc,t1=b,t2=d,host=[^ ]+ f1=123i,f2=3.4,f3="strval" \d{19}$')
        self.assertTrue(lines[1].startswith("def,t1=b,t2=d,"))
        self.assertIn("run 1/1: ok in", proc.stdout)
        self.assertIn("# PASS: 1 plugin(s), 1 run(s), 0 failed, 2 point(s)", proc.stdout)
        # What the script printed goes to stderr, tagged with the plugin.
        self.assertIn("[test/MyTest] MyTest", proc.stderr)
        # Nothing stored: no data folder appears.
        self.assertFalse(os.path.exists(os.path.join(self.root, "data")))

    def test_input_name_uses_the_inputs_settings(self):
        self.write("python.d/mytest/test.py", SEED_TEST_PY)
        self.write("conf.d/pythond.conf", SEED_CONF.replace(
            "#envs = ['LD_LIBRARY_PATH=/path/to/lib:$LD_LIBRARY_PATH',]",
            "envs = ['MY_SETTING=from-conf']"))
        self.write("python.d/envcheck/envcheck.py", plugin(
            "EnvCheck", "return self.feed_metric(measurement='env', "
                        "fields={'value': os.environ.get('MY_SETTING', 'missing')})"))
        proc = self.pythond("test", "some-python-inputs")
        self.assertExit(proc, 0)
        self.assertIn("# input 'some-python-inputs'", proc.stdout)
        self.assertIn("some-python-inputs/MyTest", proc.stdout)
        # A folder inside an input's dirs runs with that input's cmd and envs.
        self.write("conf.d/pythond.conf", SEED_CONF.replace('dirs = ["mytest"]',
                                                            'dirs = ["mytest", "envcheck"]').replace(
            "#envs = ['LD_LIBRARY_PATH=/path/to/lib:$LD_LIBRARY_PATH',]",
            "envs = ['MY_SETTING=from-conf']"))
        proc = self.pythond("test", "python.d/envcheck")
        self.assertExit(proc, 0)
        self.assertIn('value="from-conf"', proc.stdout)

    def test_failing_run_exits_1_with_traceback(self):
        self.write("python.d/x/boom.py", plugin("Boom", "raise RuntimeError('collector exploded')"))
        proc = self.pythond("test", "python.d/x/boom.py")
        self.assertExit(proc, 1)
        self.assertIn("FAILED after", proc.stdout)
        self.assertIn("RuntimeError: collector exploded", proc.stdout)
        self.assertIn('boom.py", line', proc.stdout)
        self.assertIn("# FAIL: 1 plugin(s), 1 run(s), 1 failed", proc.stdout)

    def test_points_the_checks_repair_or_refuse_fail(self):
        self.write("python.d/x/repair.py", plugin("Repair", '''
self.feed_metric(measurement="m", tags={"t": "1"}, fields={"t": 2, "v": 1})
self.feed_logging(source="app", message="no status given")'''))
        proc = self.pythond("test", "python.d/x/repair.py")
        self.assertExit(proc, 1)
        self.assertIn("# CHECK metric point 1:", proc.stdout)
        self.assertIn("tag_field_conflict", proc.stdout)
        # The logging status DataKit fills in is a note, not a failure.
        self.assertIn("# NOTE logging point 1:", proc.stdout)
        self.write("python.d/x/repair.py", plugin("Repair", '''
self.feed_logging(source="app", message="no status given")'''))
        self.assertExit(self.pythond("test", "python.d/x/repair.py"), 0)

    def test_refused_request_fails(self):
        self.write("python.d/x/refused.py", plugin(
            "Refused", "return self.http_post_raw(self.construct_url('/v1/write/metric'), "
                       "'cpu,host=a usage=')"))
        proc = self.pythond("test", "python.d/x/refused.py")
        self.assertExit(proc, 1)
        self.assertIn("# REFUSED 400", proc.stdout)
        self.assertIn("datakit.invalidLinePoint", proc.stdout)

    def test_import_error_explains_the_missing_module(self):
        self.write("python.d/x/needs.py", "import not_a_module_xyz_123\n" +
                   plugin("Needs", "pass"))
        proc = self.pythond("test", "python.d/x/needs.py", "--cmd", python_cmd())
        self.assertExit(proc, 1)
        self.assertIn("ModuleNotFoundError: No module named 'not_a_module_xyz_123'", proc.stdout)
        self.assertIn("not_a_module_xyz_123", proc.stdout)
        self.assertIn("needs.py:1", proc.stdout)  # the import chain
        self.assertIn(python_cmd(), proc.stdout)  # the interpreter
        self.assertIn("sys.path", proc.stdout)

    def test_stuck_run_is_reported_with_its_stack(self):
        self.write("python.d/x/stuck.py", plugin("Stuck", "time.sleep(1000)", interval=1))
        proc = self.pythond("test", "python.d/x/stuck.py", timeout=30)
        self.assertExit(proc, 1)
        self.assertIn("run still going after its timeout of 1.0s", proc.stdout)
        self.assertIn("Stuck at", proc.stdout)
        self.assertIn("time.sleep(1000)", proc.stdout)
        self.assertLess(proc.elapsed, 15)

    def test_crashing_interpreter_is_reported(self):
        self.write("python.d/x/segv.py", plugin("Segv", "import ctypes; ctypes.string_at(0)"))
        proc = self.pythond("test", "python.d/x/segv.py", timeout=30)
        self.assertExit(proc, 1)
        self.assertIn("killed by signal 11 (SIGSEGV)", proc.stdout)

    def test_no_plugin_fails(self):
        self.write("python.d/x/helper.py", "VALUE = 1\n")
        proc = self.pythond("test", "python.d/x/helper.py")
        self.assertExit(proc, 1)
        self.assertIn("no plugin found", proc.stdout)

    def test_unknown_path_fails(self):
        proc = self.pythond("test", "nothing-here")
        self.assertExit(proc, 1)
        self.assertIn("'nothing-here' is neither a script, a folder nor an input", proc.stderr)

    def test_times_honours_the_interval(self):
        self.write("python.d/x/tick.py", plugin(
            "Tick", "return self.feed_metric(measurement='tick', fields={'t': time.monotonic()})",
            interval=1))
        proc = self.pythond("test", "python.d/x/tick.py", "--times", "3", "--format", "json")
        self.assertExit(proc, 0)
        doc = json.loads(proc.stdout)
        self.assertTrue(doc["ok"])
        runs = doc["plugins"][0]["runs"]
        self.assertEqual([r["run"] for r in runs], [1, 2, 3])
        ticks = [r["points"]["metric"][0]["fields"]["t"] for r in runs]
        self.assertAlmostEqual(ticks[1] - ticks[0], 1.0, delta=0.3)
        self.assertAlmostEqual(ticks[2] - ticks[1], 1.0, delta=0.3)

    def test_explicit_ip_port_is_captured_not_sent(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        self.addCleanup(listener.close)
        port = listener.getsockname()[1]
        self.write("python.d/x/remote.py", plugin(
            "Remote", "return self.feed_metric(measurement='remote', fields={'v': 1})",
            attrs="    def __init__(self, **kwargs):\n"
                  "        super().__init__(ip='127.0.0.1', port=%d)\n" % port))
        proc = self.pythond("test", "python.d/x/remote.py")
        self.assertExit(proc, 0)
        self.assertIn("remote,host=", proc.stdout)
        with self.assertRaises(BlockingIOError):
            listener.accept()  # nobody connected

    def test_json_and_table_formats(self):
        self.write("python.d/mytest/test.py", SEED_TEST_PY)
        proc = self.pythond("test", "python.d/mytest", "--format", "json")
        self.assertExit(proc, 0)
        doc = json.loads(proc.stdout)
        run = doc["plugins"][0]["runs"][0]
        self.assertEqual(doc["plugins"][0]["plugin"], "MyTest")
        self.assertEqual(run["points"]["metric"][0]["fields"], {"f1": 123, "f2": 3.4, "f3": "strval"})
        proc = self.pythond("test", "python.d/mytest", "--format", "table")
        self.assertExit(proc, 0)
        self.assertRegex(proc.stdout, r"measurement +tags +fields +time")
        self.assertRegex(proc.stdout, r"abc +t1=b,t2=d,host=\S+ +f1=123i,f2=3.4,f3=\"strval\"")


class CheckCommandTest(ScriptToolsTest):
    def test_seed_layout_passes_and_warns_about_test_py(self):
        self.write("python.d/mytest/test.py", SEED_TEST_PY)
        self.write("conf.d/pythond/pythond.conf", SEED_CONF)
        proc = self.pythond("check")
        self.assertExit(proc, 0)
        self.assertIn("input 'some-python-inputs' (conf.d/pythond/pythond.conf:2)", proc.stdout)
        self.assertRegex(proc.stdout, r"plugin +MyTest +\(python.d/mytest/test.py, class MyTest\) "
                                      r"+every 10s, timeout 10s")
        self.assertIn("module name 'test' is also", proc.stdout)
        self.assertIn("OK: 1 input(s), 1 plugin(s), 0 error(s), 1 warning(s)", proc.stdout)

    def test_broken_config_names_file_and_line(self):
        self.write("conf.d/broken.conf", "[[inputs.pythond]]\nname = 'x'\ncmd = \n")
        proc = self.pythond("check")
        self.assertExit(proc, 1)
        self.assertIn("broken.conf:3", proc.stdout)
        self.assertIn("FAIL", proc.stdout)

    def test_import_error_and_warnings(self):
        self.write("conf.d/p.conf", SEED_CONF.replace('dirs = ["mytest"]',
                                                      'dirs = ["a", "b", "gone"]'))
        self.write("python.d/a/one.py", plugin("One", "pass", name="same", interval=0.5))
        self.write("python.d/b/two.py", plugin("Two", "pass", name="same"))
        self.write("python.d/b/lazy.py", '''
from datakit_framework import DataKitFramework
class Lazy(DataKitFramework):
    name = "lazy"
''')
        self.write("python.d/b/broken.py", "import not_a_module_xyz_456\n")
        proc = self.pythond("check")
        self.assertExit(proc, 1)
        out = proc.stdout
        self.assertIn("module 'broken' failed to import: ModuleNotFoundError", out)
        self.assertIn("not_a_module_xyz_456", out)
        self.assertIn("dirs entry 'gone'", out)
        self.assertIn("plugin name 'same' is used 2 times", out)
        self.assertIn("interval 0.5s is below 1s", out)
        self.assertIn("does not override run()", out)
        self.assertIn("FAIL: 1 input(s), 3 plugin(s), 1 error(s)", out)
        # The scripts were imported, never run.
        self.assertFalse(os.path.exists(os.path.join(self.root, "data")))

    def test_env_shows_what_the_worker_gets(self):
        self.write("conf.d/p.conf", SEED_CONF.replace(
            "#envs = ['LD_LIBRARY_PATH=/path/to/lib:$LD_LIBRARY_PATH',]",
            "envs = ['MY_SETTING=from-conf', 'HOME=/elsewhere']"))
        env = dict(os.environ, HOME="/home/someone")
        proc = self.pythond("check", "--env", "some-python-inputs", env=env)
        self.assertExit(proc, 0)
        self.assertIn("  MY_SETTING=from-conf\n", proc.stdout)
        self.assertIn("+ MY_SETTING=from-conf", proc.stdout)
        self.assertIn("~ HOME=/elsewhere   (shell: /home/someone)", proc.stdout)
        self.assertIn("+ PYTHOND_INPUT=some-python-inputs", proc.stdout)
        self.assertIn("  runs:  ", proc.stdout)
        proc = self.pythond("check", "--env", "nope")
        self.assertExit(proc, 1)
        self.assertIn("no input named 'nope'", proc.stderr)


@unittest.skipUnless(os.path.exists("/usr/bin/python3"), "needs Debian's python3")
class VenvTest(ScriptToolsTest):
    """`cmd` pointing into a venv: the venv's packages are visible to the script; and when the
    input's Python lacks a module the venv has, the error says so."""

    def setUp(self):
        super().setUp()
        self.venv = os.path.join(self.root, "venv")
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", self.venv],
                       check=True, timeout=60)
        self.venv_python = os.path.join(self.venv, "bin", "python")
        purelib = subprocess.run(
            [self.venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True, timeout=30).stdout.strip()
        self.vendor_file = os.path.join(purelib, "pythond_vendorlib.py")
        with open(self.vendor_file, "w") as f:
            f.write("VALUE = 42\n")
        self.write("python.d/vendor/vendor.py", plugin(
            "Vendor", "return self.feed_metric(measurement='vendor', "
                      "fields={'v': pythond_vendorlib.VALUE, 'exe': sys.executable})",
            imports="import pythond_vendorlib"))

    def test_venv_cmd_sees_its_packages(self):
        self.write("conf.d/p.conf", '[[inputs.pythond]]\nname = "vendor"\ncmd = "%s"\n'
                                    'dirs = ["vendor"]\n' % self.venv_python)
        proc = self.pythond("test", "vendor")
        self.assertExit(proc, 0)
        self.assertIn("v=42i", proc.stdout)
        self.assertIn('exe="%s"' % self.venv_python, proc.stdout)
        proc = self.pythond("check")
        self.assertExit(proc, 0)
        self.assertIn("cmd     '%s' = %s" % (self.venv_python, self.venv_python), proc.stdout)

    def test_system_python_names_the_venv_that_has_the_module(self):
        env = dict(os.environ, PATH=os.path.join(self.venv, "bin") + ":" + os.environ["PATH"])
        proc = self.pythond("test", "python.d/vendor", "--cmd", "/usr/bin/python3", env=env)
        self.assertExit(proc, 1)
        self.assertIn("No module named 'pythond_vendorlib'", proc.stdout)
        self.assertIn(self.venv_python, proc.stdout)
        self.assertIn(self.vendor_file, proc.stdout)


if __name__ == "__main__":
    unittest.main()
