"""The file sink: what it wrote is what was acknowledged.

A regular file is written by a thread of its own, so the event loop never
waits on a disk.  A line counts as forwarded once it is written; a write
that fails counts what was not written as sink_error; SIGHUP reopens the
file (log rotation) with nothing lost or doubled; a shutdown writes what
was handed over.
"""

import os
import resource
import signal

from harness import SpillwayTestCase, ndjson

RULES = {"classes": [
    {"name": "plain", "priority": 1,
     "match": [{"field": "kind", "regex": "^plain$"}]}]}


def line(i, pad=60):
    return {"kind": "plain", "i": i, "pad": "x" * pad}


class TestFileSink(SpillwayTestCase):

    def test_every_line_written_once_in_order(self):
        sp = self.start(rules=RULES)
        n = 20000
        sp.send_tcp(ndjson(line(i) for i in range(n)))
        m = sp.wait_settled(n)
        self.assertEqual(m.forwarded("plain"), n)
        got = [int(x.split(b'"i":')[1].split(b",")[0])
               for x in sp.sink_lines()]
        self.assertEqual(got, list(range(n)))

    def test_sighup_reopens_the_file(self):
        sp = self.start(rules=RULES)
        sp.send_tcp(ndjson(line(i) for i in range(100)))
        sp.wait_settled(100)
        os.rename(sp.out, sp.out + ".1")
        sp.signal(signal.SIGHUP)
        sp.wait_for(lambda m: m.get1("spillway_rules_reloads_total",
                                     result="ok") == 1, "the reload", 10)
        sp.send_tcp(ndjson(line(i) for i in range(100, 250)))
        m = sp.wait_settled(250)
        self.assertEqual(m.forwarded("plain"), 250)
        with open(sp.out + ".1", "rb") as f:
            old = f.read().splitlines()
        new = sp.sink_lines()
        self.assertEqual(len(old), 100)
        self.assertEqual(len(new), 150)
        self.assertIn(b'"i":0,', old[0])
        self.assertIn(b'"i":100,', new[0])

    def test_a_failed_write_counts_what_was_lost(self):
        # The file may not grow past 4096 bytes: the write after fails
        # (EFBIG; SIGXFSZ stays ignored across exec).
        def small_files():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        sp = self.start(rules=RULES, preexec=small_files)
        n = 200
        sp.send_tcp(ndjson(line(i) for i in range(n)))
        m = sp.wait_settled(n)
        fwd = m.forwarded("plain")
        lost = m.dropped("plain", "sink_error")
        self.assertEqual(fwd + lost, n)
        self.assertGreater(lost, 0)
        data = sp.sink_bytes()
        self.assertEqual(len(data), 4096)
        # Only what was written whole counts as forwarded.
        self.assertLessEqual(fwd, data.count(b"\n"))
        self.assertIn("write", sp.stderr())
        st = sp.stats()
        self.assertEqual(st["sink"]["state"], "down")

    def test_shutdown_writes_what_was_handed_over(self):
        sp = self.start(rules=RULES)
        n = 5000
        sp.send_tcp(ndjson(line(i) for i in range(n)))
        sp.wait_received(n)
        self.assertEqual(sp.stop(), 0)
        self.assertEqual(len(sp.sink_lines()), n)
