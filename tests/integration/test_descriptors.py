"""Descriptor exhaustion (SPEC §7: a flood of connections): under a low
RLIMIT_NOFILE, a flood of idle connections to the ingest ports does not
lock the operators out, nothing crashes, the refusals are counted, and
ingest answers again within a second of the flood ending."""

import resource
import socket
import time
import unittest

from harness import SpillwayTestCase

NOFILE = 256


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


class Descriptors(SpillwayTestCase):

    def flood(self, port, n):
        socks = []
        for _ in range(n):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                break
            socks.append(s)
        self.addCleanup(lambda: [s.close() for s in socks])
        return socks

    def test_admin_answers_through_a_flood_and_ingest_recovers(self):
        sp = self.start(preexec=low_nofile)
        socks = self.flood(sp.ports["http"], NOFILE + 100)
        socks += self.flood(sp.ports["tcp"], 100)
        # The admin port is answered while the flood holds everything.
        for _ in range(5):
            st, _, body = sp.admin("GET", "/healthz", timeout=10)
            self.assertEqual(st, 200, body)
        m = sp.metrics()
        shed = (m.get1("spillway_connections_refused_total",
                       listener="http", reason="descriptors") +
                m.get1("spillway_connections_refused_total",
                       listener="tcp", reason="descriptors"))
        self.assertGreater(shed, 0)
        self.assertTrue(sp.alive())
        for s in socks:
            s.close()
        # Within a second of the flood ending, ingest answers again.
        deadline = time.monotonic() + 1.0 + 2.0    # generous on CI
        while True:
            try:
                st, _, _ = sp.http("POST", "/ingest", b'{"n":1}\n',
                                   timeout=2)
                if st == 200:
                    break
            except OSError:
                pass
            self.assertLess(time.monotonic(), deadline,
                            "ingest did not answer again")
            time.sleep(0.05)
        sp.send_tcp(b'{"n":2}\n')
        m = sp.wait_settled(2)
        self.assertEqual(m.forwarded("default"), 2)


if __name__ == "__main__":
    unittest.main()
