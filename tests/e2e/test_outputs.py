"""Outputs end to end, against real backends started on 127.0.0.1: a mixed corpus written to
pythond reaches VictoriaMetrics and InfluxDB 1.6.7 through [[outputs.influxdb]] exactly as sent
(read back from both); filters hold; a batch the backend refuses lands in the dead letters; and
the chaos test — the backend stopped and restarted, pythond SIGKILLed and restarted twice while
points stream in — ends with every acknowledged point in VictoriaMetrics.
"""

import json
import os
import signal
import sys
import time
import unittest

from harness import AGENT_CONF, Agent, wait_for
from servers import InfluxDB, VictoriaMetrics

# Ten minutes ago, on a millisecond (VictoriaMetrics keeps milliseconds).
BASE_NS = (time.time_ns() - 600 * 10**9) // 10**6 * 10**6


def sig12(v):
    """A float to 12 significant digits: VictoriaMetrics stores floats as decimals
    (0.5 + 7/100 comes back as 0.57, not 0.5700000000000001)."""
    return float("%.12g" % v)


def outputs_conf(*tables):
    return AGENT_CONF + "\n".join(tables)


def output_stats(agent, name):
    for o in agent.stats().get("outputs", []):
        if o["name"] == name:
            return o
    return None


def wait_delivered(agent, name, timeout=30):
    """Until the output's queue is empty; returns its stats."""
    def check():
        o = output_stats(agent, name)
        return o if o and o["queue"]["records"] == 0 and o["points_in"] > 0 else None
    return wait_for(check, timeout, "output %r to deliver everything" % name, interval=0.1)


# (measurement, tags, fields, category): fields are typed Python values.
CORPUS = []
for i in range(40):
    CORPUS.append(("out_cpu", {"host": "h%d" % (i % 4), "dc": "eu west"},
                   {"usage": i / 8, "n": i, "up": i % 2 == 0, "msg": "run %d" % i}, "metric"))
for i in range(10):
    CORPUS.append(("out_disk", {"path": "/var,log=x", "dev": "sd a"},
                   {"free": 1000 - i, "ratio": 0.5 + i / 100}, "metric"))
for i in range(5):
    CORPUS.append(("skip_me", {"k": "v"}, {"n": i}, "metric"))
for i in range(5):
    CORPUS.append(("out_log", {"service": "api"}, {"message": "line %d" % i, "code": 500 + i},
                   "logging"))


def stored_fields(fields, category):
    """The fields a point has after DataKit's checks: a log line without a status gets
    status "unknown"."""
    return dict(fields, status="unknown") if category == "logging" else fields


def escape_key(s):
    return s.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def lp_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return "%di" % v
    if isinstance(v, float):
        return repr(v)
    return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')


def lp(measurement, tags, fields, ts):
    m = measurement.replace(",", "\\,").replace(" ", "\\ ")
    t = "".join(",%s=%s" % (escape_key(k), escape_key(v)) for k, v in sorted(tags.items()))
    f = ",".join("%s=%s" % (escape_key(k), lp_value(v)) for k, v in fields.items())
    return "%s%s %s %d" % (m, t, f, ts)


def write_corpus(agent):
    by_category = {}
    for i, (m, tags, fields, category) in enumerate(CORPUS):
        by_category.setdefault(category, []).append(lp(m, tags, fields, BASE_NS + i * 10**6))
    for category, lines in by_category.items():
        # A few requests per category: batches from several writes are merged downstream.
        for start in range(0, len(lines), 7):
            body = "\n".join(lines[start:start + 7])
            status, text = agent.http("POST", "/v1/write/%s?ignore_global_tags=1" % category,
                                      body=body)
            if status != 200:
                raise AssertionError("write answered %s: %s" % (status, text))


class OutputsRoundTripTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.vm = VictoriaMetrics().start()
        cls.influx = InfluxDB(database="pythond").start()
        conf = outputs_conf(
            '[[outputs.influxdb]]\nname = "vm"\nurl = "%s"\nmeasurements = ["out_*"]\n'
            'batch_max_age = "50ms"\n' % cls.vm.url(),
            '[[outputs.influxdb]]\nname = "influx"\nurl = "%s"\ndatabase = "pythond"\n'
            'batch_max_age = "50ms"\n' % cls.influx.url())
        cls.agent = Agent(agent_conf=conf).start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.cleanup()
        cls.vm.cleanup()
        cls.influx.cleanup()

    def test_01_victoria_metrics_holds_every_numeric_field_sent(self):
        write_corpus(self.agent)
        stats = wait_delivered(self.agent, "vm")
        skipped = sum(1 for c in CORPUS if c[0] == "skip_me")
        self.assertEqual(stats["points_in"], len(CORPUS) - skipped)
        self.assertEqual(stats["points_filtered"], skipped)
        self.assertEqual(stats["points_sent"], stats["points_in"])
        self.assertEqual(stats["deadletter_batches"], 0)
        expected = {}
        for i, (m, tags, fields, category) in enumerate(CORPUS):
            if m == "skip_me":
                continue
            for k, v in stored_fields(fields, category).items():
                # VictoriaMetrics keeps numbers: booleans become 1/0, and (1.79) strings 0.
                number = 0.0 if isinstance(v, str) else float(v)
                key = (m + "_" + k, tuple(sorted(tags.items())))
                expected.setdefault(key, {})[(BASE_NS + i * 10**6) // 10**6] = sig12(number)
        got = {}

        def exported():
            got.clear()
            for labels, samples in self.vm.export('{__name__=~"out_.*|skip_me.*"}'):
                labels = dict(labels)
                name = labels.pop("__name__")
                labels.pop("db", None)
                got[(name, tuple(sorted(labels.items())))] = {
                    ms: sig12(v) for ms, v in samples}
            return got == expected

        try:
            wait_for(exported, 30, "VictoriaMetrics to hold the corpus", interval=0.5)
        except AssertionError:
            pass  # the comparison below shows the difference
        self.maxDiff = None
        wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
        self.assertEqual(wrong, {}, "series whose samples differ: (held, sent)")
        self.assertEqual(set(got), set(expected))

    def test_02_influxdb_holds_every_point_with_its_types(self):
        wait_delivered(self.agent, "influx")
        for measurement in ("out_cpu", "out_disk", "skip_me", "out_log"):
            sent = {BASE_NS + i * 10**6: (tags, stored_fields(fields, category))
                    for i, (m, tags, fields, category) in enumerate(CORPUS) if m == measurement}
            result = self.influx.query('SELECT * FROM "%s"' % measurement)["results"][0]
            series = result["series"][0]
            keys = self.influx.query('SHOW TAG KEYS FROM "%s"' % measurement)["results"][0]
            tag_keys = {v[0] for s in keys["series"] for v in s["values"]}
            rows = {}
            for values in series["values"]:
                row = dict(zip(series["columns"], values))
                ts = row.pop("time")
                rows[ts] = ({k: v for k, v in row.items() if k in tag_keys and v is not None},
                            {k: v for k, v in row.items() if k not in tag_keys and v is not None})
            field_keys = self.influx.query('SHOW FIELD KEYS FROM "%s"' % measurement)
            types = {v[0]: v[1] for s in field_keys["results"][0]["series"] for v in s["values"]}
            self.assertEqual(set(rows), set(sent), measurement)
            for ts, (tags, fields) in sent.items():
                self.assertEqual(rows[ts][0], tags, measurement)
                self.assertEqual(rows[ts][1], fields, measurement)
            # 3 stays an integer, 0.5 a float, True a boolean, "x" a string.
            want = {bool: "boolean", int: "integer", float: "float", str: "string"}
            for tags, fields in sent.values():
                for k, v in fields.items():
                    self.assertEqual(types[k], want[type(v)], (measurement, k))

    def test_03_a_refused_batch_goes_to_the_dead_letters(self):
        # InfluxDB refuses a field whose type changed (n was an integer): HTTP 400.
        body = lp("out_cpu", {"host": "h0", "dc": "x"}, {"n": "now a string"}, BASE_NS + 5)
        status, text = self.agent.http("POST", "/v1/write/metric?ignore_global_tags=1", body=body)
        self.assertEqual(status, 200, text)
        stats = wait_for(lambda: (output_stats(self.agent, "influx") or {}).get(
            "deadletter_batches", 0) >= 1 and output_stats(self.agent, "influx"), 30,
            "the refused batch in the dead letters")
        self.assertIn("field type conflict", stats["last_error"])
        folder = os.path.join(self.agent.root, "data", "deadletter", "influx")
        files = os.listdir(folder)
        self.assertEqual(len(files), 1, files)
        # Owner-only, like the queue it came from (and fsynced before the cursor moved).
        self.assertEqual(os.stat(os.path.join(folder, files[0])).st_mode & 0o777, 0o600)
        with open(os.path.join(folder, files[0])) as f:
            text = f.read()
        self.assertIn("# reason: ", text)
        self.assertIn("field type conflict", text)
        self.assertIn('n="now a string"', text)
        # Never retried: the queue is empty again and later points still flow.
        wait_delivered(self.agent, "influx")
        self.assertIn("refused by", self.agent.log())


class DataKitOutputTest(unittest.TestCase):
    """[[outputs.datakit]] forwards to an upstream DataKit-compatible API: a second pythond,
    whose store then holds every point of every category, with the token in the query."""

    def test_points_reach_the_upstream_per_category(self):
        upstream = Agent().start()
        self.addCleanup(upstream.cleanup)
        conf = outputs_conf('[[outputs.datakit]]\nname = "up"\nurl = "http://%s"\n'
                            'token = "tkn_secret"\nbatch_max_age = "20ms"\n' % upstream.address)
        agent = Agent(agent_conf=conf).start()
        self.addCleanup(agent.cleanup)
        write_corpus(agent)
        stats = wait_delivered(agent, "up")
        self.assertEqual(stats["points_sent"], len(CORPUS))
        self.assertNotIn("tkn_secret", stats["target"])
        self.assertNotIn("tkn_secret", agent.log())
        wait_for(lambda: upstream.count("measurement LIKE 'out_%' OR measurement = 'skip_me'")
                 == len(CORPUS), 30, "the upstream to store the corpus")
        rows = upstream.query("SELECT category, count(*) AS n FROM points GROUP BY category")
        self.assertEqual({r["category"]: r["n"] for r in rows},
                         {"metric": 55, "logging": 5})
        row = upstream.query("SELECT tags, fields FROM points WHERE measurement = 'out_disk' "
                             "AND time = %d" % (BASE_NS + 40 * 10**6))[0]
        tags = json.loads(row["tags"])
        self.assertIn("host", tags)  # the upstream's global tag: the request did not opt out
        del tags["host"]
        self.assertEqual(tags, {"dev": "sd a", "path": "/var,log=x"})
        self.assertEqual(json.loads(row["fields"]), {"free": 1000, "ratio": 0.5})


class KafkaOutputTest(unittest.TestCase):
    """[[outputs.kafka]] through the agent, against the mock cluster librdkafka starts inside
    the producer (test.mock.num.brokers): every point is delivered and acknowledged by the
    (mock) brokers. What the messages hold is checked by src/outputs/kafka_sender_test.cc,
    which consumes them back."""

    def test_points_are_delivered(self):
        conf = outputs_conf('[[outputs.kafka]]\nname = "k"\nbrokers = "127.0.0.1:1"\n'
                            'batch_max_age = "20ms"\ntimeout = "10s"\n'
                            'properties = { "test.mock.num.brokers" = "1", '
                            '"allow.auto.create.topics" = "true" }\n')
        agent = Agent(agent_conf=conf).start()
        self.addCleanup(agent.cleanup)
        write_corpus(agent)
        stats = wait_delivered(agent, "k")
        self.assertEqual(stats["points_sent"], len(CORPUS), stats)
        self.assertEqual(stats["deadletter_batches"], 0, stats)
        self.assertEqual(stats["type"], "kafka")


class OverflowTest(unittest.TestCase):
    """A backend that is not there: with overflow = "block" writes get 503 once the queue is
    full (and nothing acknowledged is dropped); with "drop_oldest" they go on and the dropped
    records are counted."""

    def run_until_full(self, overflow):
        from servers import free_port
        conf = outputs_conf('[[outputs.influxdb]]\nname = "dead"\nurl = "http://127.0.0.1:%d"\n'
                            'queue_max_size = "1MiB"\nqueue_segment_size = "64KiB"\n'
                            'overflow = "%s"\nretry_min = "10s"\n' % (free_port(), overflow))
        agent = Agent(agent_conf=conf).start()
        self.addCleanup(agent.cleanup)
        body = "\n".join("big,n=%d s=\"%s\" %d" % (i, "x" * 1000, BASE_NS + i)
                         for i in range(50))
        answers = []
        for _ in range(60):  # 60 × 50 KB: three times the queue
            answers.append(agent.http("POST", "/v1/write/metric", body=body))
        return agent, answers

    def test_block_answers_503_when_full(self):
        agent, answers = self.run_until_full("block")
        statuses = [a[0] for a in answers]
        self.assertIn(503, statuses)
        first_503 = statuses.index(503)
        self.assertGreater(first_503, 5)
        self.assertIn("datakit.busy", answers[first_503][1])
        o = output_stats(agent, "dead")
        self.assertEqual(o["queue"]["dropped_records"], 0)
        self.assertEqual(o["points_in"], 50 * statuses.count(200))
        o = wait_for(lambda: (lambda o: o["state"] == "retrying" and o)(
            output_stats(agent, "dead")), 10, "the output to retry")
        self.assertIn("cannot connect", o["last_error"])

    def test_drop_oldest_keeps_accepting_and_counts(self):
        agent, answers = self.run_until_full("drop_oldest")
        self.assertEqual({a[0] for a in answers}, {200})
        o = output_stats(agent, "dead")
        self.assertGreater(o["queue"]["dropped_records"], 0)
        self.assertLessEqual(o["queue"]["bytes"], 1 << 20)


class ChaosTest(unittest.TestCase):
    """Short form (make bench has the long one): the backend goes away and comes back, pythond
    is SIGKILLed and restarted twice, and VictoriaMetrics ends up with every acknowledged point
    (at least once: duplicates of one timestamp are allowed)."""

    # bench/outputs/run.sh runs the long form with larger numbers.
    SERIES = int(os.environ.get("PYTHOND_CHAOS_SERIES", "20"))
    ROUNDS = int(os.environ.get("PYTHOND_CHAOS_ROUNDS", "30"))  # one point per series each

    def setUp(self):
        self.vm = VictoriaMetrics().start()
        self.addCleanup(self.vm.cleanup)
        conf = outputs_conf('[[outputs.influxdb]]\nname = "vm"\nurl = "%s"\n'
                            'batch_max_age = "20ms"\nretry_min = "100ms"\nretry_max = "500ms"\n'
                            'timeout = "2s"\n' % self.vm.url())
        self.agent = Agent(agent_conf=conf)
        self.addCleanup(self.agent.cleanup)
        self.agent.start()
        self.acked = set()  # (series, ts ms)
        self.round = 0

    def write_rounds(self, n):
        for _ in range(n):
            ts = BASE_NS + self.round * 10**6
            body = "\n".join("chaos,s=s%d v=%di %d" % (s, self.round, ts)
                             for s in range(self.SERIES))
            try:
                status, _ = self.agent.http("POST", "/v1/write/metric?ignore_global_tags=1",
                                            body=body)
            except OSError:
                status = None  # the agent is down: not acknowledged
            if status == 200:
                self.acked.update(("s%d" % s, ts // 10**6) for s in range(self.SERIES))
            self.round += 1

    def kill_and_restart_agent(self):
        self.agent.proc.send_signal(signal.SIGKILL)
        self.agent.proc.wait(10)
        self.agent._log.close()
        os.remove(os.path.join(self.agent.root, "data", "run.json"))  # stale after a SIGKILL
        self.agent.start()

    def test_every_acknowledged_point_arrives(self):
        self.write_rounds(self.ROUNDS // 3)
        self.vm.stop()  # the backend goes away: writes still succeed (the disk queue)
        self.write_rounds(self.ROUNDS // 3)
        wait_for(lambda: (output_stats(self.agent, "vm") or {}).get("retries", 0) > 0, 20,
                 "the output to retry")
        self.kill_and_restart_agent()  # with a backlog on disk
        self.write_rounds(self.ROUNDS // 6)
        self.vm.start()
        self.kill_and_restart_agent()  # maybe mid-send
        self.write_rounds(self.ROUNDS - self.round)
        wait_delivered(self.agent, "vm", timeout=600)
        self.assertEqual(len(self.acked), self.ROUNDS * self.SERIES)
        held = set()

        def holds_all():
            held.clear()
            for labels, samples in self.vm.export('{__name__="chaos_v"}'):
                held.update((labels["s"], ms) for ms, _ in samples)
            return self.acked <= held

        wait_for(holds_all, 30, "VictoriaMetrics to hold every acknowledged point",
                 interval=0.5)
        missing = self.acked - held
        samples = sum(len(s) for _, s in self.vm.export('{__name__="chaos_v"}'))
        # The counts, for the closing note and bench/outputs/run.sh.
        print("\nCHAOS series=%d rounds=%d acknowledged=%d held=%d missing=%d samples=%d "
              "agent_kills=2 backend_restarts=1" % (self.SERIES, self.ROUNDS, len(self.acked),
                                                    len(held), len(missing), samples),
              file=sys.stderr)
        self.assertEqual(missing, set())


if __name__ == "__main__":
    unittest.main()
