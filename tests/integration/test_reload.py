"""Hot reload under traffic: SIGHUP, POST /rules/reload and PUT /rules.

A reload never loses an event: every event is counted once, under the class
of the rules in force when it was classified; classes keep their counters
and bucket state by name; events already queued keep their class; a refused
reload changes nothing and says where the error is.
"""

import fcntl
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import tempfile
import threading
import time

from harness import (SpillwayTestCase, accounting_errors, bulk_body, ndjson,
                     run_cli, slurp, summarize)

RELOADS = 200
POLL = 0.002


# ------------------------------------------------------------------ rules

def ruleset(which):
    """Rule sets A and B: markers {"route":"m"} go to x under A and to y
    under B ({"route":"q"} the other way round); neutral events ("kind"
    n or o) go to z or the default class under both."""
    a = which == "A"
    x = {"name": "x", "priority": 1,
         "match": [{"field": "route", "regex": "^m$" if a else "^q$"}]}
    y = {"name": "y", "priority": 2,
         "match": [{"field": "route", "regex": "^q$" if a else "^m$"}]}
    z = {"name": "z", "priority": 3,
         "match": [{"field": "kind", "regex": "^n$"}]}
    return {"classes": [x, y, z] if a else [z, y, x],
            "default": {"name": "other", "priority": 5}}


def text_of(rules):
    return json.dumps(rules, indent=2) + "\n"


def bad_variants():
    """Invalid rule sets, each refused for a different reason, all on a
    line other than the first."""
    a = text_of(ruleset("A"))
    b = text_of(ruleset("B"))
    out = []
    # JSON syntax: a doubled comma.
    out.append(a.replace('"name": "y",', '"name": "y",,', 1))
    # A regex that does not compile.
    out.append(b.replace('"regex": "^m$"', '"regex": "^(m$"', 1))
    # A duplicate name.
    out.append(a.replace('"name": "z"', '"name": "x"', 1))
    # An unknown key inside a class.
    out.append(a.replace('"priority": 2,', '"priority": 2, "rat": 5,', 1))
    # A name that is not [a-z0-9_].
    out.append(b.replace('"name": "y"', '"name": "Y"', 1))
    # A negative rate.
    out.append(a.replace('"priority": 3,', '"priority": 3, "rate": -1,', 1))
    for t in out:
        assert t not in (a, b), "a bad variant did not change the text"
    return out


CHECK_RE = re.compile(r"^(.*):(\d+):(\d+): (.*)$")


def check_position(text):
    """(line, column, message) that `spillway check` reports for text."""
    tmp = tempfile.mkdtemp(prefix="spillway-check-")
    try:
        path = os.path.join(tmp, "bad.json")
        with open(path, "w") as f:
            f.write(text)
        r = run_cli(["check", path])
        assert r.returncode == 1, (r.returncode, r.stderr)
        first = r.stderr.decode().splitlines()[0]
        m = CHECK_RE.match(first)
        assert m and m.group(1) == path, first
        return int(m.group(2)), int(m.group(3)), m.group(4)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_atomic(path, text):
    tmp = path + ".writing"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ------------------------------------------------------------- traffic

class NeutralTraffic(threading.Thread):
    """Streams neutral events for as long as it runs: NDJSON on one TCP
    connection, and every few rounds a small _bulk request on a keep-alive
    HTTP connection. Counts exactly what spillway accepted."""

    def __init__(self, sp):
        super().__init__(daemon=True)
        self.sp = sp
        self.stop_ev = threading.Event()
        self.seq = 0
        self.by_kind = {"n": 0, "o": 0}
        self.errors = []

    def _next(self, kind):
        self.seq += 1
        self.by_kind[kind] += 1
        return {"kind": kind, "seq": self.seq}

    def run(self):
        s = self.sp.tcp_connect()
        c = http.client.HTTPConnection("127.0.0.1", self.sp.ports["http"],
                                       timeout=30)
        rounds = 0
        try:
            while not self.stop_ev.is_set():
                rounds += 1
                kinds = ["n" if i % 3 else "o" for i in range(25)]
                s.sendall(ndjson([self._next(k) for k in kinds]))
                if rounds % 8 == 0:
                    docs = [{"kind": "n" if i % 2 else "o", "seq": 0}
                            for i in range(6)]
                    c.request("POST", "/_bulk", body=bulk_body(docs),
                              headers={"Content-Type":
                                       "application/x-ndjson"})
                    r = c.getresponse()
                    body = json.loads(r.read())
                    items = [next(iter(it.values()))["status"]
                             for it in body.get("items", [])]
                    if r.status != 200 or items != [201] * len(docs):
                        self.errors.append("bulk: %s %r" % (r.status, body))
                        return
                    for d in docs:
                        self.by_kind[d["kind"]] += 1
                time.sleep(0.004)
        except Exception as e:  # reported by the test, not lost
            self.errors.append("neutral traffic: %r" % (e,))
        finally:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            s.close()
            c.close()

    def stop(self):
        self.stop_ev.set()
        self.join(30)

    @property
    def sent(self):
        return self.by_kind["n"] + self.by_kind["o"]


