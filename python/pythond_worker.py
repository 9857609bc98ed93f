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

import importlib
import importlib.util
import json
import math
import os
import platform
import queue
import re
import subprocess
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


def _worker_frame(frame):
    """A frame of the worker itself or of importlib's machinery: noise in a script's traceback."""
    return frame.filename == __file__ or frame.filename.startswith("<frozen importlib")


def _format_traceback():
    """The current exception's traceback, without the worker's and importlib's own frames (the
    script's frames are what its author needs; chained exceptions keep theirs)."""
    try:
        exc = sys.exc_info()[1]
        if exc is None:
            return ""
        te = traceback.TracebackException.from_exception(exc)
        kept = [f for f in te.stack if not _worker_frame(f)]
        if kept:
            te.stack = traceback.StackSummary.from_list(kept)
        return _cut("".join(te.format()))
    except BaseException:
        try:
            return _cut(traceback.format_exc())
        except BaseException:
            return "<traceback unavailable>"


def _location(spec_or_module):
    """Where a module comes from, for messages: its file, its package's folder, "built-in"."""
    spec = getattr(spec_or_module, "__spec__", spec_or_module)
    if spec is None:  # a module object without a spec (created by hand)
        return getattr(spec_or_module, "__file__", None) or "(no file)"
    origin = getattr(spec, "origin", None)
    locations = list(getattr(spec, "submodule_search_locations", None) or [])
    if locations:  # a package: its folder (a namespace package has no __init__.py)
        if origin and os.path.basename(origin).startswith("__init__."):
            return os.path.dirname(origin)
        if not origin or origin == "namespace":
            return locations[0]
    return origin or "(no file)"


def _shadowed_origin(name, path):
    """What ``import <first component of name>`` gives when it is not the script itself.

    The script at ``path`` is module ``name`` ("test", or "sub.file" for sub/file.py). Returns
    the location (see _location) of the module or package that answers to the script's
    top-level name -- a standard-library or installed module, a module already imported, or a
    same-named script of another folder earlier on sys.path -- or "" when that is the script
    (or its own folder) or nothing. Called before the script is loaded: finding a top-level
    name imports nothing.
    """
    try:
        return _shadowed_origin_or_raise(name, path)
    except Exception:  # ImportError, ValueError, a broken finder on sys.meta_path
        return ""


def _shadowed_origin_or_raise(name, path):
    top = name.partition(".")[0]
    module = sys.modules.get(top)
    found = module if module is not None else importlib.util.find_spec(top)
    if found is None:
        return ""
    where = _location(found)
    depth = name.count(".")
    own = os.path.realpath(path)
    for _ in range(depth):
        own = os.path.dirname(own)  # sub/file.py -> sub
    if not os.path.isabs(where):
        return where  # "built-in", "frozen"
    real = os.path.realpath(where)
    if depth == 0:
        if real == own:
            return ""
    elif real == own or real.startswith(own + os.sep):
        return ""
    return where


def _module_key(name, shadowed):
    """The sys.modules key a script is registered under.

    Its own name when nothing else answers to that name (``shadowed`` is "", see
    _shadowed_origin), so that sibling scripts can ``import helper`` and get the same module
    object; a private name when the name belongs to another module (``sqlite3.py``,
    ``json.py``, ``test.py`` vs the stdlib's ``test``), so a collector file never shadows a real
    module for the other scripts.
    """
    if "." not in name and name not in sys.modules and not shadowed:
        return name
    return "_pythond_script_." + name


def _load_module(spec, shadowed):
    """Imports one script file from its path, whatever else is installed under its name.

    The seed's own example is ``test.py``; ``import test`` would find the standard library's
    ``test`` package, so modules are loaded from their file path, never by name lookup.
    """
    name, path = spec["name"], spec["file"]
    key = _module_key(name, shadowed)
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
            sys.modules.pop(key, None)
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


# -- hints for modules that are not installed ---------------------------------------------------
#
# A collector that fails with ModuleNotFoundError almost always runs under another Python than
# the one its author installed the package for. The hint says which Python runs the input,
# where the import is, what that Python searches, and whether another Python on this machine
# has the module -- so the fix (another `cmd`, or an install) needs nobody's help.

