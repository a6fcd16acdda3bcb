"""With an Elasticsearch sink, every non-bulk request on the HTTP ingest
port goes to the upstream unchanged and its answer comes back unchanged,
except sniffing (GET /_nodes/http), which spillway always answers itself
so that clients never learn addresses that bypass it.  Bulk requests keep
their routing: the URL's index, _id, pipeline and routing reach the
upstream, and update/delete are forwarded unshaped."""

import json
import unittest

from harness import WAIT_TIMEOUT, have_binary
from test_es_sink import ESSinkCase, RULES


@unittest.skipUnless(have_binary(), "spillway binary not built")
class PassThrough(ESSinkCase):

    def setUp(self):
        super().setUp()
        self.emu = self.emulator()
        self.sp = self.spillway(self.emu.url)

    def direct(self, method, path, body=None, headers=None):
        return self.sp._request(self.emu.port, method, path, body,
                                headers or {})

    def requests_to(self, path):
        return [r for r in self.emu.requests() if r["path"] == path]

    def test_root_and_head_come_from_upstream(self):
        st, hd, body = self.sp.http("GET", "/")
        st2, _, body2 = self.direct("GET", "/")
        self.assertEqual((st, body), (st2, body2))
        self.assertEqual(hd.get("x-elastic-product"), "Elasticsearch")
        self.assertEqual(len(self.requests_to("/")), 2)
        st, hd, body = self.sp.http("HEAD", "/")
        self.assertEqual(st, 200)
        self.assertEqual(body, b"")
        self.assertEqual(int(hd["content-length"]), len(body2))

    def test_method_path_query_headers_body_forwarded(self):
        tpl = json.dumps({"index_patterns": ["logs-*"],
                          "template": {"settings": {"number_of_shards": 1}}})
        st, _, body = self.sp.http(
            "PUT", "/_index_template/logs?master_timeout=30s", tpl,
            headers={"Authorization": "Basic dXNlcjpwYXNz",
                     "X-Opaque-Id": "abc"},
            content_type="application/json")
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body), {"acknowledged": True})
        reqs = self.requests_to("/_index_template/logs")
        self.assertEqual(len(reqs), 1)
        r = reqs[0]
        self.assertEqual(r["method"], "PUT")
        self.assertIn("master_timeout=30s", json.dumps(r.get("query")))
        self.assertEqual(r["headers"].get("authorization"),
                         "Basic dXNlcjpwYXNz")
        self.assertEqual(r["headers"].get("x-opaque-id"), "abc")
        self.assertEqual(json.loads(r["body"]), json.loads(tpl))
        # The upstream now has it, and says so through spillway.
        st, _, body = self.sp.http("GET", "/_index_template/logs")
        self.assertEqual(st, 200, body)
        self.assertIn("logs", body.decode())

    def test_upstream_errors_come_back_unchanged(self):
        st, _, body = self.sp.http("GET", "/_index_template/no-such")
        st2, _, body2 = self.direct("GET", "/_index_template/no-such")
        self.assertEqual(st, st2)
        self.assertEqual(st, 404)
        self.assertEqual(json.loads(body)["status"], 404)

    def test_only_startup_calls_pass_by_default(self):
        refused = [("DELETE", "/logs-*"), ("PUT", "/_cluster/settings"),
                   ("GET", "/_security/user"), ("GET", "/_cat/indices"),
                   ("GET", "/%2e%2e/_cat/indices"), ("GET", "//_cat/indices"),
                   ("GET", "/logs/./_search"), ("POST", "/logs/_delete_by_query"),
                   ("GET", "/no-such-index/_doc/1"), ("POST", "/_license"),
                   ("DELETE", "/_index_template/x/../../logs")]
        for method, path in refused:
            with self.subTest(method=method, path=path):
                st, _, body = self.sp.http(method, path, b"{}",
                                           content_type="application/json")
                self.assertEqual(st, 403, body)
                self.assertEqual(json.loads(body)["error"]["type"],
                                 "security_exception")
        self.assertEqual([r["path"] for r in self.emu.requests()
                          if r["path"] != "/_bulk"], [])
        m = self.sp.metrics()
        self.assertEqual(m.get1("spillway_passthrough_refused_total"),
                         len(refused))
        allowed = [("GET", "/"), ("HEAD", "/"), ("GET", "/_license"),
                   ("GET", "/_cluster/health"),
                   ("PUT", "/_index_template/logs"),
                   ("GET", "/_ilm/policy/p"), ("PUT", "/_ilm/policy/p"),
                   ("HEAD", "/_alias/logs"), ("PUT", "/logs-000001"),
                   ("GET", "/logs-000001/_alias/logs")]
        for method, path in allowed:
            with self.subTest(method=method, path=path):
                st, _, body = self.sp.http(
                    method, path, b'{"index_patterns":["logs-*"]}'
                    if "template" in path else
                    b'{"policy":{"phases":{}}}' if "_ilm" in path and
                    method == "PUT" else None,
                    content_type="application/json")
                self.assertNotEqual(st, 403, body)
        self.assertEqual(len([r for r in self.emu.requests()
                              if r["path"] != "/_bulk"]), len(allowed))


    def test_sniffing_never_passed_through(self):
        st, hd, body = self.sp.http("GET", "/_nodes/http")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body), {"nodes": {}})
        self.assertEqual(hd.get("x-elastic-product"), "Elasticsearch")
        self.assertEqual([r for r in self.emu.requests()
                          if r["path"].startswith("/_nodes")], [])

    def test_bulk_keeps_index_id_routing_and_forwards_deletes(self):
        body = (b'{"index":{"_id":"a1","routing":"r1"}}\n{"x":1}\n'
                b'{"create":{"_index":"other","_id":"b1"}}\n{"x":2}\n'
                b'{"delete":{"_id":"a1"}}\n')
        st, _, resp = self.sp.bulk(body, path="/myidx/_bulk")
        self.assertEqual(st, 200, resp)
        self.assertEqual([list(i.values())[0]["status"]
                          for i in resp["items"]], [201, 201, 200])
        m = self.sp.wait_for(
            lambda m: m.forwarded("other") + m.forwarded("_spillway") == 3,
            "all three acknowledged", timeout=WAIT_TIMEOUT * 2)
        self.assertEqual(m.received("_spillway"), 1)
        got = self.emu.received()
        self.assertEqual([(d["_index"], d["_id"], d["source"]) for d in got],
                         [("myidx", "a1", '{"x":1}'),
                          ("other", "b1", '{"x":2}')])
        lines = []
        for r in self.emu.bulk_requests():
            lines += [json.loads(l) for l in r["body"].splitlines() if l]
        actions = [l for l in lines if set(l) & {"index", "create",
                                                  "delete"}]
        self.assertIn({"index": {"_id": "a1", "routing": "r1",
                                 "_index": "myidx"}}, actions)
        self.assertIn({"delete": {"_id": "a1", "_index": "myidx"}}, actions)

    def test_legacy_type_does_not_sink_the_batch(self):
        # Elasticsearch 8 refuses a whole request with "_type" in any
        # action; one old sender must not cost the others their events.
        body = (b'{"index":{"_index":"a","_type":"_doc","_id":"t1"}}\n'
                b'{"x":1}\n'
                b'{"index":{"_index":"a","_id":"t2"}}\n{"x":2}\n')
        st, _, resp = self.sp.bulk(body)
        self.assertEqual(st, 200, resp)
        m = self.sp.wait_for(lambda m: m.forwarded("other") == 2,
                             "both forwarded", timeout=WAIT_TIMEOUT * 2)
        self.assertEqual(m.dropped("other"), 0)
        self.assertEqual([(d["_index"], d["_id"], d["source"])
                          for d in self.emu.received()],
                         [("a", "t1", '{"x":1}'), ("a", "t2", '{"x":2}')])


