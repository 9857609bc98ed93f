# encoding: utf-8
"""Tests of the script authors' test harness, datakit_framework.testing, and of the SDK's
routing switches (_capture, _route_all_to_agent).

No test here opens a socket: the SDK's HTTP openers are replaced by a guard that records and
refuses every call, so a request that escapes a capture fails the test.

Run: cd /work/main && python3 -m unittest discover -s python/tests -t python -v
"""

import contextlib
import importlib.util
import io
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import traceback
import unittest
import urllib.error
from unittest import mock

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(PYTHON_DIR)
SDK_PATH = os.path.join(PYTHON_DIR, "datakit_framework.py")
sys.path.insert(0, PYTHON_DIR)

import datakit_framework  # noqa: E402
from datakit_framework import DataKitFramework, to_line_protocol  # noqa: E402
from datakit_framework.testing import (Capture, Point, capture, parse_line_protocol,  # noqa: E402
                                       run_plugin)


class _NetworkGuard(object):
    """Stands in for the SDK's urllib openers: records each call and refuses it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.urls = []

    def open(self, request, timeout=None):
        with self.lock:
            self.urls.append(request.full_url)
        raise urllib.error.URLError("network disabled by the test")


class HarnessTestCase(unittest.TestCase):
    """A fresh environment per test, no network, and the SDK's switches restored."""

    def setUp(self):
        self.tmpdir = tempfile.mkdtemp(prefix="pythond-testing-test-")
        self.addCleanup(shutil.rmtree, self.tmpdir, True)
        env = mock.patch.dict(os.environ, {
            "PYTHOND_HTTP_ADDR": "127.0.0.1:1",  # nothing listens on port 1
            "PYTHOND_SEED_LOG_DIR": self.tmpdir,
            "HOME": self.tmpdir,
        })
        env.start()
        self.addCleanup(env.stop)
        os.environ.pop("PYTHOND_INPUT", None)  # restored by env.stop()
        datakit_framework._reset_framework_log()
        self.addCleanup(datakit_framework._reset_framework_log)
        self.guard = _NetworkGuard()
        for name in ("_direct_opener", "_env_opener"):
            patcher = mock.patch.object(datakit_framework, name, self.guard)
            patcher.start()
            self.addCleanup(patcher.stop)
        for name, value in (("_agent_transport", None), ("_route_all_to_agent", False),
                            ("_capture", None)):
            patcher = mock.patch.object(datakit_framework, name, value)
            patcher.start()
            self.addCleanup(patcher.stop)
        self.addCleanup(self.assertEqual, datakit_framework._capture_stack, [],
                        "a capture was left active")

    def assertNoNetwork(self):  # noqa: N802
        self.assertEqual(self.guard.urls, [], "requests escaped to the network")


# The seed's example script (examples/quickstart/python.d/mytest/test.py), inline.
class MyTest(DataKitFramework):
    name = "MyTest"
    interval = 10

    def run(self):
        print("MyTest")
        data = [
            {"measurement": "abc", "tags": {"t1": "b", "t2": "d"},
             "fields": {"f1": 123, "f2": 3.4, "f3": "strval"}},
            {"measurement": "def", "tags": {"t1": "b", "t2": "d"},
             "fields": {"f1": 123, "f2": 3.4, "f3": "strval"}},
        ]
        return self.report({"M": data, "input": "datakitpy"})


def _quiet_run(plugin, times=1):
    with contextlib.redirect_stdout(io.StringIO()):
        return run_plugin(plugin, times)


