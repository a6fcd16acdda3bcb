"""The admin listener: /healthz, /metrics, /stats, errors, garbage."""

import json
import socket

from harness import SpillwayTestCase, parse_metrics

RULES = {"classes": [{"name": "limited", "priority": 1, "rate": 1,
                      "burst": 2, "match": [{"field": "k", "regex": "^l$"}]},
                     {"name": "audit", "priority": 0,
                      "match": [{"raw": "audit"}]}],
         "default": {"name": "rest", "priority": 5}}


def find_class_stats(stats, name):
    """The per-class object of /stats, wherever the layout keeps it: a
    dict keyed by class name or a list of objects naming their class."""
    def walk(node):
        if isinstance(node, dict):
            v = node.get(name)
            if isinstance(v, dict) and "received" in v:
                return v
            if (node.get("name") == name or node.get("class") == name) \
                    and "received" in node:
                return node
            for v in node.values():
                r = walk(v)
                if r is not None:
                    return r
        elif isinstance(node, list):
            for v in node:
                r = walk(v)
                if r is not None:
                    return r
        return None
    return walk(stats)


def dropped_total(cs):
    d = cs.get("dropped")
    if isinstance(d, dict):
        return sum(v for v in d.values() if isinstance(v, (int, float)))
    return d


class TestAdmin(SpillwayTestCase):
    def test_healthz(self):
        sp = self.start()
        st, hd, data = sp.admin("GET", "/healthz")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(data), {"status": "ok"})
        self.assertTrue(hd.get("content-type", "").startswith(
            "application/json"), hd)

    def test_unknown_path_404(self):
        sp = self.start()
        for path in ("/nope", "/metrics/x", "/healthzz", "/_bulk"):
            with self.subTest(path=path):
                st, _, _ = sp.admin("GET", path)
                self.assertEqual(st, 404)

    def test_metrics_names_and_values(self):
        sp = self.start(rules=RULES)
        # Series exist from the start, zero included.
        m = sp.metrics()
        for cls in ("limited", "audit", "rest", "_invalid"):
            for name in ("spillway_events_received_total",
                         "spillway_events_forwarded_total",
                         "spillway_events_queued",
                         "spillway_events_inflight"):
                with self.subTest(cls=cls, name=name):
                    self.assertTrue(m.has(name, **{"class": cls}),
                                    "%s{class=%s} missing" % (name, cls))
                    self.assertEqual(m.get1(name, **{"class": cls}), 0)
        sp.send_tcp(b'{"k":"l"}\n' * 5 + b'{"audit":1}\n{"x":1}\nbad\n')
        m = sp.wait_settled(8)
        self.assertEqual(m.received("limited"), 5)
        self.assertEqual(m.forwarded("limited"), 2)
        self.assertEqual(m.get1("spillway_events_dropped_total",
                                **{"class": "limited",
                                   "reason": "rate_limit"}), 3)
        self.assertEqual(m.received("audit"), 1)
        self.assertEqual(m.received("rest"), 1)
        self.assertEqual(m.received("_invalid"), 1)
        self.assertEqual(m.get1("spillway_parse_errors_total",
                                listener="tcp"), 1)
        # Labels never carry anything but known names.
        for (name, labels) in m:
            for k, v in labels:
                if k == "reason" and name == "spillway_events_dropped_total":
                    self.assertIn(v, ("rate_limit", "backpressure",
                                      "queue_full", "too_large",
                                      "expired", "sink_rejected",
                                      "sink_error",
                                      "unacknowledged", "shutdown"))
                if k == "listener" and name.startswith("spillway_parse"):
                    self.assertIn(v, ("tcp", "http", "kafka"))

    def test_metrics_prometheus_format(self):
        sp = self.start(rules=RULES)
        sp.send_tcp(b'{"k":"l"}\n' * 3 + b"bad\n")
        sp.wait_settled(4)
        st, hd, data = sp.admin("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(hd.get("content-type", "").startswith("text/plain"),
                        hd)
        text = data.decode("utf-8")
        self.assertTrue(text.endswith("\n"))
        parsed = parse_metrics(text)
        # Every sample's family has # TYPE; counters end in _total.
        types = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, fam, typ = line.split(None, 3)
                self.assertNotIn(fam, types, "duplicate TYPE " + fam)
                types[fam] = typ
        for (name, _) in parsed:
            fam = name
            for suf in ("_bucket", "_sum", "_count"):
                if name.endswith(suf) and name[:-len(suf)] in types:
                    fam = name[:-len(suf)]
            self.assertIn(fam, types, "no # TYPE for " + name)
            if types[fam] == "counter":
                self.assertTrue(name.endswith("_total"), name)
        self.assertEqual(types.get("spillway_events_received_total"),
                         "counter")
        self.assertEqual(types.get("spillway_events_queued"), "gauge")
        try:
            from prometheus_client.parser import \
                text_string_to_metric_families
        except ImportError:
            return
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        self.assertIn("spillway_events_received", fams)
        samples = {(s.name, s.labels.get("class")): s.value
                   for s in fams["spillway_events_received"].samples}
        self.assertEqual(samples[("spillway_events_received_total",
                                  "limited")], 3)
        self.assertEqual(samples[("spillway_events_received_total",
                                  "_invalid")], 1)

    def test_stats_json(self):
        sp = self.start(rules=RULES)
        sp.send_tcp(b'{"k":"l"}\n' * 4 + b'{"audit":1}\n')
        m = sp.wait_settled(5)
        st, hd, data = sp.admin("GET", "/stats")
        self.assertEqual(st, 200)
        stats = json.loads(data)
        lim = find_class_stats(stats, "limited")
        self.assertIsNotNone(lim, "no per-class entry for 'limited': %s"
                             % data[:1000])
        self.assertEqual(lim["received"], 4)
        self.assertEqual(lim["forwarded"], 2)
        self.assertEqual(dropped_total(lim), 2)
        if isinstance(lim.get("dropped"), dict):
            self.assertEqual(lim["dropped"].get("rate_limit"), 2)
        aud = find_class_stats(stats, "audit")
        self.assertIsNotNone(aud)
        self.assertEqual((aud["received"], aud["forwarded"]), (1, 1))
        self.assertIsNotNone(find_class_stats(stats, "_invalid"))
        self.assertIsNotNone(find_class_stats(stats, "rest"))
        self.assertEqual(m.received("limited"), 4)

    def test_garbage_on_admin_port(self):
        sp = self.start()
        port = sp.ports["admin"]
        payloads = [b"\x00\xff\xfe garbage\r\n\r\n",
                    b"GET\r\n\r\n",
                    b"GET /healthz HTTP/9.9\r\n\r\n",
                    b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\nHost: x\r\n" +
                    b"X: " + b"y" * 200000 + b"\r\n\r\n",
                    b"POST /healthz HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 99999999999\r\n\r\n",
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\n",  # never finished
                    bytes(range(256)) * 64]
        socks = []
        for p in payloads:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            try:
                s.sendall(p)
            except OSError:
                pass
            socks.append(s)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        # Read whatever comes back; the server may close on us.
        for s in socks:
            try:
                s.settimeout(2)
                s.recv(65536)
            except OSError:
                pass
            s.close()
        self.assertTrue(sp.alive(), sp.stderr())
        st, _, data = sp.admin("GET", "/healthz")
        self.assertEqual((st, json.loads(data)), (200, {"status": "ok"}))
        self.assertEqual(sp.metrics().total("spillway_events_received_total"),
                         0)

    def test_keepalive_requests(self):
        import http.client
        sp = self.start()
        c = http.client.HTTPConnection("127.0.0.1", sp.ports["admin"],
                                       timeout=10)
        try:
            for _ in range(20):
                c.request("GET", "/healthz")
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                r.read()
                c.request("GET", "/metrics")
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                parse_metrics(r.read().decode())
        finally:
            c.close()

    def test_connections_gauge(self):
        sp = self.start()
        socks = [sp.tcp_connect() for _ in range(5)]
        try:
            m = sp.wait_for(lambda m: m.get1("spillway_connections",
                                             listener="tcp") == 5,
                            "5 tcp connections")
        finally:
            for s in socks:
                s.close()
        sp.wait_for(lambda m: m.get1("spillway_connections",
                                     listener="tcp") == 0,
                    "0 tcp connections")
        self.assertTrue(m)


