"""The dashboard at GET / on the admin listener (SPEC section 6).

The served page and its headers are checked over HTTP; then the page is
loaded in headless Chromium while events flow, and the DOM its script
built is checked against /stats: one row per class in priority order,
live numbers for the classes with traffic, zeros for the others, a drawn
chart and the header fields.  A broken script leaves the table empty and
the chart blank, so the test fails with it.

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
                    self.assertEqual(pts, sorted(pts), "time runs right")
                    self.assertLess(pts[-1][1], base, series)
        total = chart.one("g", data_panel="all")
        rx = path_points([p for p in total.find("path")
                          if p.has_class("received")][0].attrs["d"])
        self.assertGreaterEqual(len(rx), 3)

        with open(shot, "rb") as f:
            png = f.read()
        self.assertTrue(png.startswith(b"\x89PNG\r\n\x1a\n"))
        self.assertGreater(len(png), 10000)
