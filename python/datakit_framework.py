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

Only the Python standard library is used (Python 3.8 or newer).
"""

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
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

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
# an explicit ip/port always use HTTP.
_agent_transport = None  # type: Optional[Any]
# Bodies larger than this go over HTTP even inside a worker (a protocol line is limited).
_TRANSPORT_MAX_BODY = 2 * 1024 * 1024

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

    def _post(self, url: str, body: bytes, content_type: str) -> str:
        """POSTs body to url; returns the answer text, never raises for I/O."""
        transport = _agent_transport
        if transport is not None and self._pythond_host is None and \
                len(body) <= _TRANSPORT_MAX_BODY:
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