def poll(sp, pred, what, timeout=20.0):
    """Poll /metrics until pred(m); faster than the harness's wait_for."""
    deadline = time.monotonic() + timeout
    while True:
        if not sp.alive():
            raise AssertionError("spillway died waiting for %s:\n%s"
                                 % (what, sp.stderr()))
        m = sp.metrics()
        if pred(m):
            return m
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s:\n%s"
                                 % (what, summarize(m)))
        time.sleep(POLL)


def reloads(m, result):
    return m.get1("spillway_rules_reloads_total", result=result)


def revision(m):
    return m.get1("spillway_rules_revision")


class TestReloadUnderTraffic(SpillwayTestCase):
    def wait_log(self, sp, start, needle, timeout=10.0):
        deadline = time.monotonic() + timeout
        while needle not in sp.stderr()[start:]:
            if time.monotonic() > deadline:
                self.fail("no log line %r; stderr:\n%s"
                          % (needle, sp.stderr()[start:]))
            time.sleep(POLL)

    def test_200_reloads_lose_nothing(self):
        texts = {"A": text_of(ruleset("A")), "B": text_of(ruleset("B"))}
        bads = bad_variants()
        bad_pos = [check_position(t) for t in bads]
        for line, col, _ in bad_pos:
            self.assertGreater(line, 1)
            self.assertGreater(col, 0)

        sp = self.start(rules=texts["A"])
        path = sp.rules_path
        self.assertTrue(path.startswith(sp.tmp))
        in_force, rev, ok, err = "A", 1, 0, 0
        in_force_text = texts["A"]
        exp = {"x": 0, "y": 0}
        markers_sent = []
        mconn = sp.tcp_connect()
        self.addCleanup(mconn.close)
        traffic = NeutralTraffic(sp)
        traffic.start()
        self.addCleanup(traffic.stop)
        methods_seen = {}

        def send_markers(step):
            nm, nq = 1 + step % 3, step % 2
            docs = ([{"route": "m", "step": step, "i": i} for i in range(nm)]
                    + [{"route": "q", "step": step, "i": nm + i}
                       for i in range(nq)])
            if step % 2:
                st, _, body = sp.bulk(bulk_body(docs))
                self.assertEqual(st, 200, body)
                self.assertEqual([next(iter(it.values()))["status"]
                                  for it in body["items"]], [201] * len(docs))
            else:
                mconn.sendall(ndjson(docs))
            m_to = "x" if in_force == "A" else "y"
            q_to = "y" if in_force == "A" else "x"
            exp[m_to] += nm
            exp[q_to] += nq
            markers_sent.extend(docs)
            total = exp["x"] + exp["y"]
            m = poll(sp, lambda m: m.received("x") + m.received("y")
                     >= total, "markers of step %d" % step)
            # Exactly the markers, each under the class in force.
            self.assertEqual((m.received("x"), m.received("y")),
                             (exp["x"], exp["y"]),
                             "step %d, rules %s in force" % (step, in_force))
            self.assertEqual(revision(m), rev)
            self.assertEqual((reloads(m, "ok"), reloads(m, "error")),
                             (ok, err))

        send_markers(-1)
        for step in range(RELOADS):
            method = ("sighup", "post", "put")[step % 3]
            good = step % 2 == 0
            which = ("B", "A")[(step // 2) % 2]
            if good:
                text = texts[which]
            else:
                vi = (step // 2) % len(bads)
                text = bads[vi]
                line, col, msg = bad_pos[vi]
            methods_seen[(method, good)] = methods_seen.get(
                (method, good), 0) + 1
            where = "step %d: %s %s" % (step, method,
                                        which if good else "bad")
            log_at = len(sp.stderr())

            if method == "sighup":
                write_atomic(path, text)
                sp.signal(signal.SIGHUP)
                m = poll(sp, lambda m: reloads(m, "ok") + reloads(m, "error")
                         == ok + err + 1, where)
                if good:
                    self.assertEqual((reloads(m, "ok"), reloads(m, "error"),
                                      revision(m)), (ok + 1, err, rev + 1),
                                     where)
                else:
                    self.assertEqual((reloads(m, "ok"), reloads(m, "error"),
                                      revision(m)), (ok, err + 1, rev),
                                     where)
                    # The old rules stay, and the log says where and why.
                    self.wait_log(sp, log_at,
                                  "rules: reload refused, revision %d stays: "
                                  "%s:%d:%d: %s" % (rev, path, line, col,
                                                    msg))
            elif method == "post":
                write_atomic(path, text)
                st, _, body = sp.admin("POST", "/rules/reload")
                if good:
                    self.assertEqual((st, json.loads(body)),
                                     (200, {"revision": rev + 1}), where)
                else:
                    self.assertEqual(st, 400, where)
                    self.assertEqual(json.loads(body),
                                     {"error": msg, "line": line,
                                      "column": col}, where)
                    self.wait_log(sp, log_at, "rules: reload refused")
            else:
                before = os.stat(path)
                before_text = slurp(path, "r")
                st, _, body = sp.admin("PUT", "/rules", text.encode())
                after = os.stat(path)
                if good:
                    self.assertEqual((st, json.loads(body)),
                                     (200, {"revision": rev + 1,
                                            "persisted": True}), where)
                    # Written by rename: a new inode with exactly the body.
                    self.assertEqual(slurp(path, "r"), text, where)
                    self.assertNotEqual(after.st_ino, before.st_ino, where)
                else:
                    self.assertEqual(st, 400, where)
                    self.assertEqual(json.loads(body),
                                     {"error": msg, "line": line,
                                      "column": col}, where)
                    self.assertEqual(slurp(path, "r"), before_text, where)
                    self.assertEqual(after.st_ino, before.st_ino, where)
                    self.assertEqual(after.st_mtime_ns, before.st_mtime_ns)
                    self.wait_log(sp, log_at, "rules: PUT /rules refused")
                # No temporary file left behind.
                self.assertEqual(sorted(f for f in os.listdir(sp.tmp)
                                        if f.startswith("rules")),
                                 ["rules.json"], where)
            if good:
                rev, ok = rev + 1, ok + 1
                in_force, in_force_text = which, text
            else:
                err += 1

            st, hd, body = sp.admin("GET", "/rules")
            self.assertEqual(st, 200)
            self.assertEqual(body.decode(), in_force_text, where)
            self.assertEqual(hd.get("x-spillway-rules-revision"), str(rev),
                             where)
            send_markers(step)

        self.assertEqual(set(methods_seen), {(m, g) for m in
                                             ("sighup", "post", "put")
                                             for g in (True, False)})
        self.assertEqual((ok, err), (RELOADS // 2, RELOADS // 2))

        traffic.stop()
        self.assertEqual(traffic.errors, [])
        mconn.shutdown(socket.SHUT_WR)
        total = traffic.sent + len(markers_sent)

        def settled(m):
            return (m.total("spillway_events_received_total") >= total
                    and m.total("spillway_events_queued") == 0
                    and m.total("spillway_events_inflight") == 0)
        m = poll(sp, settled, "everything settled", timeout=30)

        # Not one event lost, each under the class in force when it came.
        self.assertEqual(m.total("spillway_events_received_total"), total,
                         summarize(m))
        self.assertEqual(accounting_errors(m), [], summarize(m))
        expect = {"x": exp["x"], "y": exp["y"], "z": traffic.by_kind["n"],
                  "other": traffic.by_kind["o"], "_invalid": 0}
        for cls, n in expect.items():
            with self.subTest(cls=cls):
                self.assertEqual(m.received(cls), n, summarize(m))
                self.assertEqual(m.forwarded(cls), n, summarize(m))
                self.assertEqual(m.dropped(cls), 0, summarize(m))
        self.assertEqual(m.total("spillway_events_dropped_total"), 0)
        self.assertEqual(revision(m), 1 + RELOADS // 2)
        self.assertEqual(reloads(m, "ok"), RELOADS // 2)
        self.assertEqual(reloads(m, "error"), RELOADS // 2)
        forwarded = m.total("spillway_events_forwarded_total")
        self.assertEqual(forwarded, total)

        self.finish(sp)
        lines = [json.loads(l) for l in sp.sink_lines()]
        self.assertEqual(len(lines), forwarded)
        marks = sorted((d["step"], d["i"]) for d in lines if "route" in d)
        self.assertEqual(marks, sorted((d["step"], d["i"])
                                       for d in markers_sent))
        tcp_seqs = sorted(d["seq"] for d in lines
                          if "kind" in d and d["seq"] > 0)
        self.assertEqual(tcp_seqs, list(range(1, traffic.seq + 1)))
        self.assertEqual(sum(1 for d in lines if d.get("seq") == 0),
                         traffic.sent - traffic.seq)


class TestReloadKeepsState(SpillwayTestCase):
    RATE = 100

    def lim_rules(self, name="lim", extra_first=False):
        lim = {"name": name, "priority": 2, "rate": self.RATE,
               "burst": self.RATE, "match": [{"field": "k", "regex": "^l$"}]}
        classes = [lim]
        if extra_first:
            classes.insert(0, {"name": "extra", "priority": 1,
                               "match": [{"field": "k", "regex": "^e$"}]})
        return {"classes": classes, "default": {"name": "rest",
                                                "priority": 5}}

    def batch(self, sp, cls, n):
        """Send n events of class cls at once; returns (admitted, dropped,
        send time, settle time)."""
        m0 = sp.metrics()
        t_send = time.monotonic()
        sp.send_tcp(b'{"k":"l"}\n' * n)
        m = poll(sp, lambda m: m.received(cls) == m0.received(cls) + n
                 and m.queued(cls) == 0 and m.inflight(cls) == 0,
                 "%d events of %s settled" % (n, cls))
        t_done = time.monotonic()
        self.assertEqual(accounting_errors(m), [], summarize(m))
        admitted = m.forwarded(cls) - m0.forwarded(cls)
        dropped = (m.dropped(cls, "rate_limit")
                   - m0.dropped(cls, "rate_limit"))
        self.assertEqual(admitted + dropped, n, summarize(m))
        return admitted, dropped, t_send, t_done, m

    def test_buckets_kept_by_name(self):
        sp = self.start(rules=self.lim_rules())
        # Drain the burst: 150 at once, about 100 pass.
        adm1, drop1, t1, d1, _ = self.batch(sp, "lim", 150)
        self.assertGreaterEqual(adm1, self.RATE)
        self.assertLessEqual(adm1, self.RATE + self.RATE * (d1 - t1) + 1)
        self.assertGreater(drop1, 0)

        # PUT a set that keeps "lim" by name, same rate, another position.
        st, _, body = sp.admin("PUT", "/rules",
                               json.dumps(self.lim_rules(extra_first=True)))
        self.assertEqual((st, json.loads(body)["revision"]), (200, 2))
        adm2, drop2, t2, d2, m = self.batch(sp, "lim", 100)
        # No fresh burst: only what refilled since the bucket was drained.
        self.assertLessEqual(adm2, 1 + self.RATE * (d2 - t1),
                             "lim got a fresh burst from PUT /rules")
        self.assertGreater(drop2, 0)
        # Counters are kept by name too.
        self.assertEqual(m.received("lim"), 250)
        self.assertEqual(m.forwarded("lim"), adm1 + adm2)

        # SIGHUP with the file unchanged: a new revision, the same bucket.
        sp.signal(signal.SIGHUP)
        poll(sp, lambda m: revision(m) == 3, "revision 3 after SIGHUP")
        adm3, drop3, t3, d3, m = self.batch(sp, "lim", 100)
        self.assertLessEqual(adm3, 1 + self.RATE * (d3 - t2),
                             "lim got a fresh burst from SIGHUP")
        self.assertGreater(drop3, 0)

        # POST /rules/reload of a file that keeps the class as it is.
        write_atomic(sp.rules_path, text_of(self.lim_rules()))
        st, _, body = sp.admin("POST", "/rules/reload")
        self.assertEqual((st, json.loads(body)), (200, {"revision": 4}))
        adm4, drop4, t4, d4, m = self.batch(sp, "lim", 100)
        self.assertLessEqual(adm4, 1 + self.RATE * (d4 - t3),
                             "lim got a fresh burst from POST /rules/reload")

        # Renamed: a new class, with a full bucket and its own counters.
        st, _, _ = sp.admin("PUT", "/rules",
                            json.dumps(self.lim_rules(name="lim2")))
        self.assertEqual(st, 200)
        adm5, drop5, _, _, m = self.batch(sp, "lim2", self.RATE)
        self.assertEqual((adm5, drop5), (self.RATE, 0))
        self.assertEqual(m.received("lim2"), self.RATE)
        # The old name keeps its series, unchanged.
        self.assertEqual(m.received("lim"), 450)
        self.assertEqual(m.forwarded("lim"), adm1 + adm2 + adm3 + adm4)
        stats = sp.stats()["classes"]
        self.assertFalse(stats["lim"]["active"])
        self.assertTrue(stats["lim2"]["active"])
        self.assertEqual(revision(m), 5)
        self.assertEqual((reloads(m, "ok"), reloads(m, "error")), (4, 0))

    def test_queued_events_keep_their_class(self):
        """Events queued behind a blocked sink keep the class they were
        given, even when a reload removes it."""
        tmp = tempfile.mkdtemp(prefix="spillway-fifo-")
        self.addCleanup(shutil.rmtree, tmp, True)
        fifo = os.path.join(tmp, "fifo")
        os.mkfifo(fifo)
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.addCleanup(os.close, rfd)
        try:
            fcntl.fcntl(rfd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)
        except OSError:
            pass
        before = {"classes": [
            {"name": "x", "priority": 1,
             "match": [{"field": "route", "regex": "^m$"}]},
            {"name": "y", "priority": 2,
             "match": [{"field": "route", "regex": "^q$"}]}],
            "default": {"name": "other", "priority": 5}}
        after = {"classes": [
            {"name": "y", "priority": 2,
             "match": [{"field": "route", "regex": "^(m|q)$"}]}],
            "default": {"name": "other", "priority": 5}}
        sp = self.start(sink="file:" + fifo, rules=before,
                        config={"control": {"target_latency_ms": 600000},
                                "sink": {"batch_events": 5}})
        pad = "p" * 2000
        # Enough to fill the pipe and leave x events in the queue.
        sp.send_tcp(ndjson({"route": "m", "i": i, "pad": pad}
                           for i in range(100)))
        m = poll(sp, lambda m: m.received("x") == 100
                 and m.queued("x") > 0, "x events queued")
        st, _, _ = sp.admin("PUT", "/rules", json.dumps(after))
        self.assertEqual(st, 200)
        sp.send_tcp(ndjson({"route": "m", "i": 100 + i, "pad": pad}
                           for i in range(30)))
        m = poll(sp, lambda m: m.received("y") == 30, "y received")
        self.assertEqual(m.received("x"), 100)
        self.assertGreater(m.queued("x"), 0)
        self.assertEqual(accounting_errors(m), [], summarize(m))
        self.assertFalse(sp.stats()["classes"]["x"]["active"])
        # Unblock: everything arrives, in order, each under its class.
        data = bytearray()

        def settled(m):
            r, _, _ = select.select([rfd], [], [], 0)
            while r:
                chunk = os.read(rfd, 1 << 16)
                if not chunk:
                    break
                data.extend(chunk)
                r, _, _ = select.select([rfd], [], [], 0)
            return (m.total("spillway_events_queued") == 0
                    and m.total("spillway_events_inflight") == 0)
        m = poll(sp, settled, "queue drained")
        self.assertEqual((m.forwarded("x"), m.dropped("x")), (100, 0))
        self.assertEqual((m.forwarded("y"), m.dropped("y")), (30, 0))
        got = [json.loads(l)["i"] for l in bytes(data).splitlines()]
        self.assertEqual(got, list(range(130)))


class TestAdminToken(SpillwayTestCase):
    TOKEN = "s3cret-t0ken"

    def state(self, sp):
        m = sp.metrics()
        st, hd, body = sp.admin("GET", "/rules")
        self.assertEqual(st, 200)
        fst = os.stat(sp.rules_path)
        return (revision(m), reloads(m, "ok"), reloads(m, "error"),
                hd.get("x-spillway-rules-revision"), body.decode(),
                slurp(sp.rules_path, "r"), fst.st_ino, fst.st_mtime_ns)

    def test_token_guards_put_and_post(self):
        a, b = text_of(ruleset("A")), text_of(ruleset("B"))
        sp = self.start(rules=a, config={"admin_token": self.TOKEN})
        # Reading needs no token.
        for path in ("/healthz", "/metrics", "/stats", "/rules", "/"):
            with self.subTest(path=path):
                st, _, _ = sp.admin("GET", path)
                self.assertEqual(st, 200)
        s0 = self.state(sp)
        self.assertEqual(s0[:5], (1, 0, 0, "1", a))
        wrong = [None, "Bearer", "Bearer ", "Bearer wrong",
                 "Bearer " + self.TOKEN + "x", "Bearer " + self.TOKEN[:-1],
                 "Basic " + self.TOKEN, self.TOKEN,
                 "Bearer " + self.TOKEN + " extra"]
        for hdr in wrong:
            headers = {} if hdr is None else {"Authorization": hdr}
            with self.subTest(auth=hdr):
                st, hd, body = sp.admin("PUT", "/rules", b.encode(), headers)
                self.assertEqual(st, 401, body)
                self.assertIn("bearer", hd.get("www-authenticate",
                                               "").lower())
                self.assertEqual(self.state(sp), s0)
        # POST: the file changes, but without the token nothing is read.
        write_atomic(sp.rules_path, b)
        s1 = self.state(sp)
        self.assertEqual(s1[:5], s0[:5])
        for hdr in wrong:
            headers = {} if hdr is None else {"Authorization": hdr}
            with self.subTest(post_auth=hdr):
                st, _, body = sp.admin("POST", "/rules/reload", None,
                                       headers)
                self.assertEqual(st, 401, body)
                self.assertEqual(self.state(sp), s1)
        good = {"Authorization": "Bearer " + self.TOKEN}
        st, _, body = sp.admin("POST", "/rules/reload", None, good)
        self.assertEqual((st, json.loads(body)), (200, {"revision": 2}))
        st, hd, body = sp.admin("GET", "/rules")
        self.assertEqual((body.decode(), hd["x-spillway-rules-revision"]),
                         (b, "2"))
        st, _, body = sp.admin("PUT", "/rules", a.encode(), good)
        self.assertEqual((st, json.loads(body)),
                         (200, {"revision": 3, "persisted": True}))
        self.assertEqual(slurp(sp.rules_path, "r"), a)
        # With the token, a bad body is still refused as bad.
        st, _, body = sp.admin("PUT", "/rules", b"{\"classes\": 1}", good)
        self.assertEqual(st, 400)
        self.assertEqual(sorted(json.loads(body)),
                         ["column", "error", "line"])
        m = sp.metrics()
        self.assertEqual((revision(m), reloads(m, "ok"), reloads(m, "error")),
                         (3, 2, 1))
        # SIGHUP is the operator's own and needs no token.
        sp.signal(signal.SIGHUP)
        poll(sp, lambda m: revision(m) == 4, "revision 4 after SIGHUP")
