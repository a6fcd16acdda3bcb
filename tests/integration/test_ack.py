"""Acknowledgements end to end (SPEC §4, "Acknowledgements"): with
"ack": "sink" a _bulk answer waits for the cluster and says, item by item,
what became of each event: the cluster's own answer when it was
forwarded or refused, 201/429 at once when it was shed, 503 when it could
not be delivered.  A shipper that retries what is not acknowledged loses
nothing across a cluster outage and a proxy crash."""

import http.client
import json
import os
import shutil
import tempfile
import threading
import time
import unittest
import urllib.request

from harness import (Emulator, Spillway, WAIT_TIMEOUT, accounting_errors,
                     free_port, summarize)
from test_es_sink import ESSinkCase

RULES = {
    "classes": [
        {"name": "critical", "priority": 0,
         "match": [{"field": "level", "regex": "^ERROR$"}]},
        {"name": "debug", "priority": 9, "rate": 1, "burst": 1,
         "match": [{"field": "level", "regex": "^DEBUG$"}]},
    ],
    "default": {"name": "other", "priority": 5},
}


def bulk(pairs):
    """NDJSON bulk body from (action dict, source dict) pairs."""
    out = []
    for a, s in pairs:
        out.append(json.dumps(a, separators=(",", ":")))
        out.append(json.dumps(s, separators=(",", ":")))
    return "\n".join(out) + "\n"


def items(resp):
    """[(op, item)] of a bulk response."""
    return [next(iter(i.items())) for i in resp["items"]]


class Background(threading.Thread):
    """One HTTP request on its own connection, answered later."""

    def __init__(self, port, path, body, timeout=60):
        super().__init__(daemon=True)
        self.port, self.path, self.body = port, path, body
        self.timeout = timeout
        self.status = self.data = self.error = None
        self.start()

    def run(self):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port,
                                           timeout=self.timeout)
            c.request("POST", self.path, body=self.body.encode(),
                      headers={"Content-Type": "application/x-ndjson"})
            r = c.getresponse()
            self.status, self.data = r.status, json.loads(r.read())
            c.close()
        except Exception as e:      # noqa: BLE001 - reported by result()
            self.error = e

    def result(self, timeout=WAIT_TIMEOUT * 2):
        self.join(timeout)
        if self.is_alive():
            raise AssertionError("no answer to %s within %ss"
                                 % (self.path, timeout))
        if self.error is not None:
            raise self.error
        return self.status, self.data


class AckCase(ESSinkCase):

    def spillway(self, emu_url, rules=RULES, top=None, **sink):
        cfg = {"sink": {"batch_events": 50, "flush_ms": 20,
                        "concurrency": 2, "timeout_ms": 5000,
                        "max_retries": 3}}
        cfg["sink"].update(sink)
        cfg.update(top or {})
        return self.start(config=cfg, rules=rules, sink=emu_url)

    def dropped(self, m, cls, reason):
        return m.get1("spillway_events_dropped_total", **{"class": cls,
                                                          "reason": reason})

    def hung(self, emu, n):
        self.wait_until(lambda: emu.stats()["rejected"]["hung"] >= n,
                        "%d bulk requests held by the emulator" % n)


