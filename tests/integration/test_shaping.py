"""Classification and fixed-rate shaping, checked through /metrics and the
file sink: exact per-class counts, exact rate limits, the queue bound and
the accounting identity."""

import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import threading
import time

from harness import (DATA, SpillwayTestCase, accounting_errors, bulk_body,
                     summarize)

RULES_MIX = os.path.join(DATA, "rules_mix.json")
CORPUS_MIX = os.path.join(DATA, "corpus_mix.ndjson")
EACH_MIX = os.path.join(DATA, "corpus_mix.each")


def rules_text():
    with open(RULES_MIX) as f:
        return f.read()


def expected_mix():
    per_class, lines = {}, []
    with open(EACH_MIX, "rb") as f:
        for row in f.read().splitlines():
            cls, line = row.split(b"\t", 1)
            cls = cls.decode()
            per_class.setdefault(cls, []).append(line)
            lines.append((cls, line))
    return per_class, lines


class TestRules(SpillwayTestCase):
    CLASSES = ["critical", "ecs_flat", "prod_alert", "batch_nonprod", "slow",
               "tagged", "sampled", "city", "rawonly", "other", "_invalid"]

    def check_mix(self, sp, mult):
        per_class, lines = expected_mix()
        total = len(lines) * mult
        m = sp.wait_settled(total)
        for cls in self.CLASSES:
            n = len(per_class.get(cls, [])) * mult
            with self.subTest(cls=cls):
                self.assertEqual(m.received(cls), n, summarize(m))
                self.assertEqual(m.forwarded(cls), n, summarize(m))
                self.assertEqual(m.dropped(cls), 0)
        self.assertEqual(m.total("spillway_events_received_total"), total)
        # Every class of the rule set has its series, zero or not.
        self.assertEqual(m.classes() - {"_spillway"}, set(self.CLASSES))
        return m, lines

    def test_classes_over_tcp(self):
        sp = self.start(rules=rules_text())
        with open(CORPUS_MIX, "rb") as f:
            corpus = f.read()
        sp.send_tcp(corpus)
        m, lines = self.check_mix(sp, 1)
        out = sp.sink_lines()
        self.assertEqual(len(out), len(lines))
        # The sink is served by priority, FIFO within one: each class's
        # lines come out in the order they went in, byte for byte.
        want = {}
        for cls, line in lines:
            if cls == "_invalid":
                line = json.dumps({"message": line.decode(),
                                   "tags": ["_jsonparsefailure"]},
                                  separators=(",", ":")).encode()
            want.setdefault(cls, []).append(line)
        of = {l: cls for cls, ls in want.items() for l in ls}
        got = {}
        for line in out:
            key = line
            if line not in of:      # the wrapper, in jansson's escaping
                key = json.dumps(json.loads(line),
                                 separators=(",", ":")).encode()
            self.assertIn(key, of, line)
            got.setdefault(of[key], []).append(key)
        self.assertEqual(got, want)

    def test_classes_over_bulk(self):
        sp = self.start(rules=rules_text())
        per_class, lines = expected_mix()
        docs = [l for c, l in lines]
        st, _, resp = sp.bulk(bulk_body(docs))
        self.assertEqual(st, 200, resp)
        self.assertEqual(len(resp["items"]), len(docs))
        self.check_mix(sp, 1)
        self.assertEqual(sp.metrics().get1("spillway_parse_errors_total",
                                           listener="http"),
                         len(per_class["_invalid"]))

    def test_many_connections_exact_counts(self):
        sp = self.start(rules=rules_text())
        with open(CORPUS_MIX, "rb") as f:
            corpus = f.read()
        socks = [sp.tcp_connect() for _ in range(10)]
        for s in socks:
            s.sendall(corpus)
        for s in socks:
            s.close()
        self.check_mix(sp, 10)


