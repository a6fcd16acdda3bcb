"""The dashboard at GET / on the admin listener (SPEC section 6).

The served page and its headers are checked over HTTP; then the page is
loaded in headless Chromium while events flow, and the DOM its script
built is checked against /stats: one row per class in priority order,
live numbers for the classes with traffic, zeros for the others, a drawn
chart and the header fields.  A broken script leaves the table empty and
the chart blank, so the test fails with it.

On load the page draws the server's history (GET /stats/history) at
once; that, the by-priority view with its backpressure marks and the
banner of the overrides in force are checked against a fake server
answering fixed JSON, and the history's first draw against the real one.

A screenshot is written to tests/out/dashboard.png (not tracked).
"""

import html.parser
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from harness import REPO, SpillwayTestCase

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OUT_DIR = os.path.join(REPO, "tests", "out")
PAGE = os.path.join(REPO, "src", "dashboard.html")
BUDGET_MS = 6000		# virtual time: about six polls of /stats
CHROMIUM_TIMEOUT = 120

RULES = {
    "classes": [
        {"name": "errors", "priority": 0,
         "match": [{"field": "level", "regex": "^error$"}]},
        {"name": "apps", "priority": 2, "key": "svc", "key_rate": 20,
         "key_burst": 20, "match": [{"field": "svc", "regex": "."}]},
        {"name": "debug", "priority": 4, "rate": 10, "burst": 10,
         "match": [{"field": "level", "regex": "^debug$"}]},
    ],
    "default": {"name": "rest", "priority": 3},
}
BUSY = ("errors", "apps", "debug")	# the sender feeds these
IDLE = ("rest", "_invalid")		# and never these

# One batch every 20 ms: errors 100/s, apps 400/s from one flooding key
# (20/s allowed) and 50/s from another, debug 200/s (10/s allowed).
BATCH = (b'{"level":"error","msg":"disk full"}\n' * 2
         + b'{"level":"info","svc":"flood","msg":"x"}\n' * 8
         + b'{"level":"info","svc":"quiet","msg":"y"}\n'
         + b'{"level":"debug","msg":"z"}\n' * 4)


# A fake server's history: HIST_N samples a second apart (the wall clock
# is the server's: the page takes its time from the last sample); "late"
# appears at sample LATE_AT, null before; backpressure is on in the runs
# HIST_BP, and the samples outside them are all off.
HIST_T0 = 1796640000000
HIST_N = 300
LATE_AT = 100
HIST_CLASSES = [{"name": "critical", "priority": 0},
                {"name": "web", "priority": 2},
                {"name": "batch", "priority": 7},
                {"name": "debug", "priority": 9},
                {"name": "_invalid", "priority": 0},
                {"name": "_spillway", "priority": 0},
                {"name": "late", "priority": 7}]
HIST_BP = (range(40, 50), range(150, 151), range(220, 260))
HIST_PRIOS = ["0", "2", "7", "9"]

OVERRIDES = [
    {"id": 3, "kind": "rate", "class": "batch", "rate": 100, "force": False,
     "reason": "INC-1234", "for_s": 900.0, "left_s": 852.3, "shed": 5120},
    {"id": 4, "kind": "shed", "priority_at_least": 9, "force": False,
     "reason": "debug flood, INC-1240", "for_s": 600.0, "left_s": 42.9,
     "shed": 0},
]
OVERRIDE_TEXTS = [
    "Override #3: batch capped at 100/s for 14m12s, 5,120 shed so far "
    "\u2014 INC-1234",
    "Override #4: priorities 9 and above shed for 42s \u2014 debug flood, "
    "INC-1240",
]


