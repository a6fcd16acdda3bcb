"""The Elasticsearch sink against tests/peers/es_emulator.py: which
documents arrive where, byte for byte; every item's outcome counted
(forwarded, sink_rejected, retried, sink_error); gzip and auth headers;
an outage with memory bounded and /healthz answering 503."""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import Emulator, SpillwayTestCase, WAIT_TIMEOUT, ndjson

RULES = {
    "classes": [
        {"name": "critical", "priority": 0,
         "match": [{"field": "level", "regex": "^ERROR$"}]},
    ],
    "default": {"name": "other", "priority": 5},
}


def ev(i, **kw):
    d = {"@timestamp": "2026-11-22T10:11:%02d.345Z" % (i % 60), "n": i}
    d.update(kw)
    return d


def line(d):
    return json.dumps(d, separators=(",", ":"))


class ESSinkCase(SpillwayTestCase):

    def emulator(self, *args):
        emu = Emulator(*args)
        self.addCleanup(emu.cleanup)
        return emu

    def spillway(self, emu_url, rules=RULES, **sink):
        cfg = {"sink": {"batch_events": 50, "flush_ms": 20,
                        "concurrency": 2, "timeout_ms": 5000,
                        "max_retries": 3}}
        cfg["sink"].update(sink)
        queue = cfg["sink"].pop("queue", None)
        if queue:
            cfg["queue"] = queue
        return self.start(config=cfg, rules=rules, sink=emu_url)

    def settled(self, sp, n):
        return sp.wait_settled(n, timeout=WAIT_TIMEOUT * 2)

    def sink_codes(self, m):
        out = {}
        for labels, v in m.series("spillway_sink_requests_total").items():
            d = dict(labels)
            if d.get("sink") == "main":
                out[d["code"]] = v
        return out

    def wait_until(self, pred, what, timeout=WAIT_TIMEOUT * 2):
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                self.fail("timed out waiting for " + what)
            time.sleep(0.05)


