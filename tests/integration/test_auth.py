"""ingest_auth (SPEC §2): with it set, nothing is written to the HTTP
ingest listener, and nothing passes on to the cluster, without a user's
password (HTTP Basic, checked against a crypt(3) hash) or an API key
(Elasticsearch's ApiKey scheme, checked against its SHA-256); everything
else is answered 401 with WWW-Authenticate, and counted."""

import base64
import hashlib
import json
import os
import shutil
import tempfile
import unittest
import warnings

from harness import SpillwayTestCase, run_cli
from test_es_sink import ESSinkCase, RULES

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt


def basic(user, password):
    return "Basic " + base64.b64encode(
        ("%s:%s" % (user, password)).encode()).decode()


def apikey(kid, key):
    return "ApiKey " + base64.b64encode(("%s:%s" % (kid, key)).encode()
                                        ).decode()


AUTH = {
    "users": {
        "shipper": crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_SHA512)),
    },
    "api_keys": {
        "k1": "sha256:" + hashlib.sha256(b"a-long-random-key").hexdigest(),
    },
}
BODY = b'{"index":{"_index":"a"}}\n{"n":1}\n'


class Auth(SpillwayTestCase):

    def test_writes_need_credentials(self):
        sp = self.start(config={"ingest_auth": AUTH})
        refused = [None, basic("shipper", "wrong"), basic("nobody", "s3cret"),
                   apikey("k1", "not-the-key"), apikey("k2",
                                                       "a-long-random-key"),
                   "Bearer a-long-random-key", "Basic !!!", "Basic " +
                   base64.b64encode(b"shipper").decode()]
        for h in refused:
            with self.subTest(authorization=h):
                st, hd, data = sp.http("POST", "/_bulk", BODY, headers={
                    "Authorization": h} if h else {})
                self.assertEqual(st, 401, data)
                self.assertIn("Basic", hd.get("www-authenticate", ""))
                self.assertEqual(json.loads(data)["error"]["type"],
                                 "security_exception")
        for path in ("/ingest", "/", "/_license"):
            st, _, _ = sp.http("POST" if path == "/ingest" else "GET", path,
                               b'{"n":2}\n' if path == "/ingest" else None)
            self.assertEqual(st, 401, path)
        m = sp.metrics()
        self.assertEqual(m.get1("spillway_http_auth_refused_total"),
                         len(refused) + 3)
        self.assertEqual(m.total("spillway_events_received_total"), 0)
        for h in (basic("shipper", "s3cret"), apikey("k1",
                                                     "a-long-random-key")):
            st, _, data = sp.http("POST", "/_bulk", BODY,
                                  headers={"Authorization": h})
            self.assertEqual(st, 200, data)
            self.assertFalse(json.loads(data)["errors"])
            # again, from the short-lived cache of verified credentials
            st, _, _ = sp.http("POST", "/_bulk", BODY,
                               headers={"Authorization": h})
            self.assertEqual(st, 200)
        m = sp.wait_settled(4)
        self.assertEqual(m.forwarded("default"), 4)
        self.assertEqual(len(sp.sink_lines()), 4)

    def test_bad_ingest_auth_is_a_config_error(self):
        tmp = tempfile.mkdtemp(prefix="spillway-it-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cfg = os.path.join(tmp, "c.json")
        for bad in ({"users": {"u": "plaintext"}},
                    {"api_keys": {"k": "sha256:abcd"}},
                    {"api_keys": {"k": "md5:" + "0" * 32}},
                    {"groups": {}}, ["x"]):
            with self.subTest(bad=bad):
                with open(cfg, "w") as f:
                    json.dump({"ingest_auth": bad}, f)
                r = run_cli(["-c", cfg, "--listen-tcp", "127.0.0.1:0"])
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(b"ingest_auth", r.stderr)


class AuthPassThrough(ESSinkCase):

    def test_nothing_passes_on_without_credentials(self):
        emu = self.emulator()
        sp = self.start(config={"ingest_auth": AUTH}, rules=RULES,
                        sink=emu.url)
        for method, path in (("GET", "/"), ("PUT", "/_index_template/x"),
                             ("DELETE", "/logs-*")):
            st, _, _ = sp.http(method, path, b"{}",
                               content_type="application/json")
            self.assertEqual(st, 401, path)
        self.assertEqual(emu.requests(), [])
        st, _, body = sp.http("GET", "/", headers={
            "Authorization": apikey("k1", "a-long-random-key")})
        self.assertEqual(st, 200, body)
        self.assertEqual(len(emu.requests()), 1)
        # The cluster's own credentials are spillway's (sink.url or
        # sink.api_key); the sender's are not passed on.
        self.assertNotIn("authorization", emu.requests()[0]["headers"])


if __name__ == "__main__":
    unittest.main()
