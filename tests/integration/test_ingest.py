"""Ingest end to end: TCP NDJSON, HTTP _bulk, /ingest, the ES start-up
answers, and the file sink's byte-exact contents."""

import gzip
import json
import os
import shutil
import socket
import tempfile
import unittest

from harness import SpillwayTestCase, bulk_body, run_cli, summarize

INV = {"class": "_invalid"}
DEF = {"class": "default"}


def summarize_lines(sp):
    return b"\n".join(sp.sink_lines()[:10]).decode("utf-8", "replace")


def parse_failure(raw):
    return {"message": raw.decode("utf-8", "replace"),
            "tags": ["_jsonparsefailure"]}


class TestTcp(SpillwayTestCase):
    def test_byte_exact_one_per_line(self):
        sp = self.start()
        lines = [b'{ "b" : 1,   "a":"x" }',
                 b'{"z":[1, 2 ,3],"a":{"c":null},"n":1.50}',
                 '{"msg":"h\u00e9llo \u2603 \U0001f600"}'.encode(),
                 b'{"m":"a\\"b\\\\n\\u0041","e":1E+2}',
                 b'{}']
        sp.send_tcp(b"\n".join(lines) + b"\n")
        m = sp.wait_settled(len(lines))
        self.assertEqual(m.received("default"), 5)
        self.assertEqual(m.forwarded("default"), 5)
        self.assertEqual(m.received("_invalid"), 0)
        self.assertEqual(sp.sink_lines(), lines)

    def test_crlf_and_blank_lines(self):
        sp = self.start()
        sp.send_tcp(b'\n\r\n{"a":1}\r\n\n\n{"b":2}\r\n\r\n{"c":3}\n\n')
        m = sp.wait_settled(3)
        self.assertEqual(m.received("default"), 3)
        self.assertEqual(m.received("_invalid"), 0)
        self.assertEqual(m.forwarded("default"), 3)
        self.assertEqual(sp.sink_bytes(), b'{"a":1}\n{"b":2}\n{"c":3}\n')

    def test_many_connections_and_large_batch(self):
        sp = self.start()
        n_conn, per = 8, 500
        expect = set()
        socks = []
        for c in range(n_conn):
            body = b"".join(b'{"c":%d,"i":%d}\n' % (c, i) for i in range(per))
            expect.update(body.splitlines())
            socks.append((sp.tcp_connect(), body))
        for s, body in socks:
            s.sendall(body)
        for s, _ in socks:
            s.close()
        m = sp.wait_settled(n_conn * per)
        self.assertEqual(m.forwarded("default"), n_conn * per)
        got = sp.sink_lines()
        self.assertEqual(len(got), n_conn * per)
        self.assertEqual(set(got), expect)
        # Per connection, order is kept.
        for c in range(n_conn):
            mine = [json.loads(l)["i"] for l in got
                    if json.loads(l)["c"] == c]
            self.assertEqual(mine, list(range(per)))

    def test_malformed_lines(self):
        sp = self.start()
        bad = [b'this is not json', b'{"a":', b'{bad "quoted" \\ line\t}']
        sp.send_tcp(b'{"ok":1}\n' + b"\n".join(bad) + b'\n{"ok":2}\n')
        m = sp.wait_settled(5)
        self.assertEqual(m.received("_invalid"), 3)
        self.assertEqual(m.forwarded("_invalid"), 3)
        self.assertEqual(m.received("default"), 2)
        self.assertEqual(
            m.get1("spillway_parse_errors_total", listener="tcp"), 3)
        out = sp.sink_lines()
        self.assertEqual(len(out), 5)
        self.assertEqual(out[0], b'{"ok":1}')
        self.assertEqual(out[4], b'{"ok":2}')
        self.assertEqual([json.loads(l) for l in out[1:4]],
                         [parse_failure(b) for b in bad])

    def test_not_exactly_one_object(self):
        sp = self.start()
        bad = [b'[1,2]', b'"str"', b'42', b'null', b'{"a":1} trailing',
               b'{"a":1}{"b":2}', b'{"a":1} {"b":2}']
        sp.send_tcp(b"\n".join(bad) + b"\n")
        m = sp.wait_settled(len(bad))
        self.assertEqual(m.received("_invalid"), len(bad))
        self.assertEqual(m.forwarded("_invalid"), len(bad))
        self.assertEqual(m.received("default"), 0)
        self.assertEqual([json.loads(l) for l in sp.sink_lines()],
                         [parse_failure(b) for b in bad])

    def test_valid_json_with_large_numbers(self):
        # Valid JSON (RFC 8259 puts no limit on number size) is an event,
        # not a parse failure, and is forwarded as received.
        sp = self.start()
        lines = [b'{"n":18446744073709551616}', b'{"n":9223372036854775808}',
                 b'{"n":-99999999999999999999999}', b'{"n":1e400}',
                 b'{"n":1e-400}', b'{"n":-9223372036854775808}',
                 b'{"s":"nul\\u0000inside"}']
        sp.send_tcp(b"\n".join(lines) + b"\n")
        m = sp.wait_settled(len(lines))
        self.assertEqual(m.received("_invalid"), 0, summarize_lines(sp))
        self.assertEqual(m.forwarded("default"), len(lines))
        self.assertEqual(sp.sink_lines(), lines)

    def test_byte_by_byte(self):
        sp = self.start()
        data = b'{"slow":1}\r\n\n{"slow":2}\nbad\n'
        s = sp.tcp_connect()
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(data)):
                s.sendall(data[i:i + 1])
        finally:
            s.close()
        m = sp.wait_settled(3)
        self.assertEqual(m.forwarded("default"), 2)
        self.assertEqual(m.received("_invalid"), 1)
        out = sp.sink_lines()
        self.assertEqual(out[:2], [b'{"slow":1}', b'{"slow":2}'])
        self.assertEqual(json.loads(out[2]), parse_failure(b"bad"))

    def test_line_just_under_default_limit(self):
        sp = self.start()
        big = b'{"big":"' + b"b" * ((1 << 20) - 10) + b'"}'
        self.assertEqual(len(big), 1 << 20)
        sp.send_tcp(big + b"\n" + big + b"x\n")
        m = sp.wait_settled(2)
        self.assertEqual(m.forwarded("default"), 1)
        self.assertEqual(m.dropped("_invalid", "too_large"), 1)
        self.assertEqual(sp.sink_lines(), [big])

    def test_trailing_whitespace_is_fine(self):
        sp = self.start()
        sp.send_tcp(b'{"a":1}  \n  {"b":2}\n')
        m = sp.wait_settled(2)
        self.assertEqual(m.received("default"), 2)
        self.assertEqual(m.received("_invalid"), 0)

    def test_invalid_utf8_becomes_replacement_char(self):
        sp = self.start()
        bad = [b'abc\xffdef', b'{"m":"\xff"}', b'caf\xc3(', b'\xfe\xfe x']
        sp.send_tcp(b"\n".join(bad) + b"\n")
        m = sp.wait_settled(len(bad))
        self.assertEqual(m.received("_invalid"), len(bad))
        out = sp.sink_lines()
        for l in out:
            l.decode("utf-8")  # the sink holds valid UTF-8 only
        self.assertEqual([json.loads(l) for l in out],
                         [{"message": "abc\ufffddef",
                           "tags": ["_jsonparsefailure"]},
                          {"message": '{"m":"\ufffd"}',
                           "tags": ["_jsonparsefailure"]},
                          {"message": "caf\ufffd(",
                           "tags": ["_jsonparsefailure"]},
                          {"message": "\ufffd\ufffd x",
                           "tags": ["_jsonparsefailure"]}])

    def test_too_large_line_then_connection_goes_on(self):
        sp = self.start(config={"limits": {"max_event_bytes": 64}})
        big = b'{"pad":"' + b"x" * 100000 + b'"}'
        s = sp.tcp_connect()
        try:
            s.sendall(b'{"first":1}\n' + big + b'\n')
            s.sendall(b'{"next":1}\n')
            s.sendall(b'y' * 200 + b'\n{"last":1}\n')
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10)
            # The connection is not closed on us before we are done.
        finally:
            s.close()
        m = sp.wait_settled(5)
        self.assertEqual(m.dropped("_invalid", "too_large"), 2)
        self.assertEqual(m.received("_invalid"), 2)
        self.assertEqual(m.forwarded("_invalid"), 0)
        self.assertEqual(m.received("default"), 3)
        self.assertEqual(m.forwarded("default"), 3)
        self.assertEqual(sp.sink_bytes(),
                         b'{"first":1}\n{"next":1}\n{"last":1}\n')

    def test_too_large_boundary(self):
        sp = self.start(config={"limits": {"max_event_bytes": 64}})
        at = b'{"p":"' + b"a" * (64 - 8) + b'"}'
        over = b'{"p":"' + b"b" * (65 - 8) + b'"}'
        self.assertEqual((len(at), len(over)), (64, 65))
        sp.send_tcp(at + b"\n" + over + b"\n")
        m = sp.wait_settled(2)
        self.assertEqual(m.forwarded("default"), 1)
        self.assertEqual(m.dropped("_invalid", "too_large"), 1)
        self.assertEqual(sp.sink_lines(), [at])

    def test_disconnect_mid_line_complete_object(self):
        sp = self.start()
        sp.send_tcp(b'{"a":1}\n{"b":2}')
        m = sp.wait_settled(2)
        self.assertEqual(m.received("default"), 2)
        self.assertEqual(m.forwarded("default"), 2)
        self.assertEqual(sp.sink_lines(), [b'{"a":1}', b'{"b":2}'])

    def test_disconnect_mid_line_partial_object(self):
        sp = self.start()
        sp.send_tcp(b'{"a":1}\n{"b":')
        m = sp.wait_settled(2)
        self.assertEqual(m.received("default"), 1)
        self.assertEqual(m.received("_invalid"), 1)
        out = sp.sink_lines()
        self.assertEqual(out[0], b'{"a":1}')
        self.assertEqual(json.loads(out[1]), parse_failure(b'{"b":'))
        self.assertEqual(len(out), 2)

    def test_disconnect_with_reset(self):
        # An abortive close after the data was read: nothing read is lost.
        sp = self.start()
        s = sp.tcp_connect()
        s.sendall(b'{"a":1}\n{"b":2}\n')
        sp.wait_received(2)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        m = sp.wait_settled(2)
        self.assertEqual(m.forwarded("default"), 2)
        self.assertTrue(sp.alive())


