"""Users' own SQLite tools read `points` through the store's loadable extension (docs/STORE.md).

A real agent stores points of every field type; Python's sqlite3 module and the sqlite3 shell
then load the extension (the build's pythond.so) and must see exactly what `pythond query`
sees, while the agent runs (WAL records not yet folded) and after it stopped (all in chunks).
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import unittest

from harness import REPO, Agent, wait_for

EXT = os.environ.get("PYTHOND_SQLITE_EXT", os.path.join(REPO, "build", "pythond.so"))

BODY = "\n".join([
    'cpu,host=a,dc=x usage=0.5,n=3i,big=18446744073709551615u,ok=true,msg="hi \\"there\\"" '
    '1700000000000000000',
    'cpu,host=a,dc=x usage=0.25,n=4i,big=1u,ok=false,msg="" 1700000010000000000',
    'cpu,host=b usage=-0.0,n=-9223372036854775808i 1700000020000000000',
    'mem,host=a used=1e300,free=3 1699999990000000000',
]) + "\n"

# A Python whose sqlite3 module can load extensions (pyenv builds often cannot; Debian's can).
PYTHON = (sys.executable if hasattr(sqlite3.Connection, "enable_load_extension")
          else "/usr/bin/python3")
READER = """
import json, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
db.enable_load_extension(True)
db.load_extension(sys.argv[2])
db.enable_load_extension(False)
db.row_factory = sqlite3.Row
print(json.dumps([dict(r) for r in db.execute(sys.argv[3])]))
"""

ALL = "SELECT category, measurement, time, tags, fields, input FROM points ORDER BY time, tags"


@unittest.skipUnless(os.path.exists(EXT), "no loadable extension (sanitizer build?) at " + EXT)
class StoreExtensionTest(unittest.TestCase):
    def setUp(self):
        self.agent = Agent(agent_conf="""
[http_api]
listen = "127.0.0.1:0"
[store]
fold_interval = "1h"
""")
        self.addCleanup(self.agent.cleanup)
        self.agent.start()
        status, body = self.agent.http("POST", "/v1/write/metric?input=ext", BODY)
        self.assertEqual(status, 200, body)
        self.db = os.path.join(self.agent.root, "data", "pythond.db")

    def python_rows(self, sql):
        """The rows as a user's Python script gets them, with the documented three lines."""
        out = subprocess.run([PYTHON, "-c", READER, self.db, EXT[:-3], sql],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def test_python_and_the_shell_see_what_pythond_query_sees(self):
        want = wait_for(lambda: len(self.agent.query(ALL)) == 4 and self.agent.query(ALL), 10,
                        "4 points")
        # While the agent runs, the points are in WAL records (fold_interval = 1h).
        self.assertEqual(self.agent.stats()["store"]["wal_points"], 4)
        self.assertEqual(self.python_rows(ALL), want)
        fields = [r["fields"] for r in want]
        self.assertIn('"big":18446744073709551615', fields[1])
        self.assertIn('"usage":-0.0', fields[3])
        self.assertIn('"used":1e+300', fields[0])

        # After a clean stop everything is folded into chunks; same rows.
        self.assertEqual(self.agent.stop(), 0)
        self.assertEqual(self.python_rows("SELECT count(*) AS n FROM wal")[0]["n"], 0)
        self.assertEqual(self.python_rows(ALL), want)
        self.assertEqual(
            self.python_rows("SELECT json_type(fields, '$.n') AS t FROM points "
                             "WHERE measurement = 'cpu' AND tags = '{\"host\":\"b\"}'"),
            [{"t": "integer"}])

        shell = shutil.which("sqlite3")
        if shell:
            out = subprocess.run([shell, "-readonly", "-cmd", ".load " + EXT, self.db,
                                  "SELECT count(*), sum(time > 1700000000000000000) FROM points "
                                  "WHERE measurement = 'cpu'"],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stdout.strip(), "3|2")

    def test_without_the_extension_the_error_says_what_is_missing(self):
        wait_for(lambda: self.agent.count() == 4, 10, "4 points")
        db = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True)
        self.addCleanup(db.close)
        with self.assertRaises(sqlite3.OperationalError) as e:
            db.execute("SELECT * FROM points").fetchall()
        self.assertIn("pythond_points", str(e.exception))


if __name__ == "__main__":
    unittest.main()