@unittest.skipUnless(have_binary(), "spillway binary not built")
class UpstreamDown(ESSinkCase):

    def test_502_when_upstream_unreachable(self):
        emu = self.emulator()
        url = emu.url
        emu.stop()
        sp = self.spillway(url)
        st, hd, body = sp.http("GET", "/_license")
        self.assertEqual(st, 502, body)
        self.assertEqual(json.loads(body)["status"], 502)
        self.assertEqual(hd.get("x-elastic-product"), "Elasticsearch")
        # Still answered locally, upstream or not.
        st, _, body = sp.http("GET", "/_nodes/http")
        self.assertEqual((st, json.loads(body)), (200, {"nodes": {}}))


@unittest.skipUnless(have_binary(), "spillway binary not built")
class PassThroughPolicy(ESSinkCase):

    def test_all_and_none(self):
        emu = self.emulator()
        sp = self.start(config={"http": {"passthrough": "all"}},
                        rules=RULES, sink=emu.url)
        st, _, _ = sp.http("GET", "/no-such-index/_doc/1")
        self.assertEqual(st, 404)
        n = len(emu.requests())
        st, _, _ = sp.http("GET", "/%2e%2e/_cat/indices")
        self.assertNotEqual(st, 403)   # passed on: the cluster answers
        self.assertEqual(len(emu.requests()), n + 1)
        self.finish(sp)
        sp = self.start(config={"http": {"passthrough": "none"}},
                        rules=RULES, sink=emu.url)
        n = len(emu.requests())
        st, _, body = sp.http("GET", "/")
        self.assertEqual(st, 403, body)
        self.assertEqual(len(emu.requests()), n)


if __name__ == "__main__":
    unittest.main()