class Answers(AckCase):

    def test_items_carry_the_clusters_own_answers(self):
        emu = self.emulator()
        emu.config(item_status_by_field={"level": {"poison": 400}})
        sp = self.spillway(emu.url)
        body = bulk([
            ({"index": {"_index": "a", "_id": "x1"}}, {"level": "ERROR"}),
            ({"create": {"_index": "a", "_id": "x1"}}, {"level": "ERROR"}),
            ({"index": {"_index": "a"}}, {"level": "INFO", "n": 3}),
            ({"index": {"_index": "a"}}, {"level": "poison"}),
        ])
        st, _, resp = sp.bulk(body)
        self.assertEqual(st, 200, resp)
        got = items(resp)
        self.assertEqual([(op, i["status"]) for op, i in got],
                         [("index", 201), ("create", 409), ("index", 201),
                          ("index", 400)])
        self.assertTrue(resp["errors"])
        # Stored before the answer, and the answer's ids are the stored ones.
        stored = {(r["_index"], r["_id"]) for r in emu.received()}
        self.assertEqual(stored, {("a", "x1"), ("a", got[2][1]["_id"])})
        ok = got[0][1]
        self.assertEqual((ok["result"], ok["_version"], ok["_primary_term"]),
                         ("created", 1, 1))
        self.assertIn("_seq_no", ok)
        self.assertEqual(ok["_shards"]["successful"], 1)
        # The cluster's own error objects, not spillway's.
        conflict = got[1][1]["error"]
        self.assertEqual(conflict["type"],
                         "version_conflict_engine_exception")
        self.assertIn("version conflict, document already exists",
                      conflict["reason"])
        self.assertIn("index_uuid", conflict)
        self.assertEqual(got[3][1]["error"],
                         {"type": "document_parsing_exception",
                          "reason": "[1:1] failed to parse: injected by "
                                    "emulator"})
        m = sp.wait_settled(4)
        self.assertEqual(m.forwarded("critical"), 2)     # 409 is stored
        self.assertEqual(m.forwarded("other"), 1)
        self.assertEqual(self.dropped(m, "other", "sink_rejected"), 1)

        # filter_path is applied to the cluster's answers.
        st, _, resp = sp.bulk(bulk([
            ({"create": {"_index": "a", "_id": "x1"}}, {"level": "ERROR"}),
            ({"index": {"_index": "a", "_id": "x2"}}, {"level": "ERROR"})]),
            path="/_bulk?filter_path=errors,items.*.status,items.*.error")
        self.assertEqual(set(resp), {"errors", "items"})
        self.assertEqual(resp["items"][1], {"index": {"status": 201}})
        self.assertEqual(set(resp["items"][0]["create"]), {"status", "error"})

    def test_answer_waits_for_the_cluster(self):
        emu = self.emulator("--latency-ms", "300")
        sp = self.spillway(emu.url)
        t0 = time.monotonic()
        st, _, resp = sp.bulk(bulk([({"index": {"_index": "w"}},
                                     {"level": "ERROR", "n": 1})]))
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertEqual(st, 200)
        # Already stored when the sender hears 201.
        self.assertEqual([r["_id"] for r in emu.received()],
                         [resp["items"][0]["index"]["_id"]])

    def test_admit_answers_at_admission(self):
        emu = self.emulator()
        emu.config(hang={"count": 1})
        sp = self.spillway(emu.url, top={"ack": "admit"}, timeout_ms=1000)
        st, _, resp = sp.bulk(bulk([({"index": {"_index": "w"}},
                                     {"level": "ERROR"})]))
        self.assertEqual(st, 200)
        self.assertEqual(resp["items"][0]["index"]["status"], 201)
        # Answered while the cluster still holds the request.
        self.assertEqual(emu.received(), [])
        sp.wait_settled(1)


class Shed(AckCase):

    def test_shed_items_never_wait_for_the_sink(self):
        emu = self.emulator()
        emu.config(hang={"count": 100})
        sp = self.spillway(emu.url, timeout_ms=60000)
        # The one token of "debug" goes to this event, which then waits.
        first = Background(sp.ports["http"], "/_bulk",
                           bulk([({"index": {"_index": "d"}},
                                  {"level": "DEBUG", "n": 0})]))
        self.hung(emu, 1)
        st, _, resp = sp.bulk(bulk([({"index": {"_index": "d"}},
                                     {"level": "DEBUG", "n": i})
                                    for i in (1, 2)]), timeout=10)
        self.assertEqual(st, 200)
        self.assertEqual([i["status"] for _, i in items(resp)], [201, 201])
        self.assertFalse(resp["errors"])
        m = sp.metrics()
        self.assertEqual(self.dropped(m, "debug", "rate_limit"), 2)
        emu.config(hang=None)
        self.assertTrue(first.is_alive())
        sp.stop()      # the held one is answered 503 at shutdown
        st, resp = first.result()
        self.assertEqual(items(resp)[0][1]["status"], 503)

    def test_shed_answers_429_with_reject(self):
        emu = self.emulator()
        sp = self.spillway(emu.url, top={"shed_response": "reject"})
        st, _, resp = sp.bulk(bulk([({"index": {"_index": "d"}},
                                     {"level": "DEBUG", "n": i})
                                    for i in range(3)]))
        got = [i for _, i in items(resp)]
        self.assertEqual([i["status"] for i in got], [201, 429, 429])
        self.assertEqual(got[1]["error"]["type"],
                         "es_rejected_execution_exception")
        self.assertEqual(len(emu.received()), 1)
        sp.wait_settled(3)


