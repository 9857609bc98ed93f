# encoding: utf-8
"""The pythond Python SDK: the ``DataKitFramework`` base class for collector scripts.

A collector script subclasses :class:`DataKitFramework`, sets ``name`` and
``interval`` (seconds between runs) and overrides :meth:`DataKitFramework.run`,
which reports data with :meth:`~DataKitFramework.report` or one of the
``feed_*`` helpers::

    from datakit_framework import DataKitFramework

    class Demo(DataKitFramework):
        name = 'Demo'
        interval = 10

        def run(self):
            return self.feed_metric(measurement='demo',
                                    tags={'host': 'web01'},
                                    fields={'requests': 12, 'load': 0.5})

The API is the one of GuanceCloud DataKit's ``pythond`` input (same names,
argument order and defaults), so scripts written for DataKit run unchanged.
Differences, all of them on the safe side:

* Data is sent as InfluxDB line protocol built here, so value types survive:
  ``123`` arrives as an integer, ``3.4`` as a float, ``True`` as a boolean.
* ``tags=None`` is accepted everywhere; the caller's dicts are never modified.
* Bad data (a missing argument, NaN, an integer too large for 64 bits, a
  newline in a tag) raises ``ValueError`` naming what is wrong, before anything
  is sent.
* A refused write or an unreachable agent never raises: it is printed to
  stderr, written to the framework log, and recorded in
  ``self.last_report_error`` / ``self.report_errors``.

Where data goes: the ``ip``/``port`` given to ``__init__``; otherwise the
address in the environment variable ``PYTHOND_HTTP_ADDR`` (``host:port``, set
by the pythond agent for the scripts it runs); otherwise ``127.0.0.1:9529``,
DataKit's default.

Testing a script needs no agent and no network: ``datakit_framework.testing``
(defined in this file) runs a plugin and captures what it would send::

    from datakit_framework.testing import run_plugin

    cap = run_plugin(Demo)
    cap.assert_metric('demo', tags={'host': 'web01'}, fields={'requests': 12})

Only the Python standard library is used (Python 3.8 or newer).
"""

import contextlib
import datetime
import decimal
import http.client
import ipaddress
import json
import logging
import logging.handlers
import math
import numbers
import os
import re
import sys
import threading
import types
import urllib.error
import urllib.parse
import urllib.request
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional,
                    Tuple)

__all__ = ["DataKitFramework", "framework_log_path", "to_line_protocol"]
__version__ = "1.0.0"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9529
DEFAULT_TIMEOUT = 10.0

# report() keys, in the order DataKit sends them, and the API path of each.
CATEGORIES = (
    ("M", "metric"),
    ("L", "logging"),
    ("R", "rum"),
    ("O", "object"),
    ("CO", "custom_object"),
    ("E", "keyevent"),
)
# report() keys that become query parameters, in this order.
QUERY_PARAMS = ("input", "precision", "ignore_global_tags", "version")

_KNOWN_REPORT_KEYS = frozenset(k for k, _ in CATEGORIES) | frozenset(QUERY_PARAMS)

_INT64_MIN = -(2 ** 63)
_INT64_MAX = 2 ** 63 - 1
_UINT64_MAX = 2 ** 64 - 1

# Nanoseconds per unit of each DataKit `precision` value.
_PRECISION_NS = {
    "n": 1, "ns": 1,
    "u": 1000, "us": 1000,
    "ms": 1000000,
    "s": 1000000000,
    "m": 60 * 1000000000,
    "h": 3600 * 1000000000,
}

_LOG_MAX_BYTES = 4 * 1024 * 1024
_LOG_BACKUPS = 5
_LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"

# ---------------------------------------------------------------------------
# Line protocol encoding
# ---------------------------------------------------------------------------

_MEASUREMENT_SPECIALS = frozenset(", ")
_KEY_SPECIALS = frozenset(",= ")


# Tokens that need no escaping are the rule: one regex search (C speed) tells.
_PLAIN_RE = {
    _MEASUREMENT_SPECIALS: re.compile(r"[, \\\r\n]"),
    _KEY_SPECIALS: re.compile(r"[,= \\\r\n]"),
}
# Escaped tag keys/values and field keys repeat from report to report: remembered (bounded).
_TOKEN_CACHE = {}  # type: Dict[Tuple[str, frozenset], str]
_TOKEN_CACHE_MAX = 8192
_TOKEN_CACHE_MAX_LEN = 256


def _escape_token(text: str, specials: frozenset, what: Optional[str],
                  tag_key: str = "") -> str:
    """Escapes a measurement, tag key/value or field key.

    Characters in ``specials`` get a backslash. A literal backslash is doubled
    only where it would otherwise be read as an escape (before a special
    character, another backslash or the end of the token), so ordinary
    Windows paths pass unchanged.
    """
    if _PLAIN_RE[specials].search(text) is None:
        return text
    if what is None:
        what = 'value of tag "%s"' % tag_key
    if len(text) <= _TOKEN_CACHE_MAX_LEN:
        key = (text, specials)
        cached = _TOKEN_CACHE.get(key)
        if cached is None:
            cached = _escape_token_slow(text, specials, what)
            if len(_TOKEN_CACHE) >= _TOKEN_CACHE_MAX:
                _TOKEN_CACHE.clear()
            _TOKEN_CACHE[key] = cached
        return cached
    return _escape_token_slow(text, specials, what)


def _escape_token_slow(text: str, specials: frozenset, what: str) -> str:
    if "\n" in text or "\r" in text:
        raise ValueError("%s %r contains a newline, which line protocol cannot carry"
                         % (what, text))
    out = []
    last = len(text) - 1
    for i, c in enumerate(text):
        if c in specials:
            out.append("\\")
            out.append(c)
        elif c == "\\":
            nxt = text[i + 1] if i < last else None
            if nxt is None or nxt in specials or nxt == "\\":
                out.append("\\\\")
            else:
                out.append(c)
        else:
            out.append(c)
    return "".join(out)


def _quote_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _encode_field_value(value: Any, key: str, measurement: str) -> Optional[str]:
    """Returns the line protocol form of one field value, None to omit it."""
    kind = type(value)  # exact built-in types first: no ABC checks on the common path
    if kind is float:
        if value - value == 0.0:  # finite (inf - inf and nan - nan are nan)
            return repr(value)
    elif kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return "%di" % value
    elif kind is str:
        if '"' not in value and "\\" not in value:
            return '"' + value + '"'
        return _quote_string(value)
    elif kind is bool:
        return "true" if value else "false"
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        number = int(value)
        if _INT64_MIN <= number <= _INT64_MAX:
            return "%di" % number
        if 0 <= number <= _UINT64_MAX:
            return "%du" % number
        raise ValueError('field "%s" of measurement "%s": integer %d does not fit in 64 bits'
                         % (key, measurement, number))
    if isinstance(value, (numbers.Real, decimal.Decimal)):
        number = float(value)  # Decimal (e.g. from a database driver) becomes a float
        if not math.isfinite(number):
            raise ValueError('field "%s" of measurement "%s": %r is not a finite number'
                             % (key, measurement, number))
        return repr(number)
    if isinstance(value, str):
        return _quote_string(value)
    if isinstance(value, (bytes, bytearray)):
        return _quote_string(bytes(value).decode("utf-8", errors="replace"))
    if isinstance(value, (list, tuple, dict)):
        try:
            return _quote_string(json.dumps(value))
        except (TypeError, ValueError) as exc:
            raise ValueError('field "%s" of measurement "%s": cannot encode as JSON: %s'
                             % (key, measurement, exc)) from None
    raise ValueError('field "%s" of measurement "%s": unsupported value type %s'
                     % (key, measurement, type(value).__name__))


def _seconds_and_fraction_to_units(value: float, units_per_second: int) -> int:
    fraction, whole = math.modf(value)
    return int(whole) * units_per_second + int(round(fraction * units_per_second))


