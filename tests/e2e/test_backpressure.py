"""Backpressure instead of 503: while the store is behind, writes wait with their body unread.

The test holds SQLite's write lock on the agent's own database from another connection, so the
store really cannot commit; one write fills the store's queue ([store] max_queue_mb = 1), the
next ones are held (GET /v1/stats ingest.held) instead of refused, and all of them are answered
200 once the lock is released. With a short [store] write_wait, a held write gets 503 after it.
"""

import http.client
import os
import sqlite3
import threading
import unittest

from harness import Agent, wait_for

CONF = """
[http_api]
listen = "127.0.0.1:0"
[store]
max_queue_mb = 1
write_wait = "%s"
"""


def body(tag, n=5000):
    return "".join("bp,req=%s,host=host-%04d.example.internal v=%di,s=\"x\" %d\n" %
                   (tag, i, i, 1700000000000000000 + i) for i in range(n)).encode()


class Writer(threading.Thread):
    def __init__(self, address, data):
        super().__init__(daemon=True)
        self.address, self.data = address, data
        self.status = None
        self.answer = ""

    def run(self):
        host, port = self.address.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            conn.request("POST", "/v1/write/metric", self.data)
            resp = conn.getresponse()
            self.status, self.answer = resp.status, resp.read().decode()
        except OSError as e:
            self.status = repr(e)
        finally:
            conn.close()


class BackpressureTest(unittest.TestCase):
    def start(self, write_wait):
        agent = Agent(agent_conf=CONF % write_wait)
        self.addCleanup(agent.cleanup)
        agent.start()
        # The store's write lock, held by someone else: the agent's commits wait and retry.
        self.lock = sqlite3.connect(os.path.join(agent.root, "data", "pythond.db"),
                                    isolation_level=None, timeout=10)
        self.addCleanup(self.lock.close)
        self.lock.execute("BEGIN IMMEDIATE")
        return agent

    def held(self, agent):
        return agent.stats()["ingest"]["held"]

    def test_held_writes_are_answered_200_once_the_store_catches_up(self):
        agent = self.start("60s")
        first = Writer(agent.address, body("a"))
        first.start()
        wait_for(lambda: agent.stats()["store"]["write_errors"] > 0 or
                 agent.stats()["store"]["queued_bytes"] > 0, 20, "the first write queued")
        later = [Writer(agent.address, body(tag)) for tag in ("b", "c")]
        for w in later:
            w.start()
        wait_for(lambda: self.held(agent) == 2, 20, "two writes held")
        self.assertIsNone(first.status)
        self.lock.execute("COMMIT")
        for w in [first] + later:
            w.join(60)
            self.assertEqual(w.status, 200, w.answer)
        self.assertEqual(agent.count("measurement = 'bp'"), 15000)
        stats = agent.stats()
        self.assertEqual(stats["ingest"]["held"], 0)
        self.assertEqual(stats["ingest"]["busy"], 0)
        self.assertEqual(stats["ingest"]["held_refused"], 0)

    def test_a_write_held_past_write_wait_gets_503(self):
        agent = self.start("1s")
        first = Writer(agent.address, body("a"))
        first.start()
        wait_for(lambda: agent.stats()["store"]["queued_bytes"] > 0 or
                 agent.stats()["store"]["write_errors"] > 0, 20, "the first write queued")
        second = Writer(agent.address, body("b"))
        second.start()
        second.join(30)
        self.assertEqual(second.status, 503)
        self.assertIn("datakit.busy", second.answer)
        self.assertIn("write_wait", second.answer)
        self.assertEqual(agent.stats()["ingest"]["held_refused"], 1)
        self.lock.execute("COMMIT")
        first.join(60)
        self.assertEqual(first.status, 200, first.answer)
        wait_for(lambda: agent.count("measurement = 'bp'") == 5000, 20, "the first write stored")
        # The agent serves on: a new write is stored.
        status, answer = agent.http("POST", "/v1/write/metric", body("c", 10))
        self.assertEqual(status, 200, answer)


if __name__ == "__main__":
    unittest.main()