class Undelivered(AckCase):

    def test_retries_exhausted_answer_503_and_are_not_sent_later(self):
        emu = self.emulator()
        emu.config(reject_whole=503)
        sp = self.spillway(emu.url, max_retries=1)
        st, _, resp = sp.bulk(bulk([({"index": {"_index": "u"}},
                                     {"level": "ERROR", "n": i})
                                    for i in range(3)]))
        got = [i for _, i in items(resp)]
        self.assertEqual([i["status"] for i in got], [503] * 3)
        self.assertEqual(got[0]["error"]["type"],
                         "unavailable_shards_exception")
        m = sp.wait_settled(3)
        self.assertEqual(self.dropped(m, "critical", "unacknowledged"), 3)
        self.assertEqual(self.dropped(m, "critical", "sink_error"), 0)
        emu.config(reject_whole=None)
        st, _, resp = sp.bulk(bulk([({"index": {"_index": "u"}},
                                     {"level": "ERROR", "n": 9})]))
        self.assertEqual(items(resp)[0][1]["status"], 201)
        sp.wait_settled(4)
        self.assertEqual([json.loads(r["source"])["n"]
                          for r in emu.received()], [9])

    def test_deadline_takes_queued_events_out(self):
        emu = self.emulator()
        emu.config(hang={"count": 1})
        sp = self.spillway(emu.url, top={"ack_timeout_ms": 800},
                           batch_events=1, concurrency=1, timeout_ms=3000,
                           flush_ms=0)
        r1 = Background(sp.ports["http"], "/_bulk",
                        bulk([({"index": {"_index": "q"}},
                               {"level": "ERROR", "n": 0})]))
        self.hung(emu, 1)
        # One event of r2 goes to the sink (its forming batch); the two
        # others wait in the queue behind the held request.
        r2 = Background(sp.ports["http"], "/_bulk",
                        bulk([({"index": {"_index": "q"}},
                               {"level": "ERROR", "n": i})
                              for i in (1, 2, 3)]))
        for r in (r1, r2):
            st, resp = r.result()
            self.assertEqual(st, 200)
            self.assertEqual({i["status"] for _, i in items(resp)}, {503})
        # The cluster lets go of the held request; what the sink had is
        # delivered, what was queued never is.
        m = sp.wait_settled(4, timeout=WAIT_TIMEOUT * 2)
        self.assertEqual(self.dropped(m, "critical", "unacknowledged"), 2)
        self.assertEqual(m.forwarded("critical"), 2)
        self.assertEqual(m.get1("spillway_ack_deadline_total"), 2)
        self.assertEqual(m.get1("spillway_ack_late_inflight_total"), 2)
        self.assertEqual(sorted(json.loads(r["source"])["n"]
                                for r in emu.received()), [0, 1])

    def test_waiting_requests_are_bounded_by_the_queue(self):
        emu = self.emulator()
        emu.config(hang={"count": 100})
        sp = self.spillway(emu.url, top={"queue": {"max_events": 4}},
                           timeout_ms=60000)
        r1 = Background(sp.ports["http"], "/_bulk",
                        bulk([({"index": {"_index": "b"}},
                               {"level": "ERROR", "n": i})
                              for i in range(3)]))
        self.hung(emu, 1)
        st, _, resp = sp.bulk(bulk([({"index": {"_index": "b"}},
                                     {"level": "ERROR", "n": i})
                                    for i in (3, 4)]), timeout=10)
        self.assertEqual(st, 429)
        self.assertEqual(resp["error"]["type"],
                         "es_rejected_execution_exception")
        m = sp.metrics()
        self.assertEqual(m.get1("spillway_ack_refused_total"), 1)
        self.assertEqual(m.get1("spillway_ack_waiting_events"), 3)
        self.assertEqual(m.received("critical"), 3)
        self.assertTrue(r1.is_alive())
        sp.stop()
        st, resp = r1.result()
        self.assertEqual({i["status"] for _, i in items(resp)}, {503})

    def test_shutdown_answers_every_waiting_item(self):
        emu = self.emulator()
        emu.config(hang={"count": 100})
        sp = self.spillway(emu.url, top={"shutdown_timeout_ms": 300},
                           timeout_ms=60000)
        r1 = Background(sp.ports["http"], "/_bulk",
                        bulk([({"index": {"_index": "s"}},
                               {"level": "ERROR", "n": i})
                              for i in range(2)]))
        self.hung(emu, 1)
        m = sp.metrics()
        self.assertEqual(accounting_errors(m), [], summarize(m))
        self.assertEqual(sp.stop(), 0, sp.stderr())
        st, resp = r1.result()
        self.assertEqual(st, 200)
        got = [i for _, i in items(resp)]
        self.assertEqual([i["status"] for i in got], [503, 503])
        self.assertIn("shutting down", got[0]["error"]["reason"])
        self.assertEqual(emu.received(), [])