class Documents(ESSinkCase):

    def test_exact_documents_and_indices(self):
        emu = self.emulator()
        emu.call("PUT", "/_ingest/pipeline/p1", {"processors": []})
        sp = self.spillway(emu.url, index="logs-%Y.%m.%d",
                           compression="none")
        tcp = [line(ev(1, level="INFO")),
               line(ev(2, level="ERROR")),
               # offset: still 22 Nov in UTC... and 21 Nov here
               '{"@timestamp":"2026-11-22T01:00:00+02:00","n":3}',
               # spacing kept byte for byte
               '{ "n" : 4,  "@timestamp" : "2026-11-23T00:00:00Z" }',
               # epoch_millis: 2026-11-23T12:00:00Z
               '{"@timestamp":1795435200000,"n":8}']
        bulk_docs = [
            ('{"index":{"_index":"mine","_id":"a1","routing":"r1"}}',
             '{"n":5,"level":"ERROR"}'),
            ('{"create":{"_index":"other-idx","_id":"b2",'
             '"pipeline":"p1"}}', '{"n":6}'),
            ('{"index":{"_index":"mine"}}', '{"n":7}'),
        ]
        sp.send_tcp(("\n".join(tcp) + "\n").encode())
        body = "".join(a + "\n" + s + "\n" for a, s in bulk_docs)
        st, _, out = sp.bulk(body)
        self.assertEqual(st, 200, out)
        m = self.settled(sp, len(tcp) + len(bulk_docs))

        got = emu.received()
        by_index = {}
        for g in got:
            by_index.setdefault(g["_index"], []).append(g["source"])
        self.assertEqual(sorted(by_index), ["logs-2026.11.21",
                                            "logs-2026.11.22",
                                            "logs-2026.11.23", "mine",
                                            "other-idx"])
        self.assertEqual(sorted(by_index["logs-2026.11.22"]),
                         sorted([tcp[0], tcp[1]]))
        self.assertEqual(by_index["logs-2026.11.21"], [tcp[2]])
        self.assertEqual(sorted(by_index["logs-2026.11.23"]),
                         sorted([tcp[3], tcp[4]]))
        self.assertEqual(sorted(by_index["mine"]),
                         ['{"n":5,"level":"ERROR"}', '{"n":7}'])
        self.assertEqual(by_index["other-idx"], ['{"n":6}'])
        ids = {g["source"]: g["_id"] for g in got}
        self.assertEqual(ids['{"n":5,"level":"ERROR"}'], "a1")
        self.assertEqual(ids['{"n":6}'], "b2")

        # The bulk bodies carry the action lines as they came.
        sent = "".join(r["body"] for r in emu.bulk_requests())
        for a, s in bulk_docs:
            self.assertIn(a + "\n" + s + "\n", sent)
        for r in emu.bulk_requests():
            self.assertEqual(r["method"], "POST")
            self.assertEqual(r["headers"]["content-type"],
                             "application/x-ndjson")
            self.assertNotIn("content-encoding", r["headers"])
            self.assertNotIn("authorization", r["headers"])
            self.assertTrue(r["body"].endswith("\n"))

        self.assertEqual(m.forwarded("critical"), 2)
        self.assertEqual(m.forwarded("other"), 6)
        self.assertEqual(m.dropped("critical") + m.dropped("other"), 0)
        codes = self.sink_codes(m)
        self.assertEqual(set(codes), {"200"})
        self.assertEqual(codes["200"], len(emu.bulk_requests()))

    def test_invalid_lines_go_to_todays_index(self):
        emu = self.emulator()
        sp = self.spillway(emu.url, index="x-%Y")
        sp.send_tcp(b'not json\n{"n":1}\n')
        m = self.settled(sp, 2)
        got = emu.received()
        year = time.strftime("%Y", time.gmtime())
        self.assertEqual(sorted((g["_index"], g["source"]) for g in got),
                         [("x-" + year, '{"message":"not json","tags":'
                           '["_jsonparsefailure"]}'),
                          ("x-" + year, '{"n":1}')])
        self.assertEqual(m.forwarded("_invalid"), 1)
        self.assertEqual(m.forwarded("other"), 1)

    def test_batches_respect_batch_events(self):
        emu = self.emulator()
        sp = self.spillway(emu.url, batch_events=7, flush_ms=1000,
                           concurrency=3)
        n = 200
        sp.send_tcp(ndjson([ev(i) for i in range(n)]))
        m = self.settled(sp, n)
        self.assertEqual(m.forwarded("other"), n)
        sizes = [r["body"].count("\n") // 2 for r in emu.bulk_requests()]
        self.assertEqual(sum(sizes), n)
        self.assertTrue(all(s <= 7 for s in sizes), sizes)
        self.assertEqual(sorted(g["source"] for g in emu.received()),
                         sorted(line(ev(i)) for i in range(n)))

    def test_gzip_and_basic_auth(self):
        emu = self.emulator()
        url = emu.url.replace("http://", "http://elastic:s%40cret@")
        sp = self.spillway(url, compression="gzip")
        docs = [ev(i) for i in range(20)]
        sp.send_tcp(ndjson(docs))
        self.settled(sp, 20)
        reqs = emu.bulk_requests()
        self.assertTrue(reqs)
        for r in reqs:
            self.assertEqual(r["headers"]["content-encoding"], "gzip")
            # base64("elastic:s@cret")
            self.assertEqual(r["headers"]["authorization"],
                             "Basic ZWxhc3RpYzpzQGNyZXQ=")
            self.assertLess(r["body_bytes"], len(r["body"].encode()))
        self.assertEqual(sorted(g["source"] for g in emu.received()),
                         sorted(line(d) for d in docs))

    def test_api_key(self):
        emu = self.emulator()
        sp = self.spillway(emu.url, api_key="a2V5OnNlY3JldA==")
        sp.send_tcp(ndjson([ev(1)]))
        self.settled(sp, 1)
        for r in emu.bulk_requests():
            self.assertEqual(r["headers"]["authorization"],
                             "ApiKey a2V5OnNlY3JldA==")

    def test_create_action(self):
        emu = self.emulator()
        sp = self.spillway(emu.url, index="logs-app-default",
                           action="create")
        sp.send_tcp(ndjson([ev(1), ev(2)]))
        m = self.settled(sp, 2)
        self.assertEqual(m.forwarded("other"), 2)
        sent = "".join(r["body"] for r in emu.bulk_requests())
        self.assertEqual(sent.count('{"create":{"_index":"logs-app-default"}}'
                                    "\n"), 2)


class Faults(ESSinkCase):

    def test_item_400_rejected_and_429_retried(self):
        emu = self.emulator()
        emu.config(item_status_by_field=[
            {"field": "kind", "value": "poison", "status": 400},
            {"field": "kind", "value": "retry-me", "status": 429,
             "count": 3},
        ])
        sp = self.spillway(emu.url)
        docs = ([ev(i, kind="ok") for i in range(6)]
                + [ev(10 + i, kind="poison") for i in range(2)]
                + [ev(20 + i, kind="retry-me", level="ERROR")
                   for i in range(3)])
        sp.send_tcp(ndjson(docs))
        m = self.settled(sp, len(docs))
        self.assertEqual(m.forwarded("other"), 6)
        self.assertEqual(m.dropped("other", "sink_rejected"), 2)
        self.assertEqual(m.dropped("other"), 2)
        self.assertEqual(m.forwarded("critical"), 3)
        self.assertEqual(m.dropped("critical"), 0)
        got = sorted(g["source"] for g in emu.received())
        want = sorted(line(d) for d in docs if d["kind"] != "poison")
        self.assertEqual(got, want)
        st = emu.stats()
        self.assertEqual(st["items"]["by_status"].get("429"), 3)
        self.assertEqual(st["items"]["by_status"].get("400"), 2)
        # The retries carried only the 429 items.
        sent = [l for r in emu.bulk_requests()
                for l in r["body"].splitlines() if l.startswith('{"@t')]
        self.assertEqual(sorted(sent), sorted(
            [line(d) for d in docs] +
            [line(d) for d in docs if d["kind"] == "retry-me"]))

    def test_whole_503_with_retry_after_then_recovers(self):
        emu = self.emulator()
        emu.config(reject_whole={"status": 503, "retry_after": 1,
                                 "count": 2})
        sp = self.spillway(emu.url, max_retries=5, concurrency=1,
                           batch_events=100, flush_ms=50)
        docs = [ev(i) for i in range(10)]
        sp.send_tcp(ndjson(docs))
        m = self.settled(sp, 10)
        self.assertEqual(m.forwarded("other"), 10)
        self.assertEqual(m.dropped("other"), 0)
        codes = self.sink_codes(m)
        self.assertEqual(codes.get("503"), 2)
        self.assertGreaterEqual(codes.get("200", 0), 1)
        self.assertEqual(sorted(g["source"] for g in emu.received()),
                         sorted(line(d) for d in docs))
        # Retry-After: 1 was honoured between the attempts.
        ts = [r["ts"] for r in emu.bulk_requests()]
        self.assertGreaterEqual(ts[1] - ts[0], 0.9)
        self.assertGreaterEqual(ts[2] - ts[1], 0.9)

    def test_item_503_until_retries_exhausted(self):
        emu = self.emulator()
        emu.config(item_status_by_field=[
            {"field": "kind", "value": "never", "status": 503}])
        sp = self.spillway(emu.url, max_retries=2)
        docs = [ev(i, kind="never") for i in range(5)] + [ev(9, kind="ok")]
        sp.send_tcp(ndjson(docs))
        m = self.settled(sp, len(docs))
        self.assertEqual(m.dropped("other", "sink_error"), 5)
        self.assertEqual(m.forwarded("other"), 1)
        # First attempt plus exactly max_retries retries each.
        self.assertEqual(emu.stats()["items"]["by_status"]["503"], 5 * 3)

    def test_item_429_waits_without_using_retries(self):
        # A 429 is back-pressure: sent again, past max_retries, until taken.
        emu = self.emulator()
        emu.config(item_status_by_field=[
            {"field": "kind", "value": "busy", "status": 429}])
        sp = self.spillway(emu.url, max_retries=1)
        docs = [ev(i, kind="busy") for i in range(4)] + [ev(9, kind="ok")]
        sp.send_tcp(ndjson(docs))
        deadline = time.time() + 10
        while emu.stats()["items"]["by_status"].get("429", 0) < 4 * 4:
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        m = sp.metrics()
        self.assertEqual(m.dropped("other", "sink_error"), 0)
        self.assertEqual(m.forwarded("other"), 1)
        # Deferred: waiting in the queue or on their way again.
        self.assertEqual(m.queued("other") + m.inflight("other"), 4)
        emu.config(item_status_by_field=[])
        m = self.settled(sp, len(docs))
        self.assertEqual(m.forwarded("other"), 5)
        self.assertEqual(m.dropped("other", "sink_error"), 0)

    def test_whole_503_until_retries_exhausted(self):
        emu = self.emulator()
        emu.config(reject_whole=503)
        sp = self.spillway(emu.url, max_retries=2)
        sp.send_tcp(ndjson([ev(i) for i in range(30)]))
        m = self.settled(sp, 30)
        self.assertEqual(m.dropped("other", "sink_error"), 30)
        self.assertEqual(m.forwarded("other"), 0)
        codes = self.sink_codes(m)
        self.assertEqual(set(codes), {"503"})
        self.assertEqual(codes["503"] % 3, 0)
        self.assertEqual(emu.received(), [])

    def test_whole_4xx_rejects_every_item(self):
        emu = self.emulator()
        emu.config(reject_whole={"status": 401, "count": 1})
        sp = self.spillway(emu.url, batch_events=100, flush_ms=100)
        sp.send_tcp(ndjson([ev(i) for i in range(5)]))
        m = self.settled(sp, 5)
        self.assertEqual(m.dropped("other", "sink_rejected"), 5)
        self.assertEqual(self.sink_codes(m), {"401": 1})
        sp.send_tcp(ndjson([ev(9)]))
        m = self.settled(sp, 6)
        self.assertEqual(m.forwarded("other"), 1)
        self.assertEqual([g["source"] for g in emu.received()],
                         [line(ev(9))])

    def test_timeout_then_recovery(self):
        emu = self.emulator()
        emu.config(latency_ms=1500)
        sp = self.spillway(emu.url, timeout_ms=300, max_retries=20,
                           concurrency=1)
        sp.send_tcp(ndjson([ev(1)]))
        sp.wait_for(lambda m: self.sink_codes(m).get("timeout", 0) >= 1,
                    "a timed-out request")
        emu.config(latency_ms=None)
        m = self.settled(sp, 1)
        self.assertEqual(m.forwarded("other"), 1)
        # At least once: a timed-out request may have been stored too.
        self.assertEqual({g["source"] for g in emu.received()},
                         {line(ev(1))})

    def test_outage_bounded_and_healthz(self):
        emu = self.emulator()
        sp = self.spillway(emu.url, timeout_ms=300, max_retries=2,
                           batch_events=50, concurrency=2,
                           queue={"max_events": 500})
        sp.send_tcp(ndjson([ev(i) for i in range(10)]))
        self.settled(sp, 10)
        st, _, _ = sp.admin("GET", "/healthz")
        self.assertEqual(st, 200)
        emu.stop()
        n = 10 + 3000
        sp.send_tcp(ndjson([ev(i) for i in range(10, n)]))

        def bounded(m):
            s = sp.stats()["sink"]
            self.assertLessEqual(s["pending"], 2 * 50 + 2 * 50)
            self.assertLessEqual(m.total("spillway_events_queued"), 500)
            return True

        # /healthz turns 503 once the sink has been down for timeout_ms.
        deadline = time.monotonic() + WAIT_TIMEOUT
        while True:
            bounded(sp.metrics())
            st, _, body = sp.admin("GET", "/healthz")
            if st == 503:
                break
            self.assertLess(time.monotonic(), deadline, "healthz stayed up")
            time.sleep(0.05)
        self.assertIn(b"unreachable", body)
        m = sp.wait_for(
            lambda m: bounded(m) and m.received("other") == n
            and m.queued("other") == 0 and m.inflight("other") == 0,
            "every event accounted for", timeout=WAIT_TIMEOUT * 3)
        self.assertEqual(m.forwarded("other"), 10)
        self.assertGreater(m.dropped("other", "sink_error"), 0)
        self.assertEqual(m.dropped("other", "sink_error")
                         + m.dropped("other", "queue_full"), n - 10)
        codes = self.sink_codes(m)
        self.assertGreater(codes.get("connect_error", 0), 0)

    def test_shutdown_aborts_held_requests(self):
        emu = self.emulator()
        emu.config(latency_ms=20000)
        cfg = {"sink": {"batch_events": 5, "flush_ms": 10,
                        "concurrency": 2, "timeout_ms": 30000},
               "shutdown_timeout_ms": 300}
        sp = self.start(config=cfg, rules=RULES, sink=emu.url)
        sp.send_tcp(ndjson([ev(i) for i in range(40)]))
        # Two requests of 5 held, one full forming batch, the rest queued.
        m = sp.wait_for(lambda m: m.inflight("other") == 15
                        and m.queued("other") == 25, "two requests held")
        self.assertEqual(sp.stats()["sink"]["pending"], 15)
        # In flight when the deadline passes: counted as shutdown, with
        # every request cancelled and nothing leaked (ASan builds).
        t0 = time.monotonic()
        self.finish(sp, check_accounting=True)
        self.assertLess(time.monotonic() - t0, 10)


def make_cert(tmp):
    key = os.path.join(tmp, "key.pem")
    cert = os.path.join(tmp, "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj",
         "/CN=localhost", "-addext",
         "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class TLSProxy:
    """Terminates TLS on a free port and relays bytes to a plain port."""

    def __init__(self, cert, key, target_port):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.target = target_port
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.handshakes_failed = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        try:
            s = self.ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            self.handshakes_failed += 1
            c.close()
            return
        u = socket.create_connection(("127.0.0.1", self.target))

        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        t = threading.Thread(target=pump, args=(u, s), daemon=True)
        t.start()
        pump(s, u)
        t.join(30)
        s.close()
        u.close()

    def close(self):
        self.sock.close()


@unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
class TLS(ESSinkCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="spillway-tls-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.cert, key = make_cert(self.tmp)
        self.emu = self.emulator()
        self.proxy = TLSProxy(self.cert, key, self.emu.port)
        self.addCleanup(self.proxy.close)

    def test_https_with_ca_file(self):
        sp = self.spillway("https://localhost:%d" % self.proxy.port,
                           ca_file=self.cert, compression="gzip")
        docs = [ev(i) for i in range(30)]
        sp.send_tcp(ndjson(docs))
        m = self.settled(sp, 30)
        self.assertEqual(m.forwarded("other"), 30)
        self.assertEqual(sorted(g["source"] for g in self.emu.received()),
                         sorted(line(d) for d in docs))

    def test_https_by_ip_with_ca_file(self):
        sp = self.spillway("https://127.0.0.1:%d" % self.proxy.port,
                           ca_file=self.cert)
        sp.send_tcp(ndjson([ev(1)]))
        m = self.settled(sp, 1)
        self.assertEqual(m.forwarded("other"), 1)

    def test_https_unknown_ca_fails_verification(self):
        sp = self.spillway("https://localhost:%d" % self.proxy.port,
                           max_retries=1)
        sp.send_tcp(ndjson([ev(1), ev(2)]))
        m = self.settled(sp, 2)
        self.assertEqual(m.dropped("other", "sink_error"), 2)
        self.assertEqual(self.emu.received(), [])
        self.assertGreater(self.proxy.handshakes_failed, 0)

    def test_https_without_verification(self):
        sp = self.spillway("https://localhost:%d" % self.proxy.port,
                           tls_verify=False)
        sp.send_tcp(ndjson([ev(1), ev(2)]))
        m = self.settled(sp, 2)
        self.assertEqual(m.forwarded("other"), 2)


if __name__ == "__main__":
    unittest.main()
