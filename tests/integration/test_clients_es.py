"""Real Elasticsearch clients through spillway to tests/peers/es_emulator.py:
a Logstash 8 start-up and bulk session replayed byte for byte,
python3-elasticsearch's helpers.bulk, rsyslog's omelasticsearch; and
scripted emulator faults (a hang, a connection reset, per-item 429, 409
and 400 at known positions), with every event accounted for."""

import gzip
import json
import socket
import unittest

from harness import WAIT_TIMEOUT, accounting_errors, have_binary, summarize
from test_es_sink import ESSinkCase, RULES, ev, line

try:
    from elasticsearch import Elasticsearch, helpers
except ImportError:          # python3-elasticsearch not installed
    Elasticsearch = None

try:
    import test_rsyslog
except ImportError:
    test_rsyslog = None

LOGSTASH_UA = ("logstash/8.11.3 (OS=Linux-6.1.0-amd64-amd64; JVM=Eclipse "
               "Adoptium 17.0.9) logstash-output-elasticsearch/11.18.0")

TEMPLATE = {
    "index_patterns": "ecs-logstash-*",
    "version": 80001,
    "priority": 200,
    "template": {
        "settings": {"index": {"refresh_interval": "5s",
                               "number_of_shards": 1}},
        "mappings": {"dynamic_templates": [], "properties": {
            "@timestamp": {"type": "date"},
            "message": {"type": "text"}}},
    },
}


class ClientCase(ESSinkCase):

    def accounted(self, m):
        errs = accounting_errors(m)
        self.assertEqual(errs, [], "\n".join(errs) + "\n" + summarize(m))

    def sources(self, emu):
        return sorted(g["source"] for g in emu.received())


@unittest.skipUnless(have_binary(), "spillway binary not built")
class LogstashReplay(ClientCase):

    def ls_headers(self, extra=None):
        h = {"User-Agent": LOGSTASH_UA,
             "Authorization": "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="}
        h.update(extra or {})
        return h

    def same_as_upstream(self, emu, sp, method, path, body=None,
                         direct_first=True):
        h = self.ls_headers({"Content-Type": "application/json"}
                            if body is not None else None)
        if direct_first:
            want = sp._request(emu.port, method, path, body, h)
            got = sp._request(sp.ports["http"], method, path, body, h)
        else:
            got = sp._request(sp.ports["http"], method, path, body, h)
            want = sp._request(emu.port, method, path, body, h)
        self.assertEqual((got[0], got[2]), (want[0], want[2]),
                         "%s %s through spillway" % (method, path))
        self.assertEqual(got[1].get("x-elastic-product"), "Elasticsearch")
        self.assertEqual(got[1].get("content-type"),
                         want[1].get("content-type"))
        return got

    def test_logstash8_session(self):
        emu = self.emulator()
        n = 25
        sp = self.spillway(emu.url, batch_events=n, flush_ms=50)

        st, hd, body = self.same_as_upstream(emu, sp, "HEAD", "/")
        self.assertEqual((st, body), (200, b""))
        st, _, body = self.same_as_upstream(emu, sp, "GET", "/")
        self.assertEqual(json.loads(body)["version"]["number"][:2], "8.")
        st, _, body = self.same_as_upstream(emu, sp, "GET", "/_license")
        self.assertEqual(json.loads(body)["license"]["status"], "active")
        st, _, body = self.same_as_upstream(
            emu, sp, "HEAD", "/_index_template/ecs-logstash")
        self.assertEqual((st, body), (404, b""))
        tpl = json.dumps(TEMPLATE).encode()
        st, _, body = self.same_as_upstream(
            emu, sp, "PUT", "/_index_template/ecs-logstash", tpl,
            direct_first=False)
        self.assertEqual((st, json.loads(body)), (200, {"acknowledged": True}))
        # The template reached the upstream through spillway.
        puts = [r for r in emu.requests()
                if r["path"] == "/_index_template/ecs-logstash"
                and r["method"] == "PUT"]
        self.assertEqual(len(puts), 2)
        self.assertEqual(json.loads(puts[0]["body"]), TEMPLATE)
        self.assertEqual(puts[0]["headers"]["user-agent"], LOGSTASH_UA)
        st, _, _ = sp._request(sp.ports["http"], "HEAD",
                               "/_index_template/ecs-logstash", None,
                               self.ls_headers())
        self.assertEqual(st, 200)

        sources = ['{"@timestamp":"2026-11-22T10:11:%02d.000Z",'
                   '"@version":"1","message":"line %d \\"q\\" \\u00e9",'
                   '"host":{"name":"h1"},"event":{"original":"x"}}'
                   % (i, i) for i in range(n)]
        body = "".join('{"index":{"_index":"ecs-logstash"}}\n' + s + "\n"
                       for s in sources).encode()
        st, hd, resp = sp._request(
            sp.ports["http"], "POST",
            "/_bulk?filter_path=errors,items.*.error,items.*.status",
            gzip.compress(body),
            self.ls_headers({"Content-Type": "application/json",
                             "Content-Encoding": "gzip"}))
        self.assertEqual(st, 200, resp)
        want = ('{"errors":false,"items":['
                + ",".join(['{"index":{"status":201}}'] * n) + "]}").encode()
        self.assertEqual(resp, want)
        self.assertEqual(hd.get("x-elastic-product"), "Elasticsearch")

        m = sp.wait_for(lambda m: m.forwarded("other") == n
                        and m.queued("other") == 0
                        and m.inflight("other") == 0,
                        "%d events forwarded" % n, timeout=WAIT_TIMEOUT * 2)
        got = emu.received()
        self.assertEqual([g["source"] for g in got], sources)
        self.assertEqual({g["_index"] for g in got}, {"ecs-logstash"})
        self.assertEqual(m.received("other"), n)
        self.assertEqual(m.forwarded("other"), n)
        self.assertEqual(m.dropped("other"), 0)
        self.accounted(m)