class Ingest(AckCase):

    def test_ingest_has_one_status_for_the_request(self):
        emu = self.emulator()
        sp = self.spillway(emu.url, max_retries=0)
        st, _, data = sp.http("POST", "/ingest",
                              '{"level":"ERROR","n":1}\n{"n":2}\n')
        self.assertEqual((st, json.loads(data)),
                         (200, {"received": 2, "forwarded": 2, "shed": 0,
                                "rejected": 0, "unacknowledged": 0}))
        self.assertEqual(len(emu.received()), 2)
        emu.config(reject_whole=503)
        st, _, data = sp.http("POST", "/ingest", '[{"n":3},{"n":4}]')
        self.assertEqual(st, 503)
        self.assertEqual(json.loads(data)["unacknowledged"], 2)
        m = sp.wait_settled(4)
        self.assertEqual(self.dropped(m, "other", "unacknowledged"), 2)


# ------------------------------------------------- a shipper through storms

class Shipper(threading.Thread):
    """Sends priority-0 documents with Logstash's delivery rules: a failed
    request is sent again, and so is every item answered 429 or 5xx; an
    item answered 2xx or 409 (already stored) is acknowledged and
    forgotten."""

    def __init__(self, port_of, n, batch=100):
        super().__init__(daemon=True)
        self.port_of = port_of
        self.todo = ["d%05d" % i for i in range(n)]
        self.batch = batch
        self.acked = set()
        self.duplicates = 0         # 409: stored by an earlier attempt
        self.failed_requests = 0
        self.retried_items = 0
        self.refused = []           # anything else: a defect
        self.stop_at = time.monotonic() + 240
        self.start()

    def body(self, ids):
        return bulk([({"create": {"_index": "ship", "_id": i}},
                      {"level": "ERROR", "id": i}) for i in ids])

    def run(self):
        while self.todo and time.monotonic() < self.stop_at:
            ids = self.todo[:self.batch]
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port_of(),
                                               timeout=30)
                c.request("POST", "/_bulk", body=self.body(ids).encode(),
                          headers={"Content-Type": "application/x-ndjson"})
                r = c.getresponse()
                status, data = r.status, r.read()
                c.close()
            except (OSError, http.client.HTTPException):
                self.failed_requests += 1
                time.sleep(0.05)
                continue
            if status != 200:
                self.failed_requests += 1
                time.sleep(0.05)
                continue
            again = []
            for i, (_, it) in zip(ids, items(json.loads(data))):
                st = it["status"]
                if 200 <= st < 300 or st == 409:
                    self.acked.add(i)
                    self.duplicates += st == 409
                elif st == 429 or st >= 500:
                    again.append(i)
                else:
                    self.refused.append((i, it))
            self.retried_items += len(again)
            self.todo = again + self.todo[len(ids):]


