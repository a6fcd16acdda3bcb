"""_bulk query parameters and item metadata (SPEC §4): with an
Elasticsearch sink, what an item can carry itself (pipeline, routing,
require_alias, require_data_stream, list_executed_pipelines) is added to
the action lines that lack it; what only a request can carry (refresh,
timeout, wait_for_active_shards, include_source_on_error, _source...) goes
on the sink's request, which then holds only events that asked for the
same; item metadata is forwarded as sent.  Nothing is dropped silently:
an unknown parameter is refused as Elasticsearch refuses it, and without
Elasticsearch behind the parameters are counted as ignored."""

import json
import unittest
import urllib.parse

from test_es_sink import ESSinkCase


def ndjson(*objs):
    return "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in objs)


class BulkParams(ESSinkCase):

    def sent(self, emu):
        """(query dict, [action dicts]) of each bulk request the sink made."""
        out = []
        for r in emu.bulk_requests():
            q = dict(urllib.parse.parse_qsl(r["query"] or "",
                                            keep_blank_values=True))
            q.pop("filter_path", None)
            lines = [json.loads(l) for l in r["body"].splitlines() if l]
            acts = [l for l in lines if set(l) & {"index", "create",
                                                  "update", "delete"}]
            out.append((q, acts))
        return out

    def test_item_and_request_parameters_reach_the_cluster(self):
        emu = self.emulator()
        emu.call("PUT", "/_ingest/pipeline/p1", {"processors": []})
        emu.call("PUT", "/_ingest/pipeline/p2", {"processors": []})
        sp = self.spillway(emu.url, flush_ms=50)
        body = ndjson(
            {"create": {"_index": "a", "_id": "1"}}, {"n": 1},
            {"index": {"_index": "a", "pipeline": "p2", "routing": "own"}},
            {"n": 2},
            {"index": {"_index": "a", "_id": "3", "version": 7,
                       "version_type": "external",
                       "dynamic_templates": {"n": "long"}}}, {"n": 3})
        st, _, resp = sp.bulk(body, path="/_bulk?pipeline=p1&routing=r1&"
                              "refresh=wait_for&timeout=1m&"
                              "wait_for_active_shards=1&"
                              "include_source_on_error=false&"
                              "filter_path=errors,items.*.status")
        self.assertEqual(st, 200, resp)
        self.assertEqual(resp, {"errors": False, "items": [
            {"create": {"status": 201}}, {"index": {"status": 201}},
            {"index": {"status": 201}}]})
        # Another sender, no parameters: a request of its own.
        st, _, resp = sp.bulk(ndjson({"create": {"_index": "b"}}, {"n": 4}))
        self.assertEqual(st, 200, resp)
        sp.wait_settled(4)
        reqs = self.sent(emu)
        by_q = {tuple(sorted(q.items())): acts for q, acts in reqs}
        self.assertEqual(len(reqs), 2, reqs)
        self.assertEqual(sorted(by_q), [
            (), (("include_source_on_error", "false"), ("refresh",
                                                         "wait_for"),
                 ("timeout", "1m"), ("wait_for_active_shards", "1"))])
        acts = by_q[next(k for k in by_q if k)]
        self.assertEqual(acts, [
            {"create": {"_index": "a", "_id": "1", "pipeline": "p1",
                        "routing": "r1"}},
            # its own pipeline and routing win
            {"index": {"_index": "a", "pipeline": "p2", "routing": "own"}},
            # item metadata as sent, plus the URL's defaults
            {"index": {"_index": "a", "_id": "3", "version": 7,
                       "version_type": "external",
                       "dynamic_templates": {"n": "long"},
                       "pipeline": "p1", "routing": "r1"}}])
        self.assertEqual(by_q[()], [{"create": {"_index": "b"}}])

    def test_boolean_item_parameters(self):
        emu = self.emulator()
        sp = self.spillway(emu.url)
        st, _, resp = sp.bulk(
            ndjson({"index": {"_index": "a"}}, {"n": 1},
                   {"index": {"_index": "a", "require_alias": False}},
                   {"n": 2}),
            path="/_bulk?require_alias&list_executed_pipelines=true")
        self.assertEqual(st, 200, resp)
        sp.wait_settled(2)
        (q, acts), = self.sent(emu)
        self.assertEqual(q, {})
        self.assertEqual(acts, [
            {"index": {"_index": "a", "require_alias": True,
                       "list_executed_pipelines": True}},
            {"index": {"_index": "a", "require_alias": False,
                       "list_executed_pipelines": True}}])
        st, _, resp = sp.bulk(ndjson({"index": {}}, {"n": 1}),
                              path="/_bulk?require_alias=yes")
        self.assertEqual(st, 400, resp)
        self.assertIn("only [true] or [false]", resp["error"]["reason"])

    def test_unknown_parameter_is_refused(self):
        emu = self.emulator()
        sp = self.spillway(emu.url)
        st, _, resp = sp.bulk(ndjson({"index": {"_index": "a"}}, {"n": 1}),
                              path="/_bulk?refresh=true&colour=blue")
        self.assertEqual(st, 400, resp)
        self.assertEqual(resp["error"]["reason"],
                         "request [/_bulk] contains unrecognized parameter: "
                         "[colour]")
        m = sp.metrics()
        self.assertEqual(m.total("spillway_events_received_total"), 0)


class WithoutElasticsearch(ESSinkCase):

    def test_parameters_are_counted_as_ignored(self):
        sp = self.start()       # the file sink
        st, _, resp = sp.bulk(ndjson({"index": {"_index": "a"}}, {"n": 1}),
                              path="/_bulk?pipeline=p1&refresh=true")
        self.assertEqual(st, 200, resp)
        st, _, resp = sp.bulk(ndjson({"index": {"_index": "a"}}, {"n": 2}),
                              path="/_bulk?filter_path=errors")
        self.assertEqual(resp, {"errors": False})
        m = sp.wait_settled(2)
        self.assertEqual(m.get1("spillway_bulk_params_ignored_total"), 1)
        # Forwarded as sent: nothing was added to the events.
        self.assertEqual([json.loads(l) for l in sp.sink_lines()],
                         [{"n": 1}, {"n": 2}])


if __name__ == "__main__":
    unittest.main()