@unittest.skipUnless(have_binary(), "spillway binary not built")
@unittest.skipIf(Elasticsearch is None, "python3-elasticsearch not installed")
class PythonClient(ClientCase):

    def test_helpers_bulk(self):
        emu = self.emulator()
        sp = self.spillway(emu.url)
        n = 300
        es = Elasticsearch(["http://127.0.0.1:%d" % sp.ports["http"]],
                           timeout=20)
        self.addCleanup(es.close)
        docs = [{"_index": "py-client", "_source": ev(i, kind="py")}
                for i in range(n)]
        ok, errors = helpers.bulk(es, docs, chunk_size=70)
        self.assertEqual((ok, errors), (n, []))
        m = sp.wait_for(lambda m: m.forwarded("other") == n
                        and m.inflight("other") == 0,
                        "%d events forwarded" % n, timeout=WAIT_TIMEOUT * 2)
        got = emu.received()
        self.assertEqual({g["_index"] for g in got}, {"py-client"})
        self.assertEqual(sorted(json.loads(g["source"])["n"] for g in got),
                         list(range(n)))
        self.assertEqual(m.dropped("other"), 0)
        self.accounted(m)


@unittest.skipUnless(have_binary(), "spillway binary not built")
@unittest.skipUnless(test_rsyslog is not None and test_rsyslog.HAVE_RSYSLOG,
                     "rsyslogd with imptcp and omelasticsearch not installed")
class RsyslogClient(ClientCase):

    def test_omelasticsearch_through_spillway(self):
        emu = self.emulator()
        sp = self.spillway(emu.url, rules={"classes": [],
                                           "default": {"name": "default"}})
        rs = test_rsyslog.Rsyslogd(sp.ports["http"])
        self.addCleanup(rs.cleanup)
        # Without esVersion.major >= 8 omelasticsearch sends "_type",
        # which Elasticsearch 8 (and the emulator) reject.
        with open(rs.conf) as f:
            conf = f.read()
        with open(rs.conf, "w") as f:
            f.write(conf.replace('bulkmode="on"',
                                 'bulkmode="on" esVersion.major="8"'))
        rs.start()
        n = 500
        s = socket.create_connection(("127.0.0.1", rs.port), timeout=10)
        try:
            for i in range(n):
                s.sendall(b"<14>Jun  1 12:00:00 testhost app[42]: "
                          b"event seq=%06d \"quoted\" \\ done\n" % i)
        finally:
            s.close()
        try:
            m = sp.wait_for(lambda m: m.forwarded("default") >= n
                            and m.inflight("default") == 0,
                            "%d events forwarded" % n, timeout=60)
        except AssertionError as e:
            raise AssertionError("%s\nrsyslogd output:\n%s\nerrorfile:\n%s"
                                 % (e, rs.output(), rs.errorfile()))
        got = emu.received()
        self.assertEqual({g["_index"] for g in got}, {"rsyslog-test"})
        docs = [json.loads(g["source"]) for g in got]
        self.assertEqual(sorted(int(d["msg"].split("seq=")[1].split()[0])
                                for d in docs), list(range(n)))
        self.assertTrue(all(d["msg"].endswith('"quoted" \\ done')
                            for d in docs), docs[0])
        self.assertEqual(m.forwarded("default"), n)
        self.assertEqual(m.dropped("default"), 0)
        self.assertEqual(rs.errorfile(), "")
        self.accounted(m)