def control(url, what, body=None):
    """The emulator's control API: GET (body None) or POST JSON."""
    req = urllib.request.Request(
        url + "/_emulator/" + what, method="GET" if body is None else "POST",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


class Storms(AckCase):

    def start_emulator(self, port, data):
        emu = Emulator("--data", data, listen="127.0.0.1:%d" % port,
                       record=False)
        self.addCleanup(emu.cleanup)
        return emu

    def start_spillway(self, cfg, port):
        sp = Spillway(config=cfg, rules=RULES, sink=None, listen=False,
                      args=["--listen-tcp", "127.0.0.1:0", "--listen-http",
                            "127.0.0.1:%d" % port, "--admin", "127.0.0.1:0"])
        self.procs.append(sp)
        self.addCleanup(sp.cleanup)
        return sp.start()

    def test_nothing_acknowledged_is_lost(self):
        tmp = tempfile.mkdtemp(prefix="spillway-ack-")
        self.addCleanup(shutil.rmtree, tmp, True)
        data = os.path.join(tmp, "es-data.jsonl")
        eport, hport = free_port(), free_port()
        emu = self.start_emulator(eport, data)
        url = "http://127.0.0.1:%d" % eport
        cfg = {"sink": {"url": url, "batch_events": 100, "flush_ms": 20,
                        "concurrency": 2, "timeout_ms": 1000,
                        "max_retries": 2},
               "ack_timeout_ms": 5000}
        sp = self.start_spillway(cfg, hport)
        n = 12000      # still shipping when spillway is killed
        shipper = Shipper(lambda: hport, n)

        def progress(k, what):
            self.wait_until(lambda: len(shipper.acked) >= k or
                            not shipper.is_alive(), what,
                            timeout=WAIT_TIMEOUT * 6)
        # The cluster goes away for longer than spillway's retry budget.
        progress(500, "500 acknowledged")
        emu.stop()
        down_at = len(shipper.acked)
        time.sleep(2.0)
        emu = self.start_emulator(eport, data)
        # spillway is killed outright, with a request of the shipper's
        # waiting for the cluster, and started again.
        progress(down_at + 500, "500 more acknowledged")
        # The cluster holds every bulk request, so that one of the
        # shipper's is surely waiting for its answer when spillway dies.
        control(url, "config", {"hang": {"count": 1000}})
        self.wait_until(lambda: control(url, "stats")["rejected"]["hung"]
                        >= 1, "a bulk request held by the cluster")
        self.wait_until(lambda: sp.metrics().get1(
            "spillway_ack_waiting_requests") >= 1,
            "a shipper's request waiting for its answer")
        sp.proc.kill()
        sp.proc.wait(10)
        control(url, "config", {"hang": None})
        sp.exit_code = "killed"
        sp = self.start_spillway(cfg, hport)
        shipper.join(WAIT_TIMEOUT * 10)
        self.assertFalse(shipper.is_alive(), "the shipper did not finish")
        self.assertEqual(shipper.refused, [])
        self.assertEqual(len(shipper.acked), n)

        with urllib.request.urlopen(url + "/_emulator/received",
                                    timeout=30) as r:
            ids = [json.loads(l)["_id"] for l in r.read().splitlines()]
        # Every acknowledged event is stored, and stored once.
        self.assertEqual(set(ids), shipper.acked)
        self.assertEqual(len(ids), len(set(ids)))
        print("\n  shipper: %d acknowledged, %d duplicates (409), %d "
              "items retried, %d failed requests"
              % (len(shipper.acked), shipper.duplicates,
                 shipper.retried_items, shipper.failed_requests))
        # Both storms were felt: items answered 503 during the outage, a
        # request cut off by the crash.
        self.assertGreater(shipper.retried_items, 0)
        self.assertGreater(shipper.failed_requests, 0)
        m = sp.wait_settled(0)
        self.assertEqual(accounting_errors(m), [], summarize(m))


if __name__ == "__main__":
    unittest.main()
