"""The write API through a real socket, with curl as the issue's examples show it."""

import json
import subprocess
import unittest

from harness import Agent


class HttpApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent().start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.cleanup()

    def curl(self, path, body, *extra):
        out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "-d", body] + list(extra) +
                             ["http://%s%s" % (self.agent.address, path)],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        text, _, code = out.stdout.rpartition("\n")
        return int(code), text

    def test_line_protocol_is_stored_exactly(self):
        code, body = self.curl("/v1/write/metric",
                               'cpu,host=a usage=0.5,n=3i,msg="hi" 1700000000000000000')
        self.assertEqual(code, 200, body)
        rows = self.agent.query("SELECT category, measurement, time, tags, fields, "
                                "json_type(fields,'$.n') AS n_type, "
                                "json_type(fields,'$.usage') AS usage_type FROM points "
                                "WHERE measurement = 'cpu'")
        self.assertEqual(rows, [{
            "category": "metric", "measurement": "cpu", "time": 1700000000000000000,
            "tags": '{"host":"a"}', "fields": '{"usage":0.5,"n":3,"msg":"hi"}',
            "n_type": "integer", "usage_type": "real"}])

    def test_bad_line_names_line_and_position(self):
        code, body = self.curl("/v1/write/metric", "cpu,host=a usage=")
        self.assertEqual(code, 400)
        err = json.loads(body)
        self.assertEqual(err["error_code"], "datakit.invalidLinePoint")
        self.assertIn("line 1, column 18", err["message"])

    def test_unknown_category(self):
        code, body = self.curl("/v1/write/metrics", "cpu v=1")
        self.assertEqual(code, 400)
        self.assertEqual(json.loads(body)["error_code"], "datakit.invalidCategory")

    def test_json_body_keeps_types(self):
        code, body = self.curl(
            "/v1/write/logging?input=jsontest",
            '[{"measurement":"app","tags":{"svc":"x"},"fields":{"message":"m","n":7,"r":7.0}}]',
            "-H", "Content-Type: application/json")
        self.assertEqual(code, 200, body)
        rows = self.agent.query("SELECT input, json_type(fields,'$.n') AS n, "
                                "json_type(fields,'$.r') AS r FROM points "
                                "WHERE measurement = 'app'")
        self.assertEqual(rows, [{"input": "jsontest", "n": "integer", "r": "real"}])

    def test_ping_and_lasterror(self):
        status, body = self.agent.http("GET", "/v1/ping")
        self.assertEqual(status, 200)
        self.assertIn("version", json.loads(body)["content"])
        code, _ = self.curl("/v1/lasterror", '{"input":"x","err_content":"boom"}')
        self.assertEqual(code, 200)
        self.assertIn("lasterror from input 'x': boom", self.agent.log())

    def test_malformed_http_does_not_hurt_the_agent(self):
        import socket
        host, port = self.agent.address.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"GARBAGE\r\n\r\n")
            reply = s.recv(4096)
        self.assertIn(b"400", reply.split(b"\r\n")[0])
        self.assertEqual(self.agent.http("GET", "/v1/ping")[0], 200)


if __name__ == "__main__":
    unittest.main()