def fake_history():
    samples = []
    for i in range(HIST_N):
        bp = any(i in r for r in HIST_BP)
        rx = [100.0, 50.0 + i % 7, 400.0, 200.0, 0.0, 1.0, 30.0]
        fwd = [100.0, 50.0, 100.0 if bp else 300.0, 10.0, 0.0, 1.0, 30.0]
        lag = [3.5, 12.0, 800.0 if bp else 40.0, 90.0, 0.0, 0.0, 20.0]
        n = len(HIST_CLASSES) if i >= LATE_AT else len(HIST_CLASSES) - 1

        def cut(v):
            return v[:n] + [None] * (len(v) - n)

        samples.append({
            "t": HIST_T0 + 1000 * i, "capacity": 1000.0,
            "backpressure": bp, "queued": 5000 if bp else 0,
            "received": cut(rx), "forwarded": cut(fwd),
            "shed": cut([r - f if bp else 0.0 for r, f in zip(rx, fwd)]),
            "dropped": cut([r - f for r, f in zip(rx, fwd)]),
            "lag_p99_ms": cut(lag)})
    return {"interval_s": 1, "window_s": 900, "classes": HIST_CLASSES,
            "samples": samples}


def fake_stats(overrides):
    """What the fake server's /stats says: its classes as in the
    history; with overrides None, no "overrides" key (an older server)."""
    classes = {}
    for c in HIST_CLASSES:
        classes[c["name"]] = {
            "priority": c["priority"], "active": True, "received": 1000,
            "forwarded": 900, "queued": 0, "inflight": 0,
            "dropped": {"rate_limit": 100, "backpressure": 0},
            "effective_rate": None,
            "rate_1s": {"received": 10.0, "forwarded": 9.0, "dropped": 1.0},
            "lag_10s": {"events": 10, "p50_ms": 1.0, "p99_ms": 2.0},
            "top_shed_keys": []}
    st = {"revision": 7, "capacity": 1000.0, "backpressure": False,
          "uptime_s": 3600.0,
          "queue": {"events": 0, "bytes": 0, "max_events": 200000,
                    "max_bytes": 268435456},
          "sink": {"url": "file:/dev/null", "state": "up",
                   "pressure": False},
          "divert": None, "fleet": None, "classes": classes}
    if overrides is not None:
        st["overrides"] = overrides
    return st


class Sender(threading.Thread):
    """Sends BATCH over one TCP connection until stopped."""

    def __init__(self, sp):
        super().__init__(daemon=True)
        self.sock = sp.tcp_connect()
        self.halt = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.halt.is_set():
                self.sock.sendall(BATCH)
                self.halt.wait(0.02)
        except OSError as e:
            self.error = e

    def stop(self):
        self.halt.set()
        self.join(10)
        self.sock.close()


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children, self.text = [], []

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def find(self, tag=None, **attrs):
        """Descendants (self included) with tag and attribute values;
        an attribute given as True only has to be present."""
        out = []
        for n in self.walk():
            if tag is not None and n.tag != tag:
                continue
            if all(k.replace("_", "-") in n.attrs and
                   (v is True or n.attrs[k.replace("_", "-")] == v)
                   for k, v in attrs.items()):
                out.append(n)
        return out

    def one(self, tag=None, **attrs):
        found = self.find(tag, **attrs)
        assert len(found) == 1, "%d <%s %s> elements" % (len(found), tag,
                                                          attrs)
        return found[0]

    def all_text(self):
        return "".join(self.text) + "".join(c.all_text()
                                            for c in self.children)

    def has_class(self, cls):
        return cls in self.attrs.get("class", "").split()


class DomParser(html.parser.HTMLParser):
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input",
            "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in self.VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.text.append(data)


def parse_dom(text):
    p = DomParser()
    p.feed(text)
    p.close()
    return p.root


def path_points(d):
    """The (x, y) points of an SVG path made of M and L commands."""
    assert re.fullmatch(r"([ML]-?[\d.]+ -?[\d.]+)+", d), \
        "unexpected path data %r" % d[:200]
    return [(float(x), float(y))
            for x, y in re.findall(r"[ML](-?[\d.]+) (-?[\d.]+)", d)]