class TestRateLimit(SpillwayTestCase):
    def test_exact_rate_and_burst(self):
        rules = {"classes": [{"name": "limited", "priority": 1, "rate": 1,
                              "burst": 5,
                              "match": [{"field": "k", "regex": "^lim$"}]}]}
        sp = self.start(rules=rules)
        n = 50
        body = b"".join(b'{"k":"lim","i":%d}\n' % i for i in range(n))
        body += b'{"k":"free"}\n' * 7
        sp.send_tcp(body)
        m = sp.wait_settled(n + 7)
        self.assertEqual(m.received("limited"), n)
        self.assertEqual(m.forwarded("limited"), 5)
        self.assertEqual(m.dropped("limited", "rate_limit"), n - 5)
        self.assertEqual(m.dropped("limited"), n - 5)
        self.assertEqual(m.forwarded("default"), 7)
        out = sp.sink_lines()
        self.assertEqual(out[:5] if out[0].startswith(b'{"k":"lim"') else
                         [l for l in out if b'"lim"' in l],
                         [b'{"k":"lim","i":%d}' % i for i in range(5)])
        self.assertEqual(len(out), 12)

    def test_rate_limit_over_bulk_answers_201(self):
        rules = {"classes": [{"name": "limited", "rate": 1, "burst": 3,
                              "match": [{"raw": "."}]}]}
        sp = self.start(rules=rules)
        st, _, resp = sp.bulk(bulk_body([{"i": i} for i in range(20)]))
        self.assertEqual(st, 200)
        self.assertFalse(resp["errors"])
        self.assertEqual([i["index"]["status"] for i in resp["items"]],
                         [201] * 20)
        m = sp.wait_settled(20)
        self.assertEqual(m.forwarded("limited"), 3)
        self.assertEqual(m.dropped("limited", "rate_limit"), 17)
        self.assertEqual(sp.sink_lines(), [b'{"i":0}', b'{"i":1}',
                                           b'{"i":2}'])

    def test_shed_response_reject(self):
        rules = {"classes": [{"name": "limited", "rate": 1, "burst": 2,
                              "match": [{"raw": "."}]}]}
        sp = self.start(rules=rules, config={"shed_response": "reject"})
        st, _, resp = sp.bulk(bulk_body([{"i": i} for i in range(5)]))
        self.assertEqual(st, 200)
        self.assertEqual([i["index"]["status"] for i in resp["items"]],
                         [201, 201, 429, 429, 429])
        self.assertTrue(resp["errors"])
        m = sp.wait_settled(5)
        self.assertEqual(m.dropped("limited", "rate_limit"), 3)

    def test_per_key_buckets(self):
        rules = {"classes": [{"name": "apps", "priority": 2, "key": "service",
                              "key_rate": 1, "key_burst": 3,
                              "match": [{"field": "service", "regex": "."}]}]}
        sp = self.start(rules=rules)
        body = b""
        for i in range(10):
            body += b'{"service":"a","i":%d}\n{"service":"b","i":%d}\n' % (i, i)
        body += b'{"service":"c","i":0}\n'
        sp.send_tcp(body)
        m = sp.wait_settled(21)
        self.assertEqual(m.received("apps"), 21)
        self.assertEqual(m.forwarded("apps"), 7)
        self.assertEqual(m.dropped("apps", "rate_limit"), 14)
        self.assertEqual(sorted(sp.sink_lines()), sorted(
            [b'{"service":"a","i":%d}' % i for i in range(3)]
            + [b'{"service":"b","i":%d}' % i for i in range(3)]
            + [b'{"service":"c","i":0}']))

    def test_class_and_key_bucket_together(self):
        # Class burst 4 caps the sum even though each key could take 3.
        rules = {"classes": [{"name": "apps", "rate": 1, "burst": 4,
                              "key": "s", "key_rate": 1, "key_burst": 3,
                              "match": [{"field": "s", "regex": "."}]}]}
        sp = self.start(rules=rules)
        sp.send_tcp(b'{"s":"a"}\n' * 5 + b'{"s":"b"}\n' * 5)
        m = sp.wait_settled(10)
        self.assertEqual(m.forwarded("apps"), 4)
        self.assertEqual(m.dropped("apps", "rate_limit"), 6)
        self.assertEqual(sp.sink_lines(), [b'{"s":"a"}'] * 3 + [b'{"s":"b"}'])

    def test_max_keys_eviction(self):
        rules = {"classes": [{"name": "apps", "key": "s", "key_rate": 1,
                              "key_burst": 2, "max_keys": 2,
                              "match": [{"field": "s", "regex": "."}]}]}
        sp = self.start(rules=rules)
        # a, b fill the table; c evicts a; a comes back with a full bucket
        # (evicting b); the third a in a row is then refused.
        seq = ["a", "a", "b", "b", "c", "c", "a", "a", "a"]
        sp.send_tcp(b"".join(b'{"s":"%s","i":%d}\n' % (k.encode(), i)
                             for i, k in enumerate(seq)))
        m = sp.wait_settled(len(seq))
        self.assertEqual(m.forwarded("apps"), 8)
        self.assertEqual(m.dropped("apps", "rate_limit"), 1)
        self.assertEqual(sp.sink_lines()[-1], b'{"s":"a","i":7}')

    def test_many_keys_bounded(self):
        rules = {"classes": [{"name": "apps", "key": "s", "key_rate": 1,
                              "key_burst": 1, "max_keys": 16,
                              "match": [{"field": "s", "regex": "."}]}]}
        sp = self.start(rules=rules)
        # 5000 distinct keys, each seen once: every one gets its own fresh
        # bucket, so all pass; then the last 16 again: all refused.
        body = b"".join(b'{"s":"k%d"}\n' % i for i in range(5000))
        body += b"".join(b'{"s":"k%d"}\n' % i for i in range(4984, 5000))
        sp.send_tcp(body)
        m = sp.wait_settled(5016)
        self.assertEqual(m.forwarded("apps"), 5000)
        self.assertEqual(m.dropped("apps", "rate_limit"), 16)

    def test_byte_weight(self):
        rules = {"classes": [{"name": "bytes", "rate": 100, "burst": 100,
                              "weight": "bytes",
                              "match": [{"raw": "^.{30}$"}]}]}
        sp = self.start(rules=rules)
        ev = b'{"pad":"' + b"x" * 20 + b'"}'
        self.assertEqual(len(ev), 30)
        sp.send_tcp((ev + b"\n") * 10)
        m = sp.wait_settled(10)
        self.assertEqual(m.received("bytes"), 10)
        self.assertEqual(m.forwarded("bytes"), 3)
        self.assertEqual(m.dropped("bytes", "rate_limit"), 7)

    def test_invalid_class_rate(self):
        rules = {"classes": [], "invalid": {"priority": 8, "rate": 1,
                                            "burst": 2}}
        sp = self.start(rules=rules)
        sp.send_tcp(b"bad\n" * 6 + b'{"ok":1}\n')
        m = sp.wait_settled(7)
        self.assertEqual(m.received("_invalid"), 6)
        self.assertEqual(m.forwarded("_invalid"), 2)
        self.assertEqual(m.dropped("_invalid", "rate_limit"), 4)
        self.assertEqual(m.forwarded("default"), 1)


