"""Hostile input (SPEC §7): the process stays up, answers /healthz, and
counts everything it received."""

import http.client
import json
import random
import socket
import threading

from harness import SpillwayTestCase, bulk_body


def split_events(data):
    """The events a byte stream holds: lines, '\\r' stripped, blank ones
    skipped, a final unterminated line included."""
    out = []
    for line in data.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line:
            out.append(line)
    return out


class BadInputCase(SpillwayTestCase):
    def assertHealthy(self, sp):
        self.assertTrue(sp.alive(), "spillway died; stderr:\n" + sp.stderr())
        st, _, data = sp.admin("GET", "/healthz")
        self.assertEqual((st, json.loads(data)), (200, {"status": "ok"}))


class TestBadTcp(BadInputCase):
    def test_deep_nesting(self):
        sp = self.start()
        sp.send_tcp(b"[" * 100000 + b"\n" + b'{"a":' + b"[" * 100000 + b"\n"
                    + b'{"a":' + b'{"b":' * 50000 + b"1" + b"}" * 50001
                    + b"\n" + b'{"ok":1}\n')
        m = sp.wait_settled(4)
        self.assertEqual(m.received("_invalid") + m.received("default"), 4)
        self.assertGreaterEqual(m.received("_invalid"), 2)
        self.assertEqual(sp.sink_lines()[-1], b'{"ok":1}')
        self.assertHealthy(sp)

    def test_ten_megabyte_line_without_newline(self):
        sp = self.start()
        s = sp.tcp_connect()
        try:
            chunk = b"z" * 65536
            for _ in range(160):
                s.sendall(chunk)
        finally:
            s.close()
        m = sp.wait_settled(1)
        self.assertEqual(m.received("_invalid"), 1)
        self.assertEqual(m.dropped("_invalid", "too_large"), 1)
        self.assertEqual(m.received("default"), 0)
        self.assertEqual(sp.sink_bytes(), b"")
        self.assertHealthy(sp)

    def test_ten_megabyte_line_then_more(self):
        sp = self.start()
        s = sp.tcp_connect()
        try:
            s.sendall(b'{"a":"' + b"z" * (10 << 20) + b'"}\n{"after":1}\n')
        finally:
            s.close()
        m = sp.wait_settled(2)
        self.assertEqual(m.dropped("_invalid", "too_large"), 1)
        self.assertEqual(m.forwarded("default"), 1)
        self.assertEqual(sp.sink_lines(), [b'{"after":1}'])

    def test_random_binary(self):
        sp = self.start()
        rnd = random.Random(20240601)
        data = bytes(rnd.getrandbits(8) for _ in range(1 << 20))
        # Keep the count unambiguous: no whitespace-only lines.
        lines = [l for l in data.split(b"\n")
                 if not (l.strip() == b"" and l != b"")]
        data = b"\n".join(lines)
        events = split_events(data)
        sp.send_tcp(data)
        m = sp.wait_settled(len(events))
        self.assertEqual(m.total("spillway_events_received_total"),
                         len(events))
        self.assertEqual(m.received("_invalid"), len(events))
        self.assertEqual(m.forwarded("_invalid"), len(events))
        out = sp.sink_lines()
        self.assertEqual(len(out), len(events))
        for line in out:
            doc = json.loads(line.decode("utf-8"))
            self.assertEqual(doc["tags"], ["_jsonparsefailure"])
            self.assertIsInstance(doc["message"], str)
        self.assertHealthy(sp)

    def test_half_open_connections(self):
        sp = self.start()
        socks = []
        try:
            for i in range(50):
                s = sp.tcp_connect()
                s.sendall(b'{"h":%d}\n{"partial":%d' % (i, i))
                socks.append(s)
            sp.wait_received(50)
            self.assertHealthy(sp)
            # Half-close: the write side only; spillway sees EOF.
            for s in socks[:25]:
                s.shutdown(socket.SHUT_WR)
            sp.wait_received(75)
            self.assertHealthy(sp)
        finally:
            for s in socks:
                s.close()
        m = sp.wait_settled(100)
        self.assertEqual(m.received("default"), 50)
        self.assertEqual(m.received("_invalid"), 50)
        self.assertHealthy(sp)

    def test_connection_flood(self):
        sp = self.start()
        for i in range(200):
            s = sp.tcp_connect()
            if i % 2:
                s.sendall(b'{"f":%d}\n' % i)
            s.close()
        m = sp.wait_settled(100)
        self.assertEqual(m.forwarded("default"), 100)
        self.assertHealthy(sp)
        # 200 at once, then all closed.
        socks = [sp.tcp_connect() for _ in range(200)]
        for s in socks:
            s.close()
        sp.wait_for(lambda m: m.get1("spillway_connections",
                                     listener="tcp") == 0,
                    "connections back to 0")
        self.assertHealthy(sp)