class TestBulk(SpillwayTestCase):
    def test_bulk_items_in_order(self):
        sp = self.start()
        body = (b'{"index":{"_index":"logs-a","_id":"id1"}}\n'
                b'{ "msg" : "one",  "z":1 }\n'
                b'{"create":{"_index":"logs-b"}}\n'
                b'{"msg":"two"}\n'
                b'{"index":{}}\n'
                b'{"msg":"three"}\n')
        st, hd, resp = sp.bulk(body)
        self.assertEqual(st, 200, resp)
        self.assertEqual(resp["errors"], False)
        self.assertEqual([list(i.keys()) for i in resp["items"]],
                         [["index"], ["create"], ["index"]])
        items = [list(i.values())[0] for i in resp["items"]]
        self.assertEqual([i["status"] for i in items], [201, 201, 201])
        self.assertEqual(items[0]["_id"], "id1")
        self.assertEqual(items[0]["_index"], "logs-a")
        self.assertEqual(items[1]["_index"], "logs-b")
        self.assertTrue(hd.get("content-type", "").startswith(
            "application/json"), hd)
        m = sp.wait_settled(3)
        self.assertEqual(m.forwarded("default"), 3)
        self.assertEqual(sp.sink_lines(), [b'{ "msg" : "one",  "z":1 }',
                                           b'{"msg":"two"}',
                                           b'{"msg":"three"}'])

    def test_index_in_path_and_put(self):
        sp = self.start()
        st, _, resp = sp.bulk(bulk_body([{"n": 1}, {"n": 2}]),
                              path="/myidx/_bulk")
        self.assertEqual(st, 200, resp)
        self.assertEqual([i["index"]["_index"] for i in resp["items"]],
                         ["myidx", "myidx"])
        self.assertEqual([i["index"]["status"] for i in resp["items"]],
                         [201, 201])
        st, _, data = sp.http("PUT", "/_bulk",
                              bulk_body([{"n": 3}], index="x"))
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data)["items"][0]["index"]["status"], 201)
        st, _, data = sp.http("PUT", "/other/_bulk", bulk_body([{"n": 4}]))
        self.assertEqual(st, 200, data)
        sp.wait_settled(4)
        self.assertEqual(sp.sink_lines(), [b'{"n":1}', b'{"n":2}',
                                           b'{"n":3}', b'{"n":4}'])

    def test_filter_path_exact(self):
        sp = self.start()
        body = bulk_body([{"a": 1}]) + b'{"create":{}}\n{"b":2}\n'
        st, _, data = sp.http("POST", "/_bulk?filter_path=errors,items.*.status",
                              body)
        self.assertEqual(st, 200, data)
        self.assertEqual(
            data, b'{"errors":false,"items":[{"index":{"status":201}},'
                  b'{"create":{"status":201}}]}')
        st, _, data = sp.http("POST", "/_bulk?filter_path=errors", body)
        self.assertEqual(data, b'{"errors":false}')
        sp.wait_settled(4)

    def test_filter_path_nothing_left(self):
        sp = self.start()
        st, _, data = sp.http("POST", "/_bulk?filter_path=items.*.error",
                              bulk_body([{"a": 1}]))
        self.assertEqual((st, data), (200, b"{}"))
        sp.wait_settled(1)

    def test_generated_ids(self):
        sp = self.start()
        st, _, resp = sp.bulk(bulk_body([{"a": i} for i in range(50)]))
        self.assertEqual(st, 200)
        ids = [i["index"]["_id"] for i in resp["items"]]
        self.assertTrue(all(isinstance(i, str) and len(i) == 20
                            for i in ids), ids[:3])
        self.assertEqual(len(set(ids)), 50)
        sp.wait_settled(50)

    def test_keepalive_chunked_and_expect_continue(self):
        import http.client
        sp = self.start()
        c = http.client.HTTPConnection("127.0.0.1", sp.ports["http"],
                                       timeout=10)
        try:
            for r in range(5):
                c.request("POST", "/_bulk", bulk_body([{"r": r}]),
                          {"Content-Type": "application/x-ndjson"})
                resp = c.getresponse()
                self.assertEqual(resp.status, 200)
                self.assertEqual(len(json.loads(resp.read())["items"]), 1)
            c.request("POST", "/_bulk",
                      iter([b'{"index":{}}\n{"ch', b'unk":1}\n',
                            b'{"index":{}}\n', b'{"chunk":2}\n']),
                      {"Content-Type": "application/x-ndjson"},
                      encode_chunked=True)
            resp = c.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertEqual(len(json.loads(resp.read())["items"]), 2)
        finally:
            c.close()
        body = bulk_body([{"exp": 1}])
        s = socket.create_connection(("127.0.0.1", sp.ports["http"]),
                                     timeout=10)
        try:
            s.sendall(b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      b"application/x-ndjson\r\nContent-Length: %d\r\n"
                      b"Expect: 100-continue\r\n\r\n" % len(body))
            self.assertTrue(s.recv(4096).startswith(
                b"HTTP/1.1 100 Continue\r\n"))
            s.sendall(body)
            self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 200 "))
        finally:
            s.close()
        sp.wait_settled(8)
        self.assertEqual(sp.sink_lines(),
                         [b'{"r":%d}' % r for r in range(5)]
                         + [b'{"chunk":1}', b'{"chunk":2}', b'{"exp":1}'])

    def test_expect_continue_over_limit(self):
        sp = self.start(config={"limits": {"max_body_bytes": 1000}})
        s = socket.create_connection(("127.0.0.1", sp.ports["http"]),
                                     timeout=10)
        try:
            s.sendall(b"POST /_bulk HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      b"application/x-ndjson\r\nContent-Length: 5000\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 413 "))
        finally:
            s.close()

    def test_invalid_utf8_source_in_bulk(self):
        sp = self.start()
        st, _, resp = sp.bulk(b'{"index":{}}\n{"m":"caf\xc3("}\n')
        self.assertEqual(st, 200, resp)
        m = sp.wait_settled(1)
        self.assertEqual(m.forwarded("_invalid"), 1)
        self.assertEqual(json.loads(sp.sink_lines()[0]),
                         {"message": '{"m":"caf\ufffd("}',
                          "tags": ["_jsonparsefailure"]})

    def test_response_is_compact(self):
        sp = self.start()
        st, _, data = sp.http("POST", "/_bulk", bulk_body([{"a": 1}] * 3))
        self.assertEqual(st, 200)
        doc = json.loads(data)
        self.assertEqual(data, json.dumps(doc, separators=(",", ":"),
                                          ensure_ascii=False).encode())
        self.assertEqual(len(doc["items"]), 3)
        self.assertIsInstance(doc["took"], int)
        sp.wait_settled(3)

    def test_gzip_body(self):
        sp = self.start()
        docs = [b'{"g":%d,  "pad":"%s"}' % (i, b"p" * (i % 50))
                for i in range(300)]
        body = bulk_body(docs)
        st, _, resp = sp.bulk(body, gzip_body=True)
        self.assertEqual(st, 200, resp)
        self.assertEqual(len(resp["items"]), 300)
        self.assertFalse(resp["errors"])
        sp.wait_settled(300)
        self.assertEqual(sp.sink_lines(), docs)

    def test_content_types(self):
        sp = self.start()
        n = 0
        for ct in ("application/x-ndjson", "application/json",
                   "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
                   "application/json; charset=UTF-8"):
            with self.subTest(content_type=ct):
                st, _, resp = sp.bulk(bulk_body([{"ct": ct}]),
                                      content_type=ct)
                self.assertEqual(st, 200, resp)
                self.assertEqual(resp["items"][0]["index"]["status"], 201)
                n += 1
        for ct in ("text/plain", "application/xml"):
            with self.subTest(content_type=ct):
                st, _, data = sp.http("POST", "/_bulk",
                                      bulk_body([{"ct": ct}]),
                                      content_type=ct)
                self.assertEqual(st, 406, data)
        m = sp.wait_settled(n)
        self.assertEqual(m.total("spillway_events_received_total"), n)
        self.assertEqual(len(sp.sink_lines()), n)

    def test_malformed_bulk_bodies(self):
        sp = self.start()
        bodies = [b'not json\n{"a":1}\n',
                  b'{"index":{}}\n{"a":1}\n{"bogus_op":{}}\n{"a":2}\n',
                  b'{"index":{}}\n',                       # missing source
                  b'{"index":{"_index":"a"}} trailing\n{"a":1}\n',
                  b'["index"]\n{"a":1}\n']
        for body in bodies:
            with self.subTest(body=body):
                st, hd, data = sp.http("POST", "/_bulk", body)
                self.assertEqual(st, 400, data)
                doc = json.loads(data)
                self.assertEqual(doc["status"], 400)
                self.assertIsInstance(doc["error"], dict)
                self.assertIsInstance(doc["error"].get("type"), str)
                self.assertIsInstance(doc["error"].get("reason"), str)
                self.assertIsInstance(doc["error"].get("root_cause"), list)
        # A malformed body forwards nothing, not even its good prefix.
        m = sp.metrics()
        self.assertEqual(m.total("spillway_events_received_total"), 0)
        self.assertEqual(sp.sink_bytes(), b"")
        # Still serving.
        st, _, resp = sp.bulk(bulk_body([{"ok": 1}]))
        self.assertEqual(st, 200)
        sp.wait_settled(1)
        self.assertEqual(sp.sink_lines(), [b'{"ok":1}'])

    def test_invalid_source_line(self):
        # A source that is not a JSON object goes to _invalid, as on TCP.
        sp = self.start()
        st, _, resp = sp.bulk(b'{"index":{}}\n{"a":1}\n'
                              b'{"index":{}}\n{"a":1} x\n')
        self.assertEqual(st, 200, resp)
        self.assertEqual(len(resp["items"]), 2)
        m = sp.wait_settled(2)
        self.assertEqual(m.received("default"), 1)
        self.assertEqual(m.received("_invalid"), 1)
        self.assertEqual(m.get1("spillway_parse_errors_total",
                                listener="http"), 1)

    def test_body_over_max_body_bytes(self):
        sp = self.start(config={"limits": {"max_body_bytes": 4096}})
        big = bulk_body([{"pad": "x" * 100}] * 100)
        self.assertGreater(len(big), 4096)
        st, _, data = sp.http("POST", "/_bulk", big)
        self.assertEqual(st, 413, data)
        # Compressed small, but larger than the limit once inflated.
        st, _, data = sp.http("POST", "/_bulk", big, gzip_body=True)
        self.assertEqual(st, 413, data)
        st, _, data = sp.http("POST", "/ingest",
                              b'{"p":"' + b"x" * 5000 + b'"}\n')
        self.assertEqual(st, 413, data)
        # A small body still goes through.
        st, _, resp = sp.bulk(bulk_body([{"small": 1}]))
        self.assertEqual(st, 200)
        m = sp.wait_settled(1)
        self.assertEqual(m.total("spillway_events_received_total"), 1)
        # All three are counted, the one refused once inflated too.
        self.assertEqual(m.get1("spillway_http_requests_rejected_total",
                                listener="http", code="413"), 3)
        self.assertEqual(m.get1("spillway_http_requests_rejected_total",
                                listener="admin", code="413"), 0)
        self.assertEqual(sp.sink_lines(), [b'{"small":1}'])

    def test_max_event_bytes_applies_to_http_events(self):
        # The limit is per event, whatever the listener: a bulk source or
        # an /ingest array element over it is dropped as too_large.
        sp = self.start(config={"limits": {"max_event_bytes": 32}})
        big = b'{"x":"' + b"a" * 60 + b'"}'
        st, _, resp = sp.bulk(b'{"index":{}}\n' + big + b'\n'
                              b'{"index":{}}\n{"ok":1}\n')
        self.assertEqual(st, 200, resp)
        self.assertEqual(len(resp["items"]), 2)
        st, _, data = sp.http("POST", "/ingest", big + b'\n{"ok":2}\n')
        self.assertTrue(200 <= st < 300, (st, data))
        st, _, data = sp.http("POST", "/ingest", b"[" + big + b',{"ok":3}]',
                              content_type="application/json")
        self.assertTrue(200 <= st < 300, (st, data))
        m = sp.wait_settled(6)
        self.assertEqual(m.dropped("_invalid", "too_large"), 3,
                         summarize(m))
        self.assertEqual(m.received("_invalid"), 3)
        self.assertEqual(m.forwarded("default"), 3)
        self.assertEqual(sp.sink_lines(), [b'{"ok":1}', b'{"ok":2}',
                                           b'{"ok":3}'])

    def test_update_delete_not_supported_with_file_sink(self):
        sp = self.start()
        body = (b'{"index":{"_id":"1"}}\n{"a":1}\n'
                b'{"update":{"_id":"1"}}\n{"doc":{"a":2}}\n'
                b'{"delete":{"_id":"1"}}\n'
                b'{"create":{"_id":"2"}}\n{"b":1}\n')
        st, _, resp = sp.bulk(body)
        self.assertEqual(st, 200, resp)
        self.assertTrue(resp["errors"])
        self.assertEqual([list(i.keys())[0] for i in resp["items"]],
                         ["index", "update", "delete", "create"])
        items = [list(i.values())[0] for i in resp["items"]]
        self.assertEqual([i["status"] for i in items], [201, 400, 400, 201])
        for i in items[1:3]:
            self.assertEqual(i["error"]["type"], "action_not_supported")
        sp.wait_for(lambda m: m.forwarded("default") >= 2, "2 forwarded")
        self.assertEqual(sp.sink_lines(), [b'{"a":1}', b'{"b":1}'])

    def test_ingest_ndjson_and_array(self):
        sp = self.start()
        st, _, data = sp.http("POST", "/ingest",
                              b'{ "x" : 1 }\n\n{"y":2}\r\n{"z":3}')
        self.assertTrue(200 <= st < 300, (st, data))
        sp.wait_settled(3)
        self.assertEqual(sp.sink_lines(), [b'{ "x" : 1 }', b'{"y":2}',
                                           b'{"z":3}'])
        st, _, data = sp.http("POST", "/ingest",
                              b'[{"a":1}, {"b":{"c":[1,2]}}, {"d":"e"}]',
                              content_type="application/json")
        self.assertTrue(200 <= st < 300, (st, data))
        m = sp.wait_settled(6)
        self.assertEqual(m.forwarded("default"), 6)
        self.assertEqual([json.loads(l) for l in sp.sink_lines()[3:]],
                         [{"a": 1}, {"b": {"c": [1, 2]}}, {"d": "e"}])
        st, _, data = sp.http("POST", "/ingest", b'{"g":1}\n{"h":2}\n',
                              gzip_body=True)
        self.assertTrue(200 <= st < 300, (st, data))
        sp.wait_settled(8)
        self.assertEqual(sp.sink_lines()[6:], [b'{"g":1}', b'{"h":2}'])


class TestIngestArray(SpillwayTestCase):
    def test_array_elements_forwarded_as_received(self):
        # Each element's own bytes, not a re-serialisation: numbers keep
        # their text (1.1 must not become 1.1000000000000001), escapes and
        # spacing survive.
        sp = self.start()
        elems = [b'{ "n" : 1.1 }', b'{"m":0.3,"s":"\\u00e9\\/x"}',
                 b'{"z":1,"a":[1, 2]}']
        st, _, data = sp.http("POST", "/ingest",
                              b"[" + b" ,\n ".join(elems) + b"]",
                              content_type="application/json")
        self.assertTrue(200 <= st < 300, (st, data))
        sp.wait_settled(3)
        self.assertEqual(sp.sink_lines(), elems)


class TestStartupAnswers(SpillwayTestCase):
    def test_root(self):
        sp = self.start()
        st, hd, data = sp.http("GET", "/")
        self.assertEqual(st, 200)
        self.assertEqual(hd.get("x-elastic-product"), "Elasticsearch")
        doc = json.loads(data)
        self.assertEqual(doc["version"]["number"], "9.1.0", doc)
        self.assertIn("tagline", doc)
        st, hd, data = sp.http("HEAD", "/")
        self.assertEqual(st, 200)
        self.assertEqual(hd.get("x-elastic-product"), "Elasticsearch")
        self.assertEqual(data, b"")

    def test_root_as_each_major(self):
        """Every field a client of that major checks, as its servers
        give them."""
        want = {"7.17.29": ("6.8.0", "6.0.0-beta1", "8."),
                "8.19.3": ("7.17.0", "7.0.0", "9."),
                "9.1.0": ("8.19.0", "8.0.0", "10.")}
        for version, (wire, index, lucene) in want.items():
            with self.subTest(version=version):
                sp = self.start(config={"http": {"es_version": version}})
                st, hd, data = sp.http("GET", "/", headers={
                    "Accept": "application/vnd.elasticsearch+json; "
                              "compatible-with=%s" % version[0]})
                self.assertEqual(st, 200)
                self.assertEqual(hd.get("x-elastic-product"),
                                 "Elasticsearch")
                self.assertEqual(hd.get("content-type"),
                                 "application/vnd.elasticsearch+json;"
                                 "compatible-with=%s" % version[0])
                v = json.loads(data)["version"]
                self.assertEqual(v["number"], version)
                self.assertEqual(v["build_flavor"], "default")
                self.assertEqual(v["minimum_wire_compatibility_version"],
                                 wire)
                self.assertEqual(v["minimum_index_compatibility_version"],
                                 index)
                self.assertTrue(v["lucene_version"].startswith(lucene))
                self.assertEqual(json.loads(data)["tagline"],
                                 "You Know, for Search")
                self.finish(sp)

    def test_es_version_must_be_one_spillway_can_answer_as(self):
        for bad in ("6.8.0", "10.0.0", "9.1", "nine", "9.1.0-SNAPSHOT"):
            with self.subTest(version=bad):
                tmp = tempfile.mkdtemp(prefix="spillway-it-")
                self.addCleanup(shutil.rmtree, tmp, True)
                cfg = os.path.join(tmp, "c.json")
                with open(cfg, "w") as f:
                    json.dump({"http": {"es_version": bad}}, f)
                r = run_cli(["-c", cfg, "--listen-tcp", "127.0.0.1:0"])
                self.assertEqual(r.returncode, 1)
                self.assertIn(b'"es_version" must be a version',
                              r.stderr)

    def test_compatible_with_7_8_9_and_406_beyond(self):
        sp = self.start()
        body = b'{"create":{"_index":"c"}}\n{"n":1}\n'
        for v in (7, 8, 9):
            for ct in ("application/vnd.elasticsearch+x-ndjson; "
                       "compatible-with=%d" % v,
                       "Application/Vnd.Elasticsearch+JSON;"
                       "Compatible-With = %d" % v):
                with self.subTest(ct=ct):
                    st, hd, data = sp.http("POST", "/_bulk", body,
                                           content_type=ct, headers={
                                               "Accept": ct})
                    self.assertEqual(st, 200, data)
                    self.assertEqual(hd["content-type"],
                                     "application/vnd.elasticsearch+json;"
                                     "compatible-with=%d" % v)
                    self.assertFalse(json.loads(data)["errors"])
        for v in (6, 10):
            ct = "application/vnd.elasticsearch+json; compatible-with=%d" % v
            st, _, data = sp.http("POST", "/_bulk", body, content_type=ct)
            self.assertEqual(st, 406, data)
            st, _, data = sp.http("GET", "/", headers={"Accept": ct})
            self.assertEqual(st, 406, data)
            self.assertEqual(json.loads(data)["error"]["type"],
                             "media_type_header_exception")
        m = sp.wait_settled(6)
        self.assertEqual(m.forwarded("default"), 6)

    def test_license_templates_ilm_aliases_nodes(self):
        sp = self.start()
        st, hd, data = sp.http("GET", "/_license")
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data)["license"]["status"], "active")
        for method, path, body in [
                ("PUT", "/_index_template/x",
                 b'{"index_patterns":["x-*"],"template":{}}'),
                ("PUT", "/_template/old", b'{"index_patterns":["o-*"]}'),
                ("PUT", "/_ilm/policy/p", b'{"policy":{"phases":{}}}'),
                ("PUT", "/logs-000001/_alias/logs", None),
                ("POST", "/_aliases",
                 b'{"actions":[{"add":{"index":"a","alias":"b"}}]}')]:
            with self.subTest(path=path):
                st, hd, data = sp.http(method, path, body,
                                       content_type="application/json")
                self.assertEqual(st, 200, data)
                self.assertEqual(json.loads(data), {"acknowledged": True})
        st, hd, data = sp.http("GET", "/_nodes/http")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(data), {"nodes": {}})
        self.assertEqual(sp.metrics().total("spillway_events_received_total"),
                         0)

    def test_python_elasticsearch_client(self):
        try:
            from elasticsearch import Elasticsearch, helpers
        except ImportError:
            self.skipTest("python3-elasticsearch not installed")
        sp = self.start()
        es = Elasticsearch(["http://127.0.0.1:%d" % sp.ports["http"]],
                           timeout=30)
        try:
            n = 250
            actions = ({"_index": "client-test", "_id": str(i),
                        "_source": {"i": i, "msg": "doc %d" % i}}
                       for i in range(n))
            ok, errors = helpers.bulk(es, actions, chunk_size=100)
            self.assertEqual((ok, errors), (n, []))
            m = sp.wait_settled(n)
            self.assertEqual(m.forwarded("default"), n)
            got = [json.loads(l) for l in sp.sink_lines()]
            self.assertEqual(got, [{"i": i, "msg": "doc %d" % i}
                                   for i in range(n)])
            self.assertTrue(es.ping())
        finally:
            es.transport.close()


if __name__ == "__main__":
    unittest.main()
