"""Memory is bounded as a whole (SPEC §5, §7): one budget, queue.max_bytes,
covers the queued and in-flight events at their real cost (each record's
allocation, not only its bytes), the request bodies being read and
inflated, the parsed items of requests being handled or waiting for their
answers, and the sink's batches.  A request is refused (429) before its
body is read or inflated when the budget has no room for it; a _bulk
request may hold no more actions than the queue may hold events.  The
attack: eight gzip bombs of tiny items at once; every one is answered,
and the peak RSS stays within the budget plus a stated margin."""

import gzip
import http.client
import json
import os
import threading
import unittest

from harness import SpillwayTestCase, proc_status
from test_overload import ASAN, Emulator

ITEM = b'{"index":{}}\n{}\n'


MiB = 1 << 20

# What spillway may use beyond queue.max_bytes under these attacks: the
# inflater's growing buffer (up to twice what it holds), allocator slack
# and, under ASan, its redzones and the quarantine kept small below.
MARGIN_KIB = 40 * 1024


def asan_env():
    if not ASAN:
        return None
    # Freed memory waits in ASan's quarantine: keep it small.
    opts = [o for o in os.environ.get("ASAN_OPTIONS", "").split(":") if o]
    return {"ASAN_OPTIONS": ":".join(opts + ["quarantine_size_mb=8"])}


def post_all(port, bodies, timeout=120):
    """POST each gzip body to /_bulk at once; [(status, body)] in order."""
    got = [None] * len(bodies)

    def send(i):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            c.request("POST", "/_bulk", body=bodies[i], headers={
                "Content-Type": "application/x-ndjson",
                "Content-Encoding": "gzip"})
            r = c.getresponse()
            got[i] = (r.status, r.read())
        finally:
            c.close()
    ts = [threading.Thread(target=send, args=(i,))
          for i in range(len(bodies))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 60)
    return got


