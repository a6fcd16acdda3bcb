"""Freshness (SPEC §5): the queue serves the sink by priority, FIFO within
a priority, so priority 0 never waits behind less important events; a
class's max_age_ms drops what waited too long (expired); every event's
lag is measured per class.  These tests assert order and counts; the
numbers (lag under a storm, against capacity) are in make bench."""

import json
import time
import unittest

from harness import WAIT_TIMEOUT, accounting_errors, summarize
from test_es_sink import ESSinkCase

RULES = {
    "classes": [
        {"name": "critical", "priority": 0,
         "match": [{"field": "level", "regex": "^ERROR$"}]},
        {"name": "apps", "priority": 5,
         "match": [{"field": "level", "regex": "^INFO$"}]},
        {"name": "debug", "priority": 9, "max_age_ms": 300,
         "match": [{"field": "level", "regex": "^DEBUG$"}]},
    ],
    "default": {"name": "other", "priority": 7},
}

PRIO = {"ERROR": 0, "INFO": 5, "DEBUG": 9}


def lines(level, ns):
    return "".join(json.dumps({"level": level, "n": n},
                              separators=(",", ":")) + "\n" for n in ns)


class FreshCase(ESSinkCase):

    def spillway(self, emu_url, **sink):
        cfg = {"sink": {"batch_events": 20, "flush_ms": 10,
                        "concurrency": 1, "timeout_ms": 5000,
                        "max_retries": 3}}
        cfg["sink"].update(sink)
        return self.start(config=cfg, rules=RULES, sink=emu_url)

    def received(self, sp, n):
        sp.wait_for(lambda m: m.total("spillway_events_received_total") >= n,
                    "%d events received" % n)


class Order(FreshCase):

    def test_priority_zero_is_served_first(self):
        emu = self.emulator()
        emu.config(capacity=0)          # every item 429: all of it waits
        sp = self.spillway(emu.url)
        sp.send_tcp((lines("INFO", range(30)) + lines("ERROR", range(10)) +
                     lines("DEBUG", range(10))).encode())
        self.received(sp, 50)
        self.wait_until(lambda: emu.stats()["rejected"]["capacity_items"]
                        >= 20, "the cluster refusing items")
        emu.config(capacity=None)
        m = sp.wait_settled(50, timeout=WAIT_TIMEOUT * 2)
        got = [json.loads(r["source"]) for r in emu.received()]
        # What waited together went out most important first, and in
        # arrival order within each priority.
        prios = [PRIO[g["level"]] for g in got]
        self.assertEqual(prios, sorted(prios), got)
        for level in PRIO:
            ns = [g["n"] for g in got if g["level"] == level]
            self.assertEqual(ns, sorted(ns), level)
        self.assertEqual(m.forwarded("critical"), 10, summarize(m))
        self.assertEqual(accounting_errors(m), [], summarize(m))


class Expiry(FreshCase):

    def test_old_events_expire_instead_of_going_late(self):
        emu = self.emulator()
        emu.config(capacity=0)
        sp = self.spillway(emu.url)
        sp.send_tcp((lines("DEBUG", range(5)) + lines("INFO", range(5))
                     ).encode())
        self.received(sp, 10)
        # debug's 300 ms pass while nothing can be delivered.
        sp.wait_for(lambda m: m.dropped("debug", "expired") == 5,
                    "debug expired", timeout=WAIT_TIMEOUT)
        emu.config(capacity=None)
        m = sp.wait_settled(10, timeout=WAIT_TIMEOUT * 2)
        self.assertEqual(m.forwarded("apps"), 5)
        self.assertEqual(m.forwarded("debug"), 0)
        self.assertEqual(sorted(json.loads(r["source"])["level"]
                                for r in emu.received()), ["INFO"] * 5)
        self.assertEqual(accounting_errors(m), [], summarize(m))


class Lag(FreshCase):

    def test_lag_is_measured_per_class(self):
        emu = self.emulator("--latency-ms", "150")
        sp = self.spillway(emu.url, flush_ms=0)
        sp.send_tcp(lines("ERROR", range(4)).encode())
        m = sp.wait_settled(4)
        # Each waited at least the cluster's 150 ms: none is in a bucket
        # below 0.1 s, all four are counted.
        self.assertEqual(m.get1("spillway_event_lag_seconds_count",
                                **{"class": "critical"}), 4)
        self.assertEqual(m.get1("spillway_event_lag_seconds_bucket",
                                **{"class": "critical", "le": "0.1"}), 0)
        self.assertEqual(m.get1("spillway_event_lag_seconds_bucket",
                                **{"class": "critical", "le": "+Inf"}), 4)
        self.assertGreaterEqual(m.get1("spillway_event_lag_seconds_sum",
                                       **{"class": "critical"}), 0.6)
        # /stats shows the last 10 s once a snapshot has been taken.
        deadline = time.monotonic() + WAIT_TIMEOUT
        while True:
            lag = sp.stats()["classes"]["critical"]["lag_10s"]
            if lag["events"] == 4 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(lag["events"], 4)
        self.assertGreaterEqual(lag["p50_ms"], 100)
        self.assertLessEqual(lag["p99_ms"], 5000)


if __name__ == "__main__":
    unittest.main()
