"""pythond's worker: runs the plugins of one [[inputs.pythond]] when the agent says so.

Started by the agent as ``<cmd> -u pythond_worker.py`` (``cmd`` is the input's Python), with
  stdin  -- agent -> worker protocol lines (JSON, one per line),
  fd 3   -- worker -> agent protocol lines,
  stdout/stderr -- the scripts' own output, which the agent logs line by line.
The protocol is specified in docs/WORKER_PROTOCOL.md. Standard library only; Python >= 3.8.

The worker never decides when a plugin runs: the agent sends ``run`` and the worker answers
``done`` with the outcome. Each run happens on its own thread, so a slow plugin does not hold
up the others; the agent never asks for a second run of a plugin whose run is still going.
"""

import importlib.util
import json
import math
import os
import platform
import queue
import sys
import threading
import time
import traceback

_events_lock = threading.Lock()
_events = None  # file object for fd 3


# Error texts sent to the agent are cut to this many characters (a protocol line is limited).
_MAX_TEXT = 64 * 1024
_MIN_INTERVAL = 0.1
_MAX_INTERVAL = 30 * 86400


def _send(message):
    # ASCII-only JSON: lone surrogates (undecodable file names in a traceback) cannot break it.
    data = json.dumps(message, ensure_ascii=True, default=repr, allow_nan=False) + "\n"
    with _events_lock:
        _events.write(data)
        _events.flush()


