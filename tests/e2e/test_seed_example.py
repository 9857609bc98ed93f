"""The seed's complete example and its feed_* / event examples, run under `pythond run`."""

import json
import os
import socket
import unittest

from harness import REPO, Agent, wait_for

# Step 3 of the seed, unchanged.
SEED_CONF = """
[[inputs.pythond]]

  # Python 采集器名称
  name = 'some-python-inputs'  # required

  # 运行 Python 采集器所需的环境变量
  #envs = ['LD_LIBRARY_PATH=/path/to/lib:$LD_LIBRARY_PATH',]

  # Python 采集器可执行程序路径(尽可能写绝对路径)
  cmd = "python3" # required. python3 is recommended.

  # 用户脚本的相对路径(填写文件夹，填好后该文件夹下一级目录的模块和 py 文件都将得到应用)
  dirs = ["mytest"]
"""

FEEDS_CONF = """
[[inputs.pythond]]
  name = 'seed-feeds'
  cmd = "python3"
  dirs = ["feeds"]
"""

# The seed's "metrics, logging, object example" and "KeyEvent report example", one class
# per call because each of the seed's run() returns after its first feed.
FEEDS = '''
from datakit_framework import DataKitFramework

measurement = "mydata"
tags = {"tag1": "val1", "tag2": "val2"}
fields = {"custom_field1": "val1","custom_field2": 1000}
kwargs = {"custom_key1":"custom_value1", "custom_key2": "custom_value2", "custom_key3": "custom_value3"}


class FeedMetric(DataKitFramework):
    name = 'FeedMetric'
    interval = 10

    def run(self):
        return self.feed_metric(
            measurement=measurement,
            tags=tags,
            fields=fields,
            **kwargs
            )


class FeedLogging(DataKitFramework):
    name = 'FeedLogging'
    interval = 10

    def run(self):
        message = "This is the message for testing"
        return self.feed_logging(
            source=measurement,
            tags=tags,
            message=message,
            **kwargs
            )


class FeedObject(DataKitFramework):
    name = 'FeedObject'
    interval = 10

    def run(self):
        name = "name"
        return self.feed_object(
            cls=measurement,
            name=name,
            tags=tags,
            fields=fields,
            **kwargs
            )


tags2 = {"tag1": "val1", "tag2": "val2"}
date_range = 10
status = 'info'
event_id = 'event_id'
title = 'title'
message = 'message'


class UserEvent(DataKitFramework):
    name = 'UserEvent'
    interval = 10

    def run(self):
        user_id="user_id"
        return self.feed_user_event(
            user_id,
            tags2, date_range, status, event_id, title, message, **kwargs
            )


class MonitorEvent(DataKitFramework):
    name = 'MonitorEvent'
    interval = 10

    def run(self):
        dimension_tags='{"host":"web01"}' # dimension_tags must be the String(JSON format).
        return self.feed_monitor_event(
            dimension_tags,
            tags2, date_range, status, event_id, title, message, **kwargs
            )


class SystemEvent(DataKitFramework):
    name = 'SystemEvent'
    interval = 10

    def run(self):
        return self.feed_system_event(
            tags2, date_range, status, event_id, title, message, **kwargs
            )
'''


# The agent adds its global tags, host=<hostname> by default, as DataKit does.
HOST = {"host": socket.gethostname()}


def types(agent, where):
    """{field: json_type} of the newest row matching `where`."""
    rows = agent.query("SELECT fields FROM points WHERE %s ORDER BY time DESC LIMIT 1" % where)
    fields = json.loads(rows[0]["fields"])
    out = {}
    for key in fields:
        r = agent.query("SELECT json_type(fields, '$.\"%s\"') AS t FROM points WHERE %s "
                        "ORDER BY time DESC LIMIT 1" % (key, where))
        out[key] = r[0]["t"]
    return fields, out


class SeedExampleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(REPO, "examples/quickstart/python.d/mytest/test.py")) as f:
            mytest = f.read()
        cls.agent = Agent({
            "conf.d/pythond/pythond.conf": SEED_CONF,
            "conf.d/feeds.conf": FEEDS_CONF,
            "python.d/mytest/test.py": mytest,
            "python.d/feeds/feeds.py": FEEDS,
        }).start()
        # 2 MyTest metrics + 3 feeds + 3 events.
        wait_for(lambda: cls.agent.count() >= 8, 30, "8 points from the seed examples")

    @classmethod
    def tearDownClass(cls):
        cls.agent.cleanup()

    def test_mytest_report(self):
        rows = self.agent.query("SELECT category, measurement, tags, input FROM points "
                                "WHERE measurement IN ('abc', 'def') ORDER BY measurement")
        self.assertGreaterEqual(len(rows), 2)
        # MyTest may have run more than once by now: every run reports both.
        self.assertEqual(sorted({r["measurement"] for r in rows}), ["abc", "def"])
        for r in rows:
            self.assertEqual(r["category"], "metric")
            self.assertEqual(r["input"], "datakitpy")
            self.assertEqual(json.loads(r["tags"]), dict({"t1": "b", "t2": "d"}, **HOST))
        fields, t = types(self.agent, "measurement = 'abc'")
        self.assertEqual(fields, {"f1": 123, "f2": 3.4, "f3": "strval"})
        self.assertEqual(t, {"f1": "integer", "f2": "real", "f3": "text"})

    def test_feed_metric(self):
        fields, t = types(self.agent, "category = 'metric' AND measurement = 'mydata'")
        self.assertEqual(fields, {"custom_field1": "val1", "custom_field2": 1000,
                                  "custom_key1": "custom_value1", "custom_key2": "custom_value2",
                                  "custom_key3": "custom_value3"})
        self.assertEqual(t["custom_field2"], "integer")
        row = self.agent.query("SELECT tags, input FROM points WHERE category = 'metric' "
                               "AND measurement = 'mydata' LIMIT 1")[0]
        self.assertEqual(json.loads(row["tags"]), dict({"tag1": "val1", "tag2": "val2"}, **HOST))
        # No ?input= from the SDK: attributed to the pythond input that ran the script.
        self.assertEqual(row["input"], "seed-feeds")

    def test_feed_logging(self):
        fields, _ = types(self.agent, "category = 'logging' AND measurement = 'mydata'")
        self.assertEqual(fields["message"], "This is the message for testing")
        # DataKit's check: a log without a status gets status "unknown".
        self.assertEqual(fields["status"], "unknown")
        self.assertEqual(fields["custom_key1"], "custom_value1")

    def test_feed_object(self):
        row = self.agent.query("SELECT tags FROM points WHERE category = 'object' "
                               "AND measurement = 'mydata' LIMIT 1")[0]
        self.assertEqual(json.loads(row["tags"]),
                         dict({"tag1": "val1", "tag2": "val2", "name": "name"}, **HOST))
        fields, t = types(self.agent, "category = 'object' AND measurement = 'mydata'")
        self.assertEqual(fields["custom_field2"], 1000)
        self.assertEqual(t["custom_field2"], "integer")

    def test_events(self):
        rows = self.agent.query("SELECT measurement, tags, fields FROM points "
                                "WHERE category = 'keyevent'")
        by_source = {json.loads(r["fields"])["df_source"]: r for r in rows}
        self.assertEqual(set(by_source), {"user", "monitor", "system"})
        for source, row in by_source.items():
            self.assertEqual(json.loads(row["tags"]), dict({"tag1": "val1", "tag2": "val2"}, **HOST))
            f = json.loads(row["fields"])
            self.assertEqual(f["df_date_range"], 10)
            self.assertEqual(f["df_status"], "info")
            self.assertEqual(f["df_event_id"], "event_id")
            self.assertEqual(f["df_title"], "title")
            self.assertEqual(f["df_message"], "message")
            self.assertEqual(f["custom_key3"], "custom_value3")
        self.assertEqual(json.loads(by_source["user"]["fields"])["df_user_id"], "user_id")
        self.assertEqual(json.loads(by_source["monitor"]["fields"])["df_dimension_tags"],
                         '{"host":"web01"}')
        _, t = types(self.agent, "category = 'keyevent'")
        self.assertEqual(t["df_date_range"], "integer")

    def test_seed_log_files(self):
        cli = wait_for(lambda: "MyTest (test.MyTest) ran ok" in self.agent.seed_log(
            "_datakit_pythond_cli.log") and self.agent.seed_log("_datakit_pythond_cli.log"),
            10, "the runner log")
        self.assertIn("FeedObject", cli)
        framework = self.agent.seed_log("_datakit_pythond_framework_some-python-inputs_.log")
        self.assertIn("MyTest", framework)


if __name__ == "__main__":
    unittest.main()
