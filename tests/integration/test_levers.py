"""The incident levers on the admin API, against the real binary:
timed overrides, shadow rules, the live tap and the 15-minute history.

Which events were forwarded and which were dropped is asserted event by
event (each carries its own number), not as rates.  Nothing sleeps to
wait for a rate: expiry is waited for by polling with a deadline, and the
shaper's expiry on a fake clock is check_shaper's.
"""

import http.client
import json
import os
import socket
import subprocess
import time

from harness import BIN, SpillwayTestCase, proc_status, WAIT_TIMEOUT
from test_budget import MARGIN_KIB, asan_env

RULES = {"classes": [
    {"name": "critical", "priority": 0,
     "match": [{"field": "level", "regex": "^error$"}]},
    {"name": "batch", "priority": 7,
     "match": [{"field": "ns", "regex": "^batch"}]},
    {"name": "debug", "priority": 9,
     "match": [{"field": "level", "regex": "^debug$"}]}],
    "default": {"name": "other", "priority": 5}}

# A candidate: warnings become critical, info goes with debug.
SHADOW = {"classes": [
    {"name": "critical", "priority": 0,
     "match": [{"field": "level", "regex": "^(error|warn)$"}]},
    {"name": "batch", "priority": 7,
     "match": [{"field": "ns", "regex": "^batch"}]},
    {"name": "debug", "priority": 9,
     "match": [{"field": "level", "regex": "^(debug|info)$"}]}],
    "default": {"name": "other", "priority": 5}}

TOKEN = "s3cret-levers"


def ev(i, **kw):
    d = {"i": i}
    d.update(kw)
    return json.dumps(d, separators=(",", ":"))


def ndjson(lines):
    return ("\n".join(lines) + "\n").encode()


