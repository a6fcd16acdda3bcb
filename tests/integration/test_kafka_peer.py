"""The Kafka test peer itself: build/kafka_mock (librdkafka's mock cluster)
driven through kafkapeer.KafkaMock, checked against kcat as an independent
client.  Both must exist where the integration tests run: a missing one is
a failure, not a skip."""

import collections
import os
import signal
import subprocess
import time
import unittest

import kafkapeer
from kafkapeer import KafkaMock, KafkaPeerError, kcat_consume, kcat_produce


class KafkaPeerTest(unittest.TestCase):

    maxDiff = None

    def setUp(self):
        self.assertTrue(os.access(kafkapeer.KCAT, os.X_OK),
                        "%s is missing (Debian package kcat)" % kafkapeer.KCAT)
        kafkapeer.peer_path()       # fails loudly when not built

    def produce(self, kafka, topic, lines, **kw):
        r = kcat_produce(kafka.bootstrap, topic, lines, **kw)
        self.assertEqual(r.returncode, 0, r.stderr.decode("utf-8", "replace"))
        return r

    def test_keyed_messages_seen_by_watermarks_dump_and_kcat(self):
        lines = ["svc-%d:{\"n\":%d,\"msg\":\"hello\\tworld\"}" % (i % 5, i)
                 for i in range(40)]
        with KafkaMock(topics={"logs": 4}) as kafka:
            self.assertRegex(kafka.bootstrap, r"^127\.0\.0\.1:\d+$")
            self.assertEqual(kafka.watermarks("logs"),
                             {p: (0, 0) for p in range(4)})
            self.assertEqual(kafka.dump("logs"), [])
            self.produce(kafka, "logs", lines)

            msgs = kafka.dump("logs")
            want = collections.Counter(
                tuple(l.encode().split(b":", 1)) for l in lines)
            self.assertEqual(collections.Counter((k, v) for _, _, k, v in msgs),
                             want)
            # Per partition: offsets 0..n-1, n matching the watermarks.
            wm = kafka.watermarks("logs")
            self.assertEqual(sorted(wm), [0, 1, 2, 3])
            by_part = collections.defaultdict(list)
            for p, o, k, v in msgs:
                by_part[p].append(o)
            for p, (low, high) in wm.items():
                self.assertEqual(low, 0)
                self.assertEqual(by_part.get(p, []), list(range(high)))
            self.assertEqual(kafka.count("logs"), 40)
            # A key always lands on one partition.
            parts_of = collections.defaultdict(set)
            for p, _, k, _ in msgs:
                parts_of[k].add(p)
            self.assertTrue(all(len(s) == 1 for s in parts_of.values()),
                            parts_of)
            # kcat, an independent consumer, reads exactly the same.
            self.assertEqual(kcat_consume(kafka.bootstrap, "logs",
                                          timeout=30), msgs)

            # An explicit partition is kept.
            self.produce(kafka, "logs", ["pinned:x"], partition=2)
            last = [m for m in kafka.dump("logs") if m[0] == 2][-1]
            self.assertEqual(last, (2, wm[2][1], b"pinned", b"x"))

    def test_dump_keeps_every_byte(self):
        lines = [b"nokey", b":emptykey", b"k:", b"-:-", b"a\\b:c\td\\n\r",
                 "\u00e9t\u00e9:caf\u00e9".encode()]
        with KafkaMock(topics={"t": 1}) as kafka:
            self.produce(kafka, "t", lines)
            self.produce(kafka, "t", [b"k:"], args=["-Z"])   # NULL value
            got = kafka.dump("t")
            self.assertEqual(got, [
                (0, 0, None, b"nokey"),
                (0, 1, b"", b"emptykey"),
                (0, 2, b"k", b""),
                (0, 3, b"-", b"-"),
                (0, 4, b"a\\b", b"c\td\\n\r"),
                (0, 5, "\u00e9t\u00e9".encode(), "caf\u00e9".encode()),
                (0, 6, b"k", None),
            ])
            self.assertEqual(kcat_consume(kafka.bootstrap, "t"), got)

    def test_pushed_produce_errors(self):
        with KafkaMock(topics={"logs": 4}) as kafka:
            # Permanent: the next produce fails, the one after succeeds.
            kafka.push_errors("MSG_SIZE_TOO_LARGE")
            r = kcat_produce(kafka.bootstrap, "logs", ["a:1"])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"Message size too large", r.stderr)
            self.assertEqual(kafka.count("logs"), 0)
            self.produce(kafka, "logs", ["a:2"])
            self.assertEqual([m[2:] for m in kafka.dump("logs")],
                             [(b"a", b"2")])

            # Retriable: the producer retries and the message lands once.
            kafka.push_errors("NOT_LEADER_FOR_PARTITION", count=3)
            self.produce(kafka, "logs", ["b:3"])
            self.assertEqual(sorted(m[2:] for m in kafka.dump("logs")),
                             [(b"a", b"2"), (b"b", b"3")])

            # Errors pushed and then cleared never fire.
            kafka.push_errors("INVALID_MSG", count=5)
            kafka.clear_errors()
            self.produce(kafka, "logs", ["c:4"])
            self.assertEqual(kafka.count("logs"), 3)

    def test_topic_error(self):
        with KafkaMock(topics={"logs": 2}) as kafka:
            kafka.topic_error("logs", "TOPIC_AUTHORIZATION_FAILED")
            with self.assertRaisesRegex(KafkaPeerError,
                                        "TOPIC_AUTHORIZATION_FAILED"):
                kafka.watermarks("logs")
            r = kcat_produce(kafka.bootstrap, "logs", ["a:1"],
                             args=["-X", "message.timeout.ms=1000"])
            self.assertNotEqual(r.returncode, 0)
            kafka.topic_error("logs", "NO_ERROR")
            self.produce(kafka, "logs", ["a:1"])
            self.assertEqual(kafka.count("logs"), 1)

    def test_broker_down_and_up(self):
        with KafkaMock(topics={"logs": 2}) as kafka:
            self.produce(kafka, "logs", ["a:1"])
            kafka.broker_down(1)
            with self.assertRaisesRegex(KafkaPeerError,
                                        "logs: every broker is down"):
                kafka.watermarks("logs")
            with self.assertRaisesRegex(KafkaPeerError,
                                        "logs: every broker is down"):
                kafka.dump("logs")
            r = kcat_produce(kafka.bootstrap, "logs", ["b:2"],
                             args=["-X", "message.timeout.ms=2000"],
                             timeout=30)
            self.assertNotEqual(r.returncode, 0)
            kafka.broker_up(1)
            self.produce(kafka, "logs", ["c:3"])
            self.assertEqual(sorted(m[2:] for m in kafka.dump("logs")),
                             [(b"a", b"1"), (b"c", b"3")])

    def test_one_broker_of_three_down(self):
        with KafkaMock(brokers=3, topics={"logs": 2}) as kafka:
            self.assertEqual(len(kafka.bootstrap.split(",")), 3)
            kafka.set_leader("logs", 0, 2)
            kafka.set_leader("logs", 1, 3)
            kafka.broker_down(2)
            with self.assertRaisesRegex(KafkaPeerError,
                                        r"logs \[0\]: leader 2 is down"):
                kafka.watermarks("logs")
            # Partition 1's leader is up: it still takes messages.
            self.produce(kafka, "logs", ["a:1"], partition=1)
            kafka.broker_up(2)
            self.assertEqual(kafka.watermarks("logs"), {0: (0, 0), 1: (0, 1)})
            with self.assertRaisesRegex(KafkaPeerError, "broker id"):
                kafka.broker_down(4)

    def test_rtt_delays_answers(self):
        with KafkaMock(topics={"logs": 1}) as kafka:
            kafka.watermarks("logs")        # connected before timing
            kafka.rtt(1, 300)
            t = time.monotonic()
            kafka.watermarks("logs")        # Metadata + ListOffsets
            self.assertGreaterEqual(time.monotonic() - t, 0.6)
            kafka.rtt(1, 0)
            t = time.monotonic()
            kafka.watermarks("logs")
            self.assertLess(time.monotonic() - t, 0.6)

    def test_retention_drops_oldest_batches(self):
        # The mock keeps about 5 MiB of batches per partition: the low
        # watermark moves, high - low is what dump returns.
        value = "x" * 1000
        with KafkaMock(topics={"logs": 1}) as kafka:
            for round_ in range(2):
                self.produce(kafka, "logs",
                             ["k%d:%s" % (i, value) for i in range(4000)],
                             timeout=60)
            (low, high), = kafka.watermarks("logs").values()
            self.assertEqual(high, 8000)
            self.assertGreater(low, 0)
            msgs = kafka.dump("logs")
            self.assertEqual(len(msgs), high - low)
            self.assertEqual(msgs[0][1], low)
            self.assertEqual(msgs[-1][1:3], (high - 1, b"k3999"))

    def test_command_errors_keep_the_peer_running(self):
        with KafkaMock(topics={"logs": 1}) as kafka:
            for line, msg in [("nosuch", "unknown command"),
                              ("push", "usage: push"),
                              ("push BOGUS_ERROR", "unknown error name"),
                              ("push MSG_SIZE_TOO_LARGE 0", "count"),
                              ("topic logs 2", "TOPIC_ALREADY_EXISTS"),
                              ("topic other x", "partitions"),
                              ("rtt 1", "usage: rtt"),
                              ("watermarks nosuch", "no such topic"),
                              ("", "empty command")]:
                with self.assertRaisesRegex(KafkaPeerError, msg):
                    kafka.command(line)
            kafka.proc.stdin.write(b"x" * 5000 + b"\n")
            kafka.proc.stdin.flush()
            self.assertEqual(kafka._readline(10),
                             b"error line longer than 4095 bytes\n")
            kafka.create_topic("other", 3)
            self.assertEqual(kafka.watermarks("other"),
                             {0: (0, 0), 1: (0, 0), 2: (0, 0)})
            self.assertEqual(kafka.command("quit"), "")
            self.assertEqual(kafka.proc.wait(30), 0)

    def test_signals_exit_cleanly(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            kafka = KafkaMock(topics={"logs": 2})
            kafka.start()
            try:
                self.produce(kafka, "logs", ["a:1"])
                kafka.dump("logs")
                kafka.proc.send_signal(sig)
                self.assertEqual(kafka.proc.wait(30), 0, kafka.stderr())
            finally:
                kafka.close()

    def test_bad_command_line(self):
        for args in (["--brokers", "0"], ["--topic", "logs"],
                     ["--topic", "logs:0"], ["stray"]):
            r = subprocess.run([kafkapeer.peer_path()] + args,
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=30)
            self.assertEqual(r.returncode, 1, args)
            self.assertNotIn(b"listening kafka", r.stderr)


if __name__ == "__main__":
    unittest.main()