class TestQueue(SpillwayTestCase):
    """A file: sink on a FIFO whose reader never reads blocks the writer:
    the queue fills and further arrivals are dropped as queue_full."""

    def drain(self, rfd, stop):
        """Read the FIFO until EOF or stop is set; returns bytes read."""
        buf = bytearray()
        os.set_blocking(rfd, True)
        while True:
            r, _, _ = select.select([rfd], [], [], 0.1)
            if r:
                chunk = os.read(rfd, 65536)
                if not chunk:
                    break
                buf += chunk
            elif stop.is_set():
                break
        return bytes(buf)

    def start_fifo(self, max_events, rules=None):
        # The FIFO must exist, with a reader, before spillway opens its
        # sink.  Our read end is non-blocking and the pipe is shrunk so
        # that it fills quickly.
        tmp = tempfile.mkdtemp(prefix="spillway-fifo-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "fifo")
        os.mkfifo(path)
        rfd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            fcntl.fcntl(rfd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
        except OSError:
            pass
        self.rfd = rfd
        self.addCleanup(self._close_rfd)
        sp = self.start(sink="file:" + path, rules=rules,
                        config={"queue": {"max_events": max_events},
                                "sink": {"batch_events": 5,
                                         "concurrency": 1}})
        return sp, rfd

    def _close_rfd(self):
        if self.rfd is not None:
            os.close(self.rfd)
            self.rfd = None

    def fill(self, sp, n, size=1000):
        pad = b"q" * size
        body = b"".join(b'{"i":%d,"pad":"%s"}\n' % (i, pad) for i in range(n))
        sp.send_tcp(body)
        return body.splitlines()

    def test_queue_full_with_blocked_sink(self):
        sp, rfd = self.start_fifo(max_events=10)
        n = 400
        sent = self.fill(sp, n)
        m = sp.wait_for(
            lambda m: m.received("default") == n
            and m.dropped("default", "queue_full") > 0,
            "all %d received, some queue_full" % n)
        # Stable: nothing moves while the pipe is full.
        errs = accounting_errors(m)
        self.assertEqual(errs, [], summarize(m))
        self.assertLessEqual(m.queued("default"), 10)
        self.assertEqual(m.dropped("default"),
                         m.dropped("default", "queue_full"))
        self.assertTrue(sp.alive())
        # /healthz and /metrics keep answering while the sink is blocked.
        st, _, _ = sp.admin("GET", "/healthz", timeout=5)
        self.assertIn(st, (200, 503))
        # Unblock: everything not dropped arrives, in order, exactly once.
        stop = threading.Event()
        result = {}
        t = threading.Thread(target=lambda: result.setdefault(
            "data", self.drain(rfd, stop)))
        t.start()
        try:
            m = sp.wait_settled(n)
        finally:
            stop.set()
            t.join(30)
        got = result["data"].splitlines()
        self.assertEqual(m.forwarded("default"), len(got))
        self.assertEqual(m.forwarded("default")
                         + m.dropped("default", "queue_full"), n)
        sent_index = {l: i for i, l in enumerate(sent)}
        idx = [sent_index[l] for l in got]
        self.assertEqual(idx, sorted(idx))
        self.assertEqual(len(set(idx)), len(idx))

    def test_higher_priority_evicts_lower(self):
        rules = {"classes": [{"name": "hi", "priority": 0,
                              "match": [{"field": "p", "regex": "^hi$"}]}],
                 "default": {"name": "lo", "priority": 5}}
        sp, rfd = self.start_fifo(max_events=10, rules=rules)
        pad = b"q" * 1000
        lo = b"".join(b'{"p":"lo","i":%d,"pad":"%s"}\n' % (i, pad)
                      for i in range(300))
        sp.send_tcp(lo)
        sp.wait_for(lambda m: m.received("lo") == 300
                    and m.queued("lo") == 10, "queue full of lo")
        m0 = sp.metrics()
        sp.send_tcp(b'{"p":"hi","i":0}\n' * 4)
        m = sp.wait_for(lambda m: m.received("hi") == 4, "hi received")
        self.assertEqual(m.dropped("hi"), 0)
        self.assertEqual(m.queued("hi") + m.inflight("hi")
                         + m.forwarded("hi"), 4)
        self.assertEqual(m.dropped("lo", "queue_full")
                         - m0.dropped("lo", "queue_full"), 4)
        self.assertEqual(accounting_errors(m), [])
        stop = threading.Event()
        t = threading.Thread(target=self.drain, args=(rfd, stop))
        t.start()
        try:
            sp.wait_settled(304)
        finally:
            stop.set()
            t.join(30)

    def test_shutdown_flushes_queue_to_unblocked_sink(self):
        sp, rfd = self.start_fifo(max_events=50)
        n = 300
        self.fill(sp, n)
        m = sp.wait_for(lambda m: m.received("default") == n
                        and m.queued("default") > 0,
                        "all received, some queued")
        self.assertEqual(accounting_errors(m), [])
        pending = m.forwarded("default") + m.queued("default") \
            + m.inflight("default")
        # SIGTERM while the queue is full, then let the writer go.
        sp.signal(signal.SIGTERM)
        time.sleep(0.2)
        data = self.drain_until_eof(rfd, sp)
        rc = sp.stop()
        self.assertEqual(rc, 0, sp.stderr())
        self.assertEqual(len(data.splitlines()), pending)
        self.finish(sp, check_accounting=False)

    def test_shutdown_deadline_with_sink_blocked(self):
        # Nobody ever reads: the flush cannot finish, and spillway still
        # exits 0 once shutdown_timeout_ms has passed.
        tmp = tempfile.mkdtemp(prefix="spillway-fifo-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "fifo")
        os.mkfifo(path)
        self.rfd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.addCleanup(self._close_rfd)
        sp = self.start(sink="file:" + path,
                        config={"queue": {"max_events": 50},
                                "sink": {"batch_events": 5,
                                         "concurrency": 1},
                                "shutdown_timeout_ms": 500})
        self.fill(sp, 300)
        m = sp.wait_for(lambda m: m.received("default") == 300
                        and m.queued("default") > 0, "queue filled")
        self.assertEqual(accounting_errors(m), [])
        t0 = time.monotonic()
        sp.signal(signal.SIGTERM)
        try:
            sp.proc.wait(15)
        except Exception:
            self.fail("no exit within 15 s of SIGTERM with "
                      "shutdown_timeout_ms=500")
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(sp.proc.returncode, 0, sp.stderr())
        sp.exit_code = 0
        self.finish(sp, check_accounting=False)

    def drain_until_eof(self, rfd, sp, timeout=30):
        buf = bytearray()
        os.set_blocking(rfd, False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([rfd], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(rfd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    if sp.proc.poll() is not None:
                        break
                    continue
                buf += chunk
            elif sp.proc.poll() is not None:
                break
        return bytes(buf)


class TestAccountingUnderLoad(SpillwayTestCase):
    def test_identity_holds_at_every_scrape(self):
        rules = {"classes": [{"name": "limited", "priority": 3, "rate": 50,
                              "burst": 100,
                              "match": [{"field": "k", "regex": "^lim"}]},
                             {"name": "keyed", "priority": 2, "key": "s",
                              "key_rate": 10, "key_burst": 20,
                              "match": [{"field": "s", "regex": "."}]}]}
        sp = self.start(rules=rules)
        per = 2000
        stop = threading.Event()
        errors = []

        def tcp_sender(t):
            try:
                body = b"".join(
                    [b'{"k":"lim","t":%d}\n' % t,
                     b'{"s":"svc%d"}\n' % (i % 7),
                     b'{"free":%d}\n' % i,
                     b"not json %d\n" % i][i % 4] for i in range(per))
                sp.send_tcp(body)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        def bulk_sender(t):
            try:
                for r in range(4):
                    docs = [[b'{"k":"lim"}', b'{"s":"b%d"}' % (i % 3),
                             b'{"x":1}', b"[]"][i % 4] for i in range(250)]
                    st, _, resp = sp.bulk(bulk_body(docs))
                    if st != 200 or len(resp["items"]) != 250:
                        errors.append((st, r))
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        threads = [threading.Thread(target=tcp_sender, args=(t,))
                   for t in range(4)]
        threads += [threading.Thread(target=bulk_sender, args=(t,))
                    for t in range(4)]
        for t in threads:
            t.start()
        scrapes = 0
        try:
            while any(t.is_alive() for t in threads) or scrapes < 5:
                m = sp.metrics()
                self.assertEqual(accounting_errors(m), [], summarize(m))
                scrapes += 1
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        self.assertEqual(errors, [])
        # Per kind: TCP i % 4, bulk i % 4 (250 docs: 63, 63, 62, 62).
        bulk_n = [len(range(k, 250, 4)) * 16 for k in range(4)]
        n_lim, n_key, n_def, n_inv = [4 * per // 4 + b for b in bulk_n]
        total = n_lim + n_key + n_def + n_inv
        m = sp.wait_settled(total)
        self.assertEqual(m.total("spillway_events_received_total"), total)
        self.assertEqual(m.received("_invalid"), n_inv)
        self.assertEqual(m.forwarded("_invalid"), n_inv)
        self.assertEqual(m.received("default"), n_def)
        self.assertEqual(m.forwarded("default"), n_def)
        self.assertEqual(m.received("limited"), n_lim)
        self.assertEqual(m.received("keyed"), n_key)
        self.assertEqual(m.forwarded("limited") + m.dropped("limited",
                                                            "rate_limit"),
                         n_lim)
        self.assertEqual(m.forwarded("keyed") + m.dropped("keyed",
                                                          "rate_limit"),
                         n_key)
        self.assertGreaterEqual(m.forwarded("limited"), 100)
        self.assertEqual(len(sp.sink_lines()),
                         m.total("spillway_events_forwarded_total"))


class TestRegexLimit(SpillwayTestCase):
    def test_match_limit_counted(self):
        rules = {"classes": [{"name": "evil",
                              "match": [{"field": "m",
                                         "regex": "^(a+)+$"}]}]}
        sp = self.start(rules=rules)
        sp.send_tcp(b'{"m":"%s"}\n' % (b"a" * 40 + b"b") * 3
                    + b'{"m":"aaa"}\n')
        m = sp.wait_settled(4)
        self.assertEqual(m.get1("spillway_regex_limit_total",
                                **{"class": "evil"}), 3)
        self.assertEqual(m.forwarded("default"), 3)
        self.assertEqual(m.forwarded("evil"), 1)


class TestShutdown(SpillwayTestCase):
    def test_sigterm_writes_everything_accepted(self):
        sp = self.start()
        n = 2000
        st, _, resp = sp.bulk(bulk_body([{"i": i} for i in range(n)]))
        self.assertEqual(st, 200)
        self.assertEqual(len(resp["items"]), n)
        rc = sp.stop()
        self.assertEqual(rc, 0, sp.stderr())
        self.assertEqual(sp.sink_lines(),
                         [b'{"i":%d}' % i for i in range(n)])
        self.finish(sp, check_accounting=False)

    def test_sigint_exits_zero(self):
        sp = self.start()
        sp.send_tcp(b'{"a":1}\n')
        sp.wait_settled(1)
        sp.signal(signal.SIGINT)
        sp.proc.wait(30)
        self.assertEqual(sp.proc.returncode, 0, sp.stderr())
        sp.exit_code = 0
        self.assertEqual(sp.sink_lines(), [b'{"a":1}'])
        self.finish(sp, check_accounting=False)
