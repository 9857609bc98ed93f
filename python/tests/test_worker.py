# encoding: utf-8
"""Tests of the pythond worker (pythond_worker.py), run as the agent runs it.

The worker is started as ``<python> -u pythond_worker.py`` with posix_spawn, stdin a pipe for
the agent's lines and fd 3 a pipe for the worker's, as docs/WORKER_PROTOCOL.md specifies. A few
tests call the worker's helpers in-process with fake interpreters.

Run: cd /work/main && python3 -m unittest discover -s python/tests -t python -v
"""

import fcntl
import json
import os
import queue
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(PYTHON_DIR, "pythond_worker.py")
sys.path.insert(0, PYTHON_DIR)

import pythond_worker  # noqa: E402

# Seconds to wait for any one answer of the worker. A hint asks the machine's other Pythons
# (3 s each, 8 s at most), so this is well above that.
DEADLINE = 30.0
SYSTEM_PYTHON = "/usr/bin/python3"


def _above_3(fd):
    """fd moved to a number above 3 (close-on-exec), so the dup2s to 0-3 cannot clobber it."""
    if fd > 3:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class WorkerProcess(object):
    """One worker process and the agent's ends of its pipes."""

    def __init__(self, init, python=None, env=None):
        python = python or sys.executable
        stdin_r, stdin_w, events_r, events_w, output_r, output_w = [
            _above_3(fd) for fd in os.pipe() + os.pipe() + os.pipe()]
        full_env = dict(os.environ)
        full_env.update({
            "PYTHOND_INPUT": init.get("input", ""),
            "PYTHOND_HTTP_ADDR": "127.0.0.1:9",
            "PYTHOND_SEED_LOG_DIR": init["_log_dir"],
            "PYTHOND_PYTHON_DIR": PYTHON_DIR,
            "PYTHONUNBUFFERED": "1",
        })
        for key, value in (env or {}).items():  # None: removed
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        init = {k: v for k, v in init.items() if not k.startswith("_")}
        # The pipes are close-on-exec; these dup2s give the child exactly fds 0-3.
        actions = [
            (os.POSIX_SPAWN_DUP2, stdin_r, 0),
            (os.POSIX_SPAWN_DUP2, output_w, 1),
            (os.POSIX_SPAWN_DUP2, output_w, 2),
            (os.POSIX_SPAWN_DUP2, events_w, 3),
        ]
        self.pid = os.posix_spawn(python, [python, "-u", WORKER], full_env,
                                  file_actions=actions, setsid=True)
        for fd in (stdin_r, events_w, output_w):
            os.close(fd)
        self.stdin = os.fdopen(stdin_w, "w", encoding="utf-8")
        self.events = queue.Queue()
        self.output = queue.Queue()
        self.exit_status = queue.Queue()
        self._threads = [
            threading.Thread(target=self._read, args=(events_r, self.events, True), daemon=True),
            threading.Thread(target=self._read, args=(output_r, self.output, False), daemon=True),
            threading.Thread(target=self._wait, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.send(init)

    @staticmethod
    def _read(fd, into, as_json):
        with os.fdopen(fd, "rb") as stream:
            for line in stream:
                text = line.decode("utf-8", "replace").rstrip("\n")
                into.put(json.loads(text) if as_json else text)
        into.put(None)  # EOF

    def _wait(self):
        _, status = os.waitpid(self.pid, 0)
        self.exit_status.put(status)

    def send(self, message):
        self.stdin.write(json.dumps(message) + "\n")
        self.stdin.flush()

    def next_event(self, kind, deadline=DEADLINE):
        """The next protocol message of type `kind` (others are skipped)."""
        end = time.monotonic() + deadline
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r from the worker within %ss" % (kind, deadline))
            try:
                message = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if message is None:
                raise AssertionError("the worker closed fd 3 before sending %r" % kind)
            if message.get("t") == kind:
                return message

    def output_line(self, predicate, deadline=DEADLINE):
        end = time.monotonic() + deadline
        seen = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching output line within %ss; got %r" % (
                    deadline, seen))
            try:
                line = self.output.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("output ended; got %r" % seen)
            seen.append(line)
            if predicate(line):
                return line

    def run(self, plugin_id):
        self.send({"t": "run", "id": plugin_id, "due": 0})
        return self.next_event("done")

    def close(self):
        """Closes stdin (the agent is gone) and expects the worker to exit 0 promptly."""
        try:
            self.stdin.close()
        except OSError:
            pass
        try:
            status = self.exit_status.get(timeout=DEADLINE)
        except queue.Empty:
            self.kill()
            raise AssertionError("the worker did not exit after stdin closed")
        return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") \
            else status >> 8

    def kill(self):
        try:
            os.killpg(self.pid, 9)
        except OSError:
            pass


class WorkerTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pythond-worker-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.scripts = os.path.join(self.tmp, "python.d", "mytest")
        os.makedirs(self.scripts)
        self.modules = []

    def script(self, name, text):
        """Writes python.d/mytest/<name>.py and adds it to the next init."""
        path = os.path.join(self.scripts, name + ".py")
        with open(path, "w") as f:
            f.write(text)
        self.modules.append({"name": name, "file": path, "sys_path": self.scripts})
        return path

    def start(self, python=None, env=None, **init):
        message = {"t": "init", "input": "unit", "stop_grace": 1.0, "cmd": "python3",
                   "modules": self.modules, "_log_dir": self.tmp}
        message.update(init)
        worker = WorkerProcess(message, python=python, env=env)
        self.addCleanup(worker.kill)
        return worker

    def stop(self, worker):
        self.assertEqual(worker.close(), 0)


GOOD_PLUGIN = """from datakit_framework import DataKitFramework


class Good(DataKitFramework):
    name = "good"
    interval = 5

    def run(self):
        print("ran")
"""


class HelloTest(WorkerTestCase):
    def test_hello_reports_sys_path_modules_and_overrides_run(self):
        path = self.script("mymod_unique", GOOD_PLUGIN)
        worker = self.start()
        hello = worker.next_event("hello")
        self.assertIn(self.scripts, hello["sys_path"])
        self.assertIn(PYTHON_DIR, hello["sys_path"])
        self.assertLess(hello["sys_path"].index(PYTHON_DIR),
                        hello["sys_path"].index(self.scripts))
        self.assertEqual(hello["modules"], [
            {"module": "mymod_unique", "file": path, "ok": True, "shadows": ""}])
        self.assertEqual(len(hello["plugins"]), 1)
        self.assertIs(hello["plugins"][0]["overrides_run"], True)
        self.assertEqual(hello["errors"], [])
        done = worker.run(0)
        self.assertTrue(done["ok"], done)
        self.assertNotIn("hint", done)
        worker.output_line(lambda line: line == "\x1e0\x1fran")
        self.stop(worker)

    def test_script_named_test_shadows_the_stdlib_test_package(self):
        answer = subprocess.run(
            [sys.executable, "-I", "-c",
             "import importlib.util as u, os; s = u.find_spec('test'); "
             "print(os.path.dirname(s.origin) if s else '')"],
            stdout=subprocess.PIPE, universal_newlines=True, check=True, timeout=DEADLINE)
        stdlib_test = answer.stdout.strip()
        if not stdlib_test:
            self.skipTest("%s has no standard-library test package" % sys.executable)
        self.script("test", GOOD_PLUGIN)
        self.script("mymod_unique", GOOD_PLUGIN.replace("Good", "Other"))
        worker = self.start()
        hello = worker.next_event("hello")
        self.assertEqual([(m["module"], m["ok"], m["shadows"]) for m in hello["modules"]],
                         [("test", True, stdlib_test), ("mymod_unique", True, "")])
        self.assertEqual(len(hello["plugins"]), 2)
        self.stop(worker)

    def test_sibling_subfolder_module_does_not_shadow_itself(self):
        sub = os.path.join(self.scripts, "mysub_unique")
        os.makedirs(sub)
        path = os.path.join(sub, "file.py")
        with open(path, "w") as f:
            f.write(GOOD_PLUGIN)
        self.modules.append({"name": "mysub_unique.file", "file": path, "sys_path": self.scripts})
        worker = self.start()
        hello = worker.next_event("hello")
        self.assertEqual(hello["modules"], [
            {"module": "mysub_unique.file", "file": path, "ok": True, "shadows": ""}])
        self.stop(worker)

    def test_class_without_run_does_not_override_run(self):
        self.script("mymod_unique", """from datakit_framework import DataKitFramework


class Lazy(DataKitFramework):
    name = "lazy"
""")
        worker = self.start()
        hello = worker.next_event("hello")
        self.assertIs(hello["plugins"][0]["overrides_run"], False)
        done = worker.run(0)
        self.assertFalse(done["ok"])
        self.assertTrue(done["error"].startswith("NotImplementedError"), done)
        self.assertFalse(done.get("hint"))
        self.stop(worker)

    def test_failed_import_makes_module_not_ok_and_other_errors_have_no_hint(self):
        self.script("broken_unique", "x = 1\nraise ValueError('no')\n")
        worker = self.start()
        hello = worker.next_event("hello")
        self.assertEqual(hello["modules"][0]["ok"], False)
        self.assertEqual(len(hello["errors"]), 1)
        self.assertEqual(hello["errors"][0]["error"], "ValueError: no")
        self.assertFalse(hello["errors"][0].get("hint"))
        # The traceback is the script's: no worker or importlib frames.
        tb = hello["errors"][0]["traceback"]
        self.assertIn("broken_unique.py\", line 2, in <module>", tb)
        self.assertNotIn("pythond_worker.py", tb)
        self.assertNotIn("<frozen", tb)
        self.stop(worker)

    def test_run_traceback_starts_at_the_plugins_frame(self):
        self.script("raiser_unique", """from datakit_framework import DataKitFramework


class Raiser(DataKitFramework):
    def run(self):
        raise KeyError("gone")
""")
        worker = self.start()
        worker.next_event("hello")
        done = worker.run(0)
        self.assertFalse(done["ok"])
        lines = done["traceback"].splitlines()
        self.assertEqual(lines[0], "Traceback (most recent call last):")
        self.assertIn("raiser_unique.py\", line 6, in run", lines[1])
        self.assertNotIn("pythond_worker.py", done["traceback"])
        self.stop(worker)