def chromium(args, tmp):
    """Run headless Chromium; returns (stdout, stderr) as text.  Its whole
    process group is killed if it overruns."""
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--user-data-dir=" + os.path.join(tmp, "ud"),
            "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=%d" % BUDGET_MS] + list(args)
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, cwd=tmp)
    try:
        out, err = p.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise AssertionError("chromium ran longer than %ss: %s"
                             % (CHROMIUM_TIMEOUT, argv))
    out, err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    if p.returncode != 0:
        raise AssertionError("chromium exited %s: %s\n%s"
                             % (p.returncode, argv, err[-3000:]))
    return out, err


def fake_server(routes):
    """An HTTP server on a free loopback port answering GET path with
    routes[path] (bytes, or an object sent as JSON), and 404 for the
    rest; stopped by the caller's stop_server()."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = routes.get(self.path.split("?")[0])
            if body is None:
                self.send_error(404)
                return
            ctype = "text/html" if isinstance(body, bytes) else \
                "application/json"
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    srv.thread = t
    return srv


def stop_server(srv):
    srv.shutdown()
    srv.server_close()
    srv.thread.join(10)


def console_problems(err):
    """Script errors and refused loads Chromium logged from the page."""
    return [l for l in err.splitlines() if "CONSOLE" in l and (
        "Uncaught" in l or "Refused" in l or "Error" in l)]


class TestDashboardServed(SpillwayTestCase):
    def test_page_and_headers(self):
        sp = self.start()
        with open(PAGE, "rb") as f:
            page = f.read()
        st, hd, body = sp.admin("GET", "/")
        self.assertEqual(st, 200)
        self.assertEqual(body, page, "GET / is not src/dashboard.html")
        self.assertEqual(hd.get("content-type"), "text/html; charset=utf-8")
        self.assertEqual(hd.get("cache-control"), "no-cache")
        csp = [d.strip() for d in hd.get("content-security-policy",
                                         "").split(";")]
        for want in ("default-src 'none'", "script-src 'unsafe-inline'",
                     "style-src 'unsafe-inline'", "connect-src 'self'"):
            self.assertIn(want, csp, hd)
        # Self-contained: nothing is loaded from anywhere else.
        text = page.decode("utf-8")
        for ref in re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)""",
                              text):
            self.assertTrue(ref.startswith("data:"), ref)
        self.assertNotIn("@import", text)
        self.assertNotIn("url(", text)
        self.assertIsNone(re.search(r"<(?:iframe|object|embed|img)\b", text))

        st, hd, body = sp.admin("HEAD", "/")
        self.assertEqual(st, 200)
        self.assertEqual(body, b"")
        self.assertEqual(int(hd["content-length"]), len(page))

    def test_plain_index_stays(self):
        sp = self.start()
        for path, headers in (("/index.txt", {}),
                              ("/index.txt", {"Accept": "text/html"}),
                              ("/", {"Accept": "text/plain"})):
            with self.subTest(path=path, headers=headers):
                st, hd, body = sp.admin("GET", path, headers=headers)
                self.assertEqual(st, 200)
                self.assertEqual(hd.get("content-type"),
                                 "text/plain; charset=utf-8")
                self.assertTrue(body.startswith(b"spillway admin: "), body)
                self.assertIn(b"/stats", body)
        # What a browser sends gets the page.
        st, hd, _ = sp.admin("GET", "/", headers={
            "Accept": "text/html,application/xhtml+xml,application/xml;"
                      "q=0.9,*/*;q=0.8"})
        self.assertEqual(hd.get("content-type"), "text/html; charset=utf-8")
        self.assertEqual(sp.admin("POST", "/")[0], 404)


@unittest.skipUnless(CHROMIUM, "chromium (or chromium-browser) is not "
                     "installed")
