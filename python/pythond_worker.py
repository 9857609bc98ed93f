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


def _plugin_interval(cls):
    interval = getattr(cls, "interval", None)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or \
            not math.isfinite(interval) or interval <= 0:
        if interval is not None:
            print("W! pythond: %s.interval = %r is not a positive number; using 10"
                  % (cls.__name__, interval), file=sys.stderr)
        return 10
    if not _MIN_INTERVAL <= interval <= _MAX_INTERVAL:
        clamped = min(max(interval, _MIN_INTERVAL), _MAX_INTERVAL)
        print("W! pythond: %s.interval = %r is out of range; using %r"
              % (cls.__name__, interval, clamped), file=sys.stderr)
        return clamped
    return interval


class Worker:
    def __init__(self, init):
        self.input = init.get("input", "")
        self.plugins = []  # (instance, info)
        self.errors = []

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
            info = {
                "id": len(self.plugins),
                "name": _plugin_name(obj, self.base),
                "class": obj.__name__,
                "module": spec["name"],
                "file": spec["file"],
                "interval": _plugin_interval(obj),
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

    def run(self, plugin_id):
        if not 0 <= plugin_id < len(self.plugins):
            return
        thread = threading.Thread(target=self._run_one, args=(plugin_id,),
                                  name="plugin-%d" % plugin_id, daemon=True)
        thread.start()

    def _run_one(self, plugin_id):
        instance, _ = self.plugins[plugin_id]
        started = time.monotonic()
        result = {"t": "done", "id": plugin_id, "ok": True}
        try:
            instance.run()
        except BaseException as exc:  # SystemExit in a plugin fails the run, not the worker
            result["ok"] = False
            result["error"] = _exception_summary(exc)
            result["traceback"] = _format_traceback()
        result["duration"] = time.monotonic() - started
        try:
            _send(result)
        except BaseException as exc:  # never leave the agent waiting for this run
            _send({"t": "done", "id": plugin_id, "ok": False, "duration": result["duration"],
                   "error": "pythond worker could not report the run: %s"
                            % _exception_summary(exc)})


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
    worker = Worker(init)
    worker.hello()
    for line in stdin:
        line = line.strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except ValueError:
            print("E! pythond_worker: bad message from agent: %r" % line[:200], file=sys.stderr)
            continue
        if message.get("t") == "run":
            worker.run(int(message.get("id", -1)))
        elif message.get("t") == "stop":
            break
    # stdin closed: the agent is stopping or gone. Do not wait for running plugins.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
