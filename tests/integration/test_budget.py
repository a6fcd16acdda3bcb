"""Memory is bounded as a whole (SPEC §5, §7): a _bulk request may hold no
more actions than the queue may hold events, and while the requests
waiting for their answers hold that much, a new one is refused (429)
before its body is inflated.  The attack: eight gzip bombs of tiny items
at once; every one is answered, and the peak RSS stays far below what
they inflate to."""

import gzip
import http.client
import os
import threading
import unittest

from harness import SpillwayTestCase
from test_overload import ASAN

ITEM = b'{"index":{}}\n{}\n'


def vm(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith(key + ":"):
                return int(l.split()[1])
    raise AssertionError(key)


class Budget(SpillwayTestCase):

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
        base = vm(sp.proc.pid, "VmRSS")
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
        grew = vm(sp.proc.pid, "VmHWM") - base
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