@unittest.skipUnless(have_binary(), "spillway binary not built")
class FaultsThroughSpillway(ClientCase):
    """One bulk request of exactly N events (batch_events=N), so that item
    positions name known events."""

    N = 12

    def one_batch(self, emu, **sink):
        cfg = {"batch_events": self.N, "flush_ms": 2000, "concurrency": 1,
               "max_retries": 3}
        cfg.update(sink)
        sp = self.spillway(emu.url, **cfg)
        docs = [ev(i) for i in range(self.N)]
        sp.send_tcp(b"".join(line(d).encode() + b"\n" for d in docs))
        return sp, [line(d) for d in docs]

    def settle(self, sp):
        m = sp.wait_for(lambda m: m.received("other") == self.N
                        and m.queued("other") == 0
                        and m.inflight("other") == 0,
                        "every event settled", timeout=WAIT_TIMEOUT * 3)
        self.accounted(m)
        return m

    def first_request_sources(self, emu):
        first = emu.bulk_requests()[0]["body"].splitlines()
        return first[1::2]

    def test_hang_times_out_and_is_retried(self):
        emu = self.emulator()
        emu.config(hang={"count": 1})
        sp, sources = self.one_batch(emu, timeout_ms=1000)
        m = self.settle(sp)
        self.assertEqual(m.forwarded("other"), self.N)
        self.assertEqual(m.dropped("other"), 0)
        codes = self.sink_codes(m)
        self.assertEqual(codes.get("timeout"), 1, codes)
        self.assertEqual(codes.get("200"), 1, codes)
        self.assertEqual(emu.stats()["rejected"]["hung"], 1)
        # The held request was abandoned, never executed: each once.
        self.assertEqual(self.sources(emu), sorted(sources))

    def test_hang_every_attempt_is_sink_error(self):
        emu = self.emulator()
        emu.config(hang={"count": None})
        sp, sources = self.one_batch(emu, timeout_ms=300, max_retries=2)
        m = self.settle(sp)
        self.assertEqual(m.forwarded("other"), 0)
        self.assertEqual(m.dropped("other", "sink_error"), self.N)
        self.assertEqual(self.sink_codes(m), {"timeout": 3})
        self.assertEqual(emu.received(), [])

    def test_connection_reset_is_retried(self):
        emu = self.emulator()
        emu.config(reset={"count": 2})
        sp, sources = self.one_batch(emu)
        m = self.settle(sp)
        self.assertEqual(m.forwarded("other"), self.N)
        self.assertEqual(m.dropped("other"), 0)
        self.assertEqual(emu.stats()["rejected"]["reset"], 2)
        codes = self.sink_codes(m)
        self.assertEqual(codes.get("200"), 1, codes)
        self.assertEqual(sum(codes.values()), 3, codes)
        self.assertEqual(self.sources(emu), sorted(sources))

    def test_item_429_at_positions_retried_never_dropped(self):
        emu = self.emulator()
        pos = [0, 5, 11]
        emu.config(item_status={"status": 429, "positions": pos,
                                "requests": 2})
        sp, sources = self.one_batch(emu)
        m = self.settle(sp)
        self.assertEqual(m.forwarded("other"), self.N)
        self.assertEqual(m.dropped("other"), 0)
        self.assertEqual(self.sources(emu), sorted(sources))
        reqs = emu.bulk_requests()
        first = self.first_request_sources(emu)
        self.assertEqual(len(first), self.N)
        # Each retry carried exactly the rejected items: the second
        # request (three items) was rejected again at position 0 only,
        # and the third carried that one item.
        retried = [r["body"].splitlines()[1::2] for r in reqs[1:]]
        self.assertEqual(len(retried), 2, retried)
        self.assertEqual(sorted(retried[0]), sorted(first[p] for p in pos))
        self.assertEqual(retried[1], [retried[0][0]])
        self.assertEqual(emu.stats()["items"]["by_status"]["429"], 4)

    def test_item_409_counts_as_forwarded(self):
        emu = self.emulator()
        emu.config(item_status={"status": 409, "positions": [1, 2],
                                "requests": 1})
        sp, sources = self.one_batch(emu)
        m = self.settle(sp)
        self.assertEqual(m.forwarded("other"), self.N)
        self.assertEqual(m.dropped("other"), 0)
        self.assertEqual(len(emu.bulk_requests()), 1)
        first = self.first_request_sources(emu)
        self.assertEqual(self.sources(emu),
                         sorted(s for i, s in enumerate(first)
                                if i not in (1, 2)))

    def test_item_400_is_sink_rejected_for_those_items(self):
        emu = self.emulator()
        emu.config(item_status={"status": 400, "positions": [0, 4, 9],
                                "requests": 1})
        sp, sources = self.one_batch(emu)
        m = self.settle(sp)
        self.assertEqual(m.dropped("other", "sink_rejected"), 3)
        self.assertEqual(m.dropped("other"), 3)
        self.assertEqual(m.forwarded("other"), self.N - 3)
        self.assertEqual(len(emu.bulk_requests()), 1)
        first = self.first_request_sources(emu)
        self.assertEqual(sorted(first), sorted(sources))
        self.assertEqual(self.sources(emu),
                         sorted(s for i, s in enumerate(first)
                                if i not in (0, 4, 9)))

    def test_item_429_by_fraction_never_dropped(self):
        emu = self.emulator()
        emu.config(item_status={"status": 429, "fraction": 0.3, "seed": 11,
                                "requests": 2})
        sp, sources = self.one_batch(emu, max_retries=4)
        m = self.settle(sp)
        self.assertEqual(m.forwarded("other"), self.N)
        self.assertEqual(m.dropped("other"), 0)
        self.assertEqual(self.sources(emu), sorted(sources))
        st = emu.stats()
        self.assertGreater(st["rejected"]["injected_items"], 0)
        self.assertEqual(st["items"]["total"],
                         self.N + st["rejected"]["injected_items"])


if __name__ == "__main__":
    unittest.main()
