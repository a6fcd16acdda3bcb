"""listen.https (SPEC §2): the same HTTP ingest over TLS with tls.cert and
tls.key, at TLS 1.2 or later; a bad certificate is a start-up error."""

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest
import http.client

from harness import SpillwayTestCase


def self_signed(tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


class TLS(SpillwayTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="spillway-tls-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.cert, self.key = self_signed(self.tmp)

    def test_bulk_over_tls(self):
        sp = self.start(config={"listen": {"https": "127.0.0.1:0"},
                                "tls": {"cert": self.cert, "key": self.key}},
                        want=("tcp", "http", "https", "admin"))
        ctx = ssl.create_default_context(cafile=self.cert)
        c = http.client.HTTPSConnection("127.0.0.1", sp.ports["https"],
                                        context=ctx, timeout=30)
        c.request("POST", "/_bulk",
                  body=b'{"index":{"_index":"a"}}\n{"n":1}\n',
                  headers={"Content-Type": "application/x-ndjson"})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertFalse(json.loads(r.read())["errors"])
        c.close()
        # Older than TLS 1.2 is refused.
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(self.cert)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        with socket.create_connection(("127.0.0.1", sp.ports["https"]),
                                      timeout=10) as s:
            with self.assertRaises((ssl.SSLError, OSError)):
                old.wrap_socket(s, server_hostname="127.0.0.1")
        m = sp.wait_settled(1)
        self.assertEqual(m.forwarded("default"), 1)
        self.assertEqual([json.loads(l) for l in sp.sink_lines()], [{"n": 1}])
        # The TLS listener has its own series; a plain-HTTP request on
        # it is refused by the handshake, never read as a request.
        with socket.create_connection(("127.0.0.1", sp.ports["https"]),
                                      timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                self.assertFalse(s.recv(4096).startswith(b"HTTP/1.1 200"))
            except OSError:
                pass
        m = sp.metrics()
        self.assertTrue(m.has("spillway_connections", listener="https"))
        for code in ("400", "408", "413", "429"):
            self.assertTrue(m.has("spillway_http_requests_rejected_total",
                                  listener="https", code=code), code)
        self.assertEqual(m.get1("spillway_http_requests_rejected_total",
                                listener="https", code="413"), 0)
        self.assertTrue(m.has("spillway_connections_refused_total",
                              listener="https", reason="limit"))
        self.assertTrue(m.has("spillway_http_slow_clients_total",
                              listener="https", reason="header"))

    def test_bad_certificate_is_a_start_up_error(self):
        bad = os.path.join(self.tmp, "bad.pem")
        with open(bad, "w") as f:
            f.write("not a certificate\n")
        cfg = os.path.join(self.tmp, "c.json")
        with open(cfg, "w") as f:
            json.dump({"listen": {"https": "127.0.0.1:0"},
                       "tls": {"cert": bad, "key": self.key}}, f)
        from harness import run_cli
        r = run_cli(["-c", cfg, "--listen-tcp", "127.0.0.1:0",
                     "--listen-http", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"tls.cert", r.stderr)


if __name__ == "__main__":
    unittest.main()