# Import names whose pip package is named otherwise (the common ones).
_PIP_NAMES = {
    "yaml": "PyYAML", "cv2": "opencv-python", "PIL": "Pillow", "sklearn": "scikit-learn",
    "bs4": "beautifulsoup4", "dateutil": "python-dateutil", "MySQLdb": "mysqlclient",
    "psycopg2": "psycopg2-binary", "Crypto": "pycryptodome", "OpenSSL": "pyOpenSSL",
    "jwt": "PyJWT", "serial": "pyserial", "dns": "dnspython", "kafka": "kafka-python",
    "zmq": "pyzmq", "attr": "attrs", "magic": "python-magic", "ldap": "python-ldap",
    "snap7": "python-snap7", "docx": "python-docx",
}

_MAX_CANDIDATES = 12
_PROBE_TIMEOUT = 3.0  # seconds for one interpreter to answer
_PROBE_TOTAL = 8.0  # seconds for all of them (they run in parallel)
_OLDEST_USABLE = (3, 8)  # the worker's own minimum

# Runs in the other interpreter as `<exe> -c _PROBE_CODE <module name>`, in the worker's
# environment and working directory, without -I/-E/-s: it sees what that interpreter would see
# as the input's cmd (PYTHONPATH, user site-packages, .pth files). The current directory, which
# -c puts first on sys.path, is removed: a worker's sys.path starts with its own folder. Finding
# a top-level name imports nothing; for "a.b" the package "a" is imported. Written to run on
# any Python, 2.7 included, so that an old interpreter still reports its version.
_PROBE_CODE = r"""
import json, sys
r = {"version": "%d.%d.%d" % tuple(sys.version_info[:3]), "executable": sys.executable,
     "prefix": sys.prefix, "origin": None}
try:
    if sys.path and sys.path[0] == "":
        del sys.path[0]
    import importlib.util
    name = sys.argv[1]
    top = name.split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is not None and top != name:
        spec = importlib.util.find_spec(name)
    if spec is not None:
        locs = list(spec.submodule_search_locations or [])
        origin = spec.origin if spec.origin not in (None, "namespace") else None
        r["origin"] = origin or (locs[0] if locs else None) or "(no file)"
except BaseException as e:
    r["error"] = "%s: %s" % (type(e).__name__, e)
sys.stdout.write(json.dumps(r) + "\n")
"""

_PYTHON_NAME = re.compile(r"python3?\Z")
_VERSIONED_PYTHON_NAME = re.compile(r"python3\.(\d+)\Z")

_probe_lock = threading.Lock()  # guards _probe_cache; held while probing, so one probe at a time
_probe_cache = {}  # module name -> (candidates, results) for the worker's lifetime


def _find_module_not_found(exc):
    """The ModuleNotFoundError that exc is, or that caused it (__cause__, __context__), or None."""
    seen = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ModuleNotFoundError):
            return current
        pending.append(getattr(current, "__cause__", None))
        pending.append(getattr(current, "__context__", None))
    return None


def _missing_name(error):
    name = getattr(error, "name", None)
    if isinstance(name, str) and name:
        return name
    match = re.search(r"No module named '([^']+)'", str(error))
    return match.group(1) if match else ""


