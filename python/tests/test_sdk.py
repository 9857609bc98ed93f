# encoding: utf-8
"""Tests of the pythond Python SDK (datakit_framework.py) against a real HTTP server.

Run: cd /work/main && python3 -m unittest discover -s python/tests -t python -v
"""

import contextlib
import copy
import datetime
import decimal
import http.server
import io
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import unittest
import urllib.parse
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import datakit_framework  # noqa: E402
from datakit_framework import DataKitFramework, to_line_protocol  # noqa: E402


class _Recorder(object):
    """What the test server saw, and what it answers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.status = 200
        self.answer = None  # None: echo the request path

    def reset(self):
        with self.lock:
            self.requests = []
            self.status = 200
            self.answer = None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        split = urllib.parse.urlsplit(self.path)
        recorder = self.server.recorder
        with recorder.lock:
            recorder.requests.append({
                "method": self.command,
                "path": split.path,
                "query": urllib.parse.parse_qs(split.query, keep_blank_values=True),
                "raw_query": split.query,
                "headers": dict((k.lower(), v) for k, v in self.headers.items()),
                "body": body.decode("utf-8"),
            })
            status = recorder.status
            answer = recorder.answer
        if answer is None:
            answer = "ok " + split.path
        payload = answer.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if status >= 300 else "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def _free_port():
    """A port with nothing listening on it (connection refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class _Plugin(DataKitFramework):
    name = "TestPlugin"
    interval = 5


SEED_POINTS = [
    {
        "measurement": "abc",
        "tags": {"t1": "b", "t2": "d"},
        "fields": {"f1": 123, "f2": 3.4, "f3": "strval"},
    },
    {
        "measurement": "def",
        "tags": {"t1": "b", "t2": "d"},
        "fields": {"f1": 123, "f2": 3.4, "f3": "strval"},
    },
]


class SdkTestCase(unittest.TestCase):
    """Starts one server for the class; every test gets a fresh env and log dir."""

    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        cls.server.daemon_threads = True
        cls.server.recorder = _Recorder()
        cls.port = cls.server.server_address[1]
        cls.thread = threading.Thread(target=cls.server.serve_forever, args=(0.05,),
                                      daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        cls.thread.join(5)

    def setUp(self):
        self.recorder = self.server.recorder
        self.recorder.reset()
        self.tmpdir = tempfile.mkdtemp(prefix="pythond-sdk-test-")
        env = mock.patch.dict(os.environ, {
            "PYTHOND_HTTP_ADDR": "127.0.0.1:%d" % self.port,
            "PYTHOND_SEED_LOG_DIR": self.tmpdir,
            "HOME": self.tmpdir,  # belt and braces: never touch the real home
        })
        env.start()
        self.addCleanup(env.stop)
        os.environ.pop("PYTHOND_INPUT", None)  # restored by env.stop()
        datakit_framework._reset_framework_log()
        self.addCleanup(shutil.rmtree, self.tmpdir, True)
        self.addCleanup(datakit_framework._reset_framework_log)

    @property
    def requests(self):
        with self.recorder.lock:
            return list(self.recorder.requests)

    def only_request(self):
        requests = self.requests
        self.assertEqual(len(requests), 1, requests)
        return requests[0]


class ReportTest(SdkTestCase):

    def test_each_category_letter_posts_to_its_path(self):
        plugin = _Plugin()
        expected = {"M": "metric", "L": "logging", "R": "rum", "O": "object",
                    "CO": "custom_object", "E": "keyevent"}
        for letter, category in expected.items():
            self.recorder.reset()
            answer = plugin.report({letter: [{"measurement": "m", "fields": {"v": 1}}]})
            req = self.only_request()
            self.assertEqual(req["method"], "POST")
            self.assertEqual(req["path"], "/v1/write/" + category)
            self.assertEqual(req["raw_query"], "")
            self.assertEqual(req["headers"]["content-type"], "text/plain; charset=utf-8")
            self.assertEqual(req["body"], "m v=1i\n")
            self.assertEqual(answer, "ok /v1/write/" + category)
        self.assertEqual(plugin.report_errors, 0)
        self.assertEqual(plugin.last_report_error, "")

    def test_all_categories_sent_in_datakit_order_and_last_answer_returned(self):
        point = [{"measurement": "m", "fields": {"v": 1}}]
        data = {"E": point, "CO": point, "O": point, "R": point, "L": point, "M": point}
        answer = _Plugin().report(data)
        paths = [r["path"] for r in self.requests]
        self.assertEqual(paths, ["/v1/write/metric", "/v1/write/logging", "/v1/write/rum",
                                 "/v1/write/object", "/v1/write/custom_object",
                                 "/v1/write/keyevent"])
        self.assertEqual(answer, "ok /v1/write/keyevent")

    def test_query_parameters_are_url_encoded(self):
        _Plugin().report({
            "M": [{"measurement": "m", "fields": {"v": 1}, "time": 1624550216}],
            "input": "my input&x=1",
            "precision": "s",
            "ignore_global_tags": True,
            "version": "1.2.3",
        })
        req = self.only_request()
        self.assertEqual(req["query"], {"input": ["my input&x=1"], "precision": ["s"],
                                        "ignore_global_tags": ["true"],
                                        "version": ["1.2.3"]})
        self.assertTrue(req["raw_query"].startswith("input=my+input%26x%3D1&precision=s&"))
        self.assertEqual(req["body"], "m v=1i 1624550216\n")

    def test_ignore_global_tags_string_passed_through(self):
        _Plugin().report({"M": [{"measurement": "m", "fields": {"v": 1}}],
                          "ignore_global_tags": "false", "input": ""})
        self.assertEqual(self.only_request()["query"], {"ignore_global_tags": ["false"]})

    def test_nothing_to_send_returns_empty_string(self):
        plugin = _Plugin()
        for data in (None, {}, {"input": "x"}, {"M": []}, {"M": None, "L": []}):
            self.assertEqual(plugin.report(data), "")
        self.assertEqual(self.requests, [])

    def test_seed_demo_script(self):
        class Demo(DataKitFramework):
            name = "Demo"
            interval = 10

            def run(self):
                data = copy.deepcopy(SEED_POINTS)
                in_data = {"M": data, "input": "datakitpy"}
                return self.report(in_data)

        answer = Demo().run()
        req = self.only_request()
        self.assertEqual(req["path"], "/v1/write/metric")
        self.assertEqual(req["query"], {"input": ["datakitpy"]})
        self.assertEqual(req["body"],
                         'abc,t1=b,t2=d f1=123i,f2=3.4,f3="strval"\n'
                         'def,t1=b,t2=d f1=123i,f2=3.4,f3="strval"\n')
        self.assertEqual(answer, "ok /v1/write/metric")

    def test_single_point_dict_is_accepted(self):
        _Plugin().report({"M": {"measurement": "m", "fields": {"v": 2}}})
        self.assertEqual(self.only_request()["body"], "m v=2i\n")

    def test_bad_point_in_any_category_sends_nothing(self):
        data = {"M": [{"measurement": "ok", "fields": {"v": 1}}],
                "E": [{"measurement": "bad", "fields": {"v": None}}]}
        with self.assertRaisesRegex(ValueError, '"bad"'):
            _Plugin().report(data)
        self.assertEqual(self.requests, [])

    def test_report_does_not_mutate_caller_data(self):
        data = {"M": [{"measurement": "m", "tags": {"t": None, "u": "x"},
                       "fields": {"a": 1, "b": None, "c": [1, 2]}, "time": 1.5}],
                "input": "in"}
        before = copy.deepcopy(data)
        _Plugin().report(data)
        self.assertEqual(data, before)

    def test_run_raises_not_implemented(self):
        with self.assertRaises(NotImplementedError):
            DataKitFramework().run()
        self.assertEqual(DataKitFramework.name, "DataKitFramework")
        self.assertEqual(DataKitFramework.interval, 10)

    def test_subclass_init_without_super_still_reports(self):
        class NoSuper(DataKitFramework):
            name = "NoSuper"

            def __init__(self):
                self.counter = 0

        plugin = NoSuper()
        plugin.report({"M": [{"measurement": "m", "fields": {"v": 1}}]})
        self.assertEqual(self.only_request()["path"], "/v1/write/metric")


class LineProtocolTest(SdkTestCase):

    def body_of(self, fields, tags=None, measurement="m", precision=None, **extra):
        point = {"measurement": measurement, "tags": tags, "fields": fields}
        point.update(extra)
        return to_line_protocol([point], precision=precision)

    def test_value_types(self):
        line = self.body_of({"i": 123, "n": -5, "f": 3.4, "one": 1.0, "t": True, "fa": False,
                             "s": "strval", "u": 2 ** 63, "big": 2 ** 64 - 1,
                             "min": -(2 ** 63)})
        self.assertEqual(line, 'm i=123i,n=-5i,f=3.4,one=1.0,t=true,fa=false,s="strval",'
                               'u=9223372036854775808u,big=18446744073709551615u,'
                               'min=-9223372036854775808i\n')

    def test_bool_is_not_an_int(self):
        self.assertEqual(self.body_of({"b": True}), "m b=true\n")

    def test_remembered_tag_sets_keep_their_types_and_escapes(self):
        # Encoded tag sets and tokens are cached: equal-but-different values must not collide,
        # and a cached escape must be the same as a fresh one.
        for _ in range(2):
            self.assertEqual(self.body_of({"f": 1}, tags={"a": 1}), "m,a=1 f=1i\n")
            self.assertEqual(self.body_of({"f": 1}, tags={"a": True}), "m,a=True f=1i\n")
            self.assertEqual(self.body_of({"f": 1}, tags={"a": 1.0}), "m,a=1.0 f=1i\n")
            self.assertEqual(self.body_of({"f": 1}, tags={"a b": "c,d"}), "m,a\\ b=c\\,d f=1i\n")
            self.assertEqual(self.body_of({"f": 1}, tags={"l": [1, 2]}), "m,l=[1\\,\\ 2] f=1i\n")
        with self.assertRaisesRegex(ValueError, 'value of tag "k"'):
            self.body_of({"f": 1}, tags={"k": "a\nb"})

    def test_floats_round_trip(self):
        for value in (0.1, 1e-7, 123456789.123, -0.0, 1e22, 2.5e-300, 1.7976931348623157e308):
            line = self.body_of({"f": value})
            text = line[len("m f="):-1]
            self.assertTrue("." in text or "e" in text, text)
            self.assertEqual(float(text), value)
            self.assertFalse(text.endswith("i"))

    def test_nan_and_inf_rejected_naming_the_field(self):
        for value in (float("nan"), float("inf"), float("-inf")):
            with self.assertRaisesRegex(ValueError, '"bad_field"'):
                self.body_of({"ok": 1, "bad_field": value})

    def test_integer_beyond_64_bits_rejected_naming_the_field(self):
        with self.assertRaisesRegex(ValueError, '"huge"'):
            self.body_of({"huge": 2 ** 64})
        with self.assertRaisesRegex(ValueError, '"tiny"'):
            self.body_of({"tiny": -(2 ** 63) - 1})

    def test_string_escaping(self):
        line = self.body_of({"s": 'say "hi" \\ back\\', "nl": "two\nlines"})
        self.assertEqual(line, 'm s="say \\"hi\\" \\\\ back\\\\",nl="two\nlines"\n')

    def test_bytes_and_containers(self):
        line = self.body_of({"b": b"caf\xc3\xa9 \xff", "l": [1, "a"], "d": {"k": True},
                             "t": (1, 2)})
        self.assertEqual(line, 'm b="caf\u00e9 \ufffd",l="[1, \\"a\\"]",'
                               'd="{\\"k\\": true}",t="[1, 2]"\n')

    def test_decimal_becomes_float(self):
        self.assertEqual(self.body_of({"d": decimal.Decimal("12.5")}), "m d=12.5\n")
        with self.assertRaisesRegex(ValueError, '"d"'):
            self.body_of({"d": decimal.Decimal("NaN")})

    def test_unsupported_type_rejected(self):
        with self.assertRaisesRegex(ValueError, '"obj"'):
            self.body_of({"obj": object()})

    def test_none_fields_dropped_and_all_none_rejected(self):
        self.assertEqual(self.body_of({"a": None, "b": 1}), "m b=1i\n")
        with self.assertRaisesRegex(ValueError, '"lonely"'):
            self.body_of({"a": None}, measurement="lonely")
        with self.assertRaisesRegex(ValueError, '"empty"'):
            self.body_of({}, measurement="empty")

    def test_tags(self):
        line = self.body_of({"v": 1}, tags={"none": None, "empty": "", "num": 5, "s": "x"})
        self.assertEqual(line, "m,num=5,s=x v=1i\n")
        self.assertEqual(self.body_of({"v": 1}, tags=None), "m v=1i\n")

    def test_escaping_of_names(self):
        line = self.body_of({"f k=,": 1}, tags={"t k=,": "v a=,l"}, measurement="my m,x=y")
        self.assertEqual(line, "my\\ m\\,x=y,t\\ k\\=\\,=v\\ a\\=\\,l f\\ k\\=\\,=1i\n")

    def test_backslashes_in_names(self):
        # Plain Windows paths pass unchanged; a backslash that would read as an
        # escape (at the end, or before a special character) is doubled.
        line = self.body_of({"v": 1}, tags={"path": "C:\\dir\\x", "end": "C:\\"})
        self.assertEqual(line, "m,path=C:\\dir\\x,end=C:\\\\ v=1i\n")

    def test_newlines_in_names_rejected(self):
        with self.assertRaisesRegex(ValueError, "measurement"):
            self.body_of({"v": 1}, measurement="a\nb")
        with self.assertRaisesRegex(ValueError, 'tag "host"'):
            self.body_of({"v": 1}, tags={"host": "a\nb"})
        with self.assertRaisesRegex(ValueError, "tag key"):
            self.body_of({"v": 1}, tags={"a\nb": "x"})
        with self.assertRaisesRegex(ValueError, "field key"):
            self.body_of({"a\nb": 1})

    def test_missing_measurement_rejected(self):
        with self.assertRaisesRegex(ValueError, "measurement"):
            to_line_protocol([{"fields": {"v": 1}}])
        with self.assertRaisesRegex(ValueError, "dict"):
            to_line_protocol(["m v=1i"])

    def test_time(self):
        self.assertEqual(self.body_of({"v": 1}, time=1624550216), "m v=1i 1624550216\n")
        self.assertEqual(self.body_of({"v": 1}, time=1624550216.25),
                         "m v=1i 1624550216250000000\n")
        self.assertEqual(self.body_of({"v": 1}, time=1624550216250.0),
                         "m v=1i 1624550216250000000\n")
        self.assertEqual(self.body_of({"v": 1}, time=1624550216.75, precision="s"),
                         "m v=1i 1624550216\n")
        when = datetime.datetime(2021, 6, 24, 16, 36, 56, 500000, tzinfo=datetime.timezone.utc)
        self.assertEqual(self.body_of({"v": 1}, time=when), "m v=1i 1624552616500000000\n")
        self.assertEqual(self.body_of({"v": 1}, time=when, precision="ms"),
                         "m v=1i 1624552616500\n")
        self.assertEqual(self.body_of({"v": 1}), "m v=1i\n")
        for bad in (True, "1624550216", float("nan")):
            with self.assertRaisesRegex(ValueError, "time"):
                self.body_of({"v": 1}, time=bad)

    def test_float_time_in_report_becomes_nanoseconds(self):
        _Plugin().report({"M": [{"measurement": "m", "fields": {"v": 1}, "time": 1700000000.5}]})
        self.assertEqual(self.only_request()["body"], "m v=1i 1700000000500000000\n")

    def test_empty_list(self):
        self.assertEqual(to_line_protocol([]), "")


class FeedTest(SdkTestCase):

    def test_feed_metric_as_in_seed(self):
        measurement = "mydata"
        tags = {"tag1": "val1", "tag2": "val2"}
        fields = {"custom_field1": "val1", "custom_field2": 1000}
        kwargs = {"custom_key1": "custom_value1", "custom_key2": "custom_value2"}
        before = copy.deepcopy((tags, fields, kwargs))
        answer = _Plugin().feed_metric(measurement=measurement, tags=tags, fields=fields,
                                       **kwargs)
        req = self.only_request()
        self.assertEqual(req["path"], "/v1/write/metric")
        self.assertEqual(req["query"], {})
        self.assertEqual(req["body"],
                         'mydata,tag1=val1,tag2=val2 custom_field1="val1",custom_field2=1000i,'
                         'custom_key1="custom_value1",custom_key2="custom_value2"\n')
        self.assertEqual(answer, "ok /v1/write/metric")
        self.assertEqual((tags, fields, kwargs), before)

    def test_feed_metric_positional_input_and_time(self):
        fields = {"v": 1.5, "w": 1}
        _Plugin().feed_metric("myinput", "m", None, fields, 1624550216, w=2)
        req = self.only_request()
        self.assertEqual(req["query"], {"input": ["myinput"]})
        self.assertEqual(req["body"], "m v=1.5,w=2i 1624550216\n")
        self.assertEqual(fields, {"v": 1.5, "w": 1})

    def test_feed_metric_fields_from_kwargs_only(self):
        _Plugin().feed_metric(measurement="m", value=3)
        self.assertEqual(self.only_request()["body"], "m value=3i\n")

    def test_feed_metric_missing_arguments(self):
        plugin = _Plugin()
        with self.assertRaisesRegex(ValueError, 'arguments missing "measurement"'):
            plugin.feed_metric(fields={"v": 1})
        with self.assertRaisesRegex(ValueError, 'arguments missing "fields"'):
            plugin.feed_metric(measurement="m")
        with self.assertRaisesRegex(ValueError, '"m"'):
            plugin.feed_metric(measurement="m", fields={"v": None})
        self.assertEqual(self.requests, [])

    def test_feed_logging_as_in_seed(self):
        tags = {"tag1": "val1", "tag2": "val2"}
        kwargs = {"custom_key1": "custom_value1"}
        before = copy.deepcopy((tags, kwargs))
        _Plugin().feed_logging(source="mydata", tags=tags,
                               message="This is the message for testing", **kwargs)
        req = self.only_request()
        self.assertEqual(req["path"], "/v1/write/logging")
        self.assertEqual(req["body"],
                         'mydata,tag1=val1,tag2=val2 message="This is the message for testing",'
                         'custom_key1="custom_value1"\n')
        self.assertNotIn("status", req["body"])
        self.assertEqual((tags, kwargs), before)

    def test_feed_logging_positional_status_and_multiline(self):
        _Plugin().feed_logging("in", "app", None, "line1\nline \"2\"", 1624550216,
                               status="error")
        req = self.only_request()
        self.assertEqual(req["query"], {"input": ["in"]})
        self.assertEqual(req["body"],
                         'app message="line1\nline \\"2\\"",status="error" 1624550216\n')

    def test_feed_logging_missing_arguments(self):
        plugin = _Plugin()
        with self.assertRaisesRegex(ValueError, 'arguments missing "source"'):
            plugin.feed_logging(message="x")
        with self.assertRaisesRegex(ValueError, 'arguments missing "message"'):
            plugin.feed_logging(source="s")
        self.assertEqual(self.requests, [])

    def test_feed_object_as_in_seed(self):
        tags = {"tag1": "val1"}
        fields = {"custom_field1": "val1", "custom_field2": 1000}
        before = copy.deepcopy((tags, fields))
        _Plugin().feed_object(cls="mydata", name="name", tags=tags, fields=fields,
                              custom_key1="custom_value1")
        req = self.only_request()
        self.assertEqual(req["path"], "/v1/write/object")
        self.assertEqual(req["body"],
                         'mydata,tag1=val1,name=name custom_field1="val1",custom_field2=1000i,'
                         'custom_key1="custom_value1"\n')
        self.assertEqual((tags, fields), before)

    def test_feed_object_positional_and_tags_none(self):
        _Plugin().feed_object("in", "host", "web01", None, {"cpu": 4}, 1624550216)
        req = self.only_request()
        self.assertEqual(req["query"], {"input": ["in"]})
        self.assertEqual(req["body"], "host,name=web01 cpu=4i 1624550216\n")

    def test_feed_object_missing_arguments(self):
        plugin = _Plugin()
        with self.assertRaisesRegex(ValueError, 'arguments missing "cls"'):
            plugin.feed_object(name="n", fields={"v": 1})
        with self.assertRaisesRegex(ValueError, 'arguments missing "name"'):
            plugin.feed_object(cls="c", fields={"v": 1})


class EventTest(SdkTestCase):
    TAGS = {"tag1": "val1", "tag2": "val2"}
    KWARGS = {"custom_key1": "custom_value1", "custom_key2": "custom_value2",
              "custom_key3": "custom_value3"}
    TAIL = ('df_status="info",df_event_id="event_id",df_title="title",df_message="message",'
            'custom_key1="custom_value1",custom_key2="custom_value2",'
            'custom_key3="custom_value3"\n')

    def test_user_event_positional_as_in_seed(self):
        tags, kwargs = dict(self.TAGS), dict(self.KWARGS)
        answer = _Plugin().feed_user_event("user_id", tags, 10, "info", "event_id", "title",
                                           "message", **kwargs)
        req = self.only_request()
        self.assertEqual(req["path"], "/v1/write/keyevent")
        self.assertEqual(req["body"],
                         'measurement,tag1=val1,tag2=val2 df_date_range=10i,df_source="user",'
                         'df_user_id="user_id",' + self.TAIL)
        self.assertEqual(answer, "ok /v1/write/keyevent")
        self.assertEqual((tags, kwargs), (self.TAGS, self.KWARGS))

    def test_user_event_keywords_as_in_seed(self):
        _Plugin().feed_user_event(df_user_id="user_id", tags=self.TAGS, df_date_range=10,
                                  df_status="info", df_event_id="event_id", df_title="title",
                                  df_message="message", **self.KWARGS)
        self.assertEqual(self.only_request()["body"],
                         'measurement,tag1=val1,tag2=val2 df_date_range=10i,df_source="user",'
                         'df_user_id="user_id",' + self.TAIL)

    def test_monitor_event_positional_as_in_seed(self):
        dimension_tags = '{"host":"web01"}'
        _Plugin().feed_monitor_event(dimension_tags, self.TAGS, 10, "info", "event_id",
                                     "title", "message", **self.KWARGS)
        req = self.only_request()
        self.assertEqual(req["path"], "/v1/write/keyevent")
        self.assertEqual(req["body"],
                         'measurement,tag1=val1,tag2=val2 df_date_range=10i,'
                         'df_source="monitor",df_dimension_tags="{\\"host\\":\\"web01\\"}",'
                         + self.TAIL)

    def test_monitor_event_keywords(self):
        _Plugin().feed_monitor_event(df_dimension_tags='{"host":"web01"}', tags=None,
                                     df_status="ok", df_event_id="e", df_title="t")
        self.assertEqual(self.only_request()["body"],
                         'measurement df_date_range=10i,df_source="monitor",'
                         'df_dimension_tags="{\\"host\\":\\"web01\\"}",df_status="ok",'
                         'df_event_id="e",df_title="t",df_message=""\n')

    def test_system_event_positional_as_in_seed(self):
        _Plugin().feed_system_event(self.TAGS, 10, "info", "event_id", "title", "message",
                                    **self.KWARGS)
        req = self.only_request()
        self.assertEqual(req["path"], "/v1/write/keyevent")
        self.assertEqual(req["body"],
                         'measurement,tag1=val1,tag2=val2 df_date_range=10i,'
                         'df_source="system",' + self.TAIL)

    def test_event_defaults_tags_none_and_message_none(self):
        _Plugin().feed_system_event(None, "30", "warning", "id1", "disk full")
        self.assertEqual(self.only_request()["body"],
                         'measurement df_date_range=30i,df_source="system",'
                         'df_status="warning",df_event_id="id1",df_title="disk full",'
                         'df_message=""\n')

    def test_event_missing_arguments(self):
        plugin = _Plugin()
        base = {"df_status": "info", "df_event_id": "id", "df_title": "title"}
        for missing in ("df_status", "df_event_id", "df_title", "df_date_range"):
            args = dict(base)
            args[missing] = None
            for call in (lambda: plugin.feed_user_event("uid", **args),
                         lambda: plugin.feed_monitor_event('{"h":"a"}', **args),
                         lambda: plugin.feed_system_event(**args)):
                with self.assertRaises(ValueError) as ctx:
                    call()
                self.assertEqual(str(ctx.exception), 'arguments missing "%s"' % missing)
        with self.assertRaisesRegex(ValueError, '^arguments missing "df_user_id"$'):
            plugin.feed_user_event(None, **base)
        with self.assertRaisesRegex(ValueError, '^arguments missing "df_dimension_tags"$'):
            plugin.feed_monitor_event(None, **base)
        with self.assertRaisesRegex(ValueError, "df_date_range"):
            plugin.feed_system_event(df_date_range="soon", **base)
        self.assertEqual(self.requests, [])


class TransportTest(SdkTestCase):

    def test_refused_write_is_reported_not_raised(self):
        self.recorder.status = 400
        self.recorder.answer = json.dumps({"error_code": "datakit.invalidLinePoint",
                                           "message": "line 1: bad"})
        plugin = _Plugin()
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            answer = plugin.report({"M": [{"measurement": "m", "fields": {"v": 1}}]})
        url = "http://127.0.0.1:%d/v1/write/metric" % self.port
        line = ("E! pythond SDK: write to %s refused: 400 datakit.invalidLinePoint: line 1: bad"
                % url)
        self.assertEqual(stderr.getvalue(), line + "\n")
        self.assertEqual(answer, self.recorder.answer)
        self.assertEqual(plugin.report_errors, 1)
        self.assertEqual(plugin.last_report_error, line[len("E! pythond SDK: "):])
        log = os.path.join(self.tmpdir, "_datakit_pythond_framework__.log")
        datakit_framework._reset_framework_log()
        with open(log, encoding="utf-8") as f:
            content = f.read()
        self.assertIn("ERROR", content)
        self.assertIn("datakit.invalidLinePoint", content)

    def test_refused_write_with_non_json_body(self):
        self.recorder.status = 503
        self.recorder.answer = "busy"
        plugin = _Plugin()
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            self.assertEqual(plugin.report({"L": [{"measurement": "m",
                                                   "fields": {"message": "x"}}]}), "busy")
        self.assertIn("refused: 503 Service Unavailable: busy", stderr.getvalue())
        self.assertEqual(plugin.report_errors, 1)

    def test_connection_refused_is_reported_not_raised(self):
        port = _free_port()
        plugin = _Plugin(ip="127.0.0.1", port=port)
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            answer = plugin.report({"M": [{"measurement": "m", "fields": {"v": 1}}]})
            answer2 = plugin.set_lasterror("in", "boom")
        self.assertEqual(answer, "")
        self.assertEqual(answer2, "")
        self.assertEqual(plugin.report_errors, 2)
        lines = stderr.getvalue().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[0].startswith(
            "E! pythond SDK: write to http://127.0.0.1:%d/v1/write/metric failed: " % port))
        self.assertIn("/v1/lasterror failed", plugin.last_report_error)

    def test_timeout_kwarg(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)  # accepts connections into the backlog, never answers
        plugin = _Plugin(ip="127.0.0.1", port=sock.getsockname()[1], timeout=0.3)
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            self.assertEqual(plugin.report({"M": [{"measurement": "m",
                                                   "fields": {"v": 1}}]}), "")
        self.assertIn("timed out", stderr.getvalue())
        self.assertEqual(plugin.report_errors, 1)

    def test_pythond_http_addr_honoured_and_ip_port_override_it(self):
        with mock.patch.dict(os.environ, {"PYTHOND_HTTP_ADDR": "127.0.0.1:%d" % _free_port()}):
            plugin = _Plugin(ip="127.0.0.1", port=self.port)
            plugin.report({"M": [{"measurement": "m", "fields": {"v": 1}}]})
        self.assertEqual(plugin.report_errors, 0)
        self.assertEqual(len(self.requests), 1)

        self.recorder.reset()
        with mock.patch.dict(os.environ, {"PYTHOND_HTTP_ADDR": "localhost:%d" % self.port}):
            plugin = _Plugin()
            plugin.report({"M": [{"measurement": "m", "fields": {"v": 1}}]})
        self.assertEqual(plugin.report_errors, 0)
        self.assertEqual(len(self.requests), 1)

    def test_environment_proxy_not_used_for_loopback(self):
        dead_proxy = "http://127.0.0.1:%d" % _free_port()
        with mock.patch.dict(os.environ, {"http_proxy": dead_proxy, "HTTP_PROXY": dead_proxy,
                                          "no_proxy": "", "NO_PROXY": ""}):
            plugin = _Plugin()
            answer = plugin.report({"M": [{"measurement": "m", "fields": {"v": 1}}]})
        self.assertEqual(answer, "ok /v1/write/metric")
        self.assertEqual(plugin.report_errors, 0)

    def test_address_resolution(self):
        with mock.patch.dict(os.environ, {"PYTHOND_HTTP_ADDR": "[::1]:9600"}):
            self.assertEqual(_Plugin()._base_url(), "http://[::1]:9600")
        with mock.patch.dict(os.environ, {"PYTHOND_HTTP_ADDR": "10.0.0.2:1234"}):
            self.assertEqual(_Plugin()._base_url(), "http://10.0.0.2:1234")
            self.assertEqual(_Plugin(ip="10.0.0.3")._base_url(), "http://10.0.0.3:9529")
            self.assertEqual(_Plugin(port=9530)._base_url(), "http://127.0.0.1:9530")
            self.assertEqual(_Plugin(ip="::1", port=1)._base_url(), "http://[::1]:1")
        os.environ.pop("PYTHOND_HTTP_ADDR")
        self.assertEqual(_Plugin()._base_url(), "http://127.0.0.1:9529")
        self.assertEqual(datakit_framework._parse_addr("host"), ("host", 9529))
        self.assertEqual(datakit_framework._parse_addr("http://h:1/"), ("h", 1))

    def test_plugin_header(self):
        _Plugin().report({"M": [{"measurement": "m", "fields": {"v": 1}}]})
        self.assertNotIn("x-pythond-plugin", self.only_request()["headers"])
        self.recorder.reset()
        with mock.patch.dict(os.environ, {"PYTHOND_INPUT": "myinput"}):
            _Plugin().report({"M": [{"measurement": "m", "fields": {"v": 1}}]})
        self.assertEqual(self.only_request()["headers"]["x-pythond-plugin"],
                         "myinput/TestPlugin")

    def test_set_lasterror(self):
        answer = _Plugin().set_lasterror("myinput", "something broke")
        req = self.only_request()
        self.assertEqual(req["path"], "/v1/lasterror")
        self.assertEqual(req["headers"]["content-type"], "application/json")
        self.assertEqual(json.loads(req["body"]),
                         {"input": "myinput", "err_content": "something broke"})
        self.assertEqual(answer, "ok /v1/lasterror")

    def test_set_lasterror_accepts_exception(self):
        _Plugin().set_lasterror("in", RuntimeError("bad thing"))
        self.assertEqual(json.loads(self.only_request()["body"])["err_content"], "bad thing")

    def test_set_lasterror_refused(self):
        self.recorder.status = 400
        self.recorder.answer = '{"error_code":"datakit.badRequest","message":"no input"}'
        plugin = _Plugin()
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            plugin.set_lasterror("x", "y")
        self.assertIn("/v1/lasterror refused: 400 datakit.badRequest: no input",
                      stderr.getvalue())
        self.assertEqual(plugin.report_errors, 1)


class FrameworkLogTest(SdkTestCase):

    def refused_write(self, plugin):
        self.recorder.status = 400
        self.recorder.answer = '{"error_code":"datakit.x","message":"nope"}'
        with contextlib.redirect_stderr(io.StringIO()):
            plugin.report({"M": [{"measurement": "m", "fields": {"v": 1}}]})
        datakit_framework._reset_framework_log()

    def test_log_file_named_after_pythond_input(self):
        with mock.patch.dict(os.environ, {"PYTHOND_INPUT": "some-python-inputs"}):
            self.refused_write(_Plugin())
        path = os.path.join(self.tmpdir, "_datakit_pythond_framework_some-python-inputs_.log")
        self.assertTrue(os.path.isfile(path), os.listdir(self.tmpdir))
        with open(path, encoding="utf-8") as f:
            content = f.read()
        self.assertRegex(content, r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ERROR plugin TestPlugin: "
                                  r"write to .* refused: 400 datakit.x: nope")

    def test_log_file_name_outside_pythond(self):
        self.refused_write(_Plugin())
        self.assertIn("_datakit_pythond_framework__.log", os.listdir(self.tmpdir))

    def test_successful_writes_stay_out_of_the_log(self):
        _Plugin().report({"M": [{"measurement": "m", "fields": {"v": 1}}]})
        datakit_framework._reset_framework_log()
        path = os.path.join(self.tmpdir, "_datakit_pythond_framework__.log")
        with open(path, encoding="utf-8") as f:
            content = f.read()
        self.assertNotIn("DEBUG", content)
        self.assertNotIn("/v1/write/metric:", content)

    def test_unwritable_log_dir_does_not_break_reports(self):
        not_a_dir = os.path.join(self.tmpdir, "file")
        with open(not_a_dir, "w") as f:
            f.write("x")
        with mock.patch.dict(os.environ, {"PYTHOND_SEED_LOG_DIR": not_a_dir}):
            plugin = _Plugin()
            self.recorder.status = 400
            self.recorder.answer = "{}"
            with contextlib.redirect_stderr(io.StringIO()) as stderr:
                plugin.report({"M": [{"measurement": "m", "fields": {"v": 1}}]})
            self.assertEqual(stderr.getvalue().count("\n"), 1)
            self.recorder.reset()
            self.assertEqual(plugin.report({"M": [{"measurement": "m", "fields": {"v": 1}}]}),
                             "ok /v1/write/metric")
        self.assertEqual(plugin.report_errors, 1)


if __name__ == "__main__":
    unittest.main()
