"""Answered 2xx = durable: a write the agent acknowledged survives a SIGKILL of the agent.

Four keep-alive connections flood POST /v1/write/metric with bodies of distinct points; once a
few hundred requests were acknowledged, the agent is killed with SIGKILL in the middle of the
flood, restarted on the same root, and every point of every acknowledged request must be in
`points`, exactly once. A request without a 2xx answer (refused, cut off by the kill) may or
may not be stored, but never twice: nothing is ever sent twice, so a duplicate is a replay bug.
"""

import collections
import http.client
import os
import random
import signal
import threading
import time
import unittest

from harness import Agent

CONNECTIONS = 4
ACKED_BEFORE_KILL = 300       # acknowledged requests (all connections) before the SIGKILL
MAX_REQUESTS_PER_CONN = 1500  # bounds the flood if the kill never comes
FLOOD_DEADLINE_S = 20         # to reach ACKED_BEFORE_KILL
POINTS_PER_REQUEST = (300, 700)


class Flood:
    """The writers' shared record: which request carried which seqs, and what it got back."""

    def __init__(self, address, base_ns):
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.base_ns = base_ns
        self.cond = threading.Condition()
        self.next_seq = 0
        self.acked = []        # (first_seq, count) of requests answered 2xx
        self.unacked = []      # (first_seq, count) of every other request
        self.statuses = collections.Counter()  # status code, or the exception's class name
        self.running = CONNECTIONS
        self.stop = threading.Event()  # set by the test when it must end early

    def take_seqs(self, n):
        with self.cond:
            first = self.next_seq
            self.next_seq += n
            return first

    def body(self, conn, first, n, rng):
        pad = "x" * rng.randint(8, 48)
        return "".join('dur,conn=%d seq=%di,pad="%s-%d" %d\n'
                       % (conn, s, pad, s, self.base_ns + s)
                       for s in range(first, first + n)).encode()

    def writer(self, conn):
        rng = random.Random(conn)
        client = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            for _ in range(MAX_REQUESTS_PER_CONN):
                if self.stop.is_set():
                    return
                n = rng.randint(*POINTS_PER_REQUEST)
                first = self.take_seqs(n)
                try:
                    client.request("POST", "/v1/write/metric", body=self.body(conn, first, n, rng),
                                   headers={"Content-Type": "text/plain"})
                    resp = client.getresponse()
                except (OSError, http.client.HTTPException) as e:
                    # Refused, reset, cut off: the agent is gone (or going). Unacknowledged.
                    with self.cond:
                        self.unacked.append((first, n))
                        self.statuses[type(e).__name__] += 1
                    return
                with self.cond:
                    # The status line is the acknowledgement, whatever happens to the body.
                    (self.acked if 200 <= resp.status < 300 else self.unacked).append((first, n))
                    self.statuses[resp.status] += 1
                    self.cond.notify_all()
                try:
                    resp.read()
                except (OSError, http.client.HTTPException) as e:
                    with self.cond:
                        self.statuses[type(e).__name__] += 1
                    return
        finally:
            client.close()
            with self.cond:
                self.running -= 1
                self.cond.notify_all()


class DurabilityTest(unittest.TestCase):
    def test_acknowledged_writes_survive_sigkill(self):
        agent = Agent().start()
        self.addCleanup(agent.cleanup)  # runs last: it owns (and removes) the root
        flood = Flood(agent.address, time.time_ns())
        threads = [threading.Thread(target=flood.writer, args=(c,), daemon=True)
                   for c in range(CONNECTIONS)]
        self.addCleanup(flood.stop.set)
        for t in threads:
            t.start()

        with flood.cond:
            flood.cond.wait_for(lambda: len(flood.acked) >= ACKED_BEFORE_KILL or not flood.running,
                                timeout=FLOOD_DEADLINE_S)
            acked_at_kill, running_at_kill = len(flood.acked), flood.running
            statuses = dict(flood.statuses)
        if acked_at_kill < ACKED_BEFORE_KILL or running_at_kill < CONNECTIONS:
            flood.stop.set()
            self.fail("the flood did not reach %d acknowledged requests on %d live connections "
                      "within %ss (acked %d, %d connection(s) still running, answers %r)\n%s"
                      % (ACKED_BEFORE_KILL, CONNECTIONS, FLOOD_DEADLINE_S, acked_at_kill,
                         running_at_kill, statuses, agent.log()[-3000:]))

        # Mid-flood: no goodbye, no flush.
        os.kill(agent.proc.pid, signal.SIGKILL)
        self.assertEqual(agent.proc.wait(10), -signal.SIGKILL)
        for t in threads:
            t.join(15)  # a dead agent ends every writer with a connection error
        self.assertFalse([t for t in threads if t.is_alive()],
                         "writers still running 15 s after the agent was killed")

        # The killed agent's run.json (its address, its pid) is stale: the restarted agent's
        # own must be the one the harness waits for.
        os.remove(os.path.join(agent.root, "data", "run.json"))
        again = Agent(root=agent.root).start()
        self.addCleanup(again.cleanup)
        self.assertEqual(again.http("GET", "/v1/ping")[0], 200)

        rows = again.query("SELECT json_extract(fields,'$.seq') AS seq FROM points "
                           "WHERE measurement = 'dur'")
        stored = collections.Counter(r["seq"] for r in rows)
        acked_seqs = set()
        for first, n in flood.acked:
            acked_seqs.update(range(first, first + n))
        unacked_seqs = set()
        for first, n in flood.unacked:
            unacked_seqs.update(range(first, first + n))
        lost = sorted(acked_seqs - stored.keys())
        twice = sorted(s for s, k in stored.items() if k > 1)
        unknown = sorted(stored.keys() - acked_seqs - unacked_seqs)
        lost_requests = sum(1 for first, n in flood.acked
                            if any(s not in stored for s in range(first, first + n)))
        unacked_stored = collections.Counter(
            "all" if all(s in stored for s in range(first, first + n)) else
            "some" if any(s in stored for s in range(first, first + n)) else "none"
            for first, n in flood.unacked)

        summary = ("acked %d request(s) / %d point(s) (%d acked when the kill was sent); "
                   "unacked %d request(s) (stored: %r); stored %d row(s); answers %r"
                   % (len(flood.acked), len(acked_seqs), acked_at_kill, len(flood.unacked),
                      dict(unacked_stored), len(rows), dict(flood.statuses)))
        problems = []
        if lost:
            problems.append("%d acknowledged point(s) of %d acknowledged request(s) lost after "
                            "SIGKILL, e.g. seq %r" % (len(lost), lost_requests, lost[:10]))
        if twice:
            problems.append("%d seq(s) stored more than once (a replay?), e.g. %r"
                            % (len(twice), [(s, stored[s]) for s in twice[:10]]))
        if unknown:
            problems.append("%d stored seq(s) were never sent, e.g. %r"
                            % (len(unknown), unknown[:10]))
        if problems:
            self.fail("; ".join(problems) + "\n" + summary)


if __name__ == "__main__":
    unittest.main()