class TestFlagTest(WorkerTestCase):
    PRINTER = """import datakit_framework
from datakit_framework import DataKitFramework


class Printer(DataKitFramework):
    def run(self):
        print("route_all=%r" % getattr(datakit_framework, "_route_all_to_agent", None))
"""

    def flag_printed(self, **init):
        self.modules = []
        self.script("printer_unique", self.PRINTER)
        worker = self.start(**init)
        worker.next_event("hello")
        self.assertTrue(worker.run(0)["ok"])
        line = worker.output_line(lambda line: line.startswith("\x1e0\x1froute_all="))
        self.stop(worker)
        return line.split("=", 1)[1]

    def test_test_flag_routes_everything_to_the_agent(self):
        self.assertEqual(self.flag_printed(test=True), "True")

    def test_without_test_flag_the_sdk_default_stays(self):
        self.assertNotEqual(self.flag_printed(), "True")
        self.assertNotEqual(self.flag_printed(test=False), "True")


class HintTest(WorkerTestCase):
    def assert_common_hint(self, hint, module, python=None):
        python = python or sys.executable
        self.assertIn("module '%s' is not installed for the Python that runs this input" % module,
                      hint)
        self.assertIn("interpreter: cmd 'python3' = %s (Python " % python, hint)
        self.assertIn("sys.path: ", hint)
        self.assertIn(self.scripts, hint.split("sys.path: ", 1)[1])
        self.assertIn("fix: ", hint)

    def test_missing_module_at_import_explains_itself(self):
        path = self.script("needs_missing", "import os\n\nimport not_a_module_xyz\n")
        self.script("mymod_unique", GOOD_PLUGIN)
        worker = self.start()
        hello = worker.next_event("hello")
        self.assertEqual([m["ok"] for m in hello["modules"]], [False, True])
        self.assertEqual(len(hello["errors"]), 1)
        error = hello["errors"][0]
        self.assertEqual(error["error"], "ModuleNotFoundError: No module named 'not_a_module_xyz'")
        hint = error["hint"]
        self.assert_common_hint(hint, "not_a_module_xyz")
        self.assertIn("imported by: %s:3 `import not_a_module_xyz`" % path, hint)
        self.assertNotIn("pythond_worker.py", hint)
        self.assertNotIn("<frozen", hint)
        self.assertRegex(hint, r"not installed for any other Python found on this machine|"
                               r"no other Python found on this machine")
        self.assertRegex(hint, r"-m pip install not_a_module_xyz|-m venv /opt/pythond-venv")
        self.stop(worker)

    def test_import_chain_lists_user_frames_outermost_first(self):
        helper = self.script("helper_unique", "import json\nimport not_a_module_xyz\n")
        self.modules.pop()  # only imported by the other script
        main = self.script("uses_helper", "import helper_unique\n")
        worker = self.start()
        hint = worker.next_event("hello")["errors"][0]["hint"]
        self.assertIn("imported by: %s:1 `import helper_unique`\n"
                      "               %s:2 `import not_a_module_xyz`" % (main, helper), hint)
        self.stop(worker)

    def test_missing_module_in_run_explains_itself(self):
        path = self.script("imports_late", """from datakit_framework import DataKitFramework


class Late(DataKitFramework):
    def run(self):
        import not_a_module_xyz  # noqa
""")
        worker = self.start()
        hello = worker.next_event("hello")
        self.assertEqual(hello["errors"], [])
        done = worker.run(0)
        self.assertFalse(done["ok"])
        self.assert_common_hint(done["hint"], "not_a_module_xyz")
        self.assertIn("imported by: %s:6 `import not_a_module_xyz  # noqa`" % path, done["hint"])
        self.assertEqual(worker.run(0)["hint"], done["hint"])
        self.stop(worker)

    def test_module_not_found_as_cause_or_context_gets_a_hint(self):
        self.script("chained", """from datakit_framework import DataKitFramework


class Cause(DataKitFramework):
    def run(self):
        try:
            import not_a_module_xyz  # noqa
        except ImportError as e:
            raise RuntimeError("needs not_a_module_xyz") from e


class Context(DataKitFramework):
    def run(self):
        try:
            import not_a_module_xyz  # noqa
        except ImportError:
            raise RuntimeError("needs not_a_module_xyz")


class Plain(DataKitFramework):
    def run(self):
        raise RuntimeError("boom")
""")
        worker = self.start()
        plugins = {p["class"]: p["id"] for p in worker.next_event("hello")["plugins"]}
        for cls in ("Cause", "Context"):
            done = worker.run(plugins[cls])
            self.assertEqual(done["error"], "RuntimeError: needs not_a_module_xyz")
            self.assert_common_hint(done["hint"], "not_a_module_xyz")
        done = worker.run(plugins["Plain"])
        self.assertEqual(done["error"], "RuntimeError: boom")
        self.assertFalse(done.get("hint"))
        self.stop(worker)

    def test_missing_submodule_says_which_part_is_missing(self):
        self.script("sub_missing", "import json.not_a_sub_xyz\n")
        worker = self.start()
        hint = worker.next_event("hello")["errors"][0]["hint"]
        self.assertIn("module 'json.not_a_sub_xyz' cannot be imported", hint)
        self.assertIn("'json' is there (", hint)
        self.assertIn("has no module 'not_a_sub_xyz'", hint)
        self.assertIn("fix: check the name: the standard library of Python ", hint)
        self.assertNotIn("pip install", hint)
        self.stop(worker)

    def test_missing_submodule_of_a_local_package(self):
        package = os.path.join(self.scripts, "mypkg_unique")
        os.makedirs(package)
        open(os.path.join(package, "__init__.py"), "w").close()
        self.script("uses_pkg", "import mypkg_unique.nope_xyz\n")
        worker = self.start()
        hint = worker.next_event("hello")["errors"][0]["hint"]
        self.assertIn("module 'mypkg_unique.nope_xyz' cannot be imported by the Python that runs "
                      "this input: 'mypkg_unique' is there (%s) but has no module 'nope_xyz'"
                      % package, hint)
        self.assertIn("fix: check the name, or install a version of 'mypkg_unique' that has "
                      "'mypkg_unique.nope_xyz'", hint)
        self.assertIn("may hide the real one", hint)
        self.stop(worker)

    def test_module_installed_for_another_python_is_found(self):
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            self.skipTest("no %s" % SYSTEM_PYTHON)
        venv = os.path.join(self.tmp, "venv")
        made = subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", venv],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=DEADLINE)
        if made.returncode != 0:
            self.skipTest("%s cannot make a venv: %s" % (SYSTEM_PYTHON, made.stdout))
        venv_python = os.path.join(venv, "bin", "python")
        site = subprocess.run(
            [venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            stdout=subprocess.PIPE, universal_newlines=True, check=True,
            timeout=DEADLINE).stdout.strip()
        module_file = os.path.join(site, "pythond_only_in_venv.py")
        with open(module_file, "w") as f:
            f.write("VALUE = 1\n")
        path = self.script("uses_venv_module", "import pythond_only_in_venv\n")
        env = {"PATH": os.path.join(venv, "bin") + os.pathsep + os.environ.get("PATH", ""),
               "VIRTUAL_ENV": None}
        worker = self.start(python=SYSTEM_PYTHON, env=env)
        hint = worker.next_event("hello")["errors"][0]["hint"]
        self.assert_common_hint(hint, "pythond_only_in_venv", python=SYSTEM_PYTHON)
        self.assertIn("imported by: %s:1 `import pythond_only_in_venv`" % path, hint)
        self.assertRegex(hint, r"installed for another Python on this machine: %s3? \(Python "
                               r"[0-9.]+\): %s" % (re.escape(venv_python), re.escape(module_file)))
        self.assertRegex(hint, r'fix: set cmd = "%s3?" in ' % re.escape(venv_python))
        self.stop(worker)


def _write_executable(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


class CandidateTest(unittest.TestCase):
    """pythond_worker._candidate_interpreters on a fake file tree."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pythond-candidates-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.a = os.path.join(self.tmp, "a")
        self.b = os.path.join(self.tmp, "b")
        self.venv = os.path.join(self.tmp, "venv")
        for folder in (self.a, self.b, os.path.join(self.venv, "bin")):
            os.makedirs(folder)
        for name in ("python3", "python3.9", "python3.12", "python3.10", "python2",
                     "python3-config", "python3.12m"):
            _write_executable(os.path.join(self.a, name), "#!/bin/sh\n")
        with open(os.path.join(self.a, "python"), "w") as f:  # not executable
            f.write("")
        os.symlink(os.path.join(self.a, "python3"), os.path.join(self.b, "python3"))
        with open(os.path.join(self.venv, "pyvenv.cfg"), "w") as f:
            f.write("home = %s\n" % self.a)
        for name in ("python", "python3"):
            os.symlink(os.path.join(self.a, "python3"), os.path.join(self.venv, "bin", name))

    def candidates(self, path, virtual_env="", own="", limit=12):
        return pythond_worker._candidate_interpreters(
            os.pathsep.join(path), virtual_env, own, limit=limit, extra_folders=())

    def test_order_names_and_dedup(self):
        venv_bin = os.path.join(self.venv, "bin")
        self.assertEqual(self.candidates([venv_bin, self.a, self.b]), [
            os.path.join(venv_bin, "python3"),  # a venv of a/python3: its own site-packages
            os.path.join(self.a, "python3"),  # b/python3 resolves to it
            os.path.join(self.a, "python3.12"),
            os.path.join(self.a, "python3.10"),
            os.path.join(self.a, "python3.9"),
        ])

    def test_virtual_env_first_and_own_interpreter_skipped(self):
        self.assertEqual(
            self.candidates([self.b, self.a], virtual_env=self.venv,
                            own=os.path.join(self.a, "python3.12")),
            [os.path.join(self.venv, "bin", "python"), os.path.join(self.b, "python3"),
             os.path.join(self.a, "python3.10"), os.path.join(self.a, "python3.9")])

    def test_own_venv_skips_that_venv_only(self):
        own = os.path.join(self.venv, "bin", "python")
        self.assertEqual(self.candidates([os.path.join(self.venv, "bin"), self.a], own=own)[:1],
                         [os.path.join(self.a, "python3")])

    def test_limit(self):
        self.assertEqual(self.candidates([self.a], limit=2),
                         [os.path.join(self.a, "python3"), os.path.join(self.a, "python3.12")])

    def test_missing_folders_are_ignored(self):
        self.assertEqual(self.candidates([os.path.join(self.tmp, "nope"), ""]), [])


class ProbeTest(unittest.TestCase):
    """pythond_worker._probe_interpreters against fake interpreters."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pythond-probe-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def fake(self, name, body):
        path = os.path.join(self.tmp, name)
        _write_executable(path, "#!/bin/sh\n" + body)
        return path

    def test_answers_timeouts_and_failures(self):
        pid_file = os.path.join(self.tmp, "slow.pid")
        slow = self.fake("slow", "echo $$ > %s\nexec sleep 60\n" % pid_file)
        good = self.fake("good", 'exec "%s" "$@"\n' % sys.executable)
        broken = self.fake("broken", "echo 'no such python' >&2\nexit 3\n")
        garbage = self.fake("garbage", "echo hello\n")
        missing = os.path.join(self.tmp, "missing")
        started = time.monotonic()
        results = pythond_worker._probe_interpreters(
            [slow, good, broken, garbage, missing], "json", timeout=1.0, total=5.0)
        self.assertLess(time.monotonic() - started, 5.0)
        self.assertEqual([r["candidate"] for r in results],
                         [slow, good, broken, garbage, missing])
        self.assertIn("no answer within 1s", results[0]["error"])
        with open(pid_file) as f:
            pid = int(f.read())
        with self.assertRaises(ProcessLookupError):  # killed and reaped
            os.kill(pid, 0)
        self.assertEqual(results[1]["origin"], json.__spec__.origin)
        self.assertEqual(results[1]["executable"], sys.executable)
        self.assertEqual(results[2]["error"], "exit status 3: no such python")
        self.assertEqual(results[3]["error"], "exit status 0")
        self.assertIn("error", results[4])

    def test_not_found_and_dotted_names(self):
        good = self.fake("good", 'exec "%s" "$@"\n' % sys.executable)
        results = pythond_worker._probe_interpreters(
            [good], "not_a_module_xyz", timeout=DEADLINE, total=DEADLINE)
        self.assertIsNone(results[0]["origin"])
        self.assertNotIn("error", results[0])
        results = pythond_worker._probe_interpreters(
            [good], "json.decoder", timeout=DEADLINE, total=DEADLINE)
        self.assertTrue(results[0]["origin"].endswith(os.path.join("json", "decoder.py")))


class OtherPythonsCacheTest(unittest.TestCase):
    def test_each_module_name_is_probed_once(self):
        calls = []

        def fake_probe(candidates, name):
            calls.append(name)
            return [{"candidate": "x", "version": "3.9.0", "origin": None}]

        original = pythond_worker._probe_interpreters
        pythond_worker._probe_interpreters = fake_probe
        self.addCleanup(setattr, pythond_worker, "_probe_interpreters", original)
        self.addCleanup(pythond_worker._probe_cache.clear)
        first = pythond_worker._other_pythons("cache_test_a")
        self.assertEqual(pythond_worker._other_pythons("cache_test_a"), first)
        pythond_worker._other_pythons("cache_test_b")
        self.assertEqual(calls, ["cache_test_a", "cache_test_b"])


class FindModuleNotFoundTest(unittest.TestCase):
    def test_chain(self):
        find = pythond_worker._find_module_not_found
        missing = ModuleNotFoundError("No module named 'x'", name="x")
        self.assertIs(find(missing), missing)
        wrapped = RuntimeError("y")
        wrapped.__cause__ = ValueError("z")
        wrapped.__cause__.__context__ = missing
        self.assertIs(find(wrapped), missing)
        loop = RuntimeError("loop")
        loop.__context__ = loop
        self.assertIsNone(find(loop))
        self.assertIsNone(find(ImportError("cannot import name 'q'")))


if __name__ == "__main__":
    unittest.main()
