"""The simulation's port of the fleet rule (tools/scaling-sim.py) gives the
numbers tests/unit/check_fleet.c asserts of src/fleet.c, so that the plots
in docs/scaling.md are drawn by the rule the binary runs.  Pure Python, no
processes."""

import importlib.util
import math
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, "..", "..", "tools", "scaling-sim.py")
NS = 10 ** 9
T0 = 1000 * NS
STALE = 3 * NS


def load():
    spec = importlib.util.spec_from_file_location("scaling_sim", SIM)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


sim = load()


def two(a, b):
    """Each of two instances' (share, view), each hearing the other."""
    fa, fb = sim.Fleet(a[0], STALE), sim.Fleet(b[0], STALE)
    fa.heard(b, T0)
    fb.heard(a, T0)
    return fa.share(a, T0), fb.share(b, T0)


class TestPort(unittest.TestCase):
    """The cases of check_fleet.c, case by case."""

    def test_alone_is_local(self):
        f = sim.Fleet("a", STALE)
        a = ("a", 4000.0, {0: 1000.0, 3: 9000.0})
        self.assertEqual(f.heard(a, T0), 0)
        share, v = f.share(a, T0)
        self.assertEqual(share, 4000)
        self.assertEqual((v.peers, v.over, v.margin), (0, -1, -1))

    def test_lower_priority_elsewhere_yields(self):
        (sa, va), (sb, vb) = two(("a", 5000.0, {0: 3000.0, 1: 5000.0}),
                                 ("b", 5000.0, {9: 20000.0}))
        self.assertAlmostEqual(sa, 8000, places=6)
        self.assertAlmostEqual(sb, 2000, places=6)
        self.assertEqual((va.capacity, va.demand, va.over, va.margin),
                         (10000, 28000, 1, 9))
        self.assertAlmostEqual(va.margin_share, 0.1, places=9)

    def test_one_priority_shares_by_demand(self):
        (sa, va), (sb, _) = two(("a", 9000.0, {5: 15000.0}),
                                ("b", 1000.0, {5: 5000.0}))
        self.assertAlmostEqual(sa, 7500, places=6)
        self.assertAlmostEqual(sb, 2500, places=6)
        self.assertAlmostEqual(va.margin_share, 0.5, places=9)

    def test_spare_stays_with_its_owner(self):
        (sa, va), (sb, _) = two(("a", 6000.0, {2: 2000.0}),
                                ("b", 4000.0, {2: 1000.0}))
        self.assertAlmostEqual(sa, 2000 + 7000 * 0.6, places=6)
        self.assertAlmostEqual(sb, 1000 + 7000 * 0.4, places=6)
        self.assertEqual((va.over, va.margin), (0, -1))

    def test_shares_add_up_to_the_fleet_capacity(self):
        rs = [(n, 1000.0 * (i + 1), {0: 200.0, i + 1: 1500.0 * (3 - i), 7: 800.0})
              for i, n in enumerate("abc")]
        total = 0
        for r in rs:
            f = sim.Fleet(r[0], STALE)
            for o in rs:
                f.heard(o, T0)
            share, v = f.share(r, T0)
            total += share
        self.assertAlmostEqual(total, 6000, places=6)
        self.assertEqual(v.margin, 2)
        self.assertAlmostEqual(v.margin_share, 900 / 3000, places=9)

    def test_silent_peer_is_forgotten(self):
        f = sim.Fleet("a", STALE)
        a, b = ("a", 3000.0, {1: 8000.0}), ("b", 7000.0, {9: 8000.0})
        f.heard(b, T0)
        self.assertAlmostEqual(f.share(a, T0 + STALE)[0], 8000, places=6)
        share, v = f.share(a, T0 + STALE + 1)
        self.assertEqual((share, v.peers, v.over), (3000, 0, -1))

    def test_unlimited_peer_leaves_it_local(self):
        f = sim.Fleet("a", STALE)
        f.heard(("b", math.inf, {3: 100.0}), T0)
        share, v = f.share(("a", 2500.0, {3: 9000.0}), T0)
        self.assertEqual((share, v.over), (2500, -1))

    def test_never_below_own_priority_zero(self):
        f = sim.Fleet("a", STALE)
        f.heard(("b", 100.0, {0: 3000.0}), T0)
        share, v = f.share(("a", 100.0, {0: 3000.0}), T0)
        self.assertEqual((share, v.margin), (3000, 0))

    def test_channel_is_the_fleet_summed_once(self):
        """Channel (for 200 instances) gives what a Fleet per instance gives."""
        rs = [("h%d" % i, 500.0 + 37 * i if i != 3 else math.inf,
               {0: 50.0 + i, 2: 300.0 + 11 * i, 9: 900.0 - 13 * i})
              for i in range(8)]
        ch = sim.Channel()
        ch.deliver(rs)
        for r in rs:
            f = sim.Fleet(r[0], STALE)
            for o in rs:
                f.heard(o, T0)
            want, vw = f.share(r, T0)
            got, vg = ch.share(r, T0)
            self.assertEqual((got, vg.peers, vg.over), (want, vw.peers, vw.over))
        rs[3] = ("h3", 800.0, rs[3][2])
        ch.deliver(rs)
        for r in rs:
            f = sim.Fleet(r[0], STALE)
            for o in rs:
                f.heard(o, T0)
            self.assertAlmostEqual(ch.share(r, T0)[0], f.share(r, T0)[0], places=6)


class TestControl(unittest.TestCase):
    """The controller's fleet branch, as control_step() has it."""

    def test_fleet_decides_growth(self):
        iv = 250 * 10 ** 6
        c = sim.Control(iv, 0.7, 0.05, 0, 0)
        now, fwd, dem = 0, 0, 0
        for _ in range(4):      # a push-back sets C
            now += iv
            fwd += 250
            dem += 250
            c.step(now, fwd, dem, 1, 0)
        cap = c.capacity
        self.assertLess(cap, 1000)
        # Its own demand is below C, but the fleet wants more: it grows,
        # though no further than its demand or twice what it forwards.
        c.fleet_over = 1
        for _ in range(40):
            now += iv
            fwd += 100
            dem += 100
            c.step(now, fwd, dem, 0, 0)
        self.assertGreater(c.capacity, cap)
        self.assertLessEqual(c.capacity,
                             max(c.ceiling, 2 * c.fwd_rate, c.demand_rate) + 1e-9)
        # The fleet's demand fits: calm, then lifted.
        c.fleet_over = 0
        for _ in range(25):
            now += iv
            fwd += 100
            dem += 100
            c.step(now, fwd, dem, 0, 0)
        self.assertTrue(math.isinf(c.capacity))

    def test_issue_situation_in_the_simulation(self):
        """fleet2 against alone2, the scenario docs/scaling.md plots."""
        out = {}
        for name in ("fleet2", "alone2"):
            sc = sim.SCENARIOS[name]()
            rows = sim.simulate(sc["ins"], sim.K, 40)
            fw = sim.counter_rate(rows, 20, 40, lambda i: i["fwd_p"].get(1, 0))
            out[name] = fw["a"] / 5000
        self.assertGreater(out["fleet2"], 0.95, out)
        self.assertLess(out["alone2"], 0.5, out)


if __name__ == "__main__":
    unittest.main()