def _encode_time(value: Any, precision: Optional[str], measurement: str) -> Optional[str]:
    """Returns the timestamp to write, None for none (the receiver stamps it)."""
    if value is None:
        return None
    if type(value) is int:
        return str(value)
    if isinstance(value, bool):
        raise ValueError('time of measurement "%s": a bool is not a timestamp' % measurement)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.astimezone()  # naive: local time, as datetime.timestamp()
        delta = value - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        nanos = ((delta.days * 86400 + delta.seconds) * 1000000000
                 + delta.microseconds * 1000)
        if precision:
            unit = _PRECISION_NS.get(precision)
            if unit is None:
                raise ValueError('time of measurement "%s": unknown precision %r'
                                 % (measurement, precision))
            return str(nanos // unit)
        return str(nanos)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError('time of measurement "%s": %r is not a finite number'
                             % (measurement, number))
        if precision:
            return str(int(number))
        # No precision: detect the unit from the magnitude (as the agent and
        # DataKit do for integers) and send nanoseconds.
        magnitude = abs(number)
        if magnitude < 1e10:
            return str(_seconds_and_fraction_to_units(number, 1000000000))
        if magnitude < 1e13:
            return str(_seconds_and_fraction_to_units(number / 1e3, 1000000000))
        if magnitude < 1e16:
            return str(_seconds_and_fraction_to_units(number / 1e6, 1000000000))
        return str(int(number))
    raise ValueError('time of measurement "%s": %s is not a timestamp (use an int, a float '
                     'such as time.time(), or a datetime)' % (measurement, type(value).__name__))


# The encoded ",k=v,..." of a tag set, by its items: tag sets repeat from run to run.
_TAGS_CACHE = {}  # type: Dict[Tuple[Any, ...], str]
_TAGS_CACHE_MAX = 4096


def _encode_tags(tags: Mapping[Any, Any], measurement: str) -> str:
    parts = []
    for key, value in tags.items():
        if value is None:
            continue
        if type(value) is not str:
            value = str(value)
        if value == "":
            continue  # line protocol cannot carry an empty tag value
        if type(key) is not str:
            key = str(key)
        if key == "":
            raise ValueError('measurement "%s" has a tag with an empty key' % measurement)
        parts.append(",")
        parts.append(_escape_token(key, _KEY_SPECIALS, "tag key"))
        parts.append("=")
        parts.append(_escape_token(value, _KEY_SPECIALS, None, key))
    return "".join(parts)


def _encode_point(point: Any, index: int, precision: Optional[str]) -> str:
    if type(point) is not dict and not isinstance(point, Mapping):
        raise ValueError("point #%d is a %s, not a dict with measurement, tags and fields"
                         % (index, type(point).__name__))
    measurement = point.get("measurement")
    if measurement is None or measurement == "":
        raise ValueError("point #%d has no measurement" % index)
    measurement = str(measurement)
    parts = [_escape_token(measurement, _MEASUREMENT_SPECIALS, "measurement")]

    tags = point.get("tags")
    if tags:
        if type(tags) is not dict and not isinstance(tags, Mapping):
            raise ValueError('tags of measurement "%s" must be a dict, not %s'
                             % (measurement, type(tags).__name__))
        try:
            # With the types: 1, 1.0 and True are equal keys but encode differently.
            key = (tuple(tags.items()), tuple(map(type, tags.values())),
                   tuple(map(type, tags)))
            encoded_tags = _TAGS_CACHE.get(key)
        except TypeError:  # an unhashable tag value: encode it every time
            key = None
            encoded_tags = None
        if encoded_tags is None:
            encoded_tags = _encode_tags(tags, measurement)
            if key is not None:
                if len(_TAGS_CACHE) >= _TAGS_CACHE_MAX:
                    _TAGS_CACHE.clear()
                _TAGS_CACHE[key] = encoded_tags
        parts.append(encoded_tags)
    elif tags is not None and type(tags) is not dict and not isinstance(tags, Mapping):
        raise ValueError('tags of measurement "%s" must be a dict, not %s'
                         % (measurement, type(tags).__name__))

    fields = point.get("fields")
    if fields is not None and type(fields) is not dict and not isinstance(fields, Mapping):
        raise ValueError('fields of measurement "%s" must be a dict, not %s'
                         % (measurement, type(fields).__name__))
    encoded = []
    for key, value in (fields or {}).items():
        if type(key) is not str:
            key = str(key)
        text = _encode_field_value(value, key, measurement)
        if text is None:
            continue
        if key == "":
            raise ValueError('measurement "%s" has a field with an empty key' % measurement)
        encoded.append(_escape_token(key, _KEY_SPECIALS, "field key") + "=" + text)
    if not encoded:
        raise ValueError('measurement "%s" has no fields (fields whose value is None are '
                         'dropped)' % measurement)
    parts.append(" ")
    parts.append(",".join(encoded))

    timestamp = _encode_time(point.get("time"), precision, measurement)
    if timestamp is not None:
        parts.append(" ")
        parts.append(timestamp)
    return "".join(parts)


def _as_point_list(category_points: Any) -> Iterable[Any]:
    if category_points is None:
        return []
    if isinstance(category_points, Mapping):
        return [category_points]  # a single point given without a list
    if isinstance(category_points, (str, bytes, bytearray)):
        raise ValueError("points must be a list of dicts, not a %s"
                         % type(category_points).__name__)
    return category_points


def to_line_protocol(category_points: List[Mapping[str, Any]],
                     precision: Optional[str] = None) -> str:
    """Encodes a list of point dicts as InfluxDB line protocol.

    Each point is ``{"measurement": str, "tags": dict or None,
    "fields": dict, "time": optional}``; the result has one line per point,
    each ending in a newline ("" for an empty list).

    Field values keep their type: ``bool`` -> ``true``/``false``, ``int`` ->
    ``123i`` (``123u`` above the int64 range), ``float`` -> ``3.4``, ``str``
    and ``bytes`` -> a quoted string, ``list``/``tuple``/``dict`` -> a JSON
    string; ``None`` values are left out. Tag values are ``str(value)``; tags
    whose value is ``None`` or ``""`` are left out.

    ``time`` may be an int (written as is, in the unit given by
    ``precision``, or detected from its magnitude by the receiver), a float
    such as ``time.time()`` (converted to integer nanoseconds, or truncated
    to an int when ``precision`` is given) or a ``datetime``.

    Raises ValueError, naming the measurement and field, for anything that
    cannot be encoded: no measurement, no fields, NaN or infinity, an integer
    beyond 64 bits, a newline in a measurement, tag or key.
    """
    lines = []
    for index, point in enumerate(_as_point_list(category_points)):
        lines.append(_encode_point(point, index, precision))
        lines.append("\n")
    return "".join(lines)


# ---------------------------------------------------------------------------
# Framework log (_datakit_pythond_framework_<name>_.log)
# ---------------------------------------------------------------------------

logger = logging.getLogger("pythond_framework")
logger.addHandler(logging.NullHandler())  # never fall back to logging.lastResort
logger.propagate = False
if logger.level == logging.NOTSET:
    # Successful writes are logged at DEBUG and so stay out of the file; call
    # logging.getLogger('pythond_framework').setLevel(logging.DEBUG) to see them.
    logger.setLevel(logging.INFO)

_log_lock = threading.Lock()
_log_path = None  # type: Optional[str]
_log_handler = None  # type: Optional[logging.Handler]
_announced = set()  # type: set


class _QuietRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler that never prints tracebacks (disk full...)."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802
        pass


def framework_log_path() -> str:
    """Returns the path of the SDK's log file for this process.

    ``_datakit_pythond_framework_<name>_.log``, where ``<name>`` is the
    pythond input (environment ``PYTHOND_INPUT``, "" outside pythond), in
    the directory ``PYTHOND_SEED_LOG_DIR`` if set, else the home directory.
    """
    name = os.environ.get("PYTHOND_INPUT") or DataKitFramework.log_name or ""
    name = name.replace("/", "_").replace(os.sep, "_")
    directory = os.environ.get("PYTHOND_SEED_LOG_DIR") or os.path.expanduser("~")
    return os.path.join(directory, "_datakit_pythond_framework_" + name + "_.log")


def _ensure_log_handler() -> None:
    global _log_path, _log_handler
    path = framework_log_path()
    with _log_lock:
        if path == _log_path:
            return
        if _log_handler is not None:
            logger.removeHandler(_log_handler)
            try:
                _log_handler.close()
            except Exception:  # pragma: no cover - closing must not fail a report
                pass
            _log_handler = None
        _log_path = path  # remembered even on failure: do not retry every record
        try:
            directory = os.path.dirname(path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            handler = _QuietRotatingFileHandler(path, maxBytes=_LOG_MAX_BYTES,
                                                backupCount=_LOG_BACKUPS, encoding="utf-8")
        except Exception:
            return
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        logger.addHandler(handler)
        _log_handler = handler


def _log(level: int, msg: str, *args: Any) -> None:
    """Logs to the framework log file; never raises."""
    try:
        if not logger.isEnabledFor(level):
            return
        _ensure_log_handler()
        logger.log(level, msg, *args)
    except Exception:
        pass


def _reset_framework_log() -> None:
    """Closes the log file (tests use it before removing their directories)."""
    global _log_path, _log_handler
    with _log_lock:
        if _log_handler is not None:
            logger.removeHandler(_log_handler)
            try:
                _log_handler.close()
            except Exception:  # pragma: no cover
                pass
        _log_handler = None
        _log_path = None
        _announced.clear()


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

# The agent is normally on this machine: never send loopback traffic through
# an http_proxy from the environment.
# Set by pythond's worker: callable(target, body, content_type, plugin_header) -> (status, text)
# that hands a request to the agent over the worker's protocol pipe instead of HTTP (the same
# API, the same answers; no socket, no HTTP parsing). None outside a pythond worker. Plugins given
# an explicit ip/port use HTTP (unless _route_all_to_agent is set).
_agent_transport = None  # type: Optional[Any]
# Bodies larger than this go over HTTP even inside a worker (a protocol line is limited).
_TRANSPORT_MAX_BODY = 2 * 1024 * 1024
# Set by the worker of `pythond test`: with a transport installed, every request goes through it,
# also those of plugins given an explicit ip/port and bodies over _TRANSPORT_MAX_BODY, so a test
# run never sends anything over the network.
_route_all_to_agent = False
# The innermost active testing.capture() (see the "Test harness" section): while set, _post
# hands it every request, whatever the target, before the transport and HTTP are considered.
_capture = None  # type: Optional[Any]

_direct_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_env_opener = urllib.request.build_opener()


def _parse_addr(addr: str) -> Tuple[str, int]:
    """Parses "host:port", "[v6]:port" or "host" (port 9529)."""
    addr = addr.strip()
    if "://" in addr:
        addr = addr.split("://", 1)[1]
    addr = addr.rstrip("/")
    host, port_text = addr, ""
    if addr.startswith("["):
        end = addr.find("]")
        if end > 0:
            host = addr[1:end]
            rest = addr[end + 1:]
            if rest.startswith(":"):
                port_text = rest[1:]
    elif addr.count(":") == 1:
        host, port_text = addr.split(":", 1)
    port = DEFAULT_PORT
    if port_text:
        try:
            port = int(port_text)
        except ValueError:
            _log(logging.WARNING, "PYTHOND_HTTP_ADDR %r: bad port, using %d", addr, DEFAULT_PORT)
    return host or DEFAULT_HOST, port


def _host_for_url(host: str) -> str:
    if ":" in host and not host.startswith("["):
        return "[" + host + "]"
    return host


def _is_local(host: str) -> bool:
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _error_details(body: str) -> Tuple[str, str]:
    """Extracts (error_code, message) from DataKit's JSON error body."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        code = parsed.get("error_code") or parsed.get("errorCode") or ""
        message = parsed.get("message")
        if message is None:
            message = body
        return str(code), str(message)
    text = body.strip()
    if len(text) > 512:
        text = text[:512] + "..."
    return "", text


# ---------------------------------------------------------------------------
# The framework class
# ---------------------------------------------------------------------------

def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, (str, bytes, dict, list, tuple)) and not value)


def _check_arg(name: str, value: Any) -> None:
    if _missing(value):
        raise ValueError('arguments missing "' + name + '"')


def _mapping_arg(name: str, value: Any) -> Dict[str, Any]:
    """Returns a new dict copied from a dict argument (None gives {})."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError('argument "%s" must be a dict, not %s' % (name, type(value).__name__))
    return dict(value)


class DataKitFramework(object):
    """Base class of every pythond collector script.

    Subclass it, set ``name`` and ``interval`` (seconds between runs, default
    10) and override :meth:`run`. pythond finds every subclass in the
    scripts of the directories listed in an ``[[inputs.pythond]]`` table and
    calls ``run()`` on schedule.

    Attributes set by the SDK after a failed write: ``last_report_error``
    (text of the most recent failure, kept after later successes) and
    ``report_errors`` (number of failed writes).
    """

    name = "DataKitFramework"
    interval = 10
    # Set by DataKit's own runner (``cli.py --logname``); names the log file
    # when PYTHOND_INPUT is not set.
    log_name = ""

    last_report_error = ""
    report_errors = 0

    # Class-level defaults, so subclasses whose __init__ does not call
    # super().__init__() still work.
    _pythond_host = None  # type: Optional[str]
    _pythond_port = None  # type: Optional[Any]
    _pythond_timeout = DEFAULT_TIMEOUT

    def __init__(self, **kwargs: Any) -> None:
        """Creates the plugin.

        Keyword arguments (all optional):
            ip: host of the DataKit-compatible API to report to.
            port: its port (default 9529 when ``ip`` is given).
            timeout: seconds to wait for each HTTP request (default 10).

        Without ``ip`` and ``port`` the SDK reports to ``PYTHOND_HTTP_ADDR``
        (set by pythond), else to 127.0.0.1:9529.
        """
        ip = kwargs.get("ip")
        port = kwargs.get("port")
        if ip or port:
            self._pythond_host = str(ip) if ip else DEFAULT_HOST
            self._pythond_port = port if port else DEFAULT_PORT
        timeout = kwargs.get("timeout")
        if timeout is not None:
            self._pythond_timeout = float(timeout)
        self.last_report_error = ""
        self.report_errors = 0

    def run(self) -> Any:
        """Collects and reports data; every script overrides this.

        Called by pythond every ``interval`` seconds. Return the value of
        ``self.report(...)`` or of a ``feed_*`` helper.
        """
        raise NotImplementedError()

    # -- reporting ---------------------------------------------------------

    def report(self, data: Mapping[str, Any]) -> str:
        """Sends points to the agent and returns the text of its last answer.

        ``data`` maps category letters to lists of points::

            self.report({
                'M': [{'measurement': 'abc',
                       'tags': {'t1': 'b'},
                       'fields': {'f1': 123, 'f2': 3.4, 'f3': 'strval'},
                       # 'time': 1624550216,   # optional
                       }],
                'input': 'datakitpy',          # optional
            })

        Letters: ``M`` metric, ``L`` logging, ``R`` rum, ``O`` object,
        ``CO`` custom object, ``E`` keyevent; each present one is POSTed to
        ``/v1/write/<category>``. Optional keys ``input``, ``precision``
        (``n``, ``u``, ``ms``, ``s``, ``m``, ``h``; the unit of integer
        ``time`` values), ``ignore_global_tags`` and ``version`` become query
        parameters.

        Every category is encoded (see :func:`to_line_protocol`) before
        anything is sent, so bad data raises ValueError and sends nothing.
        Network failures and refused writes do not raise: they are printed
        to stderr, logged and recorded in ``self.last_report_error``.
        Returns "" when there is nothing to send or no answer.
        """
        if not data:
            return ""
        if not isinstance(data, Mapping):
            raise ValueError("report() takes a dict such as {'M': [points], 'input': 'name'}, "
                             "not %s" % type(data).__name__)
        unknown = [k for k in data if k not in _KNOWN_REPORT_KEYS]
        if unknown:
            _log(logging.WARNING, "plugin %s: report() ignores unknown keys %s",
                 self.name, ", ".join(sorted(repr(k) for k in unknown)))

        params = []
        for key in QUERY_PARAMS:
            value = data.get(key)
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            params.append((key, str(value)))
        precision = data.get("precision") or None
        if precision is not None:
            precision = str(precision)

        bodies = []
        for letter, category in CATEGORIES:
            points = data.get(letter)
            if not points:
                continue
            body = to_line_protocol(points, precision=precision)
            if body:
                bodies.append((category, body))
        if not bodies:
            return ""

        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        response = ""
        for category, body in bodies:
            url = self._base_url() + "/v1/write/" + category + query
            response = self._post(url, body.encode("utf-8"), "text/plain; charset=utf-8")
        return response

    def feed_metric(self, input: Optional[str] = None, measurement: Optional[str] = None,
                    tags: Optional[Mapping[str, Any]] = None,
                    fields: Optional[Mapping[str, Any]] = None, time: Any = None,
                    **kwargs: Any) -> str:
        """Reports one metric point.

        ``measurement`` and ``fields`` are required; extra keyword arguments
        are added to the fields (overriding ``fields``). ``input`` names the
        input in the request, ``time`` is an optional timestamp (int, or a
        float such as ``time.time()``). Returns the agent's answer.
        """
        _check_arg("measurement", measurement)
        merged = _mapping_arg("fields", fields)
        merged.update(kwargs)
        if not merged:
            raise ValueError('arguments missing "fields"')
        point = {"measurement": measurement, "tags": _mapping_arg("tags", tags),
                 "fields": merged}
        return self._report_one("M", point, input, time)

    def feed_logging(self, input: Optional[str] = None, source: Optional[str] = None,
                     tags: Optional[Mapping[str, Any]] = None, message: Any = None,
                     time: Any = None, **kwargs: Any) -> str:
        """Reports one log line.

        ``source`` (the measurement of the log) and ``message`` are required;
        extra keyword arguments become fields (e.g. ``status='error'``; the
        agent sets ``status=info`` when none is given). ``input`` names the
        input, ``time`` is an optional timestamp. Returns the agent's answer.
        """
        _check_arg("source", source)
        _check_arg("message", message)
        if not isinstance(message, (str, bytes, bytearray)):
            message = str(message)
        merged = {"message": message}
        merged.update(kwargs)
        point = {"measurement": source, "tags": _mapping_arg("tags", tags), "fields": merged}
        return self._report_one("L", point, input, time)

    def feed_object(self, input: Optional[str] = None, cls: Optional[str] = None,
                    name: Optional[str] = None, tags: Optional[Mapping[str, Any]] = None,
                    fields: Optional[Mapping[str, Any]] = None, time: Any = None,
                    **kwargs: Any) -> str:
        """Reports one object.

        ``cls`` (the object class, i.e. its measurement; ``class`` is a Python
        keyword) and ``name`` (sent as the ``name`` tag) are required. Extra
        keyword arguments are added to ``fields``; an object needs at least
        one field. Returns the agent's answer.
        """
        _check_arg("cls", cls)
        _check_arg("name", name)
        merged_tags = _mapping_arg("tags", tags)
        merged_tags["name"] = name
        merged = _mapping_arg("fields", fields)
        merged.update(kwargs)
        point = {"measurement": cls, "tags": merged_tags, "fields": merged}
        return self._report_one("O", point, input, time)

    def feed_user_event(self, df_user_id: Optional[str] = None,
                        tags: Optional[Mapping[str, Any]] = None, df_date_range: int = 10,
                        df_status: Optional[str] = None, df_event_id: Optional[str] = None,
                        df_title: Optional[str] = None, df_message: Optional[str] = None,
                        **kwargs: Any) -> str:
        """Reports an event created by a user (``df_source=user``).

        Required: ``df_user_id``, ``df_date_range`` (seconds), ``df_status``
        (``ok``, ``info``, ``warning``, ``error``, ``critical`` or
        ``nodata``), ``df_event_id`` and ``df_title``. ``df_message`` is
        optional; extra keyword arguments become fields.
        """
        _check_arg("df_user_id", df_user_id)
        return self._feed_event("user", ("df_user_id", df_user_id), tags, df_date_range,
                                df_status, df_event_id, df_title, df_message, kwargs)

    def feed_monitor_event(self, df_dimension_tags: Optional[str] = None,
                           tags: Optional[Mapping[str, Any]] = None, df_date_range: int = 10,
                           df_status: Optional[str] = None, df_event_id: Optional[str] = None,
                           df_title: Optional[str] = None, df_message: Optional[str] = None,
                           **kwargs: Any) -> str:
        """Reports an event produced by monitoring (``df_source=monitor``).

        Required: ``df_dimension_tags`` (a JSON string such as
        ``'{"host":"web01"}'``; a dict is converted), ``df_date_range``,
        ``df_status``, ``df_event_id`` and ``df_title``. ``df_message`` is
        optional; extra keyword arguments become fields.
        """
        _check_arg("df_dimension_tags", df_dimension_tags)
        return self._feed_event("monitor", ("df_dimension_tags", df_dimension_tags), tags,
                                df_date_range, df_status, df_event_id, df_title, df_message,
                                kwargs)

    def feed_system_event(self, tags: Optional[Mapping[str, Any]] = None,
                          df_date_range: int = 10, df_status: Optional[str] = None,
                          df_event_id: Optional[str] = None, df_title: Optional[str] = None,
                          df_message: Optional[str] = None, **kwargs: Any) -> str:
        """Reports an event generated by a system (``df_source=system``).

        Required: ``df_date_range``, ``df_status``, ``df_event_id`` and
        ``df_title``. ``df_message`` is optional; extra keyword arguments
        become fields.
        """
        return self._feed_event("system", None, tags, df_date_range, df_status, df_event_id,
                                df_title, df_message, kwargs)

    def set_lasterror(self, input_name: str, err_msg: Any) -> str:
        """Records an error for an input; pythond shows it in its status.

        POSTs ``{"input": input_name, "err_content": err_msg}`` to
        ``/v1/lasterror``. ``err_msg`` may be an exception. Returns the
        agent's answer; failures are reported like those of :meth:`report`.
        """
        if _missing(input_name):
            input_name = os.environ.get("PYTHOND_INPUT") or self.name
        if not isinstance(err_msg, str):
            err_msg = "" if err_msg is None else str(err_msg)
        body = json.dumps({"input": str(input_name), "err_content": err_msg})
        return self._post(self._base_url() + "/v1/lasterror", body.encode("utf-8"),
                          "application/json")

    # -- DataKit SDK compatibility helpers -----------------------------------

    def checkArgEmpty(self, name: str, checkStr: Any) -> None:  # noqa: N802,N803
        """Raises ValueError('arguments missing "<name>"') if the value is empty."""
        _check_arg(name, checkStr)

    def construct_url(self, path: str) -> str:
        """Returns the agent URL of ``path`` (e.g. ``"v1/lasterror"``)."""
        return self._base_url() + "/" + path.lstrip("/")

    def http_post_json(self, url: str, raw_data: Any) -> str:
        """POSTs ``raw_data`` as JSON to ``url``; returns the answer text."""
        return self._post(url, json.dumps(raw_data).encode("utf-8"), "application/json")

    def http_post_raw(self, url: str, raw_data: Any) -> str:
        """POSTs ``str(raw_data)`` to ``url``; returns the answer text."""
        return self._post(url, str(raw_data).encode("utf-8"), "text/plain; charset=utf-8")

    # -- internals ---------------------------------------------------------

    def _report_one(self, letter: str, point: Dict[str, Any], input: Optional[str],
                    time: Any) -> str:
        if time is not None:
            point["time"] = time
        data = {letter: [point]}  # type: Dict[str, Any]
        if input is not None:
            data["input"] = input
        return self.report(data)

    def _feed_event(self, source: str, extra: Optional[Tuple[str, Any]], tags: Any,
                    df_date_range: Any, df_status: Any, df_event_id: Any, df_title: Any,
                    df_message: Any, kwargs: Dict[str, Any]) -> str:
        _check_arg("df_date_range", df_date_range)
        _check_arg("df_status", df_status)
        _check_arg("df_event_id", df_event_id)
        _check_arg("df_title", df_title)
        if isinstance(df_date_range, bool):
            raise ValueError('argument "df_date_range" must be an integer number of seconds')
        try:
            date_range = int(df_date_range)
        except (TypeError, ValueError):
            raise ValueError('argument "df_date_range" must be an integer number of seconds, '
                             'not %r' % (df_date_range,)) from None
        fields = {"df_date_range": date_range, "df_source": source}  # type: Dict[str, Any]
        if extra is not None:
            fields[extra[0]] = extra[1]
        fields["df_status"] = df_status
        fields["df_event_id"] = df_event_id
        fields["df_title"] = df_title
        fields["df_message"] = "" if df_message is None else df_message
        fields.update(kwargs)
        point = {"measurement": "measurement", "tags": _mapping_arg("tags", tags),
                 "fields": fields}
        return self.report({"E": [point]})

    def _target(self) -> Tuple[str, Any]:
        if self._pythond_host is not None:
            return self._pythond_host, self._pythond_port
        addr = os.environ.get("PYTHOND_HTTP_ADDR")
        if addr:
            return _parse_addr(addr)
        return DEFAULT_HOST, DEFAULT_PORT

    def _base_url(self) -> str:
        host, port = self._target()
        return "http://%s:%s" % (_host_for_url(host), port)

    def _headers(self, content_type: str) -> Dict[str, str]:
        headers = {
            "Content-Type": content_type,
            "User-Agent": "pythond-sdk/%s python/%d.%d" % ((__version__,) + sys.version_info[:2]),
        }
        input_name = os.environ.get("PYTHOND_INPUT")
        if input_name:
            # Each part percent-encoded on its own, so a '/' in a name cannot move the split.
            headers["X-Pythond-Plugin"] = "%s/%s" % (
                urllib.parse.quote(input_name, safe=""), urllib.parse.quote(str(self.name), safe=""))
        return headers

    def _record_error(self, text: str) -> None:
        self.last_report_error = text
        self.report_errors = self.report_errors + 1
        try:
            print("E! pythond SDK: " + text, file=sys.stderr, flush=True)
        except Exception:
            pass
        _log(logging.ERROR, "plugin %s: %s", self.name, text)

    def _post_via_worker(self, transport: Any, url: str, body: bytes, content_type: str) -> str:
        """The agent's API through the worker's pipe: same answers as over HTTP."""
        parts = urllib.parse.urlsplit(url)
        target = parts.path + ("?" + parts.query if parts.query else "")
        if self._pythond_host is not None and ("test", self.name) not in _announced:
            _announced.add(("test", self.name))
            _log(logging.INFO, "pythond SDK %s: plugin %s: ip/port %s:%s not used: in test mode "
                 "every request goes to the agent", __version__, self.name, self._pythond_host,
                 self._pythond_port)
        key = ("pipe", self.name)
        if key not in _announced:
            _announced.add(key)
            _log(logging.INFO, "pythond SDK %s: plugin %s reports to the agent through its "
                 "worker's pipe", __version__, self.name)
        header = self._headers(content_type).get("X-Pythond-Plugin", "")
        try:
            status, text = transport(target, body, content_type, header,
                                     self._pythond_timeout)
        except Exception as exc:  # the pipe is gone: the agent is stopping
            self._record_error("write to %s failed: %s" % (url, exc))
            return ""
        if status >= 300:
            code, message = _error_details(text)
            self._record_error("write to %s refused: %d %s: %s" % (url, status, code, message))
        return text

    def _post_to_capture(self, capture: Any, url: str, body: bytes, content_type: str) -> str:
        """Hands a request to a testing.capture(), which answers as the agent would."""
        status, text = capture._receive(self, url, body, content_type)
        if status >= 300:
            code, message = _error_details(text)
            self._record_error("write to %s refused: %d %s: %s" % (url, status, code, message))
        return text

    def _post(self, url: str, body: bytes, content_type: str) -> str:
        """POSTs body to url; returns the answer text, never raises for I/O."""
        capture = _capture
        if capture is not None:
            return self._post_to_capture(capture, url, body, content_type)
        transport = _agent_transport
        if transport is not None and (_route_all_to_agent or (
                self._pythond_host is None and len(body) <= _TRANSPORT_MAX_BODY)):
            return self._post_via_worker(transport, url, body, content_type)
        host = urllib.parse.urlsplit(url).hostname or ""
        key = (url.split("/v1/", 1)[0], self.name)
        if key not in _announced:
            _announced.add(key)
            _log(logging.INFO, "pythond SDK %s: plugin %s reports to %s", __version__,
                 self.name, key[0])
        opener = _direct_opener if _is_local(host) else _env_opener
        request = urllib.request.Request(url, data=body, headers=self._headers(content_type),
                                         method="POST")
        try:
            with opener.open(request, timeout=self._pythond_timeout) as response:
                text = response.read().decode("utf-8", errors="replace")
                status = response.status
        except urllib.error.HTTPError as exc:
            try:
                text = exc.read().decode("utf-8", errors="replace")
            except Exception:
                text = ""
            finally:
                exc.close()
            code, message = _error_details(text)
            if not code:
                code = exc.reason if isinstance(exc.reason, str) else ""
            self._record_error("write to %s refused: %d %s: %s" % (url, exc.code, code, message))
            return text
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            self._record_error("write to %s failed: %s" % (url, reason))
            return ""
        _log(logging.DEBUG, "plugin %s: write to %s: %d, %d bytes", self.name, url, status,
             len(body))
        return text


# ---------------------------------------------------------------------------
# Test harness: datakit_framework.testing
# ---------------------------------------------------------------------------
#
# Lives in this file because DataKit ships the SDK as one file; registered below as the
# submodule "<this module>.testing". Thread-safety: a capture's lists are guarded by its own
# lock; the stack of active captures by _capture_lock. _post reads _capture without the lock
# (one attribute read).

_capture_lock = threading.Lock()
_capture_stack = []  # type: List[Any]  # guarded by _capture_lock; innermost last

# The categories the agent accepts on /v1/write/<category>.
_WRITE_CATEGORIES = ("metric", "logging", "object", "custom_object", "keyevent", "rum",
                     "network", "security")
_CATEGORY_BY_LETTER = dict(CATEGORIES)
_FAILURE_LIST_MAX = 20  # points listed in a failed assertion's message
_FAILURE_LINE_MAX = 300  # characters of each listed line

_LP_MEASUREMENT_ESCAPES = frozenset(", \\")
_LP_KEY_ESCAPES = frozenset(",= \\")
_LP_MEASUREMENT_ENDS = frozenset(", \n")
_LP_KEY_ENDS = frozenset(",= \n")
_LP_VALUE_ENDS = frozenset(", \t\n")
_LP_FLOAT_RE = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
_LP_INT_RE = re.compile(r"-?[0-9]+\Z")
_LP_TRUE = frozenset(("t", "T", "true", "True", "TRUE"))
_LP_FALSE = frozenset(("f", "F", "false", "False", "FALSE"))


class _TestingPoint(NamedTuple):
    """One point as the agent would receive it (``datakit_framework.testing.Point``).

    ``category``: "metric", "logging", "object", "custom_object", "keyevent",
    "rum", ... (the ``/v1/write/<category>`` it was sent to; None from
    :func:`parse_line_protocol`). ``measurement``: the measurement (the
    ``source`` of a log, the ``cls`` of an object). ``tags``: ``{str: str}``.
    ``fields``: ``{str: value}`` with the wire types: ``int`` (``123i`` or
    ``123u``), ``float``, ``bool`` or ``str``. ``time``: Unix nanoseconds as the
    agent computes them (the request's ``precision``, else the unit detected
    from the magnitude), None when the point carries no timestamp.
    ``input``: the ``input`` query parameter, or None. ``line``: the raw line
    protocol of the point (without the final newline). ``plugin``: the
    ``name`` of the plugin that sent it.
    """

    category: Optional[str]
    measurement: str
    tags: Dict[str, str]
    fields: Dict[str, Any]
    time: Optional[int]
    input: Optional[str]
    line: str
    plugin: Optional[str]


class _TestingRequest(NamedTuple):
    """One request the SDK made (``datakit_framework.testing.Request``).

    ``path``: path and query, e.g. ``/v1/write/metric?input=demo``;
    ``content_type``; ``body`` (str); ``plugin`` (the plugin's ``name``);
    ``url`` (the full URL the SDK would have used); ``status`` and
    ``answer``: what the capture answered (200 and "" on success, else the
    agent's status and JSON error body).
    """

    path: str
    content_type: str
    body: str
    plugin: Optional[str]
    url: str
    status: int
    answer: str


def _lp_error(text: str, pos: int, reason: str) -> ValueError:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return ValueError("line %d, column %d: %s" % (line, column, reason))


def _lp_ident(text: str, pos: int, ends: frozenset, escapes: frozenset) -> Tuple[str, int]:
    """Reads a measurement, tag key/value or field key from pos; returns (value, end)."""
    out = []
    n = len(text)
    while pos < n:
        c = text[pos]
        if c == "\\" and pos + 1 < n and text[pos + 1] in escapes:
            out.append(text[pos + 1])
            pos += 2
            continue
        if c in ends or (c == "\r" and pos + 1 < n and text[pos + 1] == "\n"):
            break
        out.append(c)
        pos += 1
    return "".join(out), pos


def _lp_at_line_end(text: str, pos: int) -> bool:
    return pos >= len(text) or text[pos] == "\n" or text.startswith("\r\n", pos)


def _lp_scalar(text: str, start: int, token: str) -> Any:
    if token[-1] == "i" and _LP_INT_RE.match(token, 0, len(token) - 1):
        value = int(token[:-1])
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _lp_error(text, start, "integer %s out of the int64 range" % token)
        return value
    if token[-1] == "u" and token[0] != "-" and _LP_INT_RE.match(token, 0, len(token) - 1):
        value = int(token[:-1])
        if value > _UINT64_MAX:
            raise _lp_error(text, start, "integer %s out of the uint64 range" % token)
        return value
    if token in _LP_TRUE:
        return True
    if token in _LP_FALSE:
        return False
    if _LP_FLOAT_RE.match(token):
        value = float(token)
        if math.isfinite(value):
            return value
    raise _lp_error(text, start, "invalid field value %r" % token)


def _lp_time_to_ns(value: int, precision: Optional[str]) -> int:
    """The agent's conversion of a wire timestamp to Unix ns (src/model/precision.cc)."""
    if not precision:
        magnitude = -(value + 1) if value < 0 else value
        if magnitude < 10 ** 10:
            precision = "s"
        elif magnitude < 10 ** 13:
            precision = "ms"
        elif magnitude < 10 ** 16:
            precision = "us"
        else:
            precision = "ns"
    return value * _PRECISION_NS[precision]


def _parse_lp_body(text: str, precision: Optional[str]) -> List[Tuple[str, Dict[str, str],
                                                                       Dict[str, Any],
                                                                       Optional[int], str]]:
    """Parses line protocol as the agent does; returns (measurement, tags, fields, time, line)
    for each point. Raises ValueError("line L, column C: reason") for what the agent refuses."""
    points = []
    n = len(text)
    pos = 0
    while pos < n:
        while pos < n and text[pos] in " \t":
            pos += 1
        if _lp_at_line_end(text, pos):
            pos = text.find("\n", pos)
            pos = n if pos < 0 else pos + 1
            continue
        if text[pos] == "#":  # a comment
            pos = text.find("\n", pos)
            pos = n if pos < 0 else pos + 1
            continue
        start = pos
        if text.startswith("\\#", pos) or text.startswith("\\\t", pos):
            pos += 1  # `\#`, `\<tab>`: a measurement that starts with '#' or a tab
        measurement, pos = _lp_ident(text, pos, _LP_MEASUREMENT_ENDS, _LP_MEASUREMENT_ESCAPES)
        if not measurement:
            raise _lp_error(text, pos, "missing measurement")
        tags = {}  # type: Dict[str, str]
        while pos < n and text[pos] == ",":
            key_pos = pos + 1
            key, pos = _lp_ident(text, key_pos, _LP_KEY_ENDS, _LP_KEY_ESCAPES)
            if not key:
                raise _lp_error(text, key_pos, "missing tag key")
            if pos >= n or text[pos] != "=":
                raise _lp_error(text, pos, "missing '=' after tag key %r" % key)
            value_pos = pos + 1
            value, pos = _lp_ident(text, value_pos, _LP_KEY_ENDS, _LP_KEY_ESCAPES)
            if pos < n and text[pos] == "=":
                raise _lp_error(text, pos, "unescaped '=' in the value of tag %r" % key)
            if not value:
                raise _lp_error(text, value_pos, "empty value for tag %r" % key)
            if key in tags:
                raise _lp_error(text, key_pos, "duplicate tag key %r" % key)
            tags[key] = value
        while pos < n and text[pos] == " ":
            pos += 1
        if _lp_at_line_end(text, pos):
            raise _lp_error(text, pos, "missing fields")
        fields = {}  # type: Dict[str, Any]
        while True:
            key_pos = pos
            key, pos = _lp_ident(text, key_pos, _LP_KEY_ENDS, _LP_KEY_ESCAPES)
            if not key:
                raise _lp_error(text, key_pos, "missing field key")
            if pos >= n or text[pos] != "=":
                raise _lp_error(text, pos, "missing '=' after field key %r" % key)
            pos += 1
            if _lp_at_line_end(text, pos) or text[pos] in _LP_VALUE_ENDS:
                raise _lp_error(text, pos, "missing value of field %r" % key)
            if text[pos] == '"':
                out = []
                i = pos + 1
                while True:
                    if i >= n:
                        raise _lp_error(text, pos, "unterminated string in field %r" % key)
                    c = text[i]
                    if c == '"':
                        break
                    if c == "\\" and i + 1 < n and text[i + 1] in '"\\':
                        out.append(text[i + 1])
                        i += 2
                    else:
                        out.append(c)
                        i += 1
                pos = i + 1
                if not (_lp_at_line_end(text, pos) or text[pos] in _LP_VALUE_ENDS):
                    raise _lp_error(text, pos, "expected ',' or ' ' after a string value")
                value = "".join(out)
            elif text[pos] == "[":
                raise _lp_error(text, pos, "array values are not supported by this parser")
            else:
                end = pos
                while end < n and text[end] not in _LP_VALUE_ENDS and \
                        not text.startswith("\r\n", end):
                    end += 1
                value = _lp_scalar(text, pos, text[pos:end])
                pos = end
            fields.pop(key, None)  # a repeated key: the last value wins, as in the agent
            fields[key] = value
            if pos < n and text[pos] == ",":
                pos += 1
                continue
            break
        while pos < n and text[pos] in " \t":
            pos += 1
        timestamp = None  # type: Optional[int]
        if not _lp_at_line_end(text, pos):
            end = pos
            while end < n and text[end] not in " \t\n" and not text.startswith("\r\n", end):
                end += 1
            token = text[pos:end]
            if not _LP_INT_RE.match(token):
                raise _lp_error(text, pos, "invalid timestamp %r" % token)
            try:
                timestamp = _lp_time_to_ns(int(token), precision)
            except KeyError:
                raise _lp_error(text, pos, "invalid precision %r" % precision) from None
            if not _INT64_MIN <= timestamp <= _INT64_MAX:
                raise _lp_error(text, pos, "timestamp %s out of range" % token)
            pos = end
            while pos < n and text[pos] in " \t":
                pos += 1
            if not _lp_at_line_end(text, pos):
                raise _lp_error(text, pos, "unexpected text after the timestamp")
        line = text[start:pos]
        if text.startswith("\r\n", pos):
            pos += 1
        pos += 1
        points.append((measurement, tags, fields, timestamp, line))
    return points


def _parse_line_protocol(text: str, precision: Optional[str] = None) -> List[_TestingPoint]:
    """Parses line protocol into :class:`Point` values (``category``, ``input``
    and ``plugin`` None), as pythond's agent reads it.

    Reads what :func:`~datakit_framework.to_line_protocol` writes: escapes in
    measurements, tag keys/values and field keys, strings with ``\\"`` and
    ``\\\\`` (raw newlines allowed), ``123i``/``123u`` integers, floats,
    booleans and an optional integer timestamp, converted to nanoseconds with
    ``precision`` (``"n"``, ``"u"``, ``"ms"``, ``"s"``, ``"m"``, ``"h"``; by
    magnitude when None). Blank lines and ``#`` comments are skipped. Raises
    ValueError("line L, column C: reason") for anything else.
    """
    return [_TestingPoint(None, m, tags, fields, ts, None, line, None)
            for m, tags, fields, ts, line in _parse_lp_body(text, precision)]


def _json_points(text: str, precision: Optional[str]) -> List[Tuple[str, Dict[str, str],
                                                                     Dict[str, Any],
                                                                     Optional[int], str]]:
    """Reads DataKit's JSON write body: [{"measurement", "tags", "fields", "time"}, ...]."""
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise ValueError("invalid JSON: %s" % exc) from None
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        raise ValueError("the body must be a JSON array of points")
    points = []
    for index, item in enumerate(parsed):
        if not isinstance(item, dict) or not isinstance(item.get("measurement"), str) or \
                not item["measurement"]:
            raise ValueError("point #%d: needs a string \"measurement\"" % index)
        raw_tags = item.get("tags") or {}
        raw_fields = item.get("fields") or {}
        if not isinstance(raw_tags, dict) or not isinstance(raw_fields, dict):
            raise ValueError("point #%d: \"tags\" and \"fields\" must be objects" % index)
        tags = dict((str(k), v if isinstance(v, str) else json.dumps(v))
                    for k, v in raw_tags.items())
        fields = dict((str(k), v) for k, v in raw_fields.items() if v is not None)
        if not fields:
            raise ValueError("point #%d: no fields" % index)
        raw_time = item.get("time")
        if raw_time is not None and (isinstance(raw_time, bool) or
                                     not isinstance(raw_time, int)):
            raise ValueError("point #%d: \"time\" must be an integer" % index)
        timestamp = None if raw_time is None else _lp_time_to_ns(raw_time, precision)
        points.append((item["measurement"], tags, fields, timestamp,
                       json.dumps(item, ensure_ascii=False)))
    return points


def _agent_error(status: int, code: str, message: str) -> Tuple[int, str]:
    return status, json.dumps({"error_code": code, "message": message})


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return "%r (bool)" % value
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return "%s (%s)" % (text, type(value).__name__)


def _callable_name(check: Callable[..., Any]) -> str:
    return getattr(check, "__qualname__", None) or getattr(check, "__name__", None) or repr(check)


def _describe_expected(values: Mapping[str, Any]) -> str:
    parts = []
    for key, value in values.items():
        if isinstance(value, type):
            text = "<any %s>" % value.__name__
        elif callable(value):
            text = "<predicate %s>" % _callable_name(value)
        else:
            text = repr(value)
        parts.append("%r: %s" % (key, text))
    return "{" + ", ".join(parts) + "}"


def _type_matches(value: Any, expected: type) -> bool:
    if expected is int:  # True is an int in Python, not on the wire
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _field_equals(actual: Any, expected: Any) -> bool:
    """Equality with the wire type: 123 (int) and 123.0 (float) differ."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and actual == expected
    if isinstance(expected, numbers.Integral):
        return type(actual) is int and actual == int(expected)
    if isinstance(expected, (numbers.Real, decimal.Decimal)):
        return type(actual) is float and actual == float(expected)
    if isinstance(expected, (bytes, bytearray)):
        return actual == bytes(expected).decode("utf-8", errors="replace")
    if isinstance(expected, (list, tuple, dict)) and isinstance(actual, str):
        try:  # sent as JSON text by the encoder
            return actual == json.dumps(expected)
        except (TypeError, ValueError):
            return False
    return type(actual) is type(expected) and actual == expected


def _check_value(kind: str, values: Mapping[str, Any], key: str,
                 expected: Any) -> Optional[str]:
    """Returns why values[key] does not match expected, or None when it does."""
    if expected is None:
        if key in values:
            return "%s %r is %s, expected no such %s" % (kind, key, _short(values[key]), kind)
        return None
    if key not in values:
        return "%s %r missing" % (kind, key)
    actual = values[key]
    if isinstance(expected, type):
        if _type_matches(actual, expected):
            return None
        return "%s %r is %s, expected a %s" % (kind, key, _short(actual), expected.__name__)
    if callable(expected):
        try:
            accepted = expected(actual)
        except Exception as exc:
            return "%s %r is %s, predicate %s raised %s: %s" % (
                kind, key, _short(actual), _callable_name(expected), type(exc).__name__, exc)
        if accepted:
            return None
        return "%s %r is %s, rejected by predicate %s" % (kind, key, _short(actual),
                                                          _callable_name(expected))
    if kind == "tag":
        wanted = expected if isinstance(expected, str) else str(expected)
        if actual == wanted:
            return None
        return "tag %r is %r, expected %r" % (key, actual, wanted)
    if _field_equals(actual, expected):
        return None
    return "field %r is %s, expected %s" % (key, _short(actual), _short(expected))


def _point_differences(point: _TestingPoint, category: Optional[str],
                       measurement: Optional[str], tags: Mapping[str, Any],
                       fields: Mapping[str, Any]) -> List[str]:
    diffs = []
    if category is not None and point.category != category:
        diffs.append("category is %s, expected %s" % (point.category, category))
    if measurement is not None and point.measurement != measurement:
        diffs.append("measurement is %r, expected %r" % (point.measurement, measurement))
    for key, expected in tags.items():
        diff = _check_value("tag", point.tags, key, expected)
        if diff is not None:
            diffs.append(diff)
    for key, expected in fields.items():
        diff = _check_value("field", point.fields, key, expected)
        if diff is not None:
            diffs.append(diff)
    return diffs


def _display_line(text: str) -> str:
    text = text.replace("\n", "\\n")
    if len(text) > _FAILURE_LINE_MAX:
        text = text[:_FAILURE_LINE_MAX - 3] + "..."
    return text


class _Capture(object):
    """What the SDK sent while a :func:`capture` was active (``datakit_framework.testing.Capture``).

    Every list attribute returns a new list (a snapshot); the capture may be
    read while plugin threads still report. Assertion methods raise
    AssertionError with a message that lists what was reported and, for the
    closest point, what differs; on success they return the matching points.

    Matching, in every ``assert_*`` method: ``tags`` and ``fields`` are
    subset matches; the keys given must be present with equal values, other
    keys are ignored. Field values compare with their wire type: ``123``
    (int) does not match ``123.0`` (float). Tag values are strings on the
    wire; a non-string expected tag value is compared as ``str(value)``.
    An expected value may also be a type (``fields={'load': float}``), a
    callable predicate (``fields={'load': lambda v: v >= 0}``; a predicate
    that raises does not match) or None (the key must be absent).
    ``count=None`` asks for at least one matching point, ``count=N`` for
    exactly N (``count=0``: none).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the lists below
        self._points = []  # type: List[_TestingPoint]
        self._requests = []  # type: List[_TestingRequest]
        self._last_errors = []  # type: List[Tuple[str, str]]
        self._results = []  # type: List[Any]

    def __repr__(self) -> str:
        with self._lock:
            return "<Capture: %d points, %d requests>" % (len(self._points), len(self._requests))

    # -- what the SDK sent -------------------------------------------------

    @property
    def points(self) -> List[_TestingPoint]:
        """Every point written, in the order the agent would have received them."""
        with self._lock:
            return list(self._points)

    def _category(self, category: str) -> List[_TestingPoint]:
        return [p for p in self.points if p.category == category]

    @property
    def metrics(self) -> List[_TestingPoint]:
        """The points written to /v1/write/metric."""
        return self._category("metric")

    @property
    def logging(self) -> List[_TestingPoint]:
        """The points written to /v1/write/logging."""
        return self._category("logging")

    @property
    def objects(self) -> List[_TestingPoint]:
        """The points written to /v1/write/object."""
        return self._category("object")

    @property
    def custom_objects(self) -> List[_TestingPoint]:
        """The points written to /v1/write/custom_object."""
        return self._category("custom_object")

    @property
    def events(self) -> List[_TestingPoint]:
        """The points written to /v1/write/keyevent (every ``feed_*_event``)."""
        return self._category("keyevent")

    @property
    def rum(self) -> List[_TestingPoint]:
        """The points written to /v1/write/rum."""
        return self._category("rum")

    def lines(self, category: Optional[str] = None) -> List[str]:
        """The line protocol of each point (of one category, e.g. "metric" or "M")."""
        category = _CATEGORY_BY_LETTER.get(category, category) if category else None
        return [p.line for p in self.points if category is None or p.category == category]

    @property
    def last_errors(self) -> List[Tuple[str, str]]:
        """``(input, message)`` of each ``set_lasterror`` call."""
        with self._lock:
            return list(self._last_errors)

    @property
    def requests(self) -> List[_TestingRequest]:
        """Every request, as :class:`Request` values (path with query, content type, body...)."""
        with self._lock:
            return list(self._requests)

    @property
    def refused(self) -> List[_TestingRequest]:
        """The requests the agent would have refused (status 300 or more)."""
        return [r for r in self.requests if r.status >= 300]

    @property
    def results(self) -> List[Any]:
        """The return value of each ``run()`` made by :func:`run_plugin`."""
        with self._lock:
            return list(self._results)

    # -- assertions --------------------------------------------------------

    def find(self, category: Optional[str] = None, measurement: Optional[str] = None,
             tags: Optional[Mapping[str, Any]] = None,
             fields: Optional[Mapping[str, Any]] = None) -> List[_TestingPoint]:
        """Returns the points that match (None matches anything); never raises."""
        category = _CATEGORY_BY_LETTER.get(category, category) if category else None
        return [p for p in self.points
                if not _point_differences(p, category, measurement, tags or {}, fields or {})]

    def assert_point(self, category: str, measurement: Optional[str],
                     tags: Optional[Mapping[str, Any]] = None,
                     fields: Optional[Mapping[str, Any]] = None,
                     count: Optional[int] = None) -> List[_TestingPoint]:
        """Asserts that points of ``category`` ("metric", "logging", ... or a
        report() letter such as "M") and ``measurement`` (None: any) match
        ``tags`` and ``fields``; returns the matching points."""
        __tracebackhide__ = True  # pytest: the failure is shown at the caller's line
        category = _CATEGORY_BY_LETTER.get(category, category)
        return self._assert(category, measurement, dict(tags or {}), dict(fields or {}), count,
                            "%s point" % category)

    def assert_metric(self, measurement: str, tags: Optional[Mapping[str, Any]] = None,
                      fields: Optional[Mapping[str, Any]] = None,
                      count: Optional[int] = None) -> List[_TestingPoint]:
        """Asserts that metric points of ``measurement`` match ``tags`` and ``fields``."""
        __tracebackhide__ = True
        return self._assert("metric", measurement, dict(tags or {}), dict(fields or {}), count,
                            "metric point")

    def assert_logging(self, source: str, message: Any = None,
                       tags: Optional[Mapping[str, Any]] = None,
                       fields: Optional[Mapping[str, Any]] = None,
                       count: Optional[int] = None) -> List[_TestingPoint]:
        """Asserts that logs of ``source`` match; ``message`` (a string or a
        predicate) is checked against the ``message`` field."""
        __tracebackhide__ = True
        wanted = dict(fields or {})
        if message is not None:
            wanted["message"] = message
        return self._assert("logging", source, dict(tags or {}), wanted, count, "logging point")

    def assert_object(self, cls: str, name: Any = None,
                      tags: Optional[Mapping[str, Any]] = None,
                      fields: Optional[Mapping[str, Any]] = None,
                      count: Optional[int] = None) -> List[_TestingPoint]:
        """Asserts that objects of class ``cls`` match; ``name`` is checked
        against the ``name`` tag."""
        __tracebackhide__ = True
        wanted = dict(tags or {})
        if name is not None:
            wanted["name"] = name
        return self._assert("object", cls, wanted, dict(fields or {}), count, "object")

    def assert_event(self, status: Any = None, title: Any = None, source: Any = None,
                     tags: Optional[Mapping[str, Any]] = None,
                     fields: Optional[Mapping[str, Any]] = None,
                     count: Optional[int] = None) -> List[_TestingPoint]:
        """Asserts that keyevents match: ``status``, ``title`` and ``source``
        are checked against the fields ``df_status``, ``df_title`` and
        ``df_source`` ("user", "monitor" or "system"); any measurement."""
        __tracebackhide__ = True
        wanted = dict(fields or {})
        for key, value in (("df_status", status), ("df_title", title), ("df_source", source)):
            if value is not None:
                wanted[key] = value
        return self._assert("keyevent", None, dict(tags or {}), wanted, count, "event")

    def assert_nothing_reported(self) -> None:
        """Asserts that no request was made other than ``set_lasterror``
        (whose calls are in :attr:`last_errors`)."""
        __tracebackhide__ = True
        sent = [r for r in self.requests if r.path.split("?", 1)[0] != "/v1/lasterror"]
        if sent:
            raise AssertionError("expected nothing reported, but %d request(s) were made\n%s"
                                 % (len(sent), self._report()))

    def _assert(self, category: Optional[str], measurement: Optional[str],
                tags: Dict[str, Any], fields: Dict[str, Any], count: Optional[int],
                what: str) -> List[_TestingPoint]:
        __tracebackhide__ = True
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or
                                  count < 0):
            raise ValueError("count must be None or an int >= 0, not %r" % (count,))
        points = self.points
        matches = [p for p in points
                   if not _point_differences(p, category, measurement, tags, fields)]
        if (count is None and matches) or (count is not None and len(matches) == count):
            return matches
        wanted = what
        if measurement is not None:
            wanted += " with measurement %r" % measurement
        if tags:
            wanted += ", tags " + _describe_expected(tags)
        if fields:
            wanted += ", fields " + _describe_expected(fields)
        if count is None:
            lines = ["expected at least one %s; none found" % wanted]
        else:
            lines = ["expected exactly %d %s; found %d" % (count, wanted, len(matches))]
        if matches:
            lines.append("matching:")
            lines.extend("  " + _display_line(p.line) for p in matches[:_FAILURE_LIST_MAX])
        else:
            closest = None  # type: Optional[Tuple[Tuple[int, int, int], _TestingPoint, List[str]]]
            for point in points:
                diffs = _point_differences(point, category, measurement, tags, fields)
                rank = (int(category is not None and point.category != category),
                        int(measurement is not None and point.measurement != measurement),
                        len(diffs))
                if closest is None or rank < closest[0]:
                    closest = (rank, point, diffs)
            if closest is not None:
                lines.append("closest: [%s] %s" % (closest[1].category,
                                                   _display_line(closest[1].line)))
                lines.extend("  " + diff for diff in closest[2])
        lines.append(self._report())
        raise AssertionError("\n".join(lines))

    def _report(self) -> str:
        """What was reported, for failure messages."""
        points = self.points
        if not points:
            lines = ["reported: nothing"]
        else:
            lines = ["reported (%d point%s):" % (len(points), "" if len(points) == 1 else "s")]
            for point in points[:_FAILURE_LIST_MAX]:
                lines.append("  [%s] %s" % (point.category, _display_line(point.line)))
            if len(points) > _FAILURE_LIST_MAX:
                lines.append("  ... and %d more" % (len(points) - _FAILURE_LIST_MAX))
        refused = self.refused
        if refused:
            lines.append("refused requests (%d):" % len(refused))
            for request in refused[:_FAILURE_LIST_MAX]:
                code, message = _error_details(request.answer)
                lines.append("  %s: %d %s: %s" % (request.path, request.status, code,
                                                  _display_line(message)))
        other = [r for r in self.requests if r.status < 300 and
                 not r.path.startswith("/v1/write/") and
                 r.path.split("?", 1)[0] != "/v1/lasterror"]
        for request in other[:_FAILURE_LIST_MAX]:
            lines.append("other request: %s %s" % (request.path, _display_line(request.body)))
        for input_name, message in self.last_errors[:_FAILURE_LIST_MAX]:
            lines.append("set_lasterror(%r, %r)" % (input_name, message))
        return "\n".join(lines)

    # -- the agent's side --------------------------------------------------

    def _receive(self, plugin: Any, url: str, body: bytes, content_type: str) -> Tuple[int, str]:
        """Answers one request as pythond's agent would; records it. Thread-safe."""
        parts = urllib.parse.urlsplit(url)
        path = parts.path or "/"
        target = path + ("?" + parts.query if parts.query else "")
        text = bytes(body).decode("utf-8", errors="replace")
        plugin_name = getattr(plugin, "name", None)
        points = []  # type: List[_TestingPoint]
        last_error = None  # type: Optional[Tuple[str, str]]
        if path.startswith("/v1/write/"):
            status, answer, points = self._write(path[len("/v1/write/"):], parts.query, text,
                                                 content_type, plugin_name)
        elif path == "/v1/lasterror":
            status, answer, last_error = self._last_error(text)
        else:
            status, answer = _agent_error(404, "datakit.routeNotFound", "no route " + path)
        with self._lock:
            self._requests.append(_TestingRequest(target, content_type, text, plugin_name, url,
                                                  status, answer))
            self._points.extend(points)
            if last_error is not None:
                self._last_errors.append(last_error)
        return status, answer

    @staticmethod
    def _write(category: str, query: str, text: str, content_type: str,
               plugin_name: Optional[str]) -> Tuple[int, str, List[_TestingPoint]]:
        if category not in _WRITE_CATEGORIES:
            status, answer = _agent_error(
                400, "datakit.invalidCategory",
                "invalid category '%s' (want %s)" % (category, ", ".join(_WRITE_CATEGORIES)))
            return status, answer, []
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        input_name = (params.get("input") or [""])[0] or None
        precision = (params.get("precision") or [""])[0]
        if precision and precision not in _PRECISION_NS:
            status, answer = _agent_error(
                400, "datakit.invalidPrecision",
                "invalid precision '%s' (want n, u, ms, s, m or h)" % precision)
            return status, answer, []
        if not text.strip():
            status, answer = _agent_error(400, "datakit.emptyBody", "the request body is empty")
            return status, answer, []
        is_json = content_type.split(";", 1)[0].strip().lower() == "application/json"
        try:
            parsed = (_json_points if is_json else _parse_lp_body)(text, precision or None)
        except ValueError as exc:
            status, answer = _agent_error(
                400, "datakit.invalidJsonPoint" if is_json else "datakit.invalidLinePoint",
                str(exc))
            return status, answer, []
        if not parsed:
            status, answer = _agent_error(400, "datakit.noPoints",
                                          "the request body holds no points")
            return status, answer, []
        points = [_TestingPoint(category, m, tags, fields, ts, input_name, line, plugin_name)
                  for m, tags, fields, ts, line in parsed]
        return 200, "", points

    @staticmethod
    def _last_error(text: str) -> Tuple[int, str, Optional[Tuple[str, str]]]:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            status, answer = _agent_error(
                400, "datakit.invalidJsonPoint",
                'lasterror body must be {"input": ..., "err_content": ...}')
            return status, answer, None
        input_name = parsed.get("input")
        content = parsed.get("err_content")
        if not isinstance(input_name, str) or not input_name or not isinstance(content, str):
            status, answer = _agent_error(
                400, "datakit.invalidJsonPoint",
                'lasterror body needs string keys "input" and "err_content"')
            return status, answer, None
        return 200, "", (input_name, content)

    def _add_result(self, result: Any) -> None:
        with self._lock:
            self._results.append(result)


@contextlib.contextmanager
def _capture_requests() -> Iterator[_Capture]:
    """Captures every request the SDK makes, instead of sending it
    (``datakit_framework.testing.capture``)::

        from datakit_framework.testing import capture

        with capture() as cap:
            MyPlugin().run()
        cap.assert_metric('cpu', tags={'host': 'web01'}, fields={'usage': float})

    While the block runs, ``report()``, every ``feed_*`` helper,
    ``set_lasterror`` and ``http_post_json``/``http_post_raw`` of every
    plugin built on this module's ``DataKitFramework`` go to the yielded
    :class:`Capture` and nothing is sent: not to the agent, not to an
    explicit ``ip``/``port``, not through a pythond worker's pipe. Data is
    encoded exactly as in production, so bad data raises ``ValueError``
    from the plugin's call.

    The capture answers as pythond's agent does: a write it accepts gets
    status 200 and an empty body, so ``report()`` returns ""; a body the
    agent would refuse (a bad category or precision, unparsable line
    protocol) or an unknown path gets the agent's status and JSON error,
    which the SDK records as in production (``last_report_error``); see
    :attr:`Capture.refused`.

    Captures are process-wide (requests from any thread are captured) and
    thread-safe. Nested captures: the innermost active one receives the
    requests; the outer one sees none of them.
    """
    global _capture
    cap = _Capture()
    with _capture_lock:
        _capture_stack.append(cap)
        _capture = cap
    try:
        yield cap
    finally:
        with _capture_lock:
            _capture_stack.remove(cap)  # not always the last: captures may end out of order
            _capture = _capture_stack[-1] if _capture_stack else None


def _run_plugin(plugin: Any, times: int = 1) -> _Capture:
    """Runs a plugin's ``run()`` ``times`` times inside a :func:`capture`;
    returns the :class:`Capture` (``Capture.results`` holds each return value)::

        cap = run_plugin(MyPlugin)
        cap.assert_metric('cpu', fields={'usage': lambda v: 0 <= v <= 100})

    ``plugin`` is a ``DataKitFramework`` subclass (created with no
    arguments, inside the capture) or an instance. An exception from
    ``__init__`` or ``run()`` propagates unchanged, with the script's own
    traceback. Threads a plugin starts must finish before ``run()``
    returns, or their requests escape the capture.
    """
    if isinstance(plugin, type):
        if not issubclass(plugin, DataKitFramework):
            raise TypeError(_not_a_plugin(plugin))
    elif not isinstance(plugin, DataKitFramework):
        raise TypeError(_not_a_plugin(type(plugin)))
    if isinstance(times, bool) or not isinstance(times, int) or times < 0:
        raise ValueError("times must be an int >= 0, not %r" % (times,))
    with _capture_requests() as cap:
        instance = plugin() if isinstance(plugin, type) else plugin
        for _ in range(times):
            cap._add_result(instance.run())
    return cap


def _not_a_plugin(cls: type) -> str:
    text = "run_plugin() takes a DataKitFramework subclass or instance, not %s" % cls.__name__
    for base in cls.__mro__:
        if base.__name__ == "DataKitFramework" and base is not DataKitFramework:
            text += (" (%s derives from the DataKitFramework of module %r, this harness is "
                     "module %r: import the SDK under one name)"
                     % (cls.__name__, base.__module__, __name__))
            break
    return text


def _register_testing_module() -> types.ModuleType:
    """Builds the submodule "<this module>.testing" and registers it in sys.modules, so that
    ``from datakit_framework.testing import run_plugin`` works although this file is no
    package (the import system looks in sys.modules before it asks for a package path)."""
    name = __name__ + ".testing"
    module = types.ModuleType(name, """A test harness for pythond/DataKit collector scripts.

Run a plugin with no agent and no network and assert on the points it
reports, in a plain unittest or pytest test::

    import unittest
    from datakit_framework.testing import run_plugin

    from my_script import MyPlugin

    class MyPluginTest(unittest.TestCase):
        def test_reports_cpu(self):
            cap = run_plugin(MyPlugin)
            cap.assert_metric('cpu', tags={'host': 'web01'},
                              fields={'usage': lambda v: 0 <= v <= 100})

:func:`capture` (a context manager) captures every request the SDK makes;
:func:`run_plugin` runs a plugin inside one. Both give a :class:`Capture`
of :class:`Point` values, parsed back from the line protocol the SDK
produced, with the types the agent would store.
""")
    exported = (("Point", _TestingPoint), ("Request", _TestingRequest), ("Capture", _Capture),
                ("capture", _capture_requests), ("run_plugin", _run_plugin),
                ("parse_line_protocol", _parse_line_protocol))
    for public_name, obj in exported:
        obj.__name__ = public_name  # as help() and tracebacks should show them
        obj.__qualname__ = public_name
        obj.__module__ = name
        setattr(module, public_name, obj)
    module.__all__ = [public_name for public_name, _ in exported]
    sys.modules[name] = module
    return module


testing = _register_testing_module()