class TestAdminRules(SpillwayTestCase):

    def test_bearer_scheme_is_case_insensitive(self):
        sp = self.start(config={"admin_token": "s3cret"}, rules=RULES)
        body = json.dumps(RULES).encode()
        for auth, want in (("bearer s3cret", 200), ("BEARER s3cret", 200),
                           ("Bearer s3cre", 401), ("Bearer s3cret1", 401),
                           ("Basic s3cret", 401), ("Bearer ", 401)):
            st, _, _ = sp.admin("PUT", "/rules", body,
                                {"Authorization": auth})
            self.assertEqual(st, want, auth)

    def test_reload_of_an_unreadable_file_is_400(self):
        import os
        sp = self.start(rules=RULES)
        os.unlink(sp.rules_path)
        st, _, data = sp.admin("POST", "/rules/reload")
        self.assertEqual(st, 400, data)
        err = json.loads(data)
        self.assertEqual((err["line"], err["column"]), (0, 0))
        self.assertIn("cannot read", err["error"])
        self.assertEqual(sp.metrics().get1("spillway_rules_revision"), 1)

    def test_put_keeps_the_file_mode(self):
        import os
        import stat
        sp = self.start(rules=RULES)
        os.chmod(sp.rules_path, 0o600)
        st, _, _ = sp.admin("PUT", "/rules", json.dumps(RULES).encode())
        self.assertEqual(st, 200)
        self.assertEqual(stat.S_IMODE(os.stat(sp.rules_path).st_mode), 0o600)