class Budget(SpillwayTestCase):

    def start_budget(self, max_bytes, **cfg):
        cfg.setdefault("queue", {})
        cfg["queue"].update({"max_events": 10000000, "max_bytes": max_bytes})
        sp = self.start(config=cfg, env=asan_env(),
                        sink=None if "sink" in cfg else "file")
        return sp, proc_status(sp.proc.pid, "VmRSS")

    def attack(self, actions, copies, budget=16 * MiB):
        """copies gzip bodies of this many tiny actions, all at once."""
        body = gzip.compress(ITEM * actions, 9)
        sp, base = self.start_budget(budget)
        return sp, base, post_all(sp.ports["http"], [body] * copies)

    def assert_bounded(self, sp, base, budget):
        grew = proc_status(sp.proc.pid, "VmHWM") - base
        self.assertLess(grew, budget // 1024 + MARGIN_KIB,
                        "peak RSS grew by %d KiB, budget %d KiB"
                        % (grew, budget // 1024))
        m = sp.metrics()
        self.assertLessEqual(m.get1("spillway_memory_peak_bytes"),
                             budget + 8 * MiB)
        return grew

    def test_bombs_past_the_budget_are_refused_before_inflating_further(self):
        # 1.2M actions each, 19 MB inflated: within max_body_bytes and the
        # queue's max_events, so only the memory budget stands in the way.
        # Each is cut off where the budget ends: 413 when it would not
        # fit even alone, 429 when the other requests' bodies hold part
        # of the budget (which depends on how they interleave).
        budget = 16 * MiB
        sp, base, got = self.attack(1200000, 8, budget)
        statuses = [g[0] for g in got]
        self.assertTrue(set(statuses) <= {413, 429}, statuses)
        for st, b in got:
            self.assertIn(b"memory budget", b)
        self.assert_bounded(sp, base, budget)
        m = sp.metrics()
        for code in (413, 429):
            self.assertEqual(m.get1("spillway_http_requests_rejected_total",
                                    listener="http", code=str(code)),
                             statuses.count(code))
        self.assertEqual(m.total("spillway_events_received_total"), 0)
        # Everything given back, and spillway goes on.
        self.assertEqual(m.get1("spillway_memory_used_bytes",
                                part="requests"), 0)
        st, _, _ = sp.http("POST", "/_bulk", ITEM * 3)
        self.assertEqual(st, 200)
        sp.wait_settled(3)

    def test_requests_that_never_fit_are_413(self):
        # 1M actions of 16 bytes: each item's parse and its answer alone
        # take more than the 16 MiB budget.
        budget = 16 * MiB
        sp, base, got = self.attack(1000000, 4, budget)
        self.assertEqual([g[0] for g in got], [413] * 4, got[:1])
        self.assertIn(b"memory budget", got[0][1])
        self.assert_bounded(sp, base, budget)
        m = sp.metrics()
        self.assertEqual(m.get1("spillway_http_requests_rejected_total",
                                listener="http", code="413"), 4)

    def test_records_count_at_their_real_cost(self):
        # Two requests of 20,000 events of 2 bytes: 80 KB of event bytes,
        # which an 8 MiB queue would hold a hundred times over; but each
        # record's own allocation counts too, so while the cluster holds
        # every request the queue fills at well under 40,000 and sheds
        # the rest.
        emu = Emulator("--fail-mode", "hang:1000")
        self.addCleanup(emu.cleanup)
        budget = 8 * MiB
        sp, base = self.start_budget(budget, ack="admit", sink={
            "url": emu.url, "concurrency": 1, "batch_events": 1000,
            "compression": "none", "timeout_ms": 2000})
        for _ in range(2):
            st, _, _ = sp.http("POST", "/_bulk", ITEM * 20000, timeout=60)
            self.assertEqual(st, 200)
        m = sp.metrics()
        queued = m.total("spillway_events_queued")
        inflight = m.total("spillway_events_inflight")
        full = m.get1("spillway_events_dropped_total", reason="queue_full",
                      **{"class": "default"})
        self.assertEqual(queued + inflight + full, 40000)
        self.assertGreater(full, 0)
        cost = m.get1("spillway_memory_used_bytes", part="queued")
        self.assertLessEqual(cost, budget)
        # Each queued record is counted at well over its 2 bytes.
        self.assertGreater(cost / queued, 100)
        self.assertLessEqual(m.get1("spillway_queue_bytes"), 2 * queued)
        self.assertLessEqual(m.get1("spillway_memory_peak_bytes"),
                             budget + MiB)
        emu.config(hang=None)
        sp.wait_settled(40000)

    def test_mixed_load_answers_every_request_within_the_budget(self):
        # Eight bodies of 20,000 actions each (about 9 MiB of items,
        # answers and records apiece), against a budget of 16 MiB: some
        # are let in, the rest refused with 429; every one is answered,
        # every accepted event is accounted for, and memory stays bounded.
        budget = 16 * MiB
        sp, base, got = self.attack(20000, 8, budget)
        statuses = sorted(g[0] for g in got)
        self.assertTrue(set(statuses) <= {200, 429}, statuses)
        self.assert_bounded(sp, base, budget)
        ok = [json.loads(b) for st, b in got if st == 200]
        m = sp.metrics()
        self.assertEqual(m.get1("spillway_http_requests_rejected_total",
                                listener="http", code="429"),
                         statuses.count(429))
        n = sum(len(r["items"]) for r in ok)
        self.assertEqual(n, 20000 * statuses.count(200))
        sp.wait_settled(n)
        m = self.check_accounting(sp)
        fwd = m.total("spillway_events_forwarded_total")
        self.assertEqual(len(sp.sink_lines()), fwd)
        created = sum(1 for r in ok for it in r["items"]
                      if it["index"]["status"] == 201)
        self.assertEqual(created, n)

    def test_eight_bombs_answered_and_bounded(self):
        n = 400000                      # 6.1 MiB inflated, 400k actions
        body = gzip.compress(ITEM * n, 9)
        env = None
        if ASAN:
            # Freed memory waits in ASan's quarantine: keep it small.
            opts = [o for o in os.environ.get("ASAN_OPTIONS", "").split(":")
                    if o]
            env = {"ASAN_OPTIONS": ":".join(opts + ["quarantine_size_mb=8"])}
        sp = self.start(config={"queue": {"max_events": 10000}}, env=env)
        base = proc_status(sp.proc.pid, "VmRSS")
        got = []

        def send():
            c = http.client.HTTPConnection("127.0.0.1", sp.ports["http"],
                                           timeout=120)
            c.request("POST", "/_bulk", body=body, headers={
                "Content-Type": "application/x-ndjson",
                "Content-Encoding": "gzip"})
            r = c.getresponse()
            got.append((r.status, r.read()))
            c.close()
        ts = [threading.Thread(target=send) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(180)
        self.assertEqual([st for st, _ in got], [413] * 8, got[:1])
        self.assertIn(b"more actions than spillway's queue may hold",
                      got[0][1])
        # Each bomb held at most its inflated body and 10,001 parsed
        # actions, one at a time: far below 8 x (6 MiB + 400k actions).
        grew = proc_status(sp.proc.pid, "VmHWM") - base
        self.assertLess(grew, 64 * 1024, "peak RSS grew by %d KiB" % grew)
        m = sp.metrics()
        self.assertEqual(m.get1("spillway_http_requests_rejected_total",
                                listener="http", code="413"), 8)
        self.assertEqual(m.total("spillway_events_received_total"), 0)
        # And spillway goes on.
        st, _, _ = sp.http("POST", "/_bulk", ITEM * 3)
        self.assertEqual(st, 200)
        sp.wait_settled(3)


if __name__ == "__main__":
    unittest.main()