def _venv_root(executable):
    """The venv folder holding `executable` (bin/python with pyvenv.cfg beside bin/), or ""."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(executable)))
    return root if os.path.isfile(os.path.join(root, "pyvenv.cfg")) else ""


def _interpreter_key(executable):
    # A venv's python is a symlink to the system one but has its own site-packages: venvs are
    # told apart by their folder, other interpreters by what their path resolves to.
    root = _venv_root(executable)
    return ("venv", os.path.realpath(root)) if root else ("exe", os.path.realpath(executable))


def _candidate_interpreters(path_env, virtual_env, own_executable, limit=_MAX_CANDIDATES,
                            extra_folders=("/usr/bin", "/usr/local/bin")):
    """Other Pythons worth asking about a module, most likely first, at most `limit`.

    `$VIRTUAL_ENV/bin/python`, then `python3` and `python` in each folder of `path_env` (a
    PATH value) and `extra_folders`, then `python3.N` (newest first) in the same folders, so
    that a folder full of versioned names (pyenv's shims) does not crowd out the others. The
    interpreter running this worker and duplicates (same venv, or same file once symlinks are
    resolved) are left out.
    """
    folders = [d for d in (path_env or "").split(os.pathsep) if d] + list(extra_folders)
    plain, versioned = [], []
    seen_folders = set()
    for folder in folders:
        real = os.path.realpath(folder)
        if real in seen_folders:
            continue
        seen_folders.add(real)
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        plain += [os.path.join(folder, n) for n in ("python3", "python") if n in entries]
        numbered = [(int(m.group(1)), n) for n in entries
                    for m in [_VERSIONED_PYTHON_NAME.match(n)] if m]
        versioned += [os.path.join(folder, n) for _, n in sorted(numbered, reverse=True)]
    ordered = [os.path.join(virtual_env, "bin", "python")] if virtual_env else []
    ordered += plain + versioned
    seen = set()
    if own_executable:
        seen.add(_interpreter_key(own_executable))
    chosen = []
    for path in ordered:
        if len(chosen) >= limit:
            break
        try:
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                continue
            key = _interpreter_key(path)
        except (OSError, ValueError):
            continue
        if key in seen:
            continue
        seen.add(key)
        chosen.append(path)
    return chosen


def _kill_group(process):
    try:
        os.killpg(process.pid, 9)
    except OSError:
        pass


def _probe_interpreters(candidates, name, timeout=_PROBE_TIMEOUT, total=_PROBE_TOTAL):
    """Asks each candidate, in parallel, for its version and where `name` is.

    One dict per candidate, in order: {"candidate", "version", "executable", "prefix",
    "origin" (None: not found)} or {"candidate", "error"} when it could not be started, did not
    answer within `timeout` seconds (or `total` for all) and was killed, or answered nonsense.
    Never raises.
    """
    started = []
    results = {}
    for exe in candidates:
        try:
            process = subprocess.Popen(
                [exe, "-c", _PROBE_CODE, name], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
                start_new_session=True)  # its own group: a timeout kills its children too
            started.append((exe, process, time.monotonic()))
        except BaseException as exc:  # not executable, ENOEXEC, out of memory
            results[exe] = {"candidate": exe, "error": _exception_summary(exc)}
    end = time.monotonic() + total
    for exe, process, began in started:
        answer = {"candidate": exe}
        try:
            left = max(min(began + timeout, end) - time.monotonic(), 0.01)
            try:
                out, err = process.communicate(timeout=left)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                answer["error"] = "no answer within %gs" % timeout
                try:
                    process.communicate(timeout=1)
                except BaseException:
                    pass
                out = err = b""
            if "error" not in answer:
                text = out.decode("utf-8", "replace").strip().splitlines()
                try:
                    parsed = json.loads(text[-1]) if text else None
                except ValueError:
                    parsed = None
                if isinstance(parsed, dict) and isinstance(parsed.get("version"), str):
                    answer.update(parsed)
                else:
                    why = err.decode("utf-8", "replace").strip().splitlines()
                    answer["error"] = "exit status %s%s" % (
                        process.returncode, (": " + why[0][:200]) if why else "")
        except BaseException as exc:
            _kill_group(process)
            answer["error"] = _exception_summary(exc)
        finally:
            try:
                process.wait(timeout=1)
            except BaseException:
                pass
        results[exe] = answer
    return [results[exe] for exe in candidates if exe in results]


def _other_pythons(name):
    """(candidates, probe results) for module `name`, computed once per worker."""
    with _probe_lock:
        if name not in _probe_cache:
            candidates = _candidate_interpreters(
                os.environ.get("PATH", os.defpath), os.environ.get("VIRTUAL_ENV", ""),
                sys.executable)
            _probe_cache[name] = (candidates, _probe_interpreters(candidates, name))
        return _probe_cache[name]


def _version_tuple(text):
    try:
        return tuple(int(part) for part in text.split(".")[:2])
    except (AttributeError, ValueError):
        return (0, 0)


def _import_chain(tb):
    """The user frames of a traceback, outermost first: (file, line, source text)."""
    worker = os.path.realpath(__file__)
    importlib_dir = os.path.dirname(os.path.realpath(importlib.__file__)) + os.sep
    chain = []
    for frame in traceback.extract_tb(tb):
        filename = frame.filename or ""
        if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
            continue
        real = os.path.realpath(filename)
        if real == worker or real.startswith(importlib_dir):
            continue
        chain.append((filename, frame.lineno, (frame.line or "").strip()))
    return chain


def _present_parent(name):
    """For a dotted name: the deepest parent that is importable, as (name, location, is_package),
    or None. Looks at sys.modules (a failed `import a.b` has imported `a`) and finds a
    top-level name without importing it."""
    parts = name.split(".")
    found = None
    for i in range(1, len(parts)):
        prefix = ".".join(parts[:i])
        module = sys.modules.get(prefix)
        try:
            if module is not None:
                found = (prefix, _location(module), hasattr(module, "__path__"))
                continue
            if i > 1:
                break
            spec = importlib.util.find_spec(prefix)
        except Exception:
            break
        if spec is None:
            break
        found = (prefix, _location(spec), bool(spec.submodule_search_locations))
    return found


def _is_standard_library(location):
    try:
        import sysconfig
        stdlib = os.path.realpath(sysconfig.get_path("stdlib")) + os.sep
        real = os.path.realpath(location) + os.sep
        return real.startswith(stdlib) and "-packages" + os.sep not in real[len(stdlib):]
    except Exception:
        return False


def _install_advice(pip_name, import_name):
    """How to install `pip_name` for the Python running this worker: lines of text, the first
    one to follow "fix: " or "or "."""
    exe = sys.executable or "python3"
    in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    try:
        import sysconfig
        managed = os.path.isfile(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
        has_pip = importlib.util.find_spec("pip") is not None
        has_ensurepip = importlib.util.find_spec("ensurepip") is not None
    except Exception:
        managed, has_pip, has_ensurepip = False, False, True
    venv = ("%s -m venv /opt/pythond-venv && /opt/pythond-venv/bin/pip install %s, "
            "then set cmd = \"/opt/pythond-venv/bin/python\"" % (exe, pip_name))
    if in_venv or (has_pip and not managed):
        return ["install it for %s: %s -m pip install %s" % (exe, exe, pip_name),
                "or in a new venv: " + venv]
    lines = ["install it in a venv made from %s: %s" % (exe, venv)]
    if managed:
        lines.append("(pip does not install into %s itself: the system manages its packages "
                     "(PEP 668); the distribution may package it too, e.g. apt-get install "
                     "python3-%s)" % (exe, import_name.lower()))
    elif not has_pip:
        lines.append("(%s has no pip)" % exe)
    if not has_ensurepip:
        lines.append("(if venv fails on Debian/Ubuntu: apt-get install python3-venv)")
    return lines


def _module_hint(exc, cmd="", input_name=""):
    """A multi-line explanation when exc is (or was caused by) ModuleNotFoundError, else "".

    Runs the other Pythons of the machine (at most a few seconds, once per module name); never
    raises.
    """
    try:
        error = _find_module_not_found(exc)
        if error is None:
            return ""
        name = _missing_name(error)
        if not name:
            return ""
        return _cut(_compose_hint(error, name, cmd, input_name))
    except BaseException as failure:  # a hint must never cost the error report
        return "(pythond could not compose a hint: %s)" % _exception_summary(failure)


def _interpreter_identity(executable, prefix):
    return (os.path.realpath(executable or ""), prefix or "")


def _compose_hint(error, name, cmd, input_name):
    lines = []
    parent = _present_parent(name) if "." in name else None
    if parent is not None:
        prefix, where, is_package = parent
        rest = name[len(prefix) + 1:].split(".")[0]
        what = ("has no module '%s'" % rest) if is_package else \
            ("is a module, not a package, so it has no submodule '%s'" % rest)
        lines.append("module '%s' cannot be imported by the Python that runs this input: "
                     "'%s' is there (%s) but %s:" % (name, prefix, where, what))
        probe_name = name
    else:
        lines.append("module '%s' is not installed for the Python that runs this input:" % name)
        probe_name = name.partition(".")[0]
    version = platform.python_version()
    if cmd and cmd != sys.executable:
        lines.append("  interpreter: cmd '%s' = %s (Python %s)" % (cmd, sys.executable, version))
    else:
        lines.append("  interpreter: %s (Python %s)" % (sys.executable, version))
    chain = _import_chain(error.__traceback__)
    for i, (filename, lineno, text) in enumerate(chain):
        lines.append("%s%s:%s%s" % ("  imported by: " if i == 0 else " " * 15, filename, lineno,
                                    (" `%s`" % text) if text else ""))
    lines.append("  sys.path: " + ", ".join(p or "''" for p in sys.path))

    # Other Pythons that have it; several candidates may be one interpreter (pyenv's shims).
    _, results = _other_pythons(probe_name)
    seen = {_interpreter_identity(sys.executable, sys.prefix)}
    usable, old = [], []
    for result in results:
        if not result.get("origin"):
            continue
        exe = result.get("executable") or result["candidate"]
        identity = _interpreter_identity(exe, result.get("prefix"))
        if identity in seen:
            continue
        seen.add(identity)
        is_usable = _version_tuple(result.get("version")) >= _OLDEST_USABLE
        via = "" if exe == result["candidate"] else ", run as %s" % result["candidate"]
        line = "  installed for another Python on this machine: %s (Python %s%s): %s" % (
            exe, result["version"], via, result["origin"])
        if is_usable:
            usable.append((exe, line))
        else:
            old.append((exe, line + " -- too old for pythond, which needs Python >= %d.%d"
                        % _OLDEST_USABLE))
    lines += [line for _, line in usable + old]
    if not usable and not old:
        looked = ["%s (%s)" % (r["candidate"], "Python " + r["version"] if "version" in r
                               else r.get("error", "?")) for r in results]
        if looked:
            lines.append("  not installed for any other Python found on this machine "
                         "(looked at: %s)" % ", ".join(looked))
        else:
            lines.append("  no other Python found on this machine (looked for python, python3 "
                         "and python3.N in PATH, /usr/bin and /usr/local/bin)")

    top = name.partition(".")[0]
    pip_name = _PIP_NAMES.get(top, top)
    table = "the input's [[inputs.pythond]] table" + (
        " (name = '%s')" % input_name if input_name else "")
    fixes = []
    if usable:
        fixes.append("set cmd = \"%s\" in %s," % (usable[0][0], table))
    if parent is not None and _is_standard_library(parent[1]):
        fixes.append("check the name: the standard library of Python %s has no '%s'"
                     % (version, name))
    else:
        advice = _install_advice(pip_name, top)
        if parent is not None:
            advice[0] = advice[0].replace(" %s" % pip_name, " --upgrade %s" % pip_name)
            fixes.append("check the name, or install a version of '%s' that has '%s':"
                         % (pip_name, name))
            fixes.append("  " + advice[0])
        else:
            fixes.append(advice[0] if not fixes else "or " + advice[0])
        fixes += advice[1:]
        if pip_name != top:
            fixes.append("(module '%s' comes from the pip package '%s')" % (top, pip_name))
        if parent is not None and not _is_site_package(parent[1]):
            fixes.append("(the '%s' found is not an installed package: a file or folder of "
                         "yours named '%s' may hide the real one)" % (parent[0], parent[0]))
    lines.append("  fix: " + fixes[0])
    lines += ["       " + line for line in fixes[1:]]
    return "\n".join(lines)


def _is_site_package(location):
    real = os.path.realpath(location)
    return os.sep + "site-packages" + os.sep in real or os.sep + "dist-packages" + os.sep in real


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
        self.cmd = init.get("cmd") or ""  # the input's cmd as configured, for hints
        self.plugins = []  # (instance, info)
        self.errors = []
        self.modules = []  # {"module", "file", "ok", "shadows"}, one per init module, in order
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

    def _error(self, spec, exc, prefix=""):
        """An entry of hello's errors for exc, which is being handled."""
        entry = {
            "module": spec["name"],
            "file": spec["file"],
            "error": prefix + _exception_summary(exc),
            "traceback": _format_traceback(),
        }
        hint = _module_hint(exc, self.cmd, self.input)
        if hint:
            entry["hint"] = hint
        return entry

    def _load(self, spec):
        shadowed = _shadowed_origin(spec["name"], spec["file"])
        entry = {"module": spec["name"], "file": spec["file"], "ok": False, "shadows": shadowed}
        self.modules.append(entry)
        try:
            module = _load_module(spec, shadowed)
        except BaseException as exc:  # SyntaxError, SystemExit, anything a script raises
            self.errors.append(self._error(spec, exc))
            return
        entry["ok"] = True
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
                self.errors.append(self._error(spec, exc, "%s(): " % obj.__name__))
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
                # False: run() is the base class's, which raises NotImplementedError.
                "overrides_run": getattr(obj, "run", None) is not getattr(self.base, "run"),
            }
            self.plugins.append((instance, info))

    def hello(self):
        _send({
            "t": "hello",
            "pid": os.getpid(),
            "python": platform.python_version(),
            "executable": sys.executable,
            "sys_path": list(sys.path),
            "modules": self.modules,
            "plugins": [info for _, info in self.plugins],
            "errors": self.errors,
        })

    def run(self, plugin_id, due_ns, token=""):
        if not 0 <= plugin_id < len(self.plugins):
            return
        self.pool.submit(lambda: self._run_one(plugin_id, due_ns, token))

    def _run_one(self, plugin_id, due_ns, token):
        started_ns = time.monotonic_ns()
        with self.running_lock:
            self.running[plugin_id] = threading.get_ident()
        instance, _ = self.plugins[plugin_id]
        # `run`: the agent's token for this run, echoed so that it knows the answer is ours.
        result = {"t": "done", "id": plugin_id, "ok": True, "run": token}
        if due_ns:
            result["lateness"] = (started_ns - due_ns) / 1e9
        _current.plugin_id = plugin_id
        failure = None
        try:
            instance.run()
        except BaseException as exc:  # SystemExit in a plugin fails the run, not the worker
            failure = exc
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
        if failure is not None:
            # After the duration: asking the other Pythons takes up to a few seconds, once.
            hint = _module_hint(failure, self.cmd, self.input)
            if hint:
                result["hint"] = hint
            failure = None  # no cycle through the traceback's frames
        try:
            _send(result)
        except BaseException as exc:  # never leave the agent waiting for this run
            _send({"t": "done", "id": plugin_id, "ok": False, "duration": result["duration"],
                   "run": token, "error": "pythond worker could not report the run: %s"
                                          % _exception_summary(exc)})
        finally:
            with self.running_lock:
                self.running.pop(plugin_id, None)
                self.all_done.notify_all()

    def stack(self, plugin_id, token=""):
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
        _send({"t": "stack", "id": plugin_id, "stack": text, "run": token})

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


def _restore_open_files_limit():
    """The agent raised its own soft RLIMIT_NOFILE; scripts get the limit it was started with."""
    soft = os.environ.pop("PYTHOND_NOFILE_SOFT", "")
    if not soft.isdigit():
        return
    try:
        import resource
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(int(soft), hard), hard))
    except (ImportError, OSError, ValueError):
        pass


def main():
    global _events
    _restore_open_files_limit()
    try:
        _events = os.fdopen(3, "w", encoding="utf-8", buffering=1)
    except OSError:
        print("E! pythond_worker: fd 3 is not open; this program is started by pythond",
              file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    if not sys.path or sys.path[0] != here:
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
    if init.get("test") is True:  # `pythond test`: the SDK sends everything to the agent
        datakit_framework._route_all_to_agent = True
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
            worker.run(int(message.get("id", -1)), int(message.get("due", 0)),
                       str(message.get("run", "")))
        elif kind == "ack":
            transport.answer(message)
        elif kind == "stack":
            worker.stack(int(message.get("id", -1)), str(message.get("run", "")))
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