class TestDashboardInBrowser(SpillwayTestCase):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="spillway-dash-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_error_banner(self):
        """Served with a /stats that fails, the page says so."""
        with open(PAGE, "rb") as f:
            page = f.read()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                else:
                    self.send_error(503)

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            dom, _ = chromium(["--dump-dom", "http://127.0.0.1:%d/"
                               % srv.server_address[1]], self.tmp)
        finally:
            srv.shutdown()
            srv.server_close()
            t.join(10)
        root = parse_dom(dom)
        banner = root.one(id="error")
        self.assertNotIn("hidden", banner.attrs)
        self.assertTrue(banner.all_text().startswith(
            "GET /stats failed: HTTP 503"), banner.all_text())
        self.assertEqual(root.one(id="updated").all_text(), "never")
        self.assertEqual(root.one("table", id="classes").find(
            "tr", data_class=True), [])

    def load(self, routes):
        """The DOM the page built, served by a fake server with routes,
        and what Chromium logged."""
        with open(PAGE, "rb") as f:
            routes = dict(routes, **{"/": f.read()})
        srv = fake_server(routes)
        try:
            dom, err = chromium(["--dump-dom", "http://127.0.0.1:%d/"
                                 % srv.server_address[1]], self.tmp)
        finally:
            stop_server(srv)
        return parse_dom(dom), err

    def test_history_and_overrides(self):
        """The whole history at once, by priority with the backpressure
        marked, and a banner per override in force."""
        root, err = self.load({"/stats/history": fake_history(),
                               "/stats": fake_stats(OVERRIDES)})
        self.assertEqual(console_problems(err), [], "the page logged errors")
        self.assertIn("hidden", root.one(id="error").attrs)

        # Every history sample is drawn: "late" lacks the first LATE_AT.
        chart = root.one("svg", id="chart")
        self.assertEqual(chart.attrs.get("data-samples"), str(HIST_N))
        panels = {g.attrs["data-class"]: g
                  for g in chart.find("g", data_class=True)}
        self.assertEqual(sorted(panels),
                         sorted(c["name"] for c in HIST_CLASSES))

        def points(g, series):
            paths = [p for p in g.find("path") if p.has_class(series)]
            self.assertEqual(len(paths), 1, series)
            return path_points(paths[0].attrs["d"])

        crit, late = points(panels["critical"], "received"), \
            points(panels["late"], "received")
        self.assertGreaterEqual(len(crit), HIST_N)
        self.assertEqual(len(crit) - len(late), LATE_AT)
        self.assertEqual(crit, sorted(crit), "time runs right")
        self.assertGreaterEqual(len(points(
            chart.one("g", data_panel="all"), "limit")), HIST_N)

        # By priority: a band per priority in each of the two panels, and
        # a mark per run of backpressure, as long as the run.
        byprio = root.one("svg", id="byprio")
        self.assertEqual(byprio.attrs.get("data-backpressure-marks"),
                         str(len(HIST_BP)))
        series = {g.attrs["data-series"]: g
                  for g in byprio.find("g", data_series=True)}
        self.assertEqual(sorted(series), ["forwarded", "shed"])
        for name, g in series.items():
            with self.subTest(series=name):
                bands = g.find("path")
                self.assertEqual([b.attrs.get("data-priority")
                                  for b in bands], HIST_PRIOS)
                for b in bands:
                    self.assertRegex(b.attrs["d"], r"^M[-\d. L]+Z")
                marks = g.find("rect", **{"class": "bp"})
                self.assertEqual(len(marks), len(HIST_BP))
                xs = [float(m.attrs["x"]) for m in marks]
                self.assertEqual(xs, sorted(xs))
                w = float(g.one("rect", **{"class": "frame"}).attrs["width"])
                for m, run in zip(marks, HIST_BP):
                    self.assertAlmostEqual(
                        float(m.attrs["width"]),
                        max(1.0, w * len(run) / 900), delta=0.25)
        lag = root.one("svg", id="lag")
        self.assertEqual(sorted(p.attrs.get("data-priority")
                                for p in lag.find("path")), HIST_PRIOS)
        self.assertEqual([s.all_text() for s in root.one(
            id="prios").find("span")],
            ["priority " + p for p in HIST_PRIOS] + ["backpressure on"])

        # The overrides, one line each.
        banner = root.one(id="overrides")
        self.assertNotIn("hidden", banner.attrs)
        items = banner.find("li")
        self.assertEqual([li.attrs.get("data-id") for li in items],
                         [str(o["id"]) for o in OVERRIDES])
        self.assertEqual([li.all_text() for li in items], OVERRIDE_TEXTS)

    def test_history_while_stats_fails(self):
        """The history is drawn even when /stats does not answer."""
        root, err = self.load({"/stats/history": fake_history()})
        banner = root.one(id="error")
        self.assertNotIn("hidden", banner.attrs)
        self.assertTrue(banner.all_text().startswith(
            "GET /stats failed: HTTP 404"), banner.all_text())
        chart = root.one("svg", id="chart")
        self.assertEqual(chart.attrs.get("data-samples"), str(HIST_N))
        self.assertEqual(sorted(g.attrs["data-class"] for g in chart.find(
            "g", data_class=True)), sorted(c["name"] for c in HIST_CLASSES))
        self.assertEqual(root.one("svg", id="byprio").attrs.get(
            "data-backpressure-marks"), str(len(HIST_BP)))
        self.assertIn("hidden", root.one(id="overrides").attrs)

    def test_no_overrides(self):
        """No override in force, or a server that has none (nor any
        history): no banner; the live part is drawn all the same."""
        for name, routes, samples in (
                ("older server", {"/stats": fake_stats(None)}, 0),
                ("none in force", {"/stats/history": fake_history(),
                                   "/stats": fake_stats([])}, HIST_N)):
            with self.subTest(name):
                root, err = self.load(routes)
                self.assertEqual(console_problems(err), [], err)
                self.assertIn("hidden", root.one(id="error").attrs)
                self.assertNotEqual(root.one(id="updated").all_text(),
                                    "never")
                banner = root.one(id="overrides")
                self.assertIn("hidden", banner.attrs)
                self.assertEqual(banner.find("li"), [])
                chart = root.one("svg", id="chart")
                self.assertEqual(chart.attrs.get("data-samples"),
                                 str(samples))
                total = chart.one("g", data_panel="all")
                self.assertTrue([p for p in total.find("path")
                                 if p.has_class("received")])
                self.assertEqual(root.one("svg", id="byprio").attrs.get(
                    "data-backpressure-marks"),
                    "0" if samples == 0 else str(len(HIST_BP)))

    def test_history_on_first_load(self):
        """Against the real binary: the page's first load draws every
        sample /stats/history had before it, and the override posted."""
        sp = self.start(rules=RULES)
        st, _, _ = sp.admin("GET", "/stats/history")
        if st == 404:
            self.skipTest("this spillway has no GET /stats/history")
        self.assertEqual(st, 200)
        st, _, body = sp.admin("POST", "/overrides", json.dumps(
            {"class": "debug", "rate": 5, "for": "15m",
             "reason": "INC-77 debug flood"}))
        self.assertEqual(st, 201, body)
        override = json.loads(body)
        sender = Sender(sp)
        sender.start()
        try:
            # Until three samples saw traffic in every busy class.
            deadline = time.monotonic() + 30
            while True:
                st, _, body = sp.admin("GET", "/stats/history")
                self.assertEqual(st, 200)
                hist = json.loads(body)
                cols = [c["name"] for c in hist["classes"]]
                busy = [s for s in hist["samples"] if all(
                    c in cols and (s["received"][cols.index(c)] or 0) > 0
                    for c in BUSY)]
                if len(hist["samples"]) >= 3 and len(busy) >= 3:
                    break
                self.assertLess(time.monotonic(), deadline,
                                "no traffic in /stats/history: %s" % body)
                time.sleep(0.1)
            dom, err = chromium(["--dump-dom", "http://127.0.0.1:%d/"
                                 % sp.ports["admin"]], self.tmp)
            after = sp.stats()
        finally:
            sender.stop()
        self.assertIsNone(sender.error)
        self.assertEqual(console_problems(err), [], "the page logged errors")
        root = parse_dom(dom)
        self.assertIn("hidden", root.one(id="error").attrs)

        chart = root.one("svg", id="chart")
        drawn = int(chart.attrs.get("data-samples", "-1"))
        self.assertGreaterEqual(drawn, len(hist["samples"]))
        # Each class's line runs through its history and on.
        errors = chart.one("g", data_class="errors")
        rx = path_points([p for p in errors.find("path")
                          if p.has_class("received")][0].attrs["d"])
        had = sum(1 for s in hist["samples"]
                  if s["received"][cols.index("errors")] is not None)
        self.assertGreaterEqual(len(rx), had)

        # A band per priority of the classes, in each panel.
        prios = sorted({str(c["priority"])
                        for c in after["classes"].values()}, key=int)
        byprio = root.one("svg", id="byprio")
        for g in byprio.find("g", data_series=True):
            self.assertEqual([b.attrs.get("data-priority")
                              for b in g.find("path")], prios)

        items = root.one(id="overrides").find("li")
        self.assertEqual([li.attrs.get("data-id") for li in items],
                         [str(override["id"])])
        self.assertRegex(items[0].all_text(),
                         r"^Override #%d: debug capped at 5/s for 1[45]m"
                         r"\d\ds, [\d,]+ shed so far \u2014 INC-77 debug "
                         r"flood$" % override["id"])

    def wait_live(self, sp):
        """Until every busy class has a non-zero 1 s received rate."""
        deadline = time.monotonic() + 20
        while True:
            st = sp.stats()
            if all(st["classes"][c]["rate_1s"]["received"] > 0
                   and st["classes"][c]["forwarded"] > 0 for c in BUSY):
                return st
            self.assertLess(time.monotonic(), deadline,
                            "no traffic in /stats: %s" % json.dumps(st))
            time.sleep(0.1)

    def test_live_page(self):
        sp = self.start(rules=RULES)
        url = "http://127.0.0.1:%d/" % sp.ports["admin"]
        sender = Sender(sp)
        sender.start()
        try:
            before = self.wait_live(sp)
            dom, err = chromium(["--dump-dom", url], self.tmp)
            after = sp.stats()
            os.makedirs(OUT_DIR, exist_ok=True)
            shot = os.path.join(OUT_DIR, "dashboard.png")
            if os.path.exists(shot):
                os.unlink(shot)
            _, shot_err = chromium(["--screenshot=" + shot,
                                    "--window-size=1280,1300",
                                    "--hide-scrollbars", url], self.tmp)
        finally:
            sender.stop()
        self.assertIsNone(sender.error)
        self.assertEqual(console_problems(err + shot_err), [],
                         "the page logged errors")
        root = parse_dom(dom)

        # The status banner is hidden and the header is filled in.
        self.assertIn("hidden", root.one(id="error").attrs,
                      root.one(id="error").all_text())
        self.assertNotEqual(root.one(id="updated").all_text(), "never")
        self.assertEqual(root.one(id="revision").all_text(),
                         str(after["revision"]))
        cap = root.one(id="capacity").all_text()
        if after["capacity"] is None:
            self.assertEqual(cap, "unlimited")
        else:
            self.assertRegex(cap, r"^[\d,.]+ ev/s$")
        self.assertIn(root.one(id="backpressure").all_text(), ("on", "off"))
        self.assertRegex(root.one(id="queue").all_text(),
                         r"^[\d,]+ / %s events, " % re.escape(
                             "{:,}".format(after["queue"]["max_events"])))
        self.assertRegex(root.one(id="uptime").all_text(), r"^\d+[dhms]")
        # Alone (no fleet.url): no fleet in the header.
        self.assertIsNone(after["fleet"])
        self.assertIn("hidden", root.one(id="fleetbox").attrs)

        # One row per class, by priority then name, internal ones too.
        table = root.one("table", id="classes")
        rows = {tr.attrs["data-class"]: tr
                for tr in table.find("tr", data_class=True)}
        order = [tr.attrs["data-class"]
                 for tr in table.find("tr", data_class=True)]
        want = sorted(after["classes"], key=lambda n: (
            after["classes"][n]["priority"], n))
        self.assertEqual(order, want)
        for name in ("_spillway", "_invalid") + BUSY + IDLE:
            self.assertIn(name, rows)

        def td(name, field):
            found = [n for n in rows[name].find("td") if n.has_class(field)]
            self.assertEqual(len(found), 1, (name, field))
            return found[0]

        def cell(name, field):
            v = td(name, field).attrs["data-v"]
            return None if v == "" else float(v)

        for name in rows:
            self.assertEqual(cell(name, "prio"),
                             after["classes"][name]["priority"], name)

        # Live numbers, between what /stats said before and after.
        for name in BUSY:
            with self.subTest(cls=name):
                for f in ("rx-rate", "fwd-rate"):
                    self.assertGreater(cell(name, f), 0, f)
                for f, key in (("rx", "received"), ("fwd", "forwarded")):
                    self.assertGreaterEqual(cell(name, f),
                                            before["classes"][name][key], f)
                    self.assertLessEqual(cell(name, f),
                                         after["classes"][name][key], f)
        for name in ("apps", "debug"):
            with self.subTest(cls=name):
                self.assertGreater(cell(name, "shed-rate"), 0)
                self.assertGreater(cell(name, "shed"), 0)
                drops = td(name, "drops").all_text()
                self.assertIn("rate_limit", drops)
        self.assertEqual(cell("errors", "shed"), 0)
        self.assertIsNone(cell("errors", "eff"))	# unlimited
        self.assertEqual(cell("debug", "eff"),
                         after["classes"]["debug"]["effective_rate"])
        for name in IDLE:
            with self.subTest(cls=name):
                for f in ("rx-rate", "fwd-rate", "shed-rate", "rx", "fwd",
                          "shed"):
                    self.assertEqual(cell(name, f), 0, f)
        shed_keys = [li.all_text() for li in td("apps", "keys").find("li")]
        self.assertTrue(shed_keys and shed_keys[0].startswith("flood ("),
                        shed_keys)
        for name in ("errors", "debug"):	# not keyed
            self.assertEqual(td(name, "keys").find("li"), [])

        # The chart: a panel for the total and for every class, with
        # lines through several polls; busy classes above the baseline.
        chart = root.one("svg", id="chart")
        self.assertEqual(len(chart.find("g", data_panel="all")), 1)
        panels = {g.attrs["data-class"]: g
                  for g in chart.find("g", data_class=True)}
        self.assertEqual(sorted(panels), sorted(want))
        for name in BUSY:
            with self.subTest(chart=name):
                g = panels[name]
                frame = g.one("rect")
                base = float(frame.attrs["y"]) + float(frame.attrs["height"])
                for series in ("received", "forwarded"):
                    paths = [p for p in g.find("path")
                             if p.has_class(series)]
                    self.assertEqual(len(paths), 1, series)
                    pts = path_points(paths[0].attrs["d"])
                    self.assertGreaterEqual(len(pts), 3, series)
                    # Time runs right (a history sample and the first
                    # poll may fall on one pixel column).
                    xs = [x for x, _ in pts]
                    self.assertEqual(xs, sorted(xs), "time runs right")
                    self.assertLess(pts[-1][1], base, series)
        total = chart.one("g", data_panel="all")
        rx = path_points([p for p in total.find("path")
                          if p.has_class("received")][0].attrs["d"])
        self.assertGreaterEqual(len(rx), 3)

        with open(shot, "rb") as f:
            png = f.read()
        self.assertTrue(png.startswith(b"\x89PNG\r\n\x1a\n"))
        self.assertGreater(len(png), 10000)