class SeedExampleTest(HarnessTestCase):

    def check_seed(self, cap):
        for measurement in ("abc", "def"):
            matched = cap.assert_metric(measurement, tags={"t1": "b", "t2": "d"},
                                        fields={"f1": 123, "f2": 3.4, "f3": "strval"}, count=1)
            point = matched[0]
            self.assertEqual(point.tags, {"t1": "b", "t2": "d"})
            self.assertEqual(point.fields, {"f1": 123, "f2": 3.4, "f3": "strval"})
            self.assertIs(type(point.fields["f1"]), int)
            self.assertIs(type(point.fields["f2"]), float)
            self.assertEqual(point.input, "datakitpy")
            self.assertEqual(point.plugin, "MyTest")
            self.assertEqual(point.category, "metric")
            self.assertIsNone(point.time)
        self.assertEqual(cap.lines(), ['abc,t1=b,t2=d f1=123i,f2=3.4,f3="strval"',
                                       'def,t1=b,t2=d f1=123i,f2=3.4,f3="strval"'])
        self.assertEqual([p.measurement for p in cap.metrics], ["abc", "def"])
        self.assertEqual(len(cap.points), 2)
        self.assertEqual(cap.results, [""])  # the agent's answer to a write: 200, empty body
        self.assertEqual([(r.path, r.content_type, r.status) for r in cap.requests],
                         [("/v1/write/metric?input=datakitpy", "text/plain; charset=utf-8",
                           200)])
        self.assertEqual(cap.requests[0].body, "\n".join(cap.lines()) + "\n")
        self.assertEqual(cap.requests[0].url,
                         "http://127.0.0.1:1/v1/write/metric?input=datakitpy")
        self.assertNoNetwork()

    def test_seed_example(self):
        plugin = MyTest()
        self.check_seed(_quiet_run(plugin))
        self.assertEqual(plugin.report_errors, 0)

    def test_quickstart_seed_file(self):
        path = os.path.join(REPO_DIR, "examples", "quickstart", "python.d", "mytest", "test.py")
        spec = importlib.util.spec_from_file_location("pythond_quickstart_seed", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.check_seed(_quiet_run(module.MyTest))


class FeedHelpersTest(HarnessTestCase):

    def test_feed_metric(self):
        with capture() as cap:
            answer = DataKitFramework().feed_metric(
                input="in1", measurement="cpu", tags={"host": "web01"},
                fields={"usage": 0.5, "n": 2}, time=1700000000, cores=8)
        self.assertEqual(answer, "")
        point = cap.assert_metric("cpu", tags={"host": "web01"},
                                  fields={"usage": 0.5, "n": 2, "cores": 8}, count=1)[0]
        self.assertEqual(point.input, "in1")
        self.assertEqual(point.time, 1700000000 * 10 ** 9)
        self.assertEqual(point.plugin, "DataKitFramework")
        self.assertNoNetwork()

    def test_feed_logging(self):
        with capture() as cap:
            DataKitFramework().feed_logging(source="nginx", tags={"path": "/x"},
                                            message="GET /x 500", status="error")
        cap.assert_logging("nginx", message="GET /x 500", tags={"path": "/x"},
                           fields={"status": "error"}, count=1)
        self.assertEqual(len(cap.logging), 1)
        self.assertEqual(cap.metrics, [])
        with self.assertRaises(AssertionError):
            cap.assert_logging("nginx", message="GET /y")

    def test_feed_object(self):
        with capture() as cap:
            DataKitFramework().feed_object(cls="host", name="web01", tags={"dc": "eu"},
                                           fields={"cpus": 4}, state="up")
        cap.assert_object("host", name="web01", tags={"dc": "eu"},
                          fields={"cpus": 4, "state": "up"}, count=1)
        self.assertEqual(cap.objects[0].tags, {"dc": "eu", "name": "web01"})
        with self.assertRaises(AssertionError):
            cap.assert_object("host", name="web02")

    def test_feed_events(self):
        plugin = DataKitFramework()
        with capture() as cap:
            plugin.feed_user_event(df_user_id="u1", df_status="info", df_event_id="e1",
                                   df_title="user did it")
            plugin.feed_monitor_event(df_dimension_tags='{"host":"web01"}', tags={"t": "v"},
                                      df_date_range=60, df_status="error", df_event_id="e2",
                                      df_title="cpu high", df_message="90%")
            plugin.feed_system_event(df_status="ok", df_event_id="e3", df_title="restarted",
                                     reason="upgrade")
        self.assertEqual(len(cap.events), 3)
        cap.assert_event(status="info", title="user did it", source="user",
                         fields={"df_user_id": "u1", "df_date_range": 10, "df_message": ""},
                         count=1)
        cap.assert_event(status="error", source="monitor", tags={"t": "v"},
                         fields={"df_dimension_tags": '{"host":"web01"}', "df_date_range": 60,
                                 "df_message": "90%"}, count=1)
        cap.assert_event(status="ok", title="restarted", source="system",
                         fields={"reason": "upgrade"}, count=1)
        cap.assert_event(count=3)
        self.assertEqual({p.measurement for p in cap.events}, {"measurement"})
        with self.assertRaises(AssertionError):
            cap.assert_event(status="critical")

    def test_every_report_letter(self):
        point = {"measurement": "m", "fields": {"v": 1}}
        with capture() as cap:
            DataKitFramework().report({letter: [point] for letter in
                                       ("M", "L", "R", "O", "CO", "E")})
        self.assertEqual([p.category for p in cap.points],
                         ["metric", "logging", "rum", "object", "custom_object", "keyevent"])
        for points in (cap.metrics, cap.logging, cap.rum, cap.objects, cap.custom_objects,
                       cap.events):
            self.assertEqual(len(points), 1)
        self.assertEqual(cap.lines("CO"), ["m v=1i"])
        self.assertEqual(cap.lines("custom_object"), ["m v=1i"])
        cap.assert_point("CO", "m", fields={"v": 1}, count=1)
        cap.assert_point("rum", "m", count=1)
        with self.assertRaises(AssertionError):
            cap.assert_point("network", "m")


class TypesTest(HarnessTestCase):

    def report(self, fields):
        with capture() as cap:
            DataKitFramework().report({"M": [{"measurement": "m", "fields": fields}]})
        return cap

    def test_wire_types_survive(self):
        cap = self.report({"i": 123, "f": 123.0, "b": True, "u": 2 ** 63, "s": "123",
                           "neg": -5, "big": 1e20, "tiny": 5e-324, "zero": -0.0,
                           "l": [1, 2]})
        fields = cap.points[0].fields
        expected = {"i": (123, int), "f": (123.0, float), "b": (True, bool),
                    "u": (2 ** 63, int), "s": ("123", str), "neg": (-5, int),
                    "big": (1e20, float), "tiny": (5e-324, float), "zero": (-0.0, float),
                    "l": ("[1, 2]", str)}
        for key, (value, kind) in expected.items():
            self.assertIs(type(fields[key]), kind, key)
            self.assertEqual(fields[key], value, key)
        self.assertEqual(math.copysign(1, fields["zero"]), -1)

    def test_int_and_float_do_not_match_each_other(self):
        cap = self.report({"i": 123, "f": 123.0, "b": True, "one": 1})
        cap.assert_metric("m", fields={"i": 123, "f": 123.0, "b": True, "one": 1})
        for wrong in ({"i": 123.0}, {"f": 123}, {"b": 1}, {"one": True}, {"i": "123"}):
            with self.assertRaises(AssertionError, msg=wrong):
                cap.assert_metric("m", fields=wrong)

    def test_list_field_matches_its_json_text(self):
        cap = self.report({"l": [1, "a"], "d": {"k": 1}})
        cap.assert_metric("m", fields={"l": [1, "a"], "d": {"k": 1}})
        cap.assert_metric("m", fields={"l": '[1, "a"]'})
        with self.assertRaises(AssertionError):
            cap.assert_metric("m", fields={"l": [1, "b"]})


WEIRD = [
    "plain", "with space", "a,comma", "a=equals", 'a"quote', "back\\slash", "end\\",
    "\\start", "C:\\Program Files\\x", "\\\\double", "\\ ", "\\,", "\\=", "multi  space",
    "ünïcödé ✓ 测量 🚀", "'single'", "tab\tinside", "=lead", ",lead", " lead", "trail ",
]


class EscapesTest(HarnessTestCase):

    def test_round_trip_through_the_capture(self):
        fields = {key: value for key, value in zip(WEIRD, reversed(WEIRD))}
        fields["multi line"] = 'line1\nline2 "quoted" \\ end\\'
        for measurement in WEIRD:
            if measurement.startswith(" ") or measurement.startswith("\t"):
                continue
            tags = {key: value for key, value in zip(WEIRD, WEIRD[1:] + WEIRD[:1])}
            with capture() as cap:
                DataKitFramework().report({"M": [
                    {"measurement": measurement, "tags": tags, "fields": fields}]})
            self.assertEqual(cap.refused, [], measurement)
            point = cap.assert_metric(measurement, tags=tags, fields=fields, count=1)[0]
            self.assertEqual(point.measurement, measurement)
            self.assertEqual(point.tags, tags)
            self.assertEqual(point.fields, fields)
            self.assertEqual(point.line + "\n",
                             to_line_protocol([{"measurement": measurement, "tags": tags,
                                                "fields": fields}]))

    def test_random_round_trip(self):
        rng = random.Random(20240611)
        alphabet = ' ,="\\\t=ab\u00e9\u6d4b\U0001f680#'
        for _ in range(500):
            def word(min_len=1):
                return "".join(rng.choice(alphabet) for _ in range(rng.randint(min_len, 8)))
            measurement = "m" + word(0)
            tags = {word(): word() for _ in range(rng.randint(0, 3))}
            fields = {word(): rng.choice([word(0) + "\n" + word(0), rng.randint(-9, 9),
                                          rng.random(), rng.random() > 0.5])
                      for _ in range(rng.randint(1, 3))}
            text = to_line_protocol([{"measurement": measurement, "tags": tags,
                                      "fields": fields, "time": 1700000000123}])
            points = parse_line_protocol(text)
            self.assertEqual(len(points), 1, text)
            self.assertEqual((points[0].measurement, points[0].tags, points[0].fields,
                              points[0].time),
                             (measurement, tags, fields, 1700000000123 * 10 ** 6), text)
            self.assertEqual({k: type(v) for k, v in points[0].fields.items()},
                             {k: type(v) for k, v in fields.items()}, text)

    def test_parser_refuses_what_the_agent_refuses(self):
        for text in ("m", "m ", "m,t v=1i", "m,t= v=1i", "m v=", "m v=1x", 'm v="open',
                     "m v=1i 12ab", "m v=1i 1 2", "m,t=a,t=b v=1i", "m v=99999999999999999999i",
                     "m v=nan", "m v=[1]", ",t=a v=1i"):
            with self.assertRaises(ValueError, msg=text):
                parse_line_protocol(text)
        points = parse_line_protocol("# comment\n\n  m v=1i\r\nm2 v=2u 1\n")
        self.assertEqual([(p.measurement, p.fields, p.time) for p in points],
                         [("m", {"v": 1}, None), ("m2", {"v": 2}, 10 ** 9)])


class FailureMessageTest(HarnessTestCase):

    def failure(self, cap, method, *args, **kwargs):
        with self.assertRaises(AssertionError) as ctx:
            getattr(cap, method)(*args, **kwargs)
        return str(ctx.exception)

    def test_message_names_the_differences_and_lists_the_points(self):
        with contextlib.redirect_stdout(io.StringIO()):
            cap = run_plugin(MyTest)
        message = self.failure(cap, "assert_metric", "def", tags={"t1": "b", "t9": "x"},
                               fields={"f1": 123.0, "f3": "strval"})
        self.assertIn("expected at least one metric point with measurement 'def', "
                      "tags {'t1': 'b', 't9': 'x'}, fields {'f1': 123.0, 'f3': 'strval'}; "
                      "none found", message)
        self.assertIn('closest: [metric] def,t1=b,t2=d f1=123i,f2=3.4,f3="strval"', message)
        self.assertIn("  tag 't9' missing", message)
        self.assertIn("  field 'f1' is 123 (int), expected 123.0 (float)", message)
        self.assertNotIn("'f3' is", message)
        self.assertIn("reported (2 points):\n"
                      '  [metric] abc,t1=b,t2=d f1=123i,f2=3.4,f3="strval"\n'
                      '  [metric] def,t1=b,t2=d f1=123i,f2=3.4,f3="strval"', message)

    def test_closest_prefers_category_then_measurement(self):
        with capture() as cap:
            DataKitFramework().report({
                "L": [{"measurement": "x", "fields": {"message": "m", "v": 1}}],
                "M": [{"measurement": "y", "fields": {"v": 1}},
                      {"measurement": "x", "fields": {"v": 2}}]})
        message = self.failure(cap, "assert_metric", "x", fields={"v": 1})
        self.assertIn("closest: [metric] x v=2i\n  field 'v' is 2 (int), expected 1 (int)",
                      message)
        message = self.failure(cap, "assert_logging", "y")
        self.assertIn("closest: [logging] x ", message)
        self.assertIn("measurement is 'x', expected 'y'", message)
        message = self.failure(cap, "assert_point", "rum", "x")
        self.assertIn("closest: [metric] x v=2i\n  category is metric, expected rum", message)

    def test_nothing_reported(self):
        with capture() as cap:
            pass
        message = self.failure(cap, "assert_metric", "m")
        self.assertIn("reported: nothing", message)
        self.assertNotIn("closest", message)
        cap.assert_nothing_reported()

    def test_long_lists_are_cut(self):
        with capture() as cap:
            DataKitFramework().report({"M": [{"measurement": "m%d" % i, "fields": {"v": i}}
                                             for i in range(25)]})
        message = self.failure(cap, "assert_metric", "nope")
        self.assertIn("reported (25 points):", message)
        self.assertIn("m19 v=19i", message)
        self.assertNotIn("m20 v=20i", message)
        self.assertIn("... and 5 more", message)

    def test_newline_in_a_string_field_is_shown_escaped(self):
        with capture() as cap:
            DataKitFramework().feed_logging(source="app", message="one\ntwo")
        self.assertEqual(cap.logging[0].fields["message"], "one\ntwo")
        message = self.failure(cap, "assert_logging", "app", message="one")
        self.assertIn("closest: [logging] app message=\"one\\ntwo\"", message)
        self.assertIn("field 'message' is 'one\\ntwo' (str), expected 'one' (str)", message)

    def test_assert_nothing_reported(self):
        with capture() as cap:
            DataKitFramework().set_lasterror("in1", "down")
        cap.assert_nothing_reported()  # set_lasterror is no data
        with capture() as cap:
            DataKitFramework().feed_metric(measurement="m", fields={"v": 1})
        message = self.failure(cap, "assert_nothing_reported")
        self.assertIn("expected nothing reported, but 1 request(s) were made", message)
        self.assertIn("[metric] m v=1i", message)

    def test_refused_requests_and_last_errors_are_listed(self):
        plugin = DataKitFramework()
        with capture() as cap, contextlib.redirect_stderr(io.StringIO()):
            plugin.http_post_raw(plugin.construct_url("v1/write/metric"), "oops")
            plugin.set_lasterror("in1", "db down")
        message = self.failure(cap, "assert_metric", "m")
        self.assertIn("refused requests (1):\n  /v1/write/metric: 400 "
                      "datakit.invalidLinePoint: line 1, column 5: missing fields", message)
        self.assertIn("set_lasterror('in1', 'db down')", message)


class PredicateTest(HarnessTestCase):

    def setUp(self):
        super().setUp()
        with capture() as cap:
            DataKitFramework().report({"M": [{"measurement": "sys",
                                              "tags": {"port": 80, "host": "a"},
                                              "fields": {"load": 0.25, "n": 3, "ok": True,
                                                         "name": "x"}}]})
        self.cap = cap

    def test_predicates(self):
        self.cap.assert_metric("sys", fields={"load": lambda v: v >= 0, "n": lambda v: v > 2})
        self.cap.assert_metric("sys", tags={"host": lambda v: v.startswith("a")})
        with self.assertRaises(AssertionError) as ctx:
            self.cap.assert_metric("sys", fields={"load": lambda v: v > 1})
        self.assertIn("field 'load' is 0.25 (float), rejected by predicate", str(ctx.exception))
        self.assertIn("<lambda>", str(ctx.exception))

    def test_predicate_that_raises_does_not_match(self):
        with self.assertRaises(AssertionError) as ctx:
            self.cap.assert_metric("sys", fields={"name": lambda v: v > 0})
        self.assertIn("field 'name' is 'x' (str), predicate", str(ctx.exception))
        self.assertIn("raised TypeError", str(ctx.exception))

    def test_types_as_expected_values(self):
        self.cap.assert_metric("sys", fields={"load": float, "n": int, "ok": bool, "name": str})
        for wrong in ({"n": float}, {"ok": int}, {"load": int}):
            with self.assertRaises(AssertionError, msg=wrong) as ctx:
                self.cap.assert_metric("sys", fields=wrong)
            self.assertIn("expected a ", str(ctx.exception))

    def test_none_means_absent(self):
        self.cap.assert_metric("sys", tags={"dc": None}, fields={"missing": None})
        with self.assertRaises(AssertionError) as ctx:
            self.cap.assert_metric("sys", fields={"n": None})
        self.assertIn("field 'n' is 3 (int), expected no such field", str(ctx.exception))

    def test_tag_values_compare_as_strings(self):
        self.cap.assert_metric("sys", tags={"port": 80})
        self.cap.assert_metric("sys", tags={"port": "80"})
        with self.assertRaises(AssertionError) as ctx:
            self.cap.assert_metric("sys", tags={"port": 81})
        self.assertIn("tag 'port' is '80', expected '81'", str(ctx.exception))

    def test_find(self):
        self.assertEqual(len(self.cap.find(measurement="sys", fields={"n": 3})), 1)
        self.assertEqual(self.cap.find("M", fields={"n": 4}), [])
        self.assertEqual(self.cap.find("logging"), [])


class CountTest(HarnessTestCase):

    def test_count(self):
        with capture() as cap:
            plugin = DataKitFramework()
            for i in range(3):
                plugin.feed_metric(measurement="m", tags={"i": i % 2}, fields={"v": 1})
        cap.assert_metric("m", count=3)
        cap.assert_metric("m", tags={"i": 0}, count=2)
        cap.assert_metric("m", tags={"i": 2}, count=0)
        self.assertEqual(len(cap.assert_metric("m", tags={"i": 1})), 1)
        with self.assertRaises(AssertionError) as ctx:
            cap.assert_metric("m", tags={"i": 0}, count=1)
        self.assertIn("expected exactly 1 metric point with measurement 'm', tags {'i': 0}; "
                      "found 2\nmatching:\n  m,i=0 v=1i\n  m,i=0 v=1i", str(ctx.exception))
        with self.assertRaises(AssertionError):
            cap.assert_metric("m", count=0)
        for bad in (-1, 1.0, True, "2"):
            with self.assertRaises(ValueError):
                cap.assert_metric("m", count=bad)

    def test_run_plugin_times(self):
        class Counter(DataKitFramework):
            name = "Counter"
            runs = 0

            def run(self):
                self.runs += 1
                self.feed_metric(measurement="runs", fields={"n": self.runs})
                return self.runs

        cap = run_plugin(Counter, times=3)
        self.assertEqual(cap.results, [1, 2, 3])
        cap.assert_metric("runs", count=3)
        cap.assert_metric("runs", fields={"n": 3}, count=1)
        self.assertEqual(run_plugin(Counter, times=0).results, [])
        with self.assertRaises(ValueError):
            run_plugin(Counter, times=-1)


class ThreadsTest(HarnessTestCase):

    def test_reports_from_threads_are_all_captured(self):
        threads_n, points_n = 8, 50

        class Threaded(DataKitFramework):
            name = "Threaded"

            def run(self):
                barrier = threading.Barrier(threads_n)

                def work(t):
                    barrier.wait(10)
                    for i in range(points_n):
                        self.feed_metric(measurement="t", tags={"thread": t},
                                         fields={"i": i})

                threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(30)

        plugin = Threaded()
        cap = run_plugin(plugin)
        self.assertEqual(len(cap.points), threads_n * points_n)
        self.assertEqual(len(cap.requests), threads_n * points_n)
        self.assertEqual(sorted((int(p.tags["thread"]), p.fields["i"]) for p in cap.points),
                         [(t, i) for t in range(threads_n) for i in range(points_n)])
        cap.assert_metric("t", tags={"thread": 3}, count=points_n)
        self.assertEqual(plugin.report_errors, 0)
        self.assertNoNetwork()


class NestedCaptureTest(HarnessTestCase):

    def feed(self, measurement):
        DataKitFramework().feed_metric(measurement=measurement, fields={"v": 1})

    def test_innermost_wins(self):
        with capture() as outer:
            self.feed("a")
            with capture() as inner:
                self.feed("b")
            self.feed("c")
        self.assertEqual([p.measurement for p in outer.points], ["a", "c"])
        self.assertEqual([p.measurement for p in inner.points], ["b"])
        self.assertIsNone(datakit_framework._capture)
        with contextlib.redirect_stderr(io.StringIO()):
            self.feed("after")  # not captured: goes to the (guarded) network
        self.assertEqual(len(self.guard.urls), 1)
        self.assertEqual(len(outer.points), 2)

    def test_three_levels(self):
        with capture() as outer:
            with capture() as middle:
                with capture() as inner:
                    self.feed("inner")
                self.feed("middle")
            self.feed("outer")
        self.assertEqual([[p.measurement for p in cap.points] for cap in (outer, middle, inner)],
                         [["outer"], ["middle"], ["inner"]])

    def test_captures_may_end_out_of_order(self):
        first, second = capture(), capture()
        a = first.__enter__()
        b = second.__enter__()
        first.__exit__(None, None, None)
        self.feed("x")
        second.__exit__(None, None, None)
        self.assertIsNone(datakit_framework._capture)
        self.assertEqual(a.points, [])
        self.assertEqual([p.measurement for p in b.points], ["x"])

    def test_capture_ends_when_the_block_raises(self):
        with self.assertRaises(KeyError):
            with capture():
                raise KeyError("x")
        self.assertIsNone(datakit_framework._capture)


class NoNetworkTest(HarnessTestCase):

    class Remote(DataKitFramework):
        name = "Remote"

        def __init__(self, **kwargs):
            super().__init__(ip="127.0.0.1", port=1)

        def run(self):
            self.feed_metric(measurement="remote", fields={"v": 1})
            return self.set_lasterror("remote", "x")

    def test_explicit_ip_port_is_captured(self):
        plugin = self.Remote()
        cap = run_plugin(plugin)
        cap.assert_metric("remote", count=1)
        self.assertEqual(cap.last_errors, [("remote", "x")])
        self.assertTrue(cap.requests[0].url.startswith("http://127.0.0.1:1/v1/write/metric"))
        self.assertEqual(plugin.report_errors, 0)
        self.assertNoNetwork()

    def test_the_same_plugin_without_capture_would_use_the_network(self):
        # Shows that test_explicit_ip_port_is_captured can fail.
        plugin = self.Remote()
        with contextlib.redirect_stderr(io.StringIO()):
            plugin.run()
        self.assertEqual(plugin.report_errors, 2)
        self.assertEqual(self.guard.urls, ["http://127.0.0.1:1/v1/write/metric",
                                           "http://127.0.0.1:1/v1/lasterror"])

    def test_capture_wins_over_transport_and_route_all(self):
        calls = []
        datakit_framework._agent_transport = lambda *args: calls.append(args) or (200, "")
        datakit_framework._route_all_to_agent = True
        cap = run_plugin(self.Remote)
        cap.assert_metric("remote")
        self.assertEqual(calls, [])
        self.assertNoNetwork()


class RunPluginTest(HarnessTestCase):

    def test_exception_from_run_propagates_unchanged(self):
        error = RuntimeError("collector broke")

        class Broken(DataKitFramework):
            name = "Broken"

            def run(self):
                self.feed_metric(measurement="before", fields={"v": 1})
                raise error

        try:
            run_plugin(Broken)
        except RuntimeError as exc:
            self.assertIs(exc, error)
            self.assertEqual(traceback.extract_tb(exc.__traceback__)[-1].name, "run")
        else:
            self.fail("run_plugin did not raise")
        self.assertIsNone(datakit_framework._capture)
        self.assertNoNetwork()

    def test_exception_from_init_propagates(self):
        class BadInit(DataKitFramework):
            def __init__(self):
                raise OSError("no config")

        with self.assertRaises(OSError):
            run_plugin(BadInit)

    def test_init_reports_are_captured(self):
        class EagerInit(DataKitFramework):
            def __init__(self):
                super().__init__()
                self.feed_metric(measurement="init", fields={"v": 1})

            def run(self):
                return "ran"

        cap = run_plugin(EagerInit)
        cap.assert_metric("init", count=1)
        self.assertEqual(cap.results, ["ran"])

    def test_bad_data_raises_from_the_encoder(self):
        class Bad(DataKitFramework):
            def run(self):
                return self.feed_metric(measurement="m", fields={"ratio": float("nan")})

        with self.assertRaises(ValueError) as ctx:
            run_plugin(Bad)
        self.assertIn('field "ratio" of measurement "m"', str(ctx.exception))

        class NoFields(DataKitFramework):
            def run(self):
                return self.report({"M": [{"measurement": "m", "fields": {"v": None}}]})

        with self.assertRaises(ValueError):
            run_plugin(NoFields)

    def test_instance_is_used_as_is(self):
        class Stateful(DataKitFramework):
            def __init__(self, host):
                super().__init__()
                self.host = host

            def run(self):
                return self.feed_metric(measurement="m", tags={"host": self.host},
                                        fields={"v": 1})

        cap = run_plugin(Stateful("db1"), times=2)
        cap.assert_metric("m", tags={"host": "db1"}, count=2)
        self.assertEqual(cap.results, ["", ""])

    def test_not_a_plugin(self):
        for bad in (object, object(), "MyTest", None):
            with self.assertRaises(TypeError):
                run_plugin(bad)
        self.assertIsNone(datakit_framework._capture)


class AgentAnswersTest(HarnessTestCase):

    def test_set_lasterror_is_captured(self):
        plugin = DataKitFramework()
        with capture() as cap:
            self.assertEqual(plugin.set_lasterror("in1", RuntimeError("db down")), "")
            with mock.patch.dict(os.environ, {"PYTHOND_INPUT": "from-env"}):
                plugin.set_lasterror(None, "x")
        self.assertEqual(cap.last_errors, [("in1", "db down"), ("from-env", "x")])
        self.assertEqual(cap.requests[0].path, "/v1/lasterror")
        self.assertEqual(cap.requests[0].content_type, "application/json")
        self.assertEqual(cap.points, [])
        self.assertEqual(plugin.report_errors, 0)

    def test_raw_and_json_posts_to_the_agent(self):
        plugin = DataKitFramework()
        with capture() as cap:
            plugin.http_post_raw(plugin.construct_url("v1/write/logging?input=raw"),
                                 'app,host=a message="hi",n=2i 1700000000000\n')
            plugin.http_post_json(plugin.construct_url("v1/write/metric"),
                                  [{"measurement": "j", "tags": {"h": "x"},
                                    "fields": {"n": 1, "f": 1.0, "s": "t", "gone": None},
                                    "time": 1700000000}])
        cap.assert_logging("app", message="hi", tags={"host": "a"}, fields={"n": 2})
        self.assertEqual(cap.logging[0].input, "raw")
        self.assertEqual(cap.logging[0].time, 1700000000000 * 10 ** 6)
        point = cap.assert_metric("j", tags={"h": "x"}, fields={"n": 1, "f": 1.0, "s": "t",
                                                                "gone": None})[0]
        self.assertEqual(point.time, 1700000000 * 10 ** 9)
        self.assertEqual(plugin.report_errors, 0)

    def test_refusals_are_recorded_like_the_agents(self):
        plugin = DataKitFramework()
        with capture() as cap, contextlib.redirect_stderr(io.StringIO()) as stderr:
            answers = [
                plugin.http_post_raw(plugin.construct_url("v1/write/metric"), "m v=oops"),
                plugin.http_post_raw(plugin.construct_url("v1/write/bogus"), "m v=1i"),
                plugin.http_post_raw(plugin.construct_url("v1/nowhere"), "x"),
                plugin.http_post_raw(plugin.construct_url("v1/write/metric"), "  \n"),
                plugin.http_post_raw(plugin.construct_url("v1/write/metric"), "# only\n"),
                plugin.http_post_json(plugin.construct_url("v1/lasterror"), {"input": 1}),
                plugin.report({"M": [{"measurement": "m", "fields": {"v": 1}}],
                               "precision": "days"}),
            ]
        codes = [json.loads(answer)["error_code"] for answer in answers]
        self.assertEqual(codes, ["datakit.invalidLinePoint", "datakit.invalidCategory",
                                 "datakit.routeNotFound", "datakit.emptyBody",
                                 "datakit.noPoints", "datakit.invalidJsonPoint",
                                 "datakit.invalidPrecision"])
        self.assertEqual([r.status for r in cap.refused], [400, 400, 404, 400, 400, 400, 400])
        self.assertEqual(cap.points, [])
        self.assertEqual(plugin.report_errors, 7)
        self.assertIn("refused: 400 datakit.invalidLinePoint: line 1, column 5: "
                      "invalid field value 'oops'", stderr.getvalue())
        self.assertNoNetwork()

    def test_precision_and_float_times(self):
        with capture() as cap:
            DataKitFramework().report({"M": [{"measurement": "s", "fields": {"v": 1},
                                              "time": 1700000000}], "precision": "s"})
            DataKitFramework().report({"M": [{"measurement": "ms", "fields": {"v": 1},
                                              "time": 1700000000123}], "precision": "ms"})
            DataKitFramework().feed_metric(measurement="f", fields={"v": 1},
                                           time=1700000000.5)
            DataKitFramework().feed_metric(measurement="auto", fields={"v": 1},
                                           time=1700000000123456)
        times = {p.measurement: p.time for p in cap.points}
        self.assertEqual(times, {"s": 1700000000 * 10 ** 9, "ms": 1700000000123 * 10 ** 6,
                                 "f": 1700000000500000000, "auto": 1700000000123456000})
        self.assertEqual(cap.requests[0].path, "/v1/write/metric?precision=s")


class ImportTest(HarnessTestCase):

    def run_python(self, code):
        result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=self.tmpdir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True, timeout=60,
                                env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def test_import_forms_in_a_fresh_interpreter(self):
        out = self.run_python("""
            from datakit_framework.testing import capture, run_plugin
            from datakit_framework import testing, DataKitFramework
            import datakit_framework.testing as by_path
            import sys, datakit_framework
            assert testing is by_path is sys.modules["datakit_framework.testing"]
            assert datakit_framework.testing is testing
            assert testing.capture is capture and testing.run_plugin is run_plugin
            class P(DataKitFramework):
                def run(self):
                    return self.feed_metric(measurement="m", fields={"v": 1})
            run_plugin(P).assert_metric("m", fields={"v": 1}, count=1)
            print(sorted(testing.__all__), testing.Point.__name__, testing.Capture.__module__)
        """)
        self.assertEqual(out, "['Capture', 'Point', 'Request', 'capture', 'parse_line_protocol'"
                              ", 'run_plugin'] Point datakit_framework.testing\n")

    def test_import_under_another_module_name(self):
        out = self.run_python("""
            import importlib.util, sys
            spec = importlib.util.spec_from_file_location("vendored_sdk", %r)
            sdk = importlib.util.module_from_spec(spec)
            sys.modules["vendored_sdk"] = sdk
            spec.loader.exec_module(sdk)
            from vendored_sdk.testing import run_plugin
            assert sdk.testing is sys.modules["vendored_sdk.testing"]
            assert "datakit_framework" not in sys.modules
            assert "datakit_framework.testing" not in sys.modules
            class P(sdk.DataKitFramework):
                def run(self):
                    return self.feed_metric(measurement="m", fields={"v": 1.5})
            print(run_plugin(P).assert_metric("m", count=1)[0].fields)
        """ % SDK_PATH)
        self.assertEqual(out, "{'v': 1.5}\n")

    def test_plugin_of_another_sdk_copy_is_refused_with_a_hint(self):
        spec = importlib.util.spec_from_file_location("other_sdk_copy", SDK_PATH)
        other = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(other)
        self.addCleanup(sys.modules.pop, "other_sdk_copy.testing", None)

        class Foreign(other.DataKitFramework):
            pass

        with self.assertRaises(TypeError) as ctx:
            run_plugin(Foreign)
        self.assertIn("module 'other_sdk_copy'", str(ctx.exception))

    def test_public_names(self):
        self.assertIs(datakit_framework.testing.Point, Point)
        self.assertIs(datakit_framework.testing.Capture, Capture)
        self.assertEqual(repr(Point("metric", "m", {}, {"v": 1}, None, None, "m v=1i", None)),
                         "Point(category='metric', measurement='m', tags={}, fields={'v': 1}, "
                         "time=None, input=None, line='m v=1i', plugin=None)")


class RouteAllToAgentTest(HarnessTestCase):

    def setUp(self):
        super().setUp()
        self.calls = []

        def transport(target, body, content_type, plugin_header, timeout):
            self.calls.append((target, len(body), content_type))
            return 200, ""

        datakit_framework._agent_transport = transport

    def report(self, plugin, size=1):
        return plugin.report({"M": [{"measurement": "m", "fields": {"s": "x" * size}}],
                              "input": "in1"})

    def test_explicit_ip_port_goes_to_the_agent(self):
        datakit_framework._route_all_to_agent = True
        plugin = DataKitFramework(ip="10.255.255.1", port=1)
        self.assertEqual(self.report(plugin), "")
        plugin.set_lasterror("in1", "x")
        self.assertEqual([(c[0], c[2]) for c in self.calls],
                         [("/v1/write/metric?input=in1", "text/plain; charset=utf-8"),
                          ("/v1/lasterror", "application/json")])
        self.assertEqual(plugin.report_errors, 0)
        self.assertNoNetwork()

    def test_large_bodies_go_to_the_agent(self):
        datakit_framework._route_all_to_agent = True
        with mock.patch.object(datakit_framework, "_TRANSPORT_MAX_BODY", 100):
            self.report(DataKitFramework(), size=1000)
        self.assertEqual(len(self.calls), 1)
        self.assertGreater(self.calls[0][1], 1000)
        self.assertNoNetwork()

    def test_without_the_flag_explicit_targets_and_large_bodies_use_http(self):
        plugin = DataKitFramework(ip="127.0.0.1", port=1)
        with contextlib.redirect_stderr(io.StringIO()), \
                mock.patch.object(datakit_framework, "_TRANSPORT_MAX_BODY", 100):
            self.report(plugin)
            self.report(DataKitFramework(), size=1000)
            self.report(DataKitFramework())  # small, to the agent: the transport
        self.assertEqual(self.guard.urls, ["http://127.0.0.1:1/v1/write/metric?input=in1"] * 2)
        self.assertEqual(len(self.calls), 1)

    def test_flag_without_transport_changes_nothing(self):
        datakit_framework._agent_transport = None
        datakit_framework._route_all_to_agent = True
        with contextlib.redirect_stderr(io.StringIO()):
            self.report(DataKitFramework())
        self.assertEqual(len(self.guard.urls), 1)


if __name__ == "__main__":
    unittest.main()
