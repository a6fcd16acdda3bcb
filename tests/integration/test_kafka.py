"""Kafka both ways, against librdkafka's mock cluster in its own process.

Sink: exact delivery (counts per topic, keys, content), {class} topics,
retriable errors retried to success, permanent errors as sink_rejected, a
broker outage with shedding by priority and exact accounting after it,
high RTT as push-back, divert to a Kafka topic.

Source: a consumer group reads NDJSON messages through classify -> shape
-> sink, commits only what is final (a restart reads nothing twice), two
instances share a topic's partitions and forward every message exactly
once, and when one is killed the other takes its partitions over.
"""

import json
import os
import signal
import threading
import time
import unittest

from harness import Emulator, SpillwayTestCase, ndjson, proc_status
from kafkapeer import KafkaMock, kcat_consume, kcat_produce

RULES = {
    "classes": [
        {"name": "critical", "priority": 0,
         "match": [{"field": "level", "regex": "^ERROR$"}]},
        {"name": "apps", "priority": 2,
         "match": [{"field": "level", "regex": "^INFO$"}]},
        {"name": "debug", "priority": 9,
         "match": [{"field": "level", "regex": "^DEBUG$"}]},
    ],
    "default": {"name": "other", "priority": 5},
}

# Group membership settles fast on the mock cluster with these.
GROUP_PROPS = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
               "topic.metadata.refresh.interval.ms": 1000}


def event(i, level="INFO", service=None, **extra):
    d = {"seq": i, "level": level, "service": service or "svc%d" % (i % 7),
         "message": "event number %d" % i}
    d.update(extra)
    return d


def line(d):
    return json.dumps(d, separators=(",", ":")).encode()


def summarize_kafka(m):
    return {k[0]: v for k, v in m.items()
            if k[0].startswith("spillway_kafka_source")}