class LeversCase(SpillwayTestCase):
    def start_levers(self, config=None, rules=RULES, env=None):
        return self.start(rules=json.dumps(rules), config=config, env=env)

    def jadmin(self, sp, method, path, body=None, headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        st, hd, data = sp.admin(method, path, body, headers)
        try:
            return st, json.loads(data) if data else None
        except ValueError:
            return st, data

    def forwarded_numbers(self, sp):
        return sorted(json.loads(l)["i"] for l in sp.sink_lines() if l)

    def wait_log(self, sp, text, timeout=WAIT_TIMEOUT):
        """Until stderr, which a thread drains, has text."""
        deadline = time.monotonic() + timeout
        while text not in sp.stderr():
            if time.monotonic() > deadline:
                self.fail("no %r in the log:\n%s" % (text, sp.stderr()))
            time.sleep(0.02)

    def wait_overrides(self, sp, n, timeout=WAIT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            st, body = self.jadmin(sp, "GET", "/overrides")
            self.assertEqual(st, 200)
            if len(body["overrides"]) == n:
                return body["overrides"]
            if time.monotonic() > deadline:
                self.fail("overrides never came to %d: %r" % (n, body))
            time.sleep(0.05)


class TestOverrides(LeversCase):
    def test_override_caps_a_class_and_expires(self):
        sp = self.start_levers()
        st, o = self.jadmin(sp, "POST", "/overrides",
                            {"class": "batch", "rate": 0, "for": "15m",
                             "reason": "INC-1234"})
        self.assertEqual(st, 201, o)
        self.assertEqual((o["kind"], o["class"], o["rate"], o["reason"]),
                         ("rate", "batch", 0, "INC-1234"))
        oid = o["id"]
        m = sp.metrics()
        self.assertEqual(m.get1("spillway_overrides_active"), 1)
        # Alone, there is no fleet to report on.
        self.assertFalse([k for k in m if k[0].startswith("spillway_fleet")])
        self.assertEqual([x["id"] for x in sp.stats()["overrides"]], [oid])

        # While it holds: every batch event is the override's, the rest
        # goes through.
        lines = [ev(i, ns="batch-etl") for i in range(100)] + \
                [ev(1000 + i, level="error") for i in range(20)] + \
                [ev(2000 + i, level="info") for i in range(30)]
        sp.send_tcp(ndjson(lines))
        m = sp.wait_settled(150)
        self.assertEqual(m.forwarded("batch"), 0)
        self.assertEqual(m.dropped("batch", "rate_limit"), 100)
        self.assertEqual(m.forwarded("critical"), 20)
        self.assertEqual(m.forwarded("other"), 30)
        self.assertEqual(self.forwarded_numbers(sp),
                         list(range(1000, 1020)) + list(range(2000, 2030)))
        listed = self.wait_overrides(sp, 1)[0]
        self.assertEqual(listed["shed"], 100)
        self.assertLessEqual(listed["left_s"], 900)

        # A short one beside it undoes itself and says so in the log
        # (nothing is sent while it holds: the wait is for its end only).
        st, short = self.jadmin(sp, "POST", "/overrides",
                                {"class": "batch", "rate": 0,
                                 "for": "200ms", "reason": "INC-1235"})
        self.assertEqual(st, 201, short)
        self.assertEqual(self.wait_overrides(sp, 1)[0]["id"], oid)
        self.wait_log(sp, "override %d expired (batch: INC-1235)"
                      % short["id"])
        self.assertEqual(sp.metrics().get1("spillway_overrides_active"), 1)

        # Ended, batch flows again.
        st, _ = self.jadmin(sp, "DELETE", "/overrides/%d" % oid)
        self.assertEqual(st, 200)
        self.assertEqual(sp.metrics().get1("spillway_overrides_active"), 0)
        self.assertEqual(sp.stats()["overrides"], [])
        sp.send_tcp(ndjson([ev(3000 + i, ns="batch-etl")
                            for i in range(40)]))
        m = sp.wait_settled(190)
        self.assertEqual(m.forwarded("batch"), 40)
        self.assertEqual(m.dropped("batch", "rate_limit"), 100)
        self.finish(sp)

    def test_shed_from_a_priority_never_touches_priority_zero(self):
        sp = self.start_levers()
        st, body = self.jadmin(sp, "POST", "/overrides",
                               {"priority_at_least": 0, "shed": True,
                                "for": "10m"})
        self.assertEqual(st, 400)
        self.assertIn("force", body["error"])
        st, body = self.jadmin(sp, "POST", "/overrides",
                               {"class": "critical", "rate": 1,
                                "for": "10m"})
        self.assertEqual(st, 400)
        self.assertIn("force", body["error"])
        self.assertEqual(self.wait_overrides(sp, 0), [])

        st, o = self.jadmin(sp, "POST", "/overrides",
                            {"priority_at_least": 6, "shed": True,
                             "for": "10m", "reason": "storm"})
        self.assertEqual(st, 201, o)
        lines = [ev(i, level="error") for i in range(10)] + \
                [ev(100 + i, level="debug") for i in range(10)] + \
                [ev(200 + i, ns="batch-1") for i in range(10)] + \
                [ev(300 + i) for i in range(10)]
        sp.send_tcp(ndjson(lines))
        m = sp.wait_settled(40)
        self.assertEqual(self.forwarded_numbers(sp),
                         list(range(10)) + list(range(300, 310)))
        self.assertEqual(m.dropped("debug", "rate_limit"), 10)
        self.assertEqual(m.dropped("batch", "rate_limit"), 10)
        self.assertEqual(self.wait_overrides(sp, 1)[0]["shed"], 20)

        # Ended early by DELETE; a second DELETE finds nothing.
        st, body = self.jadmin(sp, "DELETE", "/overrides/%d" % o["id"])
        self.assertEqual((st, body), (200, {"id": o["id"], "ended": True}))
        st, _ = self.jadmin(sp, "DELETE", "/overrides/%d" % o["id"])
        self.assertEqual(st, 404)
        self.finish(sp)

    def test_priority_override_survives_a_reload(self):
        sp = self.start_levers()
        st, o = self.jadmin(sp, "POST", "/overrides",
                            {"class": "debug", "priority": 2, "for": "10m"})
        self.assertEqual(st, 201, o)
        self.assertEqual(sp.stats()["classes"]["debug"]["priority"], 2)
        st, body = self.jadmin(sp, "PUT", "/rules", RULES)
        self.assertEqual((st, body["revision"]), (200, 2))
        self.assertEqual([x["id"] for x in self.wait_overrides(sp, 1)],
                         [o["id"]])
        self.assertEqual(sp.stats()["classes"]["debug"]["priority"], 2)
        st, _ = self.jadmin(sp, "DELETE", "/overrides/%d" % o["id"])
        self.assertEqual(st, 200)
        self.assertEqual(sp.stats()["classes"]["debug"]["priority"], 9)
        self.finish(sp)

    def test_bad_requests_get_a_clear_answer(self):
        sp = self.start_levers()
        for body, word in (
                ({"class": "nope", "rate": 1, "for": "1m"}, "nope"),
                ({"class": "batch", "rate": 1, "for": "soon"}, "for"),
                ({"class": "batch", "rate": 1}, "for"),
                ({"class": "batch", "rate": -1, "for": "1m"}, "rate"),
                ({"class": "batch", "rate": 1, "for": "1m", "x": 1}, "x"),
                ("{not json", ""),
                ({"class": "batch", "rate": 1, "for": "8d"}, "for")):
            with self.subTest(body=body):
                st, b = self.jadmin(sp, "POST", "/overrides", body)
                self.assertEqual(st, 400, b)
                self.assertIn(word, b["error"])
        for path in ("/overrides/x", "/overrides/", "/overrides/99"):
            st, _ = self.jadmin(sp, "DELETE", path)
            self.assertEqual(st, 404, path)
        st, _ = self.jadmin(sp, "PUT", "/overrides", {})
        self.assertEqual(st, 405)
        self.assertEqual(self.wait_overrides(sp, 0), [])
        self.wait_log(sp, "override refused")
        self.finish(sp)

    def test_admin_token_guards_changes_and_the_tap(self):
        sp = self.start_levers(config={"admin_token": TOKEN})
        auth = {"Authorization": "Bearer " + TOKEN}
        body = {"class": "batch", "rate": 5, "for": "1m"}
        for method, path, b in (("POST", "/overrides", body),
                                ("DELETE", "/overrides/1", None),
                                ("PUT", "/rules/shadow", SHADOW),
                                ("DELETE", "/rules/shadow", None),
                                ("POST", "/rules/shadow/promote", None),
                                ("GET", "/tap", None)):
            with self.subTest(method=method, path=path):
                st, _ = self.jadmin(sp, method, path, b)
                self.assertEqual(st, 401)
        # Reading is open, as for GET /rules.
        for path in ("/overrides", "/stats/history"):
            st, _ = self.jadmin(sp, "GET", path)
            self.assertEqual(st, 200, path)
        st, o = self.jadmin(sp, "POST", "/overrides", body, auth)
        self.assertEqual(st, 201, o)
        st, _ = self.jadmin(sp, "DELETE", "/overrides/%d" % o["id"], None,
                            auth)
        self.assertEqual(st, 200)
        self.finish(sp)


def diff_pairs(old_path, new_path, corpus_path):
    """(old class, new class) -> events, as `classify --diff` reports."""
    r = subprocess.run([BIN, "classify", "--diff", old_path, new_path,
                        corpus_path], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    table = r.stdout.decode().split("\n\n")[0].splitlines()
    assert table[0].split()[:3] == ["old_class", "new_class", "events"]
    return {(c[0], c[1]): int(c[2]) for c in (l.split() for l in table[1:])}


class TestShadow(LeversCase):
    def corpus(self):
        levels = ("error", "warn", "info", "debug", "notice")
        lines = [ev(i, level=levels[i % 5], ns="batch" if i % 7 == 0
                    else "web") for i in range(500)]
        lines += ["not json %d" % i for i in range(3)]
        return lines

    def test_shadow_counts_equal_classify_diff(self):
        sp = self.start_levers()
        st, body = self.jadmin(sp, "GET", "/rules/shadow")
        self.assertEqual(st, 404)
        # One event in ten unless asked: here, every one.
        st, body = self.jadmin(sp, "PUT", "/rules/shadow", SHADOW)
        self.assertEqual((st, body), (200, {"sample": 10, "classes": 5}))
        st, body = self.jadmin(sp, "PUT", "/rules/shadow?sample=1", SHADOW)
        self.assertEqual((st, body), (200, {"sample": 1, "classes": 5}))

        lines = self.corpus()
        sp.send_tcp(ndjson(lines))
        m = sp.wait_settled(len(lines))
        # It changed nothing: every event went out under the rules in
        # force.
        self.assertEqual(len(sp.sink_lines()), len(lines))
        self.assertEqual(m.received("critical"), 100)

        st, shadow = self.jadmin(sp, "GET", "/rules/shadow")
        self.assertEqual(st, 200)
        got = {(p["from"], p["to"]): p["events"] for p in shadow["pairs"]}

        old = os.path.join(sp.tmp, "old.json")
        new = os.path.join(sp.tmp, "new.json")
        corpus = os.path.join(sp.tmp, "corpus.ndjson")
        for path, text in ((old, json.dumps(RULES)), (new, json.dumps(SHADOW)),
                           (corpus, "\n".join(lines) + "\n")):
            with open(path, "w") as f:
                f.write(text)
        want = diff_pairs(old, new, corpus)
        want = {k: v for k, v in want.items() if v > 0}
        self.assertEqual(got, want)
        self.assertEqual(shadow["events"], len(lines))
        self.assertEqual(shadow["moved"],
                         sum(v for (a, b), v in want.items() if a != b))
        self.assertGreater(shadow["cpu_ns_per_event"], 0)
        self.finish(sp)

    def test_promote_is_a_reload(self):
        sp = self.start_levers()
        st, body = self.jadmin(sp, "POST", "/rules/shadow/promote")
        self.assertEqual(st, 409)
        st, _ = self.jadmin(sp, "PUT", "/rules/shadow?sample=2", SHADOW)
        self.assertEqual(st, 200)
        st, body = self.jadmin(sp, "POST", "/rules/shadow/promote")
        self.assertEqual((st, body), (200, {"revision": 2,
                                            "persisted": True}))
        with open(sp.rules_path) as f:
            self.assertEqual(json.loads(f.read()), SHADOW)
        st, _ = self.jadmin(sp, "GET", "/rules/shadow")
        self.assertEqual(st, 404)
        m = sp.metrics()
        self.assertEqual(m.get1("spillway_rules_revision"), 2)
        self.assertEqual(m.get1("spillway_rules_reloads_total",
                                result="ok"), 1)
        sp.send_tcp(ndjson([ev(1, level="warn")]))
        self.assertEqual(sp.wait_settled(1).forwarded("critical"), 1)
        self.finish(sp)

    def test_bad_candidate_is_refused_and_changes_nothing(self):
        sp = self.start_levers()
        st, body = self.jadmin(sp, "PUT", "/rules/shadow",
                               '{"classes": [{"name": "x", "match": '
                               '[{"raw": "("}]}]}')
        self.assertEqual(st, 400)
        self.assertIn("line", body)
        st, _ = self.jadmin(sp, "PUT", "/rules/shadow?sample=0", SHADOW)
        self.assertEqual(st, 400)
        st, _ = self.jadmin(sp, "GET", "/rules/shadow")
        self.assertEqual(st, 404)
        st, _ = self.jadmin(sp, "DELETE", "/rules/shadow")
        self.assertEqual(st, 404)
        self.assertEqual(sp.metrics().get1("spillway_rules_revision"), 1)
        self.finish(sp)


class Tap:
    """A GET /tap reader: the stream, line by line."""

    def __init__(self, sp, query, rcvbuf=None):
        self.c = http.client.HTTPConnection("127.0.0.1", sp.ports["admin"],
                                            timeout=WAIT_TIMEOUT)
        self.c.connect()
        if rcvbuf is not None:
            self.c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                   rcvbuf)
        self.c.request("GET", "/tap" + query)
        self.r = self.c.getresponse()

    def lines(self):
        """Every line until the stream ends."""
        out = []
        while True:
            line = self.r.readline()
            if not line:
                return out
            out.append(json.loads(line))

    def close(self):
        self.r.close()
        self.c.close()


class TestTap(LeversCase):
    RULES = {"classes": [
        {"name": "debug", "priority": 9, "rate": 1, "burst": 5,
         "match": [{"field": "level", "regex": "^debug$"}]},
        {"name": "info", "priority": 5, "rate": 1, "burst": 5,
         "match": [{"field": "level", "regex": "^info$"}]}],
        "default": {"name": "other", "priority": 3}}

    def test_tap_shows_exactly_the_shed_events_of_one_class(self):
        sp = self.start_levers(rules=self.RULES)
        tap = Tap(sp, "?class=debug&outcome=shed&limit=1000")
        self.addCleanup(tap.close)
        self.assertEqual(tap.r.status, 200)
        self.assertEqual(tap.r.getheader("Content-Type"),
                         "application/x-ndjson")
        self.assertEqual(tap.r.getheader("Transfer-Encoding"), "chunked")

        lines = [ev(i, level="debug") for i in range(300)] + \
                [ev(1000 + i, level="info") for i in range(300)] + \
                [ev(2000 + i) for i in range(50)]
        sp.send_tcp(ndjson(lines))
        m = sp.wait_settled(len(lines))
        shed = int(m.dropped("debug", "rate_limit"))
        self.assertGreaterEqual(shed, 290)
        got = []
        while len(got) < shed:
            line = json.loads(tap.r.readline())
            if "tap" not in line:
                got.append(line)
        forwarded = set(self.forwarded_numbers(sp))
        want = [i for i in range(300) if i not in forwarded]
        self.assertEqual([g["event"]["i"] for g in got], want)
        for g in got:
            self.assertEqual((g["class"], g["outcome"], g["reason"]),
                             ("debug", "shed", "rate_limit"))
        # The tap took nothing away: forwarded is what was not shed.
        self.assertEqual(len(forwarded), len(lines) - shed -
                         int(m.dropped("info", "rate_limit")))
        self.finish(sp)

    def test_limit_ends_the_stream(self):
        sp = self.start_levers(rules=self.RULES)
        tap = Tap(sp, "?outcome=forwarded,shed&limit=5")
        self.addCleanup(tap.close)
        sp.send_tcp(ndjson([ev(i) for i in range(20)]))
        got = tap.lines()
        self.assertEqual([g["event"]["i"] for g in got[:5]], [0, 1, 2, 3, 4])
        self.assertEqual(got[5:], [{"tap": {"end": "limit"}}])
        sp.wait_settled(20)
        self.wait_log(sp, "ended: limit")
        self.finish(sp)

    def test_bad_queries(self):
        sp = self.start_levers(rules=self.RULES)
        for q in ("?outcome=lost", "?class=nope", "?limit=0", "?limit=x",
                  "?outcome=shed,lost"):
            with self.subTest(q=q):
                st, b = self.jadmin(sp, "GET", "/tap" + q)
                self.assertEqual(st, 400, b)
                self.assertIn("error", b)
        st, _ = self.jadmin(sp, "POST", "/tap")
        self.assertEqual(st, 405)
        self.finish(sp)

    def test_cli_tap_prints_one_line_per_event(self):
        sp = self.start_levers(rules=self.RULES)
        cli = subprocess.Popen(
            [BIN, "tap", "--admin", "127.0.0.1:%d" % sp.ports["admin"],
             "--class", "info", "--outcome", "shed", "--limit", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(cli.kill)
        # Until its subscription is in place.
        sp.wait_for(lambda m: "tap 0: class info" in sp.stderr(),
                    "the tap to subscribe")
        sp.send_tcp(ndjson([ev(i, level="info") for i in range(10)]))
        out, err = cli.communicate(timeout=WAIT_TIMEOUT)
        self.assertEqual(cli.returncode, 0, err)
        rows = out.decode().splitlines()
        self.assertEqual(rows[-1], "-- the tap ended: limit")
        events = [r for r in rows if not r.startswith("--")]
        self.assertEqual(events, ['info shed rate_limit {"i":%d,'
                                  '"level":"info"}' % i for i in (5, 6, 7)])
        sp.wait_settled(10)
        self.finish(sp)

    def test_a_stalled_reader_is_cut_off_and_costs_nothing(self):
        sp = self.start_levers(rules={"classes": [], "default":
                                      {"name": "bulk", "priority": 5}},
                               env=asan_env())
        tap = Tap(sp, "", rcvbuf=4096)       # and never read
        self.addCleanup(tap.close)
        rss0 = proc_status(sp.proc.pid, "VmRSS")
        pad = "x" * 16000
        n = 3000
        s = sp.tcp_connect()
        for k in range(0, n, 100):
            s.sendall(ndjson([ev(i, pad=pad) for i in range(k, k + 100)]))
        s.shutdown(socket.SHUT_WR)
        s.close()
        m = sp.wait_settled(n, timeout=120)
        # Nothing was lost or held back for the tap's sake.
        self.assertEqual(m.forwarded("bulk"), n)
        self.assertEqual(self.forwarded_numbers(sp), list(range(n)))
        self.wait_log(sp, "ended: slow reader")
        rss1 = proc_status(sp.proc.pid, "VmRSS")
        print("\n  stalled tap: VmRSS %d -> %d kB" % (rss0, rss1))
        # 48 MB went through; the reader held at most its 1 MiB cut-off
        # (and what the kernel buffers), never the stream.
        self.assertLess(rss1 - rss0, MARGIN_KIB, (rss0, rss1))
        self.finish(sp)


class TestHistory(LeversCase):
    def test_history_holds_the_seconds_since_start(self):
        sp = self.start_levers()
        sp.send_tcp(ndjson([ev(i, level="debug") for i in range(50)]))
        sp.wait_settled(50)
        deadline = time.monotonic() + WAIT_TIMEOUT
        while True:
            st, h = self.jadmin(sp, "GET", "/stats/history")
            self.assertEqual(st, 200)
            if len(h["samples"]) >= 3:
                break
            self.assertLess(time.monotonic(), deadline, h)
            time.sleep(0.1)
        self.assertEqual((h["interval_s"], h["window_s"]), (1, 900))
        names = [c["name"] for c in h["classes"]]
        for c in ("critical", "batch", "debug", "other"):
            self.assertIn(c, names)
        self.assertEqual(h["classes"][names.index("debug")]["priority"], 9)
        debug = names.index("debug")
        t = [s["t"] for s in h["samples"]]
        self.assertEqual(t, sorted(t))
        for s in h["samples"]:
            self.assertEqual(len(s["received"]), len(h["classes"]))
            self.assertIs(s["backpressure"], False)
            self.assertIsNone(s["capacity"])
        # The 50 events are in the samples: the rates add up to them.
        total = sum(s["received"][debug] for s in h["samples"])
        self.assertGreater(total, 0)
        self.finish(sp)
