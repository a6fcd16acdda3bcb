"""Checks tests/peers/es_emulator.py against the Elasticsearch Python client and raw HTTP."""

import datetime
import gzip
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

from harness import EMULATOR, PEERS, emulator_port

sys.path.insert(0, PEERS)
import es_emulator  # noqa: E402  (for the pure filter_path tests)

try:
    from elasticsearch import Elasticsearch, helpers
    from elasticsearch.exceptions import TransportError
except ImportError:          # python3-elasticsearch not installed
    Elasticsearch = None


def start_emulator(*args):
    """Starts the emulator on port 0; returns (process, port)."""
    proc = subprocess.Popen([sys.executable, EMULATOR, "--listen", "127.0.0.1:0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, emulator_port(proc)


def wait_listening(proc, timeout=10):
    """Reads a started emulator's stderr until its `listening http` line, for at most
    `timeout` seconds; returns the port.  (Reads the pipe's descriptor directly: do not mix
    with proc.stderr.readline().)"""
    end = time.monotonic() + timeout
    fd = proc.stderr.fileno()
    buf = b""
    while b"\n" not in buf:
        left = end - time.monotonic()
        if left <= 0:
            raise RuntimeError("emulator not listening after %ss: %r" % (timeout, buf))
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("emulator exited (%s): %r" % (proc.wait(), buf))
            buf += chunk
    line = buf.split(b"\n", 1)[0].decode()
    if not line.startswith("listening http 127.0.0.1:"):
        raise RuntimeError("emulator did not start: %r" % buf)
    return int(line.rsplit(":", 1)[1])


class EmulatorCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fd, cls.record_path = tempfile.mkstemp(suffix=".jsonl")
        os.close(fd)
        cls.proc, cls.port = start_emulator("--record", cls.record_path)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        try:
            cls.proc.wait(5)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
            cls.proc.wait()
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        os.unlink(cls.record_path)

    def setUp(self):
        self.call("POST", "/_emulator/reset")

    # -- helpers ----------------------------------------------------------------------------

    def call(self, method, path, body=None, headers=None, conn=None):
        """One request; returns (status, headers dict lower-cased, raw body bytes)."""
        own = conn is None
        if own:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        chunked = "chunked" in (headers or {}).get("Transfer-Encoding", "")
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        resp = conn.getresponse()
        data = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        if own:
            conn.close()
        return resp.status, hdrs, data

    def js(self, method, path, body=None, headers=None):
        status, hdrs, data = self.call(method, path, body, headers)
        return status, (json.loads(data) if data else None)

    def bulk(self, ndjson, path="/_bulk", ctype="application/x-ndjson", headers=None):
        h = {"Content-Type": ctype}
        h.update(headers or {})
        return self.js("POST", path, ndjson, h)

    def config(self, **cfg):
        status, out = self.js("POST", "/_emulator/config", cfg)
        self.assertEqual(status, 200, out)
        return out

    def received(self, query=""):
        status, hdrs, data = self.call("GET", "/_emulator/received" + query)
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["content-type"], "application/x-ndjson")
        return [json.loads(line) for line in data.decode().splitlines()]

    def stats(self):
        return self.js("GET", "/_emulator/stats")[1]

    @staticmethod
    def nd(*objs):
        return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs)

    def statuses(self, out):
        return [next(iter(it.values()))["status"] for it in out["items"]]


class StartupChecks(EmulatorCase):
    def test_root_get_and_head(self):
        status, hdrs, data = self.call("GET", "/")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["x-elastic-product"], "Elasticsearch")
        doc = json.loads(data)
        self.assertTrue(doc["version"]["number"].startswith("8."))
        self.assertEqual(doc["tagline"], "You Know, for Search")
        status, hdrs, data = self.call("HEAD", "/")
        self.assertEqual((status, data), (200, b""))
        self.assertEqual(hdrs["x-elastic-product"], "Elasticsearch")

    def test_every_response_has_product_header(self):
        for method, path in (("GET", "/_license"), ("GET", "/nosuchindex/_count"),
                             ("GET", "/_emulator/stats"), ("GET", "/_nosuchapi")):
            status, hdrs, _ = self.call(method, path)
            self.assertEqual(hdrs.get("x-elastic-product"), "Elasticsearch", path)
        self.assertEqual(self.js("GET", "/nosuchindex/_count")[0], 404)
        self.assertEqual(self.js("GET", "/_nosuchapi")[0], 400)

    def test_license_nodes_health(self):
        self.assertEqual(self.js("GET", "/_license")[1]["license"]["status"], "active")
        nodes = self.js("GET", "/_nodes/http")[1]["nodes"]
        (node,) = nodes.values()
        self.assertEqual(node["http"]["publish_address"], "127.0.0.1:%d" % self.port)
        self.assertEqual(self.js("GET", "/_cluster/health")[1]["status"], "green")

    def test_templates_ilm_aliases_remembered(self):
        tmpl = {"index_patterns": ["logs-*"], "template": {"settings": {"number_of_shards": 1}}}
        self.assertEqual(self.js("PUT", "/_index_template/logs", tmpl),
                         (200, {"acknowledged": True}))
        self.assertEqual(self.call("HEAD", "/_index_template/logs")[0], 200)
        self.assertEqual(self.call("HEAD", "/_index_template/other")[0], 404)
        got = self.js("GET", "/_index_template/logs")[1]
        self.assertEqual(got["index_templates"][0], {"name": "logs", "index_template": tmpl})
        self.assertEqual(self.js("GET", "/_index_template/other")[0], 404)

        legacy = {"index_patterns": ["old-*"], "order": 0}
        self.assertEqual(self.js("PUT", "/_template/old", legacy)[0], 200)
        self.assertEqual(self.js("GET", "/_template/old")[1], {"old": legacy})
        self.assertEqual(self.call("HEAD", "/_template/nope")[0], 404)

        pol = {"policy": {"phases": {"hot": {"actions": {"rollover": {"max_age": "1d"}}}}}}
        self.assertEqual(self.js("PUT", "/_ilm/policy/p1", pol)[0], 200)
        self.assertEqual(self.js("GET", "/_ilm/policy/p1")[1]["p1"]["policy"], pol["policy"])
        self.assertEqual(self.js("GET", "/_ilm/policy/p2")[0], 404)

        # Logstash-style rollover bootstrap: alias missing, create date-math index with alias.
        self.assertEqual(self.call("HEAD", "/logstash")[0], 404)
        self.assertEqual(self.call("HEAD", "/_alias/logstash")[0], 404)
        st, out = self.js("PUT", "/%3Clogstash-%7Bnow%2Fd%7D-000001%3E",
                          {"aliases": {"logstash": {"is_write_index": True}}})
        self.assertEqual(st, 200, out)
        concrete = out["index"]
        self.assertRegex(concrete, r"^logstash-\d{4}\.\d{2}\.\d{2}-000001$")
        self.assertEqual(self.call("HEAD", "/logstash")[0], 200)
        self.assertEqual(self.call("HEAD", "/_alias/logstash")[0], 200)
        self.assertEqual(self.js("GET", "/_alias/logstash")[1],
                         {concrete: {"aliases": {"logstash": {"is_write_index": True}}}})
        # Writing through the alias lands in the write index.
        st, out = self.bulk(self.nd({"index": {"_index": "logstash"}}, {"m": 1}))
        self.assertEqual(out["items"][0]["index"]["_index"], concrete)