def _cut(text):
    # Lone surrogates (an undecodable file name in an error) are not valid Unicode: spell them.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= _MAX_TEXT:
        return text
    return text[:_MAX_TEXT // 2] + "\n... (%d characters cut) ...\n" % (len(text) - _MAX_TEXT) + \
        text[-_MAX_TEXT // 2:]


def _exception_summary(exc):
    name = type(exc).__name__
    try:
        text = str(exc)
    except BaseException:  # an exception whose __str__ raises
        text = "<unprintable %s>" % name
    return _cut("%s: %s" % (name, text) if text else name)


def _format_traceback():
    try:
        return _cut(traceback.format_exc())
    except BaseException:
        return "<traceback unavailable>"


def _module_key(name, path):
    """The sys.modules key a script is registered under.

    Its own name when nothing else answers to that name, so that sibling scripts can
    ``import helper`` and get the same module object; a private name when the name belongs
    to another module (``sqlite3.py``, ``json.py``, ``test.py`` vs the stdlib's ``test``), so a
    collector file never shadows a real module for the other scripts.
    """
    if "." not in name and name not in sys.modules:
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            found = None
        if found is None or (found.origin and os.path.realpath(found.origin) ==
                             os.path.realpath(path)):
            return name
    return "_pythond_script_." + name


def _load_module(spec):
    """Imports one script file from its path, whatever else is installed under its name.

    The seed's own example is ``test.py``; ``import test`` would find the standard library's
    ``test`` package, so modules are loaded from their file path, never by name lookup.
    """
    name, path = spec["name"], spec["file"]
    key = _module_key(name, path)
    module_spec = importlib.util.spec_from_file_location(key, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError("cannot load %s" % path)
    module = importlib.util.module_from_spec(module_spec)
    registered = key not in sys.modules
    if registered:
        sys.modules[key] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        if registered:
            sys.modules.pop(name, None)
        raise
    return module


def _plugin_name(cls, base):
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or name == getattr(base, "name", None):
        return cls.__name__
    return name


def _positive_seconds(cls, attr, default):
    """A class attribute that must be a positive number of seconds: (value, warning or None)."""
    value = getattr(cls, attr, None)
    if value is None:
        return default, None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value <= 0:
        return default, "%s.%s = %r is not a positive number of seconds; using %s" % (
            cls.__name__, attr, value, "the default" if default is None else repr(default))
    if not _MIN_INTERVAL <= value <= _MAX_INTERVAL:
        clamped = min(max(value, _MIN_INTERVAL), _MAX_INTERVAL)
        return clamped, "%s.%s = %r is out of range [%s, %s]; using %r" % (
            cls.__name__, attr, value, _MIN_INTERVAL, _MAX_INTERVAL, clamped)
    return value, None


# -- script output ---------------------------------------------------------------------------

_current = threading.local()  # .plugin_id while a plugin runs on this thread
_output_lock = threading.Lock()


class _TaggedStream(object):
    """sys.stdout / sys.stderr for plugin threads: each complete line a plugin writes is
    prefixed with "\x1e<plugin id>\x1f", so the agent logs it under the plugin's name even when
    plugins of one worker print at the same time. Partial lines wait (per thread) for their
    newline or the end of the run. Output from other threads, C code and child processes goes
    to the file descriptor unprefixed and is logged under the input's name."""

    def __init__(self, raw):
        self._raw = raw
        self._pending = threading.local()

    def write(self, text):
        plugin_id = getattr(_current, "plugin_id", None)
        if plugin_id is None or not isinstance(text, str):
            return self._raw.write(text)
        buffered = getattr(self._pending, "text", "") + text
        if "\n" not in buffered:
            self._pending.text = buffered
            return len(text)
        head, _, tail = buffered.rpartition("\n")
        self._pending.text = tail
        prefix = "\x1e%d\x1f" % plugin_id
        with _output_lock:
            self._raw.write(prefix + head.replace("\n", "\n" + prefix) + "\n")
            self._raw.flush()
        return len(text)

    def end_run(self):
        rest = getattr(self._pending, "text", "")
        if rest:
            self._pending.text = ""
            self.write(rest + "\n")

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        self._raw.flush()

    def __getattr__(self, name):  # fileno, buffer, encoding, isatty, ...
        return getattr(self._raw, name)


# -- the agent's API through the protocol pipe ------------------------------------------------

class _Transport(object):
    """What the SDK calls instead of HTTP inside a worker (datakit_framework._agent_transport):
    the request goes to the agent as a "write" message, the answer comes back as "ack"."""

    def __init__(self):
        self._lock = threading.Lock()
        self._seq = 0
        self._waiting = {}  # seq -> [threading.Event, status, text]
        self._closed = False

    def __call__(self, target, body, content_type, plugin_header, timeout):
        if isinstance(body, (bytes, bytearray)):
            body = bytes(body).decode("utf-8", "surrogateescape")
        slot = [threading.Event(), 0, ""]
        with self._lock:
            if self._closed:
                raise OSError("the agent closed the worker's pipe")
            self._seq += 1
            seq = self._seq
            self._waiting[seq] = slot
        try:
            _send({"t": "write", "seq": seq, "target": target, "ct": content_type,
                   "plugin": plugin_header, "body": body})
            if not slot[0].wait(timeout if timeout and timeout > 0 else None):
                raise OSError("no answer from the agent within %ss" % timeout)
        finally:
            with self._lock:
                self._waiting.pop(seq, None)
        if slot[1] == 0:
            raise OSError("the agent closed the worker's pipe")
        return slot[1], slot[2]

    def answer(self, message):
        with self._lock:
            slot = self._waiting.get(message.get("seq"))
        if slot is not None:
            slot[1] = int(message.get("status", 0))
            slot[2] = message.get("body", "")
            slot[0].set()

    def close(self):
        with self._lock:
            self._closed = True
            waiting = list(self._waiting.values())
        for slot in waiting:
            slot[0].set()


# -- threads that run plugins -----------------------------------------------------------------

class _Pool(object):
    """Reused threads: a run takes an idle thread or starts a new one, so runs never wait for
    each other and a busy worker does not pay a thread start per run."""

    def __init__(self):
        self._tasks = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, task):
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
        self._tasks.put(task)
        if start:
            threading.Thread(target=self._loop, name="pythond-run", daemon=True).start()

    def _loop(self):
        while True:
            task = self._tasks.get()
            try:
                task()
            except BaseException:  # a task reports its own errors; never lose the thread
                pass
            with self._lock:
                self._idle += 1


class Worker:
    def __init__(self, init):
        self.input = init.get("input", "")
        self.plugins = []  # (instance, info)
        self.errors = []
        self.modules = []  # {"module", "file", "ok"}
        # isolation = "process": only these [module, class] pairs become plugins here.
        only = init.get("only")
        self.only = None if only is None else {tuple(pair) for pair in only}
        self.stop_grace = float(init.get("stop_grace", 5))
        self.pool = _Pool()
        self.running = {}  # plugin id -> thread ident
        self.running_lock = threading.Lock()
        self.all_done = threading.Condition(self.running_lock)

        from datakit_framework import DataKitFramework  # noqa: E402 (after sys.path setup)
        self.base = DataKitFramework

        for spec in init.get("modules", []):
            if spec["sys_path"] not in sys.path:
                sys.path.append(spec["sys_path"])
        for spec in init.get("modules", []):
            self._load(spec)

    def _load(self, spec):
        try:
            module = _load_module(spec)
        except BaseException as exc:  # SyntaxError, SystemExit, anything a script raises
            self.errors.append({
                "module": spec["name"],
                "file": spec["file"],
                "error": _exception_summary(exc),
                "traceback": _format_traceback(),
            })
            return
        for obj in list(vars(module).values()):
            if not (isinstance(obj, type) and issubclass(obj, self.base) and obj is not self.base):
                continue
            if obj.__module__ != module.__name__:
                continue  # imported into the module, not defined there
            if self.only is not None and (spec["name"], obj.__name__) not in self.only:
                continue
            try:
                instance = obj()
            except BaseException as exc:
                self.errors.append({
                    "module": spec["name"],
                    "file": spec["file"],
                    "error": "%s(): %s" % (obj.__name__, _exception_summary(exc)),
                    "traceback": _format_traceback(),
                })
                continue
            warnings = []
            interval, warning = _positive_seconds(obj, "interval", 10)
            if warning:
                warnings.append(warning)
            timeout, warning = _positive_seconds(obj, "timeout", None)
            if warning:
                warnings.append(warning)
            info = {
                "id": len(self.plugins),
                "name": _plugin_name(obj, self.base),
                "class": obj.__name__,
                "module": spec["name"],
                "file": spec["file"],
                "interval": interval,
                "timeout": timeout,
                "warnings": warnings,
            }
            self.plugins.append((instance, info))

    def hello(self):
        _send({
            "t": "hello",
            "pid": os.getpid(),
            "python": platform.python_version(),
            "executable": sys.executable,
            "plugins": [info for _, info in self.plugins],
            "errors": self.errors,
        })

    def run(self, plugin_id, due_ns):
        if not 0 <= plugin_id < len(self.plugins):
            return
        self.pool.submit(lambda: self._run_one(plugin_id, due_ns))

    def _run_one(self, plugin_id, due_ns):
        started_ns = time.monotonic_ns()
        with self.running_lock:
            self.running[plugin_id] = threading.get_ident()
        instance, _ = self.plugins[plugin_id]
        result = {"t": "done", "id": plugin_id, "ok": True}
        if due_ns:
            result["lateness"] = (started_ns - due_ns) / 1e9
        _current.plugin_id = plugin_id
        try:
            instance.run()
        except BaseException as exc:  # SystemExit in a plugin fails the run, not the worker
            result["ok"] = False
            result["error"] = _exception_summary(exc)
            result["traceback"] = _format_traceback()
        finally:
            for stream in (sys.stdout, sys.stderr):
                if isinstance(stream, _TaggedStream):
                    try:
                        stream.end_run()
                    except BaseException:
                        pass
            _current.plugin_id = None
        result["duration"] = (time.monotonic_ns() - started_ns) / 1e9
        try:
            _send(result)
        except BaseException as exc:  # never leave the agent waiting for this run
            _send({"t": "done", "id": plugin_id, "ok": False, "duration": result["duration"],
                   "error": "pythond worker could not report the run: %s"
                            % _exception_summary(exc)})
        finally:
            with self.running_lock:
                self.running.pop(plugin_id, None)
                self.all_done.notify_all()

    def stack(self, plugin_id):
        """Where the run of plugin_id is now: the Python stack of its thread."""
        with self.running_lock:
            ident = self.running.get(plugin_id)
        frame = sys._current_frames().get(ident) if ident is not None else None
        if frame is None:
            text = "(the run has just ended)"
        else:
            try:
                frames = traceback.extract_stack(frame)
                # From the plugin's run() down: the worker's own frames are noise.
                for i, f in enumerate(frames):
                    if f.name == "_run_one" and f.filename == __file__:
                        frames = frames[i + 1:]
                        break
                text = _cut("".join(traceback.format_list(frames)))
            except BaseException:
                text = "<stack unavailable>"
        _send({"t": "stack", "id": plugin_id, "stack": text})

    def wait_runs(self, seconds):
        """At stop: lets running plugins finish, for at most `seconds`."""
        deadline = time.monotonic() + seconds
        with self.running_lock:
            while self.running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.all_done.wait(left)
        return True


def main():
    global _events
    try:
        _events = os.fdopen(3, "w", encoding="utf-8", buffering=1)
    except OSError:
        print("E! pythond_worker: fd 3 is not open; this program is started by pythond",
              file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)  # datakit_framework
    stdin = sys.stdin
    first = stdin.readline()
    if not first:
        return 0
    init = json.loads(first)
    sys.stdout = _TaggedStream(sys.stdout)
    sys.stderr = _TaggedStream(sys.stderr)
    import datakit_framework
    transport = _Transport()
    datakit_framework._agent_transport = transport
    worker = Worker(init)
    worker.hello()
    stopping = False
    for line in stdin:
        line = line.strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except ValueError:
            print("E! pythond_worker: bad message from agent: %r" % line[:200], file=sys.stderr)
            continue
        kind = message.get("t")
        if kind == "run" and not stopping:
            worker.run(int(message.get("id", -1)), int(message.get("due", 0)))
        elif kind == "ack":
            transport.answer(message)
        elif kind == "stack":
            worker.stack(int(message.get("id", -1)))
        elif kind == "stop" and not stopping:
            # Graceful stop: no new runs come; running ones get the grace period to finish
            # while this loop keeps delivering the agent's answers to their writes.
            stopping = True
            threading.Thread(target=_exit_when_idle, args=(worker, worker.stop_grace),
                             name="pythond-stop", daemon=True).start()
    # stdin closed: the agent is gone or gave up on us. Writes fail fast from now on.
    transport.close()
    _exit_when_idle(worker, 0.5)


def _exit_when_idle(worker, grace):
    worker.wait_runs(grace)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