class KafkaCase(SpillwayTestCase):

    def kafka(self, topics, brokers=1):
        k = KafkaMock(brokers=brokers, topics=topics)
        k.start()
        self.addCleanup(k.close)
        return k

    def sink_spillway(self, kafka, topic, rules=RULES, sink=None, divert=None,
                      control=None, queue=None, **extra):
        cfg = {"sink": {"url": "kafka://%s/%s" % (kafka.bootstrap, topic),
                        "timeout_ms": 30000}}
        cfg["sink"].update(sink or {})
        if divert:
            cfg["divert"] = {"url": divert}
        if control:
            cfg["control"] = control
        if queue:
            cfg["queue"] = queue
        cfg.update(extra)
        return self.start(config=cfg, rules=rules, sink=None)

    def settled(self, sp, n, timeout=60):
        return sp.wait_settled(n, timeout=timeout)

    def wait_count(self, kafka, topic, n, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            c = kafka.count(topic)
            if c >= n or time.monotonic() > deadline:
                return c
            time.sleep(0.1)


class TestKafkaSink(KafkaCase):

    def test_exact_delivery_keys_and_content(self):
        kafka = self.kafka({"logs": 4})
        sp = self.sink_spillway(kafka, "logs", sink={"key": "service"})
        docs = [event(i) for i in range(300)]
        sp.send_tcp(ndjson(docs))
        m = self.settled(sp, 300)
        self.assertEqual(m.forwarded("apps"), 300)
        self.assertEqual(m.get1("spillway_sink_requests_total", sink="main",
                                code="NO_ERROR"), 300)
        msgs = kafka.dump("logs")
        self.assertEqual(len(msgs), 300)
        self.assertEqual(sorted(v for _, _, _, v in msgs),
                         sorted(line(d) for d in docs))
        # The key is the service; one key always lands on one partition.
        part_of = {}
        for p, _, k, v in msgs:
            self.assertEqual(k, json.loads(v)["service"].encode())
            part_of.setdefault(k, set()).add(p)
        self.assertEqual(len(part_of), 7)
        self.assertTrue(all(len(ps) == 1 for ps in part_of.values()))
        # An independent consumer agrees.
        seen = kcat_consume(kafka.bootstrap, "logs")
        self.assertEqual(sorted(v for _, _, _, v in seen),
                         sorted(v for _, _, _, v in msgs))

    def test_class_topics(self):
        kafka = self.kafka({"ev-critical": 1, "ev-apps": 2, "ev-other": 1,
                            "ev-debug": 1, "ev-_spillway": 1})
        sp = self.sink_spillway(kafka, "ev-{class}")
        docs = ([event(i, "ERROR") for i in range(20)]
                + [event(100 + i, "INFO") for i in range(30)]
                + [event(200 + i, "WARN") for i in range(10)])
        sp.send_tcp(ndjson(docs))
        self.settled(sp, 60)
        got = {t: sorted(json.loads(v)["seq"] for _, _, _, v in kafka.dump(t))
               for t in ("ev-critical", "ev-apps", "ev-other", "ev-debug")}
        self.assertEqual(got["ev-critical"], list(range(20)))
        self.assertEqual(got["ev-apps"], list(range(100, 130)))
        self.assertEqual(got["ev-other"], list(range(200, 210)))
        self.assertEqual(got["ev-debug"], [])
        # Messages without a key field configured carry no key.
        self.assertTrue(all(k is None for _, _, k, _ in kafka.dump("ev-apps")))

    def test_retriable_errors_are_retried_to_success(self):
        kafka = self.kafka({"logs": 2})
        sp = self.sink_spillway(kafka, "logs")
        kafka.push_errors("NOT_LEADER_FOR_PARTITION", 3)
        kafka.push_errors("REQUEST_TIMED_OUT", 2)
        docs = [event(i) for i in range(200)]
        sp.send_tcp(ndjson(docs))
        m = self.settled(sp, 200)
        self.assertEqual(m.forwarded("apps"), 200)
        self.assertEqual(m.dropped("apps"), 0)
        msgs = kafka.dump("logs")
        self.assertEqual(sorted(json.loads(v)["seq"] for _, _, _, v in msgs),
                         list(range(200)))

    def test_permanent_error_is_sink_rejected(self):
        kafka = self.kafka({"logs": 1})
        sp = self.sink_spillway(kafka, "logs",
                                sink={"kafka": {"message.max.bytes": 2000}})
        big = event(1, message="x" * 5000)
        docs = [event(0), big, event(2)]
        sp.send_tcp(ndjson(docs))
        m = self.settled(sp, 3)
        self.assertEqual(m.dropped("apps", "sink_rejected"), 1)
        self.assertEqual(m.forwarded("apps"), 2)
        self.assertEqual(sorted(json.loads(v)["seq"]
                                for _, _, _, v in kafka.dump("logs")), [0, 2])

    def test_broker_error_on_produce_is_sink_rejected(self):
        # The broker refuses a whole produce request for good.
        kafka = self.kafka({"logs": 1})
        sp = self.sink_spillway(kafka, "logs", sink={"kafka": {"linger.ms": 200}})
        kafka.push_errors("MSG_SIZE_TOO_LARGE", 1)
        docs = [event(i) for i in range(50)]
        sp.send_tcp(ndjson(docs))
        m = self.settled(sp, 50)
        rejected = m.dropped("apps", "sink_rejected")
        self.assertGreater(rejected, 0)
        self.assertEqual(m.forwarded("apps") + rejected, 50)
        self.assertEqual(kafka.count("logs"), m.forwarded("apps"))

    def test_high_rtt_is_pressure(self):
        kafka = self.kafka({"logs": 1})
        sp = self.sink_spillway(kafka, "logs",
                                control={"target_latency_ms": 200})
        kafka.rtt(-1, 600)
        sp.send_tcp(ndjson([event(i) for i in range(20)]))
        m = self.settled(sp, 20, timeout=30)
        self.assertEqual(m.forwarded("apps"), 20)
        self.assertGreater(m.get1("spillway_sink_pressure_signals_total",
                                  sink="main", signal="slow"), 0)
        deadline = time.monotonic() + 10
        while sp.stats()["control"]["decreases"] == 0:
            self.assertLess(time.monotonic(), deadline,
                            "slow deliveries never counted as pressure")
            time.sleep(0.1)

    def test_broker_down_sheds_low_priority_first(self):
        kafka = self.kafka({"logs": 2})
        # The queue holds the outage's priority-0 events (~400/s for
        # 10 s): the sink cannot take even priority 0 while it is down.
        sp = self.sink_spillway(kafka, "logs",
                                queue={"max_events": 8000},
                                sink={"batch_events": 200, "concurrency": 2})
        stop = threading.Event()
        sent = {"n": 0}

        def sender():
            s = sp.tcp_connect()
            i = 0
            try:
                while not stop.is_set():
                    batch = []
                    for _ in range(40):
                        lvl = ("ERROR", "INFO", "DEBUG", "INFO", "DEBUG")[i % 5]
                        batch.append(event(i, lvl))
                        i += 1
                    s.sendall(ndjson(batch))
                    sent["n"] = i
                    time.sleep(0.02)    # ~2000 events/s
            finally:
                s.close()

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        self.addCleanup(stop.set)
        time.sleep(2)
        kafka.broker_down(-1)
        pressured = False
        rss = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st = sp.stats()
            pressured = pressured or st["backpressure"]
            rss.append(proc_status(sp.proc.pid, "VmHWM"))
            time.sleep(0.5)
        kafka.broker_up(-1)
        time.sleep(3)
        stop.set()
        t.join(10)
        m = self.settled(sp, sent["n"], timeout=90)
        self.assertTrue(pressured, "no back-pressure during the outage")
        self.assertEqual(m.total("spillway_events_received_total")
                         - m.received("_spillway"), sent["n"])
        # Priority 0 lost nothing; the least important lost the most.
        self.assertEqual(m.dropped("critical"), 0)
        shed = {c: m.dropped(c) / max(m.received(c), 1)
                for c in ("critical", "apps", "debug")}
        self.assertGreater(shed["debug"], 0)
        # While the sink is down everything but priority 0 is shed alike;
        # around the outage the least important goes first.
        self.assertLessEqual(shed["apps"], shed["debug"] + 0.02, shed)
        # What the cluster holds is exactly what was forwarded.
        self.assertEqual(self.wait_count(
            kafka, "logs", m.total("spillway_events_forwarded_total")),
            m.total("spillway_events_forwarded_total"))
        # Memory stayed bounded by the queue, not by the outage.
        self.assertLess(max(rss), 200 * 1024, rss)

    def test_divert_to_kafka(self):
        kafka = self.kafka({"logs": 1, "shed": 1})
        rules = {"classes": [
            {"name": "debug", "priority": 9, "rate": 5, "burst": 5,
             "on_limit": "divert",
             "match": [{"field": "level", "regex": "^DEBUG$"}]}]}
        sp = self.sink_spillway(kafka, "logs", rules=rules,
                                divert="kafka://%s/shed" % kafka.bootstrap)
        sp.send_tcp(ndjson([event(i, "DEBUG") for i in range(40)]))
        m = self.settled(sp, 40)
        self.assertEqual(m.forwarded("debug"), 5)
        self.assertEqual(m.dropped("debug", "rate_limit"), 35)
        self.assertEqual(self.wait_count(kafka, "shed", 35), 35)
        self.assertEqual(kafka.count("logs"), 5)
        shed = sorted(json.loads(v)["seq"] for _, _, _, v in kafka.dump("shed"))
        fwd = sorted(json.loads(v)["seq"] for _, _, _, v in kafka.dump("logs"))
        self.assertEqual(sorted(shed + fwd), list(range(40)))

    def test_bad_sink_url_and_properties(self):
        from harness import run_cli
        for url, want in (("kafka://127.0.0.1:9092", "TOPIC"),
                          ("kafka://127.0.0.1:9092/bad topic", "topic")):
            r = run_cli(["--sink", url, "--listen-tcp", "127.0.0.1:0",
                         "--listen-http", "127.0.0.1:0", "--admin",
                         "127.0.0.1:0"], timeout=20)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(want, r.stderr.decode())


class TestKafkaSource(KafkaCase):

    def source_spillway(self, kafka, group, topics=("in",), sink="file",
                        extra=None):
        src = {"brokers": kafka.bootstrap, "topics": list(topics),
               "group.id": group}
        src.update(GROUP_PROPS)
        src.update(extra or {})
        cfg = {"listen": {"kafka": src}}
        return self.start(config=cfg, rules=RULES, sink=sink)

    def produce(self, kafka, topic, msgs):
        r = kcat_produce(kafka.bootstrap, topic, msgs, key_delim=None)
        self.assertEqual(r.returncode, 0, r.stderr)

    def wait_assigned(self, sp, n=1, timeout=90):
        return sp.wait_for(
            lambda m: m.get1("spillway_kafka_source_partitions") >= n,
            "%d partitions assigned" % n, timeout)

    def test_consume_forward_and_commit(self):
        kafka = self.kafka({"in": 4})
        msgs = [line(event(i)) for i in range(200)]
        msgs += [line(event(1000 + i, "ERROR")) for i in range(50)]
        self.produce(kafka, "in", msgs)
        sp = self.source_spillway(kafka, "g1")
        self.wait_assigned(sp, 4)
        try:
            m = sp.wait_for(lambda m: m.get1(
                "spillway_kafka_source_messages_total") >= 250,
                "250 messages read", 90)
        except AssertionError:
            print(sp.stderr()[-4000:])
            raise
        m = self.settled(sp, m.total("spillway_events_received_total"))
        got = sp.sink_lines()
        self.assertEqual(len(got), m.total("spillway_events_forwarded_total"))
        self.assertEqual(m.forwarded("apps"), 200)
        self.assertEqual(m.get1("spillway_kafka_source_undecided_events"), 0)
        self.finish(sp)
        # A second member of the group reads only what is new.
        sp2 = self.source_spillway(kafka, "g1")
        self.wait_assigned(sp2, 4)
        self.produce(kafka, "in", [line(event(5000 + i)) for i in range(10)])
        m2 = self.settled(sp2, 10, timeout=40)
        time.sleep(1)
        m2 = sp2.metrics()
        self.assertEqual(m2.total("spillway_events_received_total"), 10)
        self.assertEqual(sorted(json.loads(l)["seq"] for l in sp2.sink_lines()),
                         list(range(5000, 5010)))

    def test_offsets_committed_only_after_forwarding(self):
        kafka = self.kafka({"in": 2})
        from harness import free_port
        # The sink is down: everything read stays undecided, nothing is
        # committed, and a shutdown counts it as lost to the shutdown.
        down = "http://127.0.0.1:%d" % free_port()
        sp = self.source_spillway(kafka, "g5", sink=down,
                                  extra={"auto.commit.interval.ms": 200})
        self.wait_assigned(sp, 2)
        self.produce(kafka, "in", [line(event(i)) for i in range(40)])
        # Reading pauses once the sink is seen to be down, so how many
        # of the 40 are read before that depends on timing; what is read
        # fails (sink_error) or is still held, and none of it is
        # forwarded, so none of it may be committed.
        def settled_apps(m):
            got = m.received("apps")
            return got >= 1 and got == (m.dropped("apps", "sink_error") +
                                        m.inflight("apps") +
                                        m.queued("apps"))
        try:
            m = sp.wait_for(settled_apps, "what was read failed or held",
                            60)
        except AssertionError:
            print(sp.stderr()[-3000:])
            raise
        time.sleep(0.5)  # several auto-commit intervals
        self.assertEqual(m.total("spillway_events_forwarded_total"), 0)
        self.finish(sp)
        # With a sink that works, the group reads all of them again.
        sp2 = self.source_spillway(kafka, "g5")
        self.wait_assigned(sp2, 2)
        m2 = self.settled(sp2, 40, timeout=60)
        self.assertEqual(m2.forwarded("apps"), 40)
        self.assertEqual(sorted(json.loads(l)["seq"]
                                for l in sp2.sink_lines()), list(range(40)))

    def es_source(self, kafka, group, emu, sink=None):
        src = {"brokers": kafka.bootstrap, "topics": ["in"],
               "group.id": group}
        src.update(GROUP_PROPS)
        cfg = {"listen": {"kafka": src},
               "sink": {"url": emu.url, "batch_events": 100, "flush_ms": 20,
                        "concurrency": 2, "timeout_ms": 5000}}
        cfg["sink"].update(sink or {})
        return self.start(config=cfg, rules=RULES, sink=None)

    def test_backlog_stays_in_kafka_when_the_sink_is_slow(self):
        kafka = self.kafka({"in": 2})
        emu = Emulator("--capacity", "500", "--fast", "--no-store")
        self.addCleanup(emu.cleanup)
        self.produce(kafka, "in", [line(event(i)) for i in range(20000)])
        sp = self.es_source(kafka, "g6", emu)
        self.wait_assigned(sp, 2)
        time.sleep(8)
        m = sp.metrics()
        read = m.get1("spillway_kafka_source_messages_total")
        shed = m.dropped("apps", "backpressure")
        # Not read at full speed to be shed: most of it is still in
        # Kafka, and little of what was read was shed.
        self.assertLess(read, 12000, summarize_kafka(m))
        self.assertLess(shed, 0.35 * read, summarize_kafka(m))
        self.assertGreater(m.get1("spillway_kafka_source_paced_total"), 0)

    def test_sink_failure_is_read_again(self):
        kafka = self.kafka({"in": 1})
        emu = Emulator()
        self.addCleanup(emu.cleanup)
        # The first bulk request fails its first item for good (503, no
        # retries left): that message is read again, not lost.
        emu.config(item_status=[{"positions": [0], "status": 503,
                                 "requests": 1}])
        sp = self.es_source(kafka, "g7", emu, sink={"max_retries": 0})
        self.wait_assigned(sp, 1)
        self.produce(kafka, "in", [line(event(i)) for i in range(30)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = {json.loads(d["source"])["seq"] for d in emu.received()}
            if got >= set(range(30)):
                break
            time.sleep(0.2)
        self.assertEqual({json.loads(d["source"])["seq"]
                          for d in emu.received()}, set(range(30)))
        m = sp.metrics()
        self.assertEqual(m.dropped("apps", "sink_error"), 1)
        self.assertGreaterEqual(m.get1("spillway_kafka_source_rewinds_total"), 1)

    def test_multi_line_messages(self):
        kafka = self.kafka({"in": 1})
        sp = self.source_spillway(kafka, "g2")
        self.wait_assigned(sp, 1)
        # One message holding three NDJSON lines and a blank one.
        body = b"\n".join([line(event(1)), line(event(2)), b"",
                           line(event(3, "ERROR"))])
        r = kcat_produce(kafka.bootstrap, "in", [body], key_delim=None,
                         args=["-D", "\x01"])
        self.assertEqual(r.returncode, 0, r.stderr)
        m = self.settled(sp, 3)
        self.assertEqual(m.get1("spillway_kafka_source_messages_total"), 1)
        self.assertEqual(m.forwarded("apps"), 2)
        self.assertEqual(m.forwarded("critical"), 1)
        self.assertEqual(m.get1("spillway_parse_errors_total",
                                listener="kafka"), 0)

    def test_two_instances_share_partitions_then_take_over(self):
        kafka = self.kafka({"in": 4})
        a = self.source_spillway(kafka, "g3")
        b = self.source_spillway(kafka, "g3")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pa = a.metrics().get1("spillway_kafka_source_partitions")
            pb = b.metrics().get1("spillway_kafka_source_partitions")
            if pa + pb == 4 and pa > 0 and pb > 0:
                break
            time.sleep(0.2)
        self.assertEqual((pa + pb, pa > 0, pb > 0), (4, True, True))
        first = [line(event(i)) for i in range(2000)]
        for i in range(0, 2000, 500):
            self.produce(kafka, "in", first[i:i + 500])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            n = len(a.sink_lines()) + len(b.sink_lines())
            if n >= 2000:
                break
            time.sleep(0.2)
        seqs = [json.loads(l)["seq"] for l in a.sink_lines() + b.sink_lines()]
        self.assertEqual(sorted(seqs), list(range(2000)),
                         "each message forwarded exactly once")
        self.assertGreater(len(a.sink_lines()), 0)
        self.assertGreater(len(b.sink_lines()), 0)
        # Let the offsets be committed, then kill one member outright.
        time.sleep(2.5)
        before_b = len(b.sink_lines())
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait(10)
        b.exit_code = "killed"
        self.procs.remove(b)
        self.wait_assigned(a, 4, timeout=60)
        more = [line(event(10000 + i)) for i in range(1000)]
        self.produce(kafka, "in", more)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = {json.loads(l)["seq"] for l in a.sink_lines()}
            if all(10000 + i in got for i in range(1000)):
                break
            time.sleep(0.2)
        seqs_a = [json.loads(l)["seq"] for l in a.sink_lines()]
        seqs_b = [json.loads(l)["seq"] for l in b.sink_lines()[:before_b]]
        # Nothing lost: every message forwarded at least once; what the
        # killed member had not committed may come again.
        self.assertEqual(set(seqs_a) | set(seqs_b),
                         set(range(2000)) | set(range(10000, 11000)))
        self.assertEqual(sorted(s for s in seqs_a if s >= 10000),
                         list(range(10000, 11000)))

    def test_pauses_while_the_sink_is_down(self):
        kafka = self.kafka({"in": 2})
        # An Elasticsearch sink nobody answers at: the sink is down.
        from harness import free_port
        sink = "http://127.0.0.1:%d" % free_port()
        sp = self.source_spillway(kafka, "g4", sink=sink)
        self.wait_assigned(sp, 2)
        self.produce(kafka, "in", [line(event(i)) for i in range(20000)])
        m = sp.wait_for(
            lambda m: m.get1("spillway_kafka_source_paused") == 1,
            "consumption paused", 40)
        time.sleep(2)
        m = sp.metrics()
        # It did not read the whole topic to shed it.
        self.assertLess(m.get1("spillway_kafka_source_messages_total"), 20000)
        self.assertEqual(m.get1("spillway_kafka_source_paused"), 1)


if __name__ == "__main__":
    unittest.main()