class TestBadHttp(BadInputCase):
    def raw(self, sp, payload, read=True):
        s = socket.create_connection(("127.0.0.1", sp.ports["http"]),
                                     timeout=5)
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            if read:
                try:
                    return s.recv(65536)
                except OSError:
                    return b""
        finally:
            s.close()

    def test_garbage_on_http_port(self):
        sp = self.start()
        for p in [b"\x00\x01\x02\xff\r\n\r\n",
                  b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n"
                  b"\r\nxx",
                  b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                  b"\r\nshort",
                  b"POST /_bulk HTTP/1.1\r\nHost: x\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n"
                  b"zz\r\nnope\r\n0\r\n\r\n",
                  b"POST /_bulk HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Encoding: gzip\r\n"
                  b"Content-Type: application/x-ndjson\r\n"
                  b"Content-Length: 10\r\n\r\nnot gzip!!",
                  b"GET / HTTP/1.1\r\nHost: x\r\n" + b"H: v\r\n" * 10000
                  + b"\r\n",
                  bytes(range(256)) * 100]:
            with self.subTest(payload=p[:40]):
                self.raw(sp, p)
                self.assertTrue(sp.alive(), sp.stderr())
        self.assertHealthy(sp)
        self.assertEqual(sp.metrics().total("spillway_events_received_total"),
                         0)

    def test_bad_gzip_body_is_400(self):
        sp = self.start()
        st, _, data = sp.http("POST", "/_bulk", b"this is not gzip",
                              headers={"Content-Encoding": "gzip"})
        self.assertEqual(st, 400, data)
        import gzip
        trunc = gzip.compress(bulk_body([{"a": 1}] * 100))[:-20]
        st, _, data = sp.http("POST", "/_bulk", trunc,
                              headers={"Content-Encoding": "gzip"})
        self.assertEqual(st, 400, data)
        self.assertEqual(sp.metrics().total("spillway_events_received_total"),
                         0)
        self.assertHealthy(sp)

    def test_deep_nesting_in_bulk(self):
        sp = self.start()
        body = (b'{"index":{}}\n' + b'{"a":' + b"[" * 100000 + b"\n"
                + b'{"index":{}}\n{"ok":1}\n')
        st, _, data = sp.http("POST", "/_bulk", body)
        self.assertIn(st, (200, 400), data)
        st, _, data = sp.http("POST", "/_bulk", b"[" * 100000 + b"\n")
        self.assertEqual(st, 400, data)
        st, _, data = sp.http("POST", "/ingest", b"[" * 100000)
        self.assertIn(st, (200, 400), data)
        self.assertHealthy(sp)

    def test_concurrent_bulk_clients(self):
        sp = self.start()
        errors = []

        def client(t):
            try:
                c = http.client.HTTPConnection("127.0.0.1", sp.ports["http"],
                                               timeout=30)
                for r in range(10):
                    body = bulk_body([{"t": t, "r": r, "i": i}
                                      for i in range(50)])
                    c.request("POST", "/_bulk", body,
                              {"Content-Type": "application/x-ndjson"})
                    resp = c.getresponse()
                    doc = json.loads(resp.read())
                    if resp.status != 200 or doc["errors"] or \
                            len(doc["items"]) != 50:
                        errors.append((t, r, resp.status))
                c.close()
            except Exception as e:  # noqa: BLE001
                errors.append((t, repr(e)))
        threads = [threading.Thread(target=client, args=(t,))
                   for t in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        n = 16 * 10 * 50
        m = sp.wait_settled(n)
        self.assertEqual(m.forwarded("default"), n)
        self.assertEqual(len(sp.sink_lines()), n)

    def test_slow_client_does_not_block_others(self):
        sp = self.start()
        slow = socket.create_connection(("127.0.0.1", sp.ports["http"]),
                                        timeout=5)
        try:
            slow.sendall(b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"application/x-ndjson\r\nContent-Length: 1000\r\n"
                         b"\r\n{\"index\":{}}\n")
            st, _, resp = sp.bulk(bulk_body([{"fast": 1}]))
            self.assertEqual(st, 200)
            sp.wait_settled(1)
            self.assertHealthy(sp)
        finally:
            slow.close()
        self.assertEqual(sp.sink_lines(), [b'{"fast":1}'])


class TestLimits(BadInputCase):
    def test_idle_connection_is_closed_and_counted(self):
        sp = self.start(config={"limits": {"idle_timeout_ms": 300}})
        s = sp.tcp_connect(timeout=15)
        try:
            s.sendall(b'{"idle":1}\n{"idle":')
            # The server closes an idle connection: we read EOF.
            self.assertEqual(s.recv(100), b"")
        finally:
            s.close()
        m = sp.wait_settled(2)
        self.assertEqual(m.forwarded("default"), 1)
        self.assertEqual(m.received("_invalid"), 1)
        self.assertHealthy(sp)

    def test_max_connections(self):
        sp = self.start(config={"limits": {"max_connections": 5}})
        socks = [sp.tcp_connect() for _ in range(5)]
        try:
            sp.wait_for(lambda m: m.get1("spillway_connections",
                                         listener="tcp") == 5,
                        "5 connections")
            extra = sp.tcp_connect()
            extra.settimeout(10)
            try:
                extra.sendall(b'{"refused":1}\n')
                self.assertEqual(extra.recv(100), b"")
            except ConnectionResetError:
                pass
            finally:
                extra.close()
            for s in socks:
                s.sendall(b'{"ok":1}\n')
        finally:
            for s in socks:
                s.close()
        m = sp.wait_settled(5)
        self.assertEqual(m.forwarded("default"), 5)
        self.assertEqual(m.total("spillway_events_received_total"), 5)
        sp.wait_for(lambda m: m.get1("spillway_connections",
                                     listener="tcp") == 0, "0 connections")
        sp.send_tcp(b'{"after":1}\n')
        m = sp.wait_settled(6)
        self.assertEqual(m.forwarded("default"), 6)