@unittest.skipIf(Elasticsearch is None, "python3-elasticsearch not installed")
class OfficialClient(EmulatorCase):
    def client(self):
        return Elasticsearch(["http://127.0.0.1:%d" % self.port], timeout=10)

    def test_info_and_helpers_bulk(self):
        es = self.client()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.assertTrue(es.info()["version"]["number"].startswith("8."))
            docs = [{"_index": "app", "_id": str(i), "_source": {"n": i, "msg": "héllo %d" % i}}
                    for i in range(50)]
            ok, errors = helpers.bulk(es, docs, chunk_size=20)
            self.assertEqual((ok, errors), (50, []))
            es.indices.refresh(index="app")
            self.assertEqual(es.count(index="app")["count"], 50)
            self.assertEqual(es.get(index="app", id="7")["_source"], {"n": 7, "msg": "héllo 7"})
            res = es.search(index="app", body={"query": {"match_all": {}}, "size": 5})
            self.assertEqual(res["hits"]["total"]["value"], 50)
            self.assertEqual(len(res["hits"]["hits"]), 5)
            # The client's own ndjson, in order.
            got = self.received()
            self.assertEqual([r["_id"] for r in got], [str(i) for i in range(50)])
            self.assertEqual(json.loads(got[3]["source"]), {"n": 3, "msg": "héllo 3"})

    def test_helpers_bulk_reports_item_errors(self):
        es = self.client()
        self.config(item_status_by_field={"level": {"poison": 400}})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            helpers.bulk(es, [{"_index": "a", "_id": "x", "_op_type": "create", "_source": {}}])
            actions = [
                {"_index": "a", "_id": "x", "_op_type": "create", "_source": {"v": 1}},
                {"_index": "a", "_source": {"level": "poison"}},
                {"_index": "a", "_source": {"level": "fine"}},
            ]
            ok, errors = helpers.bulk(es, actions, raise_on_error=False)
        self.assertEqual(ok, 1)
        self.assertEqual(sorted(e[next(iter(e))]["status"] for e in errors), [400, 409])
        kinds = {e[next(iter(e))]["error"]["type"] for e in errors}
        self.assertEqual(kinds, {"document_parsing_exception",
                                 "version_conflict_engine_exception"})

    def test_streaming_bulk_retries_capacity_429s(self):
        es = self.client()
        self.config(capacity=2000, burst=40)
        docs = [{"_index": "cap", "_id": str(i), "_source": {"i": i}} for i in range(200)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = list(helpers.streaming_bulk(es, docs, chunk_size=100, max_retries=30,
                                                  initial_backoff=0.02, max_backoff=0.05,
                                                  raise_on_error=False))
        self.assertTrue(all(ok for ok, _ in results))
        self.assertEqual(len(results), 200)
        st = self.stats()
        self.assertGreater(st["items"]["by_status"].get("429", 0), 0)
        self.assertEqual(st["docs"], {"cap": 200})
        self.assertEqual(sorted(int(r["_id"]) for r in self.received()), list(range(200)))

    def test_whole_request_429_raises(self):
        es = self.client()
        self.config(reject_whole={"status": 429, "count": 1})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            es.info()
            with self.assertRaises(TransportError) as cm:
                es.bulk(body=self.nd({"index": {"_index": "w"}}, {"a": 1}))
            self.assertEqual(cm.exception.status_code, 429)
            out = es.bulk(body=self.nd({"index": {"_index": "w"}}, {"a": 1}))
        self.assertFalse(out["errors"])


class Bulk(EmulatorCase):
    def test_item_results_and_versions(self):
        st, out = self.bulk(self.nd(
            {"index": {"_index": "i1"}}, {"a": 1},
            {"index": {"_index": "i1", "_id": "k"}}, {"a": 2},
            {"index": {"_index": "i1", "_id": "k"}}, {"a": 3},
            {"create": {"_index": "i1", "_id": "k"}}, {"a": 4},
            {"update": {"_index": "i1", "_id": "k"}}, {"doc": {"b": 5}},
            {"update": {"_index": "i1", "_id": "missing"}}, {"doc": {"b": 5}},
            {"delete": {"_index": "i1", "_id": "k"}},
            {"delete": {"_index": "i1", "_id": "k"}},
            {"index": {"_index": "i1"}}, '"just a string"',
            {"index": {"_index": "i1"}}, '{"a":1} trailing',
            {"index": {"_index": "i1"}}, '{"a":1,"a":2}',
            {"index": {"_index": "Upper"}}, {"a": 1}))
        self.assertEqual(st, 200)
        self.assertTrue(out["errors"])
        self.assertEqual(self.statuses(out),
                         [201, 201, 200, 409, 200, 404, 200, 404, 400, 400, 400, 400])
        first = out["items"][0]["index"]
        self.assertEqual(len(first["_id"]), 20)
        for key in ("_index", "_id", "_version", "result", "_shards", "_seq_no",
                    "_primary_term", "status"):
            self.assertIn(key, first)
        self.assertEqual(out["items"][2]["index"]["_version"], 2)
        self.assertEqual(out["items"][2]["index"]["result"], "updated")
        self.assertEqual(out["items"][3]["create"]["error"]["type"],
                         "version_conflict_engine_exception")
        self.assertEqual(out["items"][4]["update"]["_version"], 3)
        self.assertEqual(out["items"][5]["update"]["error"]["type"], "document_missing_exception")
        self.assertEqual(out["items"][6]["delete"]["result"], "deleted")
        self.assertEqual(out["items"][7]["delete"]["result"], "not_found")
        for i in (8, 9, 10):
            self.assertEqual(out["items"][i]["index"]["error"]["type"],
                             "document_parsing_exception")
        self.assertEqual(out["items"][11]["index"]["error"]["type"],
                         "invalid_index_name_exception")
        self.assertEqual(self.js("GET", "/i1/_count")[1]["count"], 1)

    def test_index_from_url_and_get(self):
        st, out = self.bulk(self.nd({"index": {"_id": "1"}}, {"x": "y"}), path="/urlidx/_bulk")
        self.assertEqual(out["items"][0]["index"]["_index"], "urlidx")
        st, doc = self.js("GET", "/urlidx/_doc/1")
        self.assertEqual((st, doc["found"], doc["_source"]), (200, True, {"x": "y"}))
        st, doc = self.js("GET", "/urlidx/_doc/2")
        self.assertEqual((st, doc["found"]), (404, False))
        self.assertEqual(self.js("POST", "/_refresh")[0], 200)
        res = self.js("POST", "/urlidx/_search", {"query": {"match_all": {}}, "size": 1})[1]
        self.assertEqual(res["hits"]["hits"][0]["_source"], {"x": "y"})
        # No index anywhere: whole-request validation error.
        st, out = self.bulk(self.nd({"index": {}}, {"x": 1}))
        self.assertEqual(st, 400)
        self.assertEqual(out["error"]["type"], "action_request_validation_exception")

    def test_malformed_bodies_are_whole_request_400(self):
        cases = [
            ('{"index":{"_index":"a"}\n{"x":1}\n', "x_content_parse_exception"),
            ('{"frobnicate":{"_index":"a"}}\n{"x":1}\n', "illegal_argument_exception"),
            ('{"index":{"_index":"a","bogus":1}}\n{"x":1}\n', "illegal_argument_exception"),
            ('{"index":{"_index":"a"}}\n{"x":1}', "illegal_argument_exception"),
            ('[1,2]\n{"x":1}\n', "illegal_argument_exception"),
            ('', "action_request_validation_exception"),
            ('\x00\xff garbage\n', "x_content_parse_exception"),
            ('{"update":{"_index":"a","_id":"1"}}\n{"doc":{"x":1},"nope":1}\n',
             "x_content_parse_exception"),
        ]
        for body, etype in cases:
            with self.subTest(body=body):
                st, out = self.bulk(body)
                self.assertEqual(st, 400)
                self.assertEqual(out["status"], 400)
                self.assertEqual(out["error"]["type"], etype)
                self.assertEqual(out["error"]["root_cause"][0]["type"], etype)
        self.assertEqual(self.received(), [])
        # Still serving.
        self.assertEqual(self.call("GET", "/")[0], 200)

    def test_bulk_query_params_and_methods(self):
        st, out = self.bulk(self.nd({"index": {"_index": "a"}}, {}), path="/_bulk?foo=1")
        self.assertEqual(st, 400)
        self.assertIn("unrecognized parameter: [foo]", out["error"]["reason"])
        st, hdrs, _ = self.call("GET", "/_bulk")
        self.assertEqual(st, 405)
        st, out = self.js("PUT", "/_bulk?refresh=true", self.nd({"index": {"_index": "a"}}, {}),
                          {"Content-Type": "application/x-ndjson"})
        self.assertEqual(st, 200)

    def test_content_types(self):
        body = self.nd({"index": {"_index": "ct"}}, {"a": 1})
        for ctype in ("application/x-ndjson", "application/json; charset=UTF-8"):
            with self.subTest(ctype=ctype):
                self.assertEqual(self.bulk(body, ctype=ctype)[0], 200)
        # A versioned body needs a versioned Accept (as the official clients send).
        for ctype in ("application/vnd.elasticsearch+x-ndjson; compatible-with=8",
                      "application/vnd.elasticsearch+json;compatible-with=8"):
            with self.subTest(ctype=ctype):
                self.assertEqual(self.bulk(body, ctype=ctype, headers={
                    "Accept": "application/vnd.elasticsearch+json; compatible-with=8"})[0],
                    200)
                self.assertEqual(self.bulk(body, ctype=ctype)[0], 400)
        for ctype in ("text/plain", "application/x-www-form-urlencoded"):
            with self.subTest(ctype=ctype):
                st, out = self.bulk(body, ctype=ctype)
                self.assertEqual(st, 406)
                self.assertEqual(out, {"error": "Content-Type header [%s] is not supported"
                                       % ctype, "status": 406})
        st, out = self.js("POST", "/_bulk", body.encode())
        self.assertEqual((st, out["error"]), (406, "Content-Type header is missing"))
        # REST compatibility with 7: items carry _type.
        st, out = self.bulk(body, ctype="application/vnd.elasticsearch+x-ndjson;compatible-with=7",
                            headers={"Accept": "application/vnd.elasticsearch+json;"
                                               "compatible-with=7"})
        self.assertEqual(out["items"][0]["index"]["_type"], "_doc")
        self.assertEqual(self.bulk(body, ctype="application/vnd.elasticsearch+x-ndjson;"
                                               "compatible-with=9")[0], 400)
        # The default server is an 8: it answers as one.
        st, hdrs, data = self.call("GET", "/")
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertEqual(json.loads(data)["version"]["lucene_version"], "9.8.0")

    def test_gzip_request_and_response(self):
        body = self.nd({"index": {"_index": "gz"}}, {"msg": "compressed"}).encode()
        st, hdrs, data = self.call("POST", "/_bulk", gzip.compress(body), {
            "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip",
            "Accept-Encoding": "gzip"})
        self.assertEqual(st, 200)
        self.assertEqual(hdrs.get("content-encoding"), "gzip")
        out = json.loads(gzip.decompress(data))
        self.assertEqual(self.statuses(out), [201])
        self.assertEqual(self.received()[0]["source"], '{"msg": "compressed"}')
        st, out = self.bulk(b"\x1f\x8b\x08garbage", headers={"Content-Encoding": "gzip"})
        self.assertEqual(st, 400)

    def test_chunked_and_keep_alive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        body = self.nd({"index": {"_index": "ch"}}, {"n": 1}, {"index": {"_index": "ch"}},
                       {"n": 2}).encode()
        st, _, data = self.call("POST", "/_bulk", iter([body[:7], body[7:30], body[30:]]),
                                {"Content-Type": "application/x-ndjson",
                                 "Transfer-Encoding": "chunked"}, conn=conn)
        self.assertEqual(st, 200, data)
        sock = conn.sock
        for _ in range(3):
            st, _, data = self.call("GET", "/ch/_count", conn=conn)
            self.assertEqual(json.loads(data)["count"], 2)
        self.assertIs(conn.sock, sock)          # same connection throughout
        conn.close()

    def test_received_is_byte_exact(self):
        sources = ['{ "b":1,  "a" : [1.50, 2e3] }', '{"msg":"caf\u00e9 \u2603 \\u00e9"}',
                   '{"nested":{"x":null}}']
        body = "".join('{"create":{"_index":"raw","_id":"%d"}}\n%s\r\n' % (i, s)
                       for i, s in enumerate(sources))
        st, out = self.bulk(body.encode("utf-8"))
        self.assertEqual(self.statuses(out), [201, 201, 201])
        got = self.received()
        self.assertEqual(got, [{"_index": "raw", "_id": str(i), "source": s}
                               for i, s in enumerate(sources)])
        self.assertEqual(len(self.received("?from=2")), 1)
        self.assertEqual(self.received("?index=other"), [])
        self.assertEqual(self.call("DELETE", "/_emulator/received")[0], 200)
        self.assertEqual(self.received(), [])

    def test_record_file(self):
        with open(self.record_path, encoding="utf-8") as f:
            before = len(f.readlines())
        body = self.nd({"index": {"_index": "rec"}}, {"m": "x"})
        self.call("POST", "/_bulk?filter_path=errors", gzip.compress(body.encode()), {
            "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
        self.bulk("oops\n")
        with open(self.record_path, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f.readlines()[before:]]
        recs = [r for r in lines if r["path"] == "/_bulk"]
        self.assertEqual(len(recs), 2)
        self.assertEqual(recs[0]["method"], "POST")
        self.assertEqual(recs[0]["query"], "filter_path=errors")
        self.assertEqual(recs[0]["headers"]["content-encoding"], "gzip")
        self.assertEqual(recs[0]["body"], body)
        self.assertEqual(recs[0]["status"], 200)
        self.assertEqual((recs[1]["body"], recs[1]["status"]), ("oops\n", 400))
        self.assertFalse(any(r["path"].startswith("/_emulator") for r in lines))


class FilterPath(EmulatorCase):
    def test_logstash_filter_path(self):
        body = self.nd({"index": {"_index": "f"}}, {"a": 1}, {"index": {"_index": "f"}}, "[]")
        st, out = self.bulk(body, path="/_bulk?filter_path=errors,items.*.error,items.*.status")
        self.assertEqual(out["errors"], True)
        self.assertEqual(out["items"][0], {"index": {"status": 201}})
        self.assertEqual(out["items"][1]["index"]["status"], 400)
        self.assertEqual(set(out["items"][1]["index"]), {"status", "error"})
        self.assertNotIn("took", out)

    def test_filter_path_semantics(self):
        doc = {"took": 3, "errors": False,
               "items": [{"index": {"_id": "1", "status": 201, "_shards": {"total": 2}}},
                         {"create": {"_id": "2", "status": 409, "error": {"type": "v"}}}],
               "nested": {"deep": {"er": 1, "x": {"er": 2}}}}
        f = es_emulator.apply_filter_path
        self.assertEqual(f(doc, "took"), {"took": 3})
        self.assertEqual(f(doc, "items.*.error.type"), {"items": [{"create": {"error":
                                                                              {"type": "v"}}}]})
        self.assertEqual(f(doc, "items.index.status"), {"items": [{"index": {"status": 201}}]})
        self.assertEqual(f(doc, "items.*._i*"), {"items": [{"index": {"_id": "1"}},
                                                           {"create": {"_id": "2"}}]})
        self.assertEqual(f(doc, "**.er"), {"nested": {"deep": {"er": 1, "x": {"er": 2}}}})
        self.assertEqual(f(doc, "nested.**.x"), {"nested": {"deep": {"x": {"er": 2}}}})
        self.assertEqual(f(doc, "-items,-nested"), {"took": 3, "errors": False})
        self.assertEqual(f(doc, "items,-items.*._shards,-items.*.error"),
                         {"items": [{"index": {"_id": "1", "status": 201}},
                                    {"create": {"_id": "2", "status": 409}}]})
        self.assertEqual(f(doc, "nothing.here"), {})
        self.assertEqual(f(doc, "took.sub"), {})
        self.assertEqual(f(doc, "t*,e*"), {"took": 3, "errors": False})

    def test_filter_path_over_http_on_other_apis(self):
        out = self.js("GET", "/?filter_path=version.number,tagline")[1]
        self.assertEqual(set(out), {"version", "tagline"})
        self.assertEqual(list(out["version"]), ["number"])


class Faults(EmulatorCase):
    def test_capacity_items_mode(self):
        # A slow refill (5/s) keeps the first answer exact even on a loaded machine.
        self.config(capacity=5, burst=5)
        body = self.nd(*[x for i in range(8) for x in ({"index": {"_index": "c"}}, {"i": i})])
        out = self.bulk(body)[1]
        self.assertEqual(self.statuses(out), [201] * 5 + [429] * 3)
        err = out["items"][5]["index"]["error"]
        self.assertEqual(err["type"], "es_rejected_execution_exception")
        self.assertTrue(out["errors"])
        time.sleep(0.45)                      # at least two tokens back
        out = self.bulk(body)[1]
        second = self.statuses(out)
        self.assertEqual(second[:2], [201, 201])
        self.assertEqual(second[-1], 429)
        self.assertEqual(second, sorted(second))      # the tail is what gets rejected
        st = self.stats()
        self.assertEqual(st["rejected"]["capacity_items"], 3 + second.count(429))
        self.assertEqual(st["docs"], {"c": 5 + second.count(201)})
        self.assertEqual([r["source"] for r in self.received()][:5],
                         ['{"i": %d}' % i for i in range(5)])

    def test_capacity_whole_mode(self):
        self.config(capacity=1, burst=4, capacity_mode="whole", retry_after=2)
        body = self.nd(*[x for i in range(6) for x in ({"index": {"_index": "c"}}, {"i": i})])
        st, out = self.bulk(body)
        self.assertEqual((st, self.statuses(out)), (200, [201] * 6))   # bucket goes into debt
        st, hdrs, data = self.call("POST", "/_bulk", body,
                                   {"Content-Type": "application/x-ndjson"})
        self.assertEqual(st, 429)
        self.assertEqual(hdrs.get("retry-after"), "2")
        self.assertEqual(json.loads(data)["error"]["type"], "es_rejected_execution_exception")
        self.assertEqual(self.stats()["rejected"]["capacity_whole"], 1)

    def test_reject_whole_with_count(self):
        self.config(reject_whole={"status": 503, "retry_after": 1, "count": 2})
        body = self.nd({"index": {"_index": "w"}}, {"a": 1})
        for _ in range(2):
            st, hdrs, data = self.call("POST", "/_bulk", body,
                                       {"Content-Type": "application/x-ndjson"})
            self.assertEqual((st, hdrs.get("retry-after")), (503, "1"))
            self.assertEqual(json.loads(data)["status"], 503)
        self.assertEqual(self.call("GET", "/")[0], 200)       # scope "bulk" by default
        self.assertEqual(self.bulk(body)[0], 200)
        self.assertIsNone(self.js("GET", "/_emulator/config")[1]["reject_whole"])
        self.config(reject_whole=429)
        self.assertEqual(self.bulk(body)[0], 429)
        self.assertEqual(self.bulk(body)[0], 429)
        self.config(reject_whole=None)
        self.assertEqual(self.bulk(body)[0], 200)
        st = self.stats()
        self.assertEqual(st["requests"]["by_status"], {"503": 2, "429": 2, "200": 3})
        self.assertEqual(st["docs"], {"w": 2})

    def test_item_status_by_field_and_nth(self):
        self.config(item_status_by_field=[
            {"field": "user.name", "value": "poison", "status": 400},
            {"field": "code", "value": 7, "status": 429, "count": 1}])
        body = self.nd({"index": {"_index": "p"}}, {"user": {"name": "poison"}},
                       {"index": {"_index": "p"}}, {"user.name": "poison"},
                       {"index": {"_index": "p"}}, {"code": 7},
                       {"index": {"_index": "p"}}, {"code": 7},
                       {"index": {"_index": "p"}}, {"code": "7"})
        out = self.bulk(body)[1]
        self.assertEqual(self.statuses(out), [400, 400, 429, 201, 201])
        self.assertEqual(out["items"][2]["index"]["error"]["type"],
                         "es_rejected_execution_exception")
        self.config(item_status_by_field=None, reject_every_nth_item={"n": 3, "status": 429})
        body = self.nd(*[x for i in range(7) for x in ({"index": {"_index": "n"}}, {"i": i})])
        self.assertEqual(self.statuses(self.bulk(body)[1]),
                         [201, 201, 429, 201, 201, 429, 201])
        st = self.stats()
        self.assertEqual(st["items"]["by_status"], {"400": 2, "429": 3, "201": 7})
        self.assertEqual(st["indexed"], {"p": 2, "n": 5})

    def test_latency(self):
        self.config(latency_ms=150)
        t0 = time.monotonic()
        self.call("GET", "/")
        self.assertGreaterEqual(time.monotonic() - t0, 0.14)
        t0 = time.monotonic()
        self.call("GET", "/_emulator/stats")              # control API is never delayed
        self.assertLess(time.monotonic() - t0, 0.14)

    def test_bad_config_and_reset(self):
        self.assertEqual(self.js("POST", "/_emulator/config", {"capacty": 5})[0], 400)
        self.assertEqual(self.js("POST", "/_emulator/config", {"reject_whole": "x"})[0], 400)
        self.assertEqual(self.js("POST", "/_emulator/config", b"{", {
            "Content-Type": "application/json"})[0], 400)
        self.config(capacity=5)
        self.bulk(self.nd({"index": {"_index": "r"}}, {}))
        self.call("POST", "/_emulator/reset")
        self.assertIsNone(self.js("GET", "/_emulator/config")[1]["capacity"])
        st = self.stats()
        self.assertEqual((st["requests"]["total"], st["docs"]), (0, {}))


class Robustness(EmulatorCase):
    def test_garbage_on_the_socket(self):
        for junk in (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
                     b"GET / HTTP/1.1\r\nContent-Length: zz\r\n\r\n",
                     b"POST /_bulk HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: application/json\r\n\r\nzz\r\n"):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(junk)
            data = s.recv(65536)
            s.close()
            self.assertTrue(data.startswith(b"HTTP/1."), data)
            self.assertIn(b" 400 ", data.split(b"\r\n")[0])
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(b"POST /_bulk HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort")
        s.close()
        self.assertEqual(self.call("GET", "/")[0], 200)

    def test_body_too_large(self):
        proc, port = start_emulator("--max-body-bytes", "1000")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/_bulk", body=b"x" * 2000,
                         headers={"Content-Type": "application/x-ndjson"})
            self.assertEqual(conn.getresponse().status, 413)
            conn.close()
        finally:
            proc.terminate()
            proc.wait(5)
            proc.stdout.close()
            proc.stderr.close()


class Lag(unittest.TestCase):
    """lag_field / lag_by: the lag from a send time in each accepted document's source to
    its acceptance, per group, at GET /_emulator/lag.  The documents of one bulk request
    are accepted at one instant, so the differences between their lags are exact."""

    FLAGS = ("--fast", "--no-store", "--lag-field", "labels.sent", "--lag-by", "labels.kind")

    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start_emulator(*cls.FLAGS)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(5)
        cls.proc.stdout.close()
        cls.proc.stderr.close()

    def call(self, method, path, body=None, ctype="application/x-ndjson"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        if isinstance(body, (dict, list)):
            body, ctype = json.dumps(body), "application/json"
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body,
                     headers={"Content-Type": ctype} if body is not None else {})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, json.loads(data) if data else None

    def setUp(self):
        self.assertEqual(self.call("POST", "/_emulator/reset")[0], 200)
        self.assertEqual(self.call("PUT", "/lag")[0], 200)   # the fast path wants an index

    def bulk(self, docs, action="index"):
        body = "".join('{"%s":{"_index":"lag"}}\n%s\n' % (action, json.dumps(d)) for d in docs)
        status, out = self.call("POST", "/_bulk", body)
        self.assertEqual(status, 200, out)
        return [next(iter(it.values()))["status"] for it in out["items"]]

    def lag(self):
        status, out = self.call("GET", "/_emulator/lag")
        self.assertEqual(status, 200, out)
        return out

    def assertSpread(self, g, events, p50, p90, p99, top):
        """Lags of one request: a common offset (>= 0, under a minute) plus known parts."""
        self.assertEqual((g["events"], g["samples"]), (events, events))
        base = g["min_ms"]
        self.assertGreaterEqual(base, 0)
        self.assertLess(base, 60000)
        for k, want in (("p50_ms", p50), ("p90_ms", p90), ("p99_ms", p99), ("max_ms", top)):
            self.assertAlmostEqual(g[k] - base, want, delta=0.01, msg=(k, g))

    def test_groups_percentiles_and_what_is_not_counted(self):
        t0 = time.time()
        docs = [{"labels": {"kind": "error", "sent": t0 - i / 1000.0}, "n": i}
                for i in range(100)]                                # lags base + 0..99 ms
        docs += [{"labels": {"kind": "app", "sent": t0 - 2.0 - i / 1000.0}} for i in range(10)]
        docs += [{"labels": {"kind": "app"}},                       # no send time
                 {"labels": {"kind": "app", "sent": "soon"}},       # no time: unread
                 {"labels": {"kind": 7, "sent": t0}},               # grouped as text
                 {"labels": {"sent": t0}},                          # no lag_by value
                 {"labels": {"kind": {"x": 1}, "sent": t0}},        # not a scalar
                 {"sent": t0, "labels": {"kind": "top"}},           # another path
                 {"labels.sent": t0, "labels": {"kind": "dotted"}}]  # the whole path as a key
        self.assertEqual(self.bulk(docs), [201] * len(docs))
        out = self.lag()
        self.assertEqual((out["lag_field"], out["lag_by"], out["unread"]),
                         ("labels.sent", "labels.kind", 2))
        by = out["by"]
        self.assertEqual(sorted(by), ["7", "_missing", "app", "dotted", "error"])
        # nearest rank over 100: p50 the 50th smallest, p90 the 90th, p99 the 99th
        self.assertSpread(by["error"], 100, 49, 89, 98, 99)
        self.assertSpread(by["app"], 10, 4, 8, 9, 9)
        self.assertAlmostEqual(by["app"]["min_ms"] - by["error"]["min_ms"], 2000, delta=0.01)
        self.assertAlmostEqual(by["error"]["mean_ms"] - by["error"]["min_ms"], 49.5, delta=0.01)
        self.assertEqual(by["_missing"]["events"], 2)
        self.assertEqual((by["7"]["events"], by["dotted"]["events"]), (1, 1))
        # a second request adds to the groups
        self.assertEqual(self.bulk([{"labels": {"kind": "error", "sent": time.time()}}],
                                   "create"), [201])
        self.assertEqual(self.lag()["by"]["error"]["events"], 101)

    def test_stamp_forms(self):
        t0 = time.time()
        iso = datetime.datetime.fromtimestamp(t0 - 5, datetime.timezone.utc)
        docs = [{"labels": {"kind": "n", "sent": t0 - 5}},
                {"labels": {"kind": "s", "sent": "%.6f" % (t0 - 5)}},
                {"labels": {"kind": "iso", "sent": iso.isoformat()}},
                {"labels": {"kind": "z", "sent": iso.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}},
                {"labels": {"kind": "naive", "sent": iso.strftime("%Y-%m-%dT%H:%M:%S.%f")}},
                {"labels": {"kind": "int", "sent": int(t0) - 5}}]
        self.assertEqual(self.bulk(docs), [201] * len(docs))
        by = self.lag()["by"]
        self.assertEqual(sorted(by), ["int", "iso", "n", "naive", "s", "z"])
        for k in ("s", "iso", "z", "naive"):
            self.assertAlmostEqual(by[k]["p50_ms"], by["n"]["p50_ms"], delta=0.01, msg=k)
        self.assertAlmostEqual(by["int"]["p50_ms"] - by["n"]["p50_ms"],
                               (t0 - int(t0)) * 1000, delta=0.01)
        self.assertGreaterEqual(by["n"]["p50_ms"], 5000)

    def test_only_accepted_documents(self):
        # a bucket of 3 tokens that does not refill in the test: items 4 and 5 get 429
        st, cfg = self.call("POST", "/_emulator/config", {"capacity": 0.001, "burst": 3})
        self.assertEqual(st, 200, cfg)
        t0 = time.time()
        docs = [{"labels": {"kind": "k", "sent": t0 - i}} for i in range(5)]
        self.assertEqual(self.bulk(docs), [201, 201, 201, 429, 429])
        g = self.lag()["by"]["k"]
        self.assertSpread(g, 3, 1000, 2000, 2000, 2000)
        # a document that is not created (a parse error, a conflict) does not count
        st, _ = self.call("POST", "/_emulator/config", {"capacity": None})
        body = ('{"index":{"_index":"lag"}}\n[{"labels":{"kind":"k","sent":%f}}]\n'
                '{"delete":{"_index":"lag","_id":"x"}}\n' % t0)
        st, out = self.call("POST", "/_bulk", body)
        self.assertEqual([next(iter(it.values()))["status"] for it in out["items"]], [400, 404])
        self.assertEqual(self.lag()["by"]["k"]["events"], 3)

    def test_reset_and_config(self):
        self.bulk([{"labels": {"kind": "a", "sent": time.time()}}])
        self.assertEqual(self.lag()["by"]["a"]["events"], 1)
        self.assertEqual(self.call("DELETE", "/_emulator/lag"), (200, {"acknowledged": True}))
        self.assertEqual(self.lag()["by"], {})
        st, cfg = self.call("GET", "/_emulator/config")
        self.assertEqual((cfg["lag_field"], cfg["lag_by"]), ("labels.sent", "labels.kind"))
        self.bulk([{"labels": {"kind": "a", "sent": time.time()}}])
        # another grouping starts afresh; without lag_by, one group
        st, cfg = self.call("POST", "/_emulator/config", {"lag_by": None})
        self.assertEqual((st, cfg["lag_by"]), (200, None))
        self.assertEqual(self.lag()["by"], {})
        self.bulk([{"labels": {"kind": "a", "sent": time.time()}}, {"labels": {"kind": "b"}}])
        self.assertEqual(list(self.lag()["by"]), ["_all"])
        self.assertEqual(self.lag()["by"]["_all"]["events"], 1)
        # off: nothing recorded
        self.call("POST", "/_emulator/config", {"lag_field": None})
        self.bulk([{"labels": {"kind": "a", "sent": time.time()}}])
        self.assertEqual(self.lag(), {"lag_field": None, "lag_by": None, "unread": 0, "by": {}})
        for bad in ({"lag_field": 5}, {"lag_by": ""}, {"lag_field": "."}):
            self.assertEqual(self.call("POST", "/_emulator/config", bad)[0], 400, bad)
        self.assertEqual(self.call("POST", "/_emulator/lag")[0], 404)
        # POST /_emulator/reset: back to the command line's lag_field and lag_by, no lags
        self.call("POST", "/_emulator/reset")
        self.call("PUT", "/lag")
        self.bulk([{"labels": {"kind": "c", "sent": time.time()}}])
        self.assertEqual(list(self.lag()["by"]), ["c"])
        self.call("POST", "/_emulator/reset")
        self.assertEqual(self.lag()["by"], {})


class LagGeneralPath(Lag):
    """The same without --fast --no-store: sources parsed and stored; the document API too;
    lag_field and lag_by set at runtime."""

    FLAGS = ("--config", json.dumps({"lag_field": "labels.sent", "lag_by": "labels.kind"}))

    def test_document_api(self):
        t0 = time.time()
        st, _ = self.call("PUT", "/lag/_doc/1", {"labels": {"kind": "d", "sent": t0 - 1}})
        self.assertEqual(st, 201)
        st, _ = self.call("PUT", "/lag/_create/1", {"labels": {"kind": "d", "sent": t0 - 1}})
        self.assertEqual(st, 409)                                   # a conflict: not counted
        st, _ = self.call("PUT", "/lag/_doc/1", {"labels": {"kind": "d", "sent": t0 - 2}})
        self.assertEqual(st, 200)                                   # updated: accepted
        st, _ = self.call("POST", "/lag/_update/1", {"doc": {"labels": {"sent": t0}}})
        g = self.lag()["by"]["d"]
        self.assertEqual(g["events"], 2)
        self.assertGreaterEqual(g["min_ms"], 1000)
        self.assertGreaterEqual(g["max_ms"], 2000)


class LagReservoir(unittest.TestCase):
    """Past LAG_SAMPLES_MAX a group keeps a uniform reservoir: bounded memory, exact counts,
    minimum, maximum and mean."""

    def test_reservoir(self):
        import random
        g = es_emulator.LagGroup()
        rng = random.Random(1)
        keep = es_emulator.LAG_SAMPLES_MAX
        es_emulator.LAG_SAMPLES_MAX = 1000
        try:
            for i in range(20000):
                g.add(i / 1000.0, rng)
        finally:
            es_emulator.LAG_SAMPLES_MAX = keep
        out = g.summary()
        self.assertEqual((out["events"], out["samples"]), (20000, 1000))
        self.assertEqual((out["min_ms"], out["max_ms"]), (0.0, 19999.0))
        self.assertAlmostEqual(out["mean_ms"], 9999.5, delta=0.01)
        self.assertAlmostEqual(out["p50_ms"], 10000, delta=1500)     # a sample, seeded
        self.assertGreater(out["p99_ms"], 19000)


def media_type_error(reason, headers="Accept, Content-Type", cause="status_exception"):
    """The document Elasticsearch answers (400) for a refused Accept/Content-Type."""
    top = "Invalid media-type value on headers [%s]" % headers
    return {"error": {"root_cause": [{"type": "media_type_header_exception", "reason": top}],
                      "type": "media_type_header_exception", "reason": top,
                      "caused_by": {"type": cause, "reason": reason}}, "status": 400}


class VersionCase(EmulatorCase):
    """An emulator started as another version: ARGS."""
    ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.record_path = None
        cls.proc, cls.port = start_emulator(*cls.ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        try:
            cls.proc.wait(5)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
            cls.proc.wait()
        cls.proc.stdout.close()
        cls.proc.stderr.close()

    BODY = '{"index":{"_index":"v"}}\n{"a":1}\n'

    @staticmethod
    def vnd(v, kind="json"):
        return "application/vnd.elasticsearch+%s; compatible-with=%s" % (kind, v)

    def versioned_bulk(self, v, accept=None):
        return self.call("POST", "/_bulk", self.BODY, {
            "Content-Type": self.vnd(v, "x-ndjson"),
            "Accept": self.vnd(v) if accept is None else accept})

    def root(self, headers=None):
        st, hdrs, data = self.call("GET", "/", headers=headers)
        return st, hdrs, json.loads(data)


class Version9(VersionCase):
    ARGS = ("--es-version", "9.1.0")

    def test_root_document(self):
        st, hdrs, doc = self.root()
        self.assertEqual(st, 200)
        self.assertEqual(hdrs["x-elastic-product"], "Elasticsearch")
        self.assertEqual(hdrs["content-type"], "application/json")
        v = doc["version"]
        self.assertEqual((v["number"], v["build_flavor"]), ("9.1.0", "default"))
        self.assertEqual(v["minimum_wire_compatibility_version"], "8.19.0")
        self.assertEqual(v["minimum_index_compatibility_version"], "8.0.0")
        self.assertTrue(v["lucene_version"].startswith("10."), v)
        self.assertEqual(doc["tagline"], "You Know, for Search")
        self.assertEqual(set(doc), {"name", "cluster_name", "cluster_uuid", "version",
                                    "tagline"})
        node, = self.js("GET", "/_nodes/http")[1]["nodes"].values()
        self.assertEqual(node["version"], "9.1.0")

    def test_accept_takes_this_major_and_the_one_before(self):
        for v in (6, 7, 8, 9, 10):
            with self.subTest(v=v):
                st, hdrs, data = self.call("GET", "/", headers={"Accept": self.vnd(v)})
                if v in (8, 9):
                    self.assertEqual(st, 200)
                    self.assertEqual(hdrs["content-type"],
                                     "application/vnd.elasticsearch+json;compatible-with=%d" % v)
                    self.assertEqual(json.loads(data)["version"]["number"], "9.1.0")
                    continue
                self.assertEqual(st, 400)
                self.assertEqual(hdrs["content-type"], "application/json")
                self.assertEqual(hdrs["x-elastic-product"], "Elasticsearch")
                self.assertEqual(json.loads(data), media_type_error(
                    "Accept version must be either version 9 or 8, but found %d. "
                    "Accept=%s" % (v, self.vnd(v))))

    def test_bulk_content_type_versions(self):
        for v in (7, 8, 10):
            with self.subTest(v=v):
                st, hdrs, data = self.call("POST", "/_bulk", self.BODY, {
                    "Content-Type": self.vnd(v, "x-ndjson"), "Accept": self.vnd(9)})
                self.assertEqual(st, 400)
                self.assertEqual(json.loads(data), media_type_error(
                    "Content-Type version must be either version 9 or 8, but found %d. "
                    "Content-Type=%s" % (v, self.vnd(v, "x-ndjson"))) if v in (7, 10) else
                    media_type_error(
                        "A compatible version is required on both Content-Type and Accept "
                        "headers if either one has requested a compatible version and the "
                        "compatible versions must match. Accept=%s, Content-Type=%s"
                        % (self.vnd(9), self.vnd(v, "x-ndjson"))))
        for v in (8, 9):
            with self.subTest(both=v):
                st, hdrs, data = self.versioned_bulk(v)
                self.assertEqual(st, 200, data)
                self.assertEqual(hdrs["content-type"],
                                 "application/vnd.elasticsearch+json;compatible-with=%d" % v)
                item = json.loads(data)["items"][0]["index"]
                self.assertEqual(item["status"], 201)
                self.assertNotIn("_type", item)
        # _type in an action line is a 7 thing: refused when served as 8 or 9.
        st, _, data = self.call("POST", "/_bulk", '{"index":{"_index":"v","_type":"_doc"}}\n'
                                '{"a":1}\n', {"Content-Type": self.vnd(8, "x-ndjson"),
                                              "Accept": self.vnd(8)})
        self.assertEqual(st, 400, data)

    def test_versioned_body_needs_a_versioned_accept(self):
        st, _, data = self.call("POST", "/_bulk", self.BODY,
                                {"Content-Type": self.vnd(9, "x-ndjson")})
        self.assertEqual(json.loads(data), media_type_error(
            "A compatible version is required on both Content-Type and Accept headers if "
            "either one has requested a compatible version. Accept=null, Content-Type=%s"
            % self.vnd(9, "x-ndjson")))
        st, _, data = self.call("POST", "/_bulk", self.BODY, {
            "Content-Type": "application/x-ndjson", "Accept": self.vnd(9)})
        self.assertEqual(st, 400, data)
        self.assertIn("Accept=%s, Content-Type=application/x-ndjson" % self.vnd(9),
                      json.loads(data)["error"]["caused_by"]["reason"])
        # Unversioned both: fine, answered as plain JSON.
        st, hdrs, _ = self.call("POST", "/_bulk", self.BODY,
                                {"Content-Type": "application/x-ndjson"})
        self.assertEqual((st, hdrs["content-type"]), (200, "application/json"))

    def test_without_a_body_content_type_is_not_checked(self):
        st, hdrs, _ = self.root({"Accept": self.vnd(8), "Content-Type": self.vnd(9)})
        self.assertEqual((st, hdrs["content-type"]),
                         (200, "application/vnd.elasticsearch+json;compatible-with=8"))

    def test_case_spacing_parameters_and_media_ranges(self):
        for accept, want in (
                ("Application/VND.Elasticsearch+JSON ;  Compatible-With=9",
                 "application/vnd.elasticsearch+json;compatible-with=9"),
                ("application/vnd.elasticsearch+x-ndjson;compatible-with=8",
                 "application/vnd.elasticsearch+json;compatible-with=8"),
                ("application/vnd.elasticsearch+json; compatible-with=9; charset=UTF-8",
                 "application/vnd.elasticsearch+json;compatible-with=9;charset=utf-8"),
                ("application/json", "application/json"),
                ("*/*", "application/json"),
                # A list is a media range, which Elasticsearch does not read at all: what
                # the JavaScript clients send on requests without a body.
                ("application/vnd.elasticsearch+json; compatible-with=7,text/plain",
                 "application/json")):
            with self.subTest(accept=accept):
                st, hdrs, _ = self.root({"Accept": accept})
                self.assertEqual((st, hdrs["content-type"]), (200, want))
        st, _, data = self.call("POST", "/_bulk", self.BODY, {
            "Content-Type": "APPLICATION/VND.ELASTICSEARCH+X-NDJSON;COMPATIBLE-WITH=9",
            "Accept": "application/vnd.elasticsearch+json ;compatible-with=9"})
        self.assertEqual(st, 200, data)
        # No spaces around "=" (Elasticsearch's ParsedMediaType).
        bad = "application/vnd.elasticsearch+json; compatible-with = 9"
        st, _, data = self.call("GET", "/", headers={"Accept": bad})
        self.assertEqual(json.loads(data), media_type_error(
            "invalid parameters for header [%s]" % bad, "Accept",
            "illegal_argument_exception"))
        st, _, data = self.call("POST", "/_bulk", self.BODY, {"Content-Type": "nonsense"})
        self.assertEqual(json.loads(data), media_type_error(
            "invalid media-type [nonsense]", "Content-Type", "illegal_argument_exception"))

    def test_official_python_client_7_is_unversioned(self):
        # python3-elasticsearch 7.17 sends application/json, no compatible-with: served.
        st, out = self.bulk(self.nd({"index": {"_index": "p"}}, {"a": 1}),
                            ctype="application/json")
        self.assertEqual(self.statuses(out), [201])


class Version8Compat7(VersionCase):
    ARGS = ("--es-version", "8.19.3")

    def test_root_and_compat_7(self):
        st, hdrs, doc = self.root()
        v = doc["version"]
        self.assertEqual((v["number"], v["minimum_wire_compatibility_version"],
                          v["minimum_index_compatibility_version"]),
                         ("8.19.3", "7.17.0", "7.0.0"))
        self.assertTrue(v["lucene_version"].startswith("9."), v)
        self.assertEqual(hdrs["x-elastic-product"], "Elasticsearch")
        for v in (7, 8):
            with self.subTest(v=v):
                st, hdrs, data = self.versioned_bulk(v)
                self.assertEqual(st, 200, data)
                self.assertEqual(hdrs["content-type"],
                                 "application/vnd.elasticsearch+json;compatible-with=%d" % v)
                item = json.loads(data)["items"][0]["index"]
                self.assertEqual(item.get("_type"), "_doc" if v == 7 else None)
        st, _, data = self.call("GET", "/", headers={"Accept": self.vnd(9)})
        self.assertEqual(json.loads(data), media_type_error(
            "Accept version must be either version 8 or 7, but found 9. Accept=%s"
            % self.vnd(9)))
        st, _, data = self.versioned_bulk(9)
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(data)["error"]["caused_by"]["reason"],
                         "Accept version must be either version 8 or 7, but found 9. Accept=%s"
                         % self.vnd(9))


class Version7(VersionCase):
    ARGS = ("--es-version", "7.17.29")

    def test_root_header_and_types(self):
        st, hdrs, doc = self.root()
        v = doc["version"]
        self.assertEqual((v["number"], v["build_flavor"],
                          v["minimum_wire_compatibility_version"],
                          v["minimum_index_compatibility_version"]),
                         ("7.17.29", "default", "6.8.0", "6.0.0-beta1"))
        self.assertTrue(v["lucene_version"].startswith("8."), v)
        self.assertEqual(doc["tagline"], "You Know, for Search")
        self.assertEqual(hdrs["x-elastic-product"], "Elasticsearch")     # 7.14 on
        self.assertEqual(hdrs["content-type"], "application/json; charset=UTF-8")
        # A 7 has types: every bulk item says _type, and an action line may name one.
        st, out = self.bulk('{"index":{"_index":"t","_type":"_doc"}}\n{"a":1}\n',
                            ctype="application/json")
        self.assertEqual(out["items"][0]["index"]["_type"], "_doc")
        st, hdrs, data = self.versioned_bulk(7)
        self.assertEqual(st, 200, data)
        st, _, data = self.call("GET", "/", headers={"Accept": self.vnd(8)})
        self.assertEqual(json.loads(data)["error"]["caused_by"]["reason"],
                         "Accept version must be either version 7 or 6, but found 8. Accept=%s"
                         % self.vnd(8))


class Version7Before14(VersionCase):
    ARGS = ("--es-version", "7.10.2")

    def test_no_product_header_before_7_14(self):
        st, hdrs, doc = self.root()
        self.assertEqual(doc["version"]["number"], "7.10.2")
        self.assertNotIn("x-elastic-product", hdrs)
        self.assertNotIn("x-elastic-product", self.call("GET", "/nosuch/_count")[1])


class OpenSearch(VersionCase):
    ARGS = ("--distribution", "opensearch")

    def test_root_document_and_no_product_header(self):
        st, hdrs, doc = self.root()
        self.assertEqual(st, 200)
        self.assertNotIn("x-elastic-product", hdrs)
        self.assertEqual(hdrs["content-type"], "application/json; charset=UTF-8")
        self.assertEqual(doc["tagline"], "The OpenSearch Project: https://opensearch.org/")
        v = doc["version"]
        self.assertEqual(v["distribution"], "opensearch")
        self.assertTrue(v["number"].startswith("2."), v)
        self.assertNotIn("build_flavor", v)
        self.assertEqual(self.js("GET", "/_license")[0], 400)      # no X-Pack

    def test_no_vendor_media_types(self):
        st, out = self.bulk(self.BODY, ctype=self.vnd(8, "x-ndjson"))
        self.assertEqual((st, out["error"]), (406, "Content-Type header [%s] is not supported"
                                              % self.vnd(8, "x-ndjson")))
        st, hdrs, _ = self.root({"Accept": self.vnd(8)})      # not read
        self.assertEqual((st, hdrs["content-type"]), (200, "application/json; charset=UTF-8"))
        st, out = self.bulk(self.BODY)
        item = out["items"][0]["index"]
        self.assertEqual(item["status"], 201)
        self.assertNotIn("_type", item)


class VersionFlags(unittest.TestCase):
    def run_emulator(self, *args):
        return subprocess.run([sys.executable, EMULATOR, "--listen", "127.0.0.1:0", *args],
                              capture_output=True, timeout=30)

    def test_versions_it_cannot_be(self):
        for args in (("--es-version", "6.8.23"), ("--es-version", "10.0.0"),
                     ("--es-version", "nine"),
                     ("--distribution", "opensearch", "--es-version", "8.11.3")):
            with self.subTest(args=args):
                r = self.run_emulator(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(b"--es-version", r.stderr)

    def test_opensearch_3(self):
        proc, port = start_emulator("--distribution", "opensearch", "--es-version", "3.1.0")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            v = json.loads(conn.getresponse().read())["version"]
            conn.close()
            self.assertEqual((v["number"], v["minimum_wire_compatibility_version"]),
                             ("3.1.0", "2.19.0"))
            self.assertTrue(v["lucene_version"].startswith("10."), v)
        finally:
            proc.terminate()
            proc.wait(5)
            proc.stdout.close()
            proc.stderr.close()


class CommandLine(unittest.TestCase):
    def test_flags(self):
        proc, port = start_emulator("--capacity", "1", "--burst", "2", "--fast",
                                    "--fail-mode", "field:level=bad:400",
                                    "--fail-mode", "nth:100:503")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            body = "".join('{"index":{"_index":"x"}}\n%s\n' % s for s in (
                '{"level":"bad"}', '{"level":"ok"}', '{"level":"late"}'))
            conn.request("POST", "/_bulk", body=body,
                         headers={"Content-Type": "application/x-ndjson"})
            out = json.loads(conn.getresponse().read())
            self.assertEqual([it["index"]["status"] for it in out["items"]], [400, 201, 429])
            conn.request("GET", "/_emulator/config")
            cfg = json.loads(conn.getresponse().read())
            self.assertEqual(cfg["parse_source"], False)
            self.assertEqual(cfg["reject_every_nth_item"], {"n": 100, "status": 503})
            conn.close()
        finally:
            proc.terminate()
            proc.wait(5)
            proc.stdout.close()
            proc.stderr.close()
            self.assertEqual(proc.returncode, 0)


class Journal(unittest.TestCase):
    """--data: what was acknowledged survives a SIGKILL and a restart on the same port."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.data = os.path.join(self.dir.name, "es.journal")
        self.procs = []

    def tearDown(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        self.dir.cleanup()

    def start(self, port=0):
        proc = subprocess.Popen([sys.executable, EMULATOR, "--listen", "127.0.0.1:%d" % port,
                                 "--data", self.data],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.procs.append(proc)
        return proc, wait_listening(proc)

    def kill(self, proc):
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.assertEqual(proc.returncode, -signal.SIGKILL)

    def call(self, port, method, path, body=None, ctype="application/x-ndjson"):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        if isinstance(body, (dict, list)):
            body, ctype = json.dumps(body), "application/json"
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body,
                     headers={"Content-Type": ctype} if body is not None else {})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if resp.getheader("Content-Type") == "application/x-ndjson":
            return resp.status, [json.loads(line) for line in data.decode().splitlines()]
        return resp.status, json.loads(data) if data else None

    def items(self, port, *lines):
        status, out = self.call(port, "POST", "/_bulk", "".join(x + "\n" for x in lines))
        self.assertEqual(status, 200, out)
        return [next(iter(it.values())) for it in out["items"]]

    def test_sigkill_and_restart_keep_what_was_acknowledged(self):
        proc, port = self.start()
        self.assertEqual(self.call(port, "PUT", "/_ingest/pipeline/p", {"processors": []})[0],
                         200)
        sources = ['{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}', ' {"n": 5, "s": "\u00e9t\u00e9"} ']
        got = self.items(port,
                         '{"create":{"_index":"j","_id":"a"}}', sources[0],
                         '{"create":{"_index":"j"}}', sources[1],
                         '{"index":{"_index":"j","_id":"b"}}', sources[2],
                         '{"index":{"_index":"k"}}', sources[3],
                         '{"create":{"_index":"j","_id":"c"}}', sources[4],
                         '{"update":{"_index":"j","_id":"b"}}', '{"doc":{"m":1}}',
                         '{"create":{"_index":"j","_id":"d"}}', '{"n":6}',
                         '{"delete":{"_index":"j","_id":"d"}}')
        self.assertEqual([it["status"] for it in got], [201] * 5 + [200, 201, 200])
        ids = [it["_id"] for it in got[:5]]
        self.assertEqual((ids[0], ids[2], ids[4]), ("a", "b", "c"))
        self.assertEqual([len(ids[1]), len(ids[3])], [20, 20])
        self.assertEqual(self.call(port, "PUT", "/j/_create/e", '{"n":7}',
                                   "application/json")[0], 201)
        expect = [{"_index": i, "_id": d, "source": s} for i, d, s in zip(
            "jjjkj", ids, sources)] + [{"_index": "j", "_id": "d", "source": '{"n":6}'},
                                       {"_index": "j", "_id": "e", "source": '{"n":7}'}]
        self.assertEqual(self.call(port, "GET", "/_emulator/received"), (200, expect))
        conflict = self.items(port, '{"create":{"_index":"j","_id":"a"}}', '{"n":0}')[0]
        before = {d: self.call(port, "GET", "/j/_doc/" + d)[1] for d in ("a", "b", ids[1])}
        held = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        held.request("GET", "/")
        held.getresponse().read()

        self.kill(proc)
        held.close()        # the server's end of it now waits in TIME_WAIT on the port
        with open(self.data, "ab") as f:                # a line cut short by the kill
            f.write(b'{"op":"doc","index":"j","id":"zz","vers')
        proc, port2 = self.start(port)
        self.assertEqual(port2, port)
        self.assertEqual(self.call(port, "GET", "/_emulator/received"), (200, expect))
        for d, doc in before.items():
            self.assertEqual(self.call(port, "GET", "/j/_doc/" + d), (200, doc))
        self.assertEqual(before["b"]["_source"], {"n": 3, "m": 1})
        self.assertEqual(before["b"]["_version"], 2)
        self.assertEqual(self.call(port, "GET", "/j/_doc/d")[0], 404)
        self.assertEqual(self.call(port, "GET", "/j/_doc/zz")[0], 404)
        got = self.items(port,
                         '{"create":{"_index":"j","_id":"a"}}', '{"n":0}',
                         '{"create":{"_index":"j","_id":"%s"}}' % ids[1], '{"n":0}',
                         '{"create":{"_index":"k","_id":"%s"}}' % ids[3], '{"n":0}',
                         '{"create":{"_index":"j","_id":"d"}}', '{"n":8}',
                         '{"index":{"_index":"j","pipeline":"p"}}', '{"n":9}')
        self.assertEqual([it["status"] for it in got], [409, 409, 409, 201, 201])
        self.assertEqual(got[0]["error"], conflict["error"])     # same index uuid
        self.assertEqual(got[0]["error"]["type"], "version_conflict_engine_exception")
        self.assertEqual(got[3]["_version"], 3)                  # created, deleted, created
        self.assertGreater(got[3]["_seq_no"], max(d["_seq_no"] for d in before.values()))
        self.assertEqual(self.call(port, "GET", "/_emulator/stats")[1]["docs"],
                         {"j": 7, "k": 1})

        self.kill(proc)                 # the journal goes on after the replayed part
        proc, _ = self.start(port)
        expect += [{"_index": "j", "_id": "d", "source": '{"n":8}'},
                   {"_index": "j", "_id": got[4]["_id"], "source": '{"n":9}'}]
        self.assertEqual(self.call(port, "GET", "/_emulator/received"), (200, expect))
        self.assertEqual(self.call(port, "GET", "/j/_doc/d")[1]["_version"], 3)
        self.assertEqual(self.items(port, '{"create":{"_index":"j","_id":"d"}}',
                                    '{}')[0]["status"], 409)

    def test_reset_truncates_and_no_store_is_refused(self):
        proc, port = self.start()
        self.assertEqual(self.items(port, '{"index":{"_index":"r"}}', '{}')[0]["status"], 201)
        self.assertGreater(os.path.getsize(self.data), 0)
        self.assertEqual(self.call(port, "POST", "/_emulator/reset")[0], 200)
        self.assertEqual(os.path.getsize(self.data), 0)
        self.assertEqual(self.items(port, '{"index":{"_index":"r2"}}', '{}')[0]["status"], 201)
        self.assertEqual(self.call(port, "DELETE", "/_emulator/received")[0], 200)
        self.kill(proc)
        proc, port = self.start(port)
        self.assertEqual(self.call(port, "GET", "/_emulator/received"), (200, []))
        self.assertEqual(self.call(port, "GET", "/_emulator/stats")[1]["docs"], {"r2": 1})
        r = subprocess.run([sys.executable, EMULATOR, "--listen", "127.0.0.1:0", "--no-store",
                            "--data", self.data], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--data", r.stderr)


class FastPath(unittest.TestCase):
    """--fast --no-store answers the common items without the general checks; what it
    answers must be what the general path answers, ids and took aside."""

    BODY = "".join(line + "\n" for line in (
        '{"index":{"_index":"f1"}}', '{"n":1}',
        '{"create":{"_index":"f1"}}', ' {"n":2} ',
        '{"index":{"_index":"f1","_id":"k1"}}', '{"n":3}',
        '{"index":{"_index":"f1","pipeline":"nope"}}', '{"n":4}',
        '{"index":{"_index":"F1"}}', '{"n":6}',
        '{"index":{"_index":"f\\u00e9"}}', '{"n":7}',
        '{"delete":{"_index":"f1","_id":"k1"}}',
        '{"index":{"_index":"f2"}}', '{"n":8}'))

    def answers(self, *flags):
        proc, port = start_emulator("--no-store", *flags)
        try:
            out = []
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            for query, hdrs in (("", {}), ("", {}),
                                ("?filter_path=items.*.status,errors", {}),
                                ("", {"Accept-Encoding": "gzip"}),
                                ("?pretty", {}),
                                ("?filter_path=errors,items.*.error.type,items.*.status",
                                 {}),
                                ("?filter_path=items.*._id", {}),
                                ("?filter_path=-items.*._shards,-took", {}),
                                ("?filter_path=**.status", {}),
                                ("?filter_path=errors", {}),
                                ("?filter_path=-items", {}),
                                ("?filter_path=items.create", {}),
                                ("?filter_path=nothing", {})):
                hdrs = dict(hdrs, **{"Content-Type": "application/x-ndjson"})
                conn.request("POST", "/_bulk" + query, body=self.BODY, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                if resp.getheader("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                doc = json.loads(data)
                doc.pop("took", None)
                for it in doc.get("items", []):
                    for v in it.values():
                        if "_id" in v and v["_id"] != "k1":
                            self.assertEqual(len(v["_id"]), 20, v)
                            v["_id"] = "ID"
                out.append((resp.status, doc))
            conn.close()
            return out
        finally:
            proc.terminate()
            proc.wait(5)
            proc.stdout.close()
            proc.stderr.close()

    def test_fast_answers_as_the_general_path(self):
        fast, general = self.answers("--fast"), self.answers()
        self.assertEqual(fast, general)
        statuses = [list(it.values())[0]["status"] for it in fast[1][1]["items"]]
        self.assertEqual(statuses, [201, 201, 201, 400, 400, 201, 404, 201])
        self.assertEqual(fast[2][1], {"errors": True, "items": [
            {"index": {"status": s}} if i not in (1, 6) else
            {("create" if i == 1 else "delete"): {"status": s}}
            for i, s in enumerate(statuses)]})


if __name__ == "__main__":
    unittest.main()
