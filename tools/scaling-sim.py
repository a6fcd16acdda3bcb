#!/usr/bin/python3
"""scaling-sim: several independent spillways in front of one Elasticsearch, simulated.

    tools/scaling-sim.py [--outdir docs/img] [--scenario NAME]... [--seed N] [--no-plot]

Each simulated spillway has its own capacity controller and its own mix of demand by
priority, and none of them knows about the others. They all write to one Elasticsearch that
indexes K events/s (a token bucket of K events/s, burst K, like tests/peers/es_emulator.py
--capacity K) and answers per-item 429 for what is beyond that. By default, when the
instances together offer more than the bucket holds, each gets a share in proportion to what
it offered; with a seed, bulk requests arrive in a random order and are served as they come.

The controller and the allocation are ports of src/control.c (control_init, control_window,
control_smooth, control_probe, control_step, control_allocate), with the constants of
src/control.h and the defaults of src/config.c (control.interval_ms 250, decrease 0.7,
increase 0.05, target_latency_ms 1000, queue.max_events 200000). What the shaper does each
interval (src/shaper.c: shaper_control, shaper_allocate, shaper_admit) is mirrored in a fluid
form: events are amounts, not records. The sink follows src/sink_es.c in what matters here
(a 429 is push-back, the event goes back to spillway's queue, the sink pauses 100 ms) and is
simpler in the rest; see Instance.offer_to_sink.

Scenarios (each writes docs/img/scaling-sim-NAME.tsv and .png):

  equal      two instances, equal demand, 2.4 x K together
  unequal    two instances, demand 3:1, 2.4 x K together
  small      two instances, one of them asking less than half of K
  joinleave  two instances, a third starts at 60 s, the first stops at 120 s
  priority   two instances with different mixes; K is cut step by step to below the sum of
             priority-0 demand, then restored
  drift      equal demand, requests served in a random arrival order (seeded), 600 s
  additive   NOT spillway's controller: textbook additive increase, for comparison
  fleet2     fleet.url set: a offers p0 3000/s and p1 5000/s, b only p9 20000/s, K 10000/s
  alone2     the same without fleet.url
  fleet50    50 instances of three kinds as one fleet; K half, a quarter, three quarters
             of their demand (60 s each)
  fleet200   the same with 200 instances
  alone200   200 instances, each alone

In a fleet (fleet=True), each instance publishes its report every control interval and the
reports reach everyone at the next: the fleet rule is a port of src/fleet.c (Fleet, and
water_line(), its second half), held to check_fleet.c's numbers by
tests/integration/test_fleet_sim.py.  For 50 and 200 instances, Channel sums the reports once
per interval instead of once per instance, with the same result.

Standard library only; gnuplot (pngcairo) draws the PNGs.
"""

import argparse
import collections
import math
import random
import os
import shutil
import subprocess
import sys

INF = math.inf
NSEC_PER_S = 1000000000

# ---------------------------------------------------------------------- src/control.h
CONTROL_CALM_NS = 5 * NSEC_PER_S
CONTROL_HOLD_STEPS = 4
CONTROL_PROBE_STEPS = 4
CONTROL_PROBE_MAX = 4.0
CONTROL_WINDOW_MAX = 64
CONTROL_TAU_NS = NSEC_PER_S

# ------------------------------------------------------------ src/config.c defaults
INTERVAL_NS = 250 * 1000000             # control.interval_ms
DECREASE = 0.7                          # control.decrease
INCREASE = 0.05                         # control.increase
TARGET_LATENCY_NS = 1000 * 1000000      # control.target_latency_ms
QUEUE_MAX_EVENTS = 200000               # queue.max_events
FLEET_STALE_NS = 3000 * 1000000         # fleet.stale_ms

# ------------------------------------------------------------------- the simulation
SUBSTEP_NS = 50 * 1000000               # admission and the sink run 5 times per interval
SINK_MAX = 4 * 1000 / 0.020             # concurrency 4 x batch_events 1000 per 20 ms trip
NONE_REFUSED = 1 << 30                  # SHAPER_NONE_REFUSED
BATCH = 1000                            # sink.batch_events
ES_BACKOFF_BASE = 100 * 1000000         # src/sink_es.c: the sink's pause after a 429


# ------------------------------------------------------------------------ src/control.c

def control_smooth(old, sample, dt_ns):
    """control_smooth(): exponential smoothing of a rate over dt."""
    a = 1.0 - math.exp(-dt_ns / CONTROL_TAU_NS)
    return old + a * (sample - old)


def control_probe(n):
    """control_probe(): share of the full increase on the n-th interval above the ceiling."""
    if n <= CONTROL_HOLD_STEPS:
        return 0.0
    m = (n - CONTROL_HOLD_STEPS) / CONTROL_PROBE_STEPS
    return m if m < CONTROL_PROBE_MAX else CONTROL_PROBE_MAX


class Control:
    """struct control; __init__ is control_init(), step() is control_step()."""

    SAME, LIMITED, DECREASED, INCREASED, LIFTED = range(5)

    def __init__(self, interval_ns, decrease, increase, calm_ns, now):
        self.interval_ns = interval_ns or 250000000
        self.decrease = decrease
        self.increase = increase
        self.calm_ns = calm_ns or CONTROL_CALM_NS
        self.capacity = INF
        self.pressure = 0
        self.fwd_rate = 0.0
        self.demand_rate = 0.0
        self.floor = 0.0
        self.ceiling = 0.0
        self.fleet_over = -1            # set before each step in a fleet (src/control.h)
        self.probing = 0
        self.calm_since = 0
        self.last = now
        self.fwd_total = 0.0
        self.demand_total = 0.0
        self.decreases = self.increases = self.lifts = 0
        self.win_len = (NSEC_PER_S + self.interval_ns - 1) // self.interval_ns
        self.win_len = max(1, min(self.win_len, CONTROL_WINDOW_MAX))
        self.win = [[0, 0.0] for _ in range(CONTROL_WINDOW_MAX)]
        self.win_pos = 0
        self.win[0] = [now, 0.0]
        self.win_n = 1

    def _window(self, now, forwarded):
        """control_window(): the forwarded rate over the last second of steps."""
        if self.win_n < self.win_len:
            oldest = (self.win_pos + CONTROL_WINDOW_MAX + 1 - self.win_n) % CONTROL_WINDOW_MAX
        else:
            oldest = (self.win_pos + CONTROL_WINDOW_MAX + 1 - self.win_len) % \
                CONTROL_WINDOW_MAX
        at, fwd = self.win[oldest]
        r = (forwarded - fwd) * 1e9 / (now - at) if now > at else 0.0
        self.win_pos = (self.win_pos + 1) % CONTROL_WINDOW_MAX
        self.win[self.win_pos] = [now, forwarded]
        if self.win_n < CONTROL_WINDOW_MAX:
            self.win_n += 1
        return r

    def step(self, now, forwarded, demand, pressure, floor):
        """control_step(): one interval ends at now; counts are cumulative."""
        ch = self.SAME
        c = self.capacity
        if now <= self.last:
            self.fwd_total = forwarded
            self.demand_total = demand
            return self.SAME
        dt = now - self.last
        secs = dt / 1e9
        self.fwd_rate = self._window(now, forwarded)
        self.demand_rate = control_smooth(self.demand_rate,
                                          (demand - self.demand_total) / secs, dt)
        self.fwd_total = forwarded
        self.demand_total = demand
        self.last = now
        self.pressure = pressure
        self.floor = floor if floor > 0 else 0.0

        if pressure:
            c = self.fwd_rate * self.decrease
            self.ceiling = self.fwd_rate
            self.probing = 0
            self.calm_since = 0
            ch = self.LIMITED if math.isinf(self.capacity) else self.DECREASED
        elif not math.isinf(c):
            over = self.fleet_over if self.fleet_over >= 0 else self.demand_rate > c
            if over:
                c = self._grow(c)
                most = max(2 * self.fwd_rate, self.demand_rate)
                if self.fleet_over >= 0 and c > most:
                    c = most if most > self.capacity else self.capacity
                self.calm_since = 0
                ch = self.INCREASED
            elif self.calm_since == 0:
                self.calm_since = now
            elif now - self.calm_since >= self.calm_ns:
                c = INF
                self.calm_since = 0
                ch = self.LIFTED
        if not math.isinf(c) and c < self.floor:
            c = self.floor
        if not math.isinf(c) and c < 1:
            c = 1.0
        if ch == self.DECREASED and c >= self.capacity:
            ch = self.SAME
        if ch in (self.LIMITED, self.DECREASED):
            self.decreases += 1
        elif ch == self.INCREASED:
            self.increases += 1
        elif ch == self.LIFTED:
            self.lifts += 1
        self.capacity = c
        return ch

    def _grow(self, c):
        """control_step(), the branch for demand above C without pressure."""
        step = self.increase * c
        if self.ceiling > 0 and c >= self.ceiling:
            self.probing += 1
            step *= control_probe(self.probing)
        if step > 0:
            c += 1 if step < 1 else step
        if self.probing > 0 and self.fwd_rate > 0 and c > 2 * self.fwd_rate and \
                c > self.ceiling:
            c = 2 * self.fwd_rate if 2 * self.fwd_rate > self.ceiling else self.ceiling
        if c < self.ceiling:
            c = self.ceiling
        if self.fwd_rate > c:
            c = self.fwd_rate
        return c


class AdditiveControl(Control):
    """NOT spillway's controller: the comparison variant of scenario `additive`.

    Textbook AIMD: without pressure C grows by the same `step` events/s per interval on
    every instance, with no jump back to the ceiling, no hold and no growing probe; the
    decrease is spillway's.  Only _grow() differs."""

    def __init__(self, interval_ns, decrease, increase, calm_ns, now, step):
        Control.__init__(self, interval_ns, decrease, increase, calm_ns, now)
        self.step_abs = step

    def _grow(self, c):
        c += self.step_abs
        if self.fwd_rate > c:
            c = self.fwd_rate
        return c


# -------------------------------------------------------------------------- src/fleet.c

class FleetView:
    """struct fleet_view"""

    def __init__(self):
        self.peers = 0
        self.capacity = 0.0
        self.demand = 0.0
        self.over = -1
        self.margin = -1
        self.margin_share = 1.0
        self.share = 0.0
        self.prio_demand = collections.defaultdict(float)


class Fleet:
    """struct fleet: the others' last reports; heard() is fleet_heard(), share() is
    fleet_share().  A report is (id, capacity, {priority: demand})."""

    def __init__(self, self_id, stale_ns):
        self.self_id = self_id
        self.stale_ns = stale_ns
        self.peers = {}                 # id -> (report, heard)

    def heard(self, report, now):
        if report[0] == self.self_id:
            return 0
        self.peers[report[0]] = (report, now)
        return 1

    def share(self, me, now):
        """The rate this instance may admit, and the view (fleet_share())."""
        for pid in [k for k, (_, t) in self.peers.items() if now - t > self.stale_ns]:
            del self.peers[pid]
        cap, dem = 0.0, collections.defaultdict(float)
        for r, _ in self.peers.values():
            cap += r[1]
            for p, d in r[2].items():
                dem[p] += d
        return water_line(me, cap, dem, len(self.peers))


def water_line(me, others_capacity, others_demand, peers):
    """The second half of fleet_share(): me is this instance's report; the others' are
    given summed (capacity, {priority: demand}) and counted (peers)."""
    v = FleetView()
    v.peers = peers
    v.capacity = me[1] + others_capacity
    for src in (me[2], others_demand):
        for p, d in src.items():
            v.prio_demand[p] += d
            v.demand += d
    if peers == 0 or math.isinf(v.capacity):
        v.share = me[1]
        return v.share, v
    v.over = 1 if v.demand > v.capacity else 0
    left = v.capacity
    share = 0.0
    for p in sorted(v.prio_demand):
        d = v.prio_demand[p]
        if d <= 0:
            continue
        give = d if d < left else left
        frac = give / d
        if frac < 1 and v.margin < 0:
            v.margin, v.margin_share = p, frac
        share += frac * me[2].get(p, 0.0)
        left -= give
    if left > 0 and v.capacity > 0:
        share += left * (me[1] / v.capacity)
    share = max(share, me[2].get(0, 0.0), 1.0)
    v.share = share
    return share, v


class Channel:
    """The topic, when every report reaches every instance one interval after it was
    published: the same numbers as a Fleet per instance, summed once per interval
    instead of once per instance (a fleet of 200 in Python)."""

    def __init__(self):
        self.reports = {}
        self.cap = 0.0
        self.unlimited = 0
        self.dem = collections.defaultdict(float)

    def deliver(self, reports):
        self.reports = {r[0]: r for r in reports}
        self.cap = sum(r[1] for r in reports if not math.isinf(r[1]))
        self.unlimited = sum(1 for r in reports if math.isinf(r[1]))
        self.dem = collections.defaultdict(float)
        for r in reports:
            for p, d in r[2].items():
                self.dem[p] += d

    def share(self, me, now):
        old = self.reports.get(me[0])
        cap, unlimited, dem = self.cap, self.unlimited, dict(self.dem)
        if old is not None:
            if math.isinf(old[1]):
                unlimited -= 1
            else:
                cap -= old[1]
            for p, d in old[2].items():
                dem[p] -= d
        if unlimited > 0:
            cap = INF
        return water_line(me, cap, dem, len(self.reports) - (old is not None))


def control_allocate(capacity, items):
    """control_allocate(): items are objects with .priority, .demand; sets .alloc.

    Capacity goes out in priority order, 0 first; classes of one priority share what
    their priority gets in proportion to demand.  Returns the spare (0 when short)."""
    left = capacity
    p = -1
    while True:
        nxt = min((it.priority for it in items if it.priority > p), default=None)
        if nxt is None:
            break
        p = nxt
        d = sum(it.demand for it in items if it.priority == p and it.demand > 0)
        give = d if d < left else left
        for it in items:
            if it.priority == p:
                it.alloc = give * (it.demand / d) if d > 0 and it.demand > 0 else 0.0
        left -= give
    return left if left > 0 else 0.0


# ------------------------------------------------------------------------ src/bucket.c

class Bucket:
    """struct bucket: bucket_init(), bucket_configure(), refill; amounts are fluid."""

    def __init__(self, rate, burst, now):
        self.rate = rate
        self.burst = burst if burst > 0 else rate
        self.tokens = self.burst
        self.last = now

    def refill(self, now):
        if now <= self.last:
            return
        if self.tokens < self.burst:
            add = (now - self.last) * self.rate / 1e9
            self.tokens = self.burst if add >= self.burst - self.tokens else \
                self.tokens + add
        self.last = now

    def configure(self, rate, burst, now):
        self.refill(now)
        self.rate = rate
        self.burst = burst if burst > 0 else rate
        if self.tokens > self.burst:
            self.tokens = self.burst

    def take(self, x, now, debt=0.0):
        """Take up to x tokens (down to -debt); returns what was taken."""
        if self.rate <= 0:
            return 0.0
        self.refill(now)
        t = min(x, self.tokens + debt)
        if t <= 0:
            return 0.0
        self.tokens -= t
        return t


# ----------------------------------------------------------------------- an instance

class Class:
    def __init__(self, name, priority):
        self.name = name
        self.priority = priority
        self.wanted = 0.0               # asked the controller for admission
        self.wanted_seen = 0.0
        self.demand = 0.0               # smoothed
        self.demand_now = 0.0
        self.alloc = INF
        self.abucket = None
        self.forwarded = 0.0
        self.shed = 0.0                 # backpressure
        self.queue_full = 0.0


class Instance:
    """One spillway: a shaper (src/shaper.c) around a Control, and a fluid queue."""

    def __init__(self, name, rate, mix, start=0.0, stop=INF, additive=0.0, fleet=False):
        self.name = name
        self.in_fleet = fleet
        self.rate = rate                # events/s offered to it from start to stop
        self.mix = mix                  # [(class name, priority, share)]
        self.start = start
        self.stop = stop
        self.additive = additive

    def offered_rate(self, t):
        return self.rate if self.start <= t < self.stop else 0.0

    def boot(self, now):
        self.classes = [Class(n, p) for n, p, _ in self.mix]
        tot = sum(s for _, _, s in self.mix)
        self.shares = [s / tot for _, _, s in self.mix]
        # byprio: the least important first, as shaper_order() sorts them
        self.byprio = sorted(self.classes, key=lambda c: -c.priority)
        if self.additive > 0:
            self.ctl = AdditiveControl(INTERVAL_NS, DECREASE, INCREASE, CONTROL_CALM_NS,
                                       now, self.additive)
        else:
            self.ctl = Control(INTERVAL_NS, DECREASE, INCREASE, CONTROL_CALM_NS, now)
        self.capacity = INF
        self.refused_now = NONE_REFUSED
        self.spare = Bucket(0, 1, now)
        self.spare_rate = 0.0
        self.queue = collections.deque()    # [t_in, [amount per class]]
        self.q_events = 0.0
        self.pushback = 0.0                 # items answered 429, ever
        self.pushback_seen = 0.0
        self.hold_until = 0                 # the sink sends nothing new before this
        self.fwd_hist = collections.deque()  # (t, cumulative forwarded) for the 1 s rate
        self.fleet = None
        if self.in_fleet:
            self.fleet = self.in_fleet if isinstance(self.in_fleet, Channel) else \
                Fleet(self.name, FLEET_STALE_NS)
        self.report = None                  # what it published at its last interval

    # -- shaper_admit(), in a fluid form
    def admit(self, dt_ns, now):
        """Offer dt's worth of events; returns the amounts admitted per class.

        Mirrors shaper_admit(): unlimited capacity admits everything; a class spends its
        own allocation, then the spare, then (priority 0 always passes) the allocation of
        less important classes, the least important first, into a second's worth of debt;
        once a class is refused, nothing less important passes until the next allocation.
        Classes are served most important first within a substep."""
        rate = self.offered_rate(now / 1e9)
        out = [0.0] * len(self.classes)
        order = sorted(range(len(self.classes)), key=lambda i: self.classes[i].priority)
        for i in order:
            c = self.classes[i]
            x = rate * self.shares[i] * dt_ns / 1e9
            if x <= 0:
                continue
            c.wanted += x
            if math.isinf(self.capacity):
                out[i] = x
                continue
            if c.priority > self.refused_now:
                c.shed += x
                continue
            got = c.abucket.take(x, now) if c.alloc > 0 else 0.0
            if self.spare_rate > 0:
                got += self.spare.take(x - got, now)
            if got < x and c.priority == 0:
                got = x
            if got < x:
                for o in self.byprio:
                    if o.priority <= c.priority:
                        break
                    if o.alloc > 0:
                        got += o.abucket.take(x - got, now)
            if got < x:
                for o in self.byprio:
                    if o.priority <= c.priority:
                        break
                    if o.alloc > 0:
                        got += o.abucket.take(x - got, now, debt=o.abucket.burst)
            out[i] = got
            if got < x - 1e-9:
                c.shed += x - got
                if c.priority < self.refused_now:
                    self.refused_now = c.priority
        return out

    def enqueue(self, amounts, now):
        """queue_push(), simplified: what does not fit is dropped as queue_full (the C
        code first evicts queued events of lower priority)."""
        room = QUEUE_MAX_EVENTS - self.q_events
        tot = sum(amounts)
        if tot <= 0:
            return
        if tot > room:
            f = max(room, 0) / tot
            for i, x in enumerate(amounts):
                self.classes[i].queue_full += x * (1 - f)
            amounts = [x * f for x in amounts]
            tot = sum(amounts)
        if tot > 0:
            self.queue.append([now, amounts])
            self.q_events += tot

    def queue_age(self, now):
        """shaper_queue_age()"""
        return now - self.queue[0][0] if self.queue else 0

    def offer_to_sink(self, dt_ns, now):
        """What the sink sends this substep: the head of the queue, up to SINK_MAX/s,
        nothing while it holds off after a 429.

        As in src/sink_es.c (es_hold, SINK_DEFERRED), events answered 429 go back to
        spillway's queue and the whole sink sends nothing new for a backoff.  Simpler:
        batches are not formed (sink.flush_ms), the events stay at the head of the
        queue, and the backoff has no jitter unless Elasticsearch has an rng."""
        if now < self.hold_until:
            return 0.0
        return min(self.q_events, SINK_MAX * dt_ns / 1e9)

    def sink_answer(self, offered, accepted, now, rng):
        """es_slot_settle(), es_hold(): count the 429s as push-back and pause."""
        if offered - accepted > 1e-6:
            self.pushback += offered - accepted
            delay = ES_BACKOFF_BASE
            if rng is not None:
                delay = int(delay * (0.8 + 0.4 * rng.random()))
            self.hold_until = max(self.hold_until, now + delay)

    def forwarded_from_queue(self, n):
        """The sink acknowledged n events: the oldest ones."""
        while n > 1e-9 and self.queue:
            t_in, am = self.queue[0]
            tot = sum(am)
            if tot <= n:
                self.queue.popleft()
                for i, x in enumerate(am):
                    self.classes[i].forwarded += x
                self.q_events -= tot
                n -= tot
            else:
                f = n / tot
                for i, x in enumerate(am):
                    self.classes[i].forwarded += x * f
                    am[i] = x * (1 - f)
                self.q_events -= n
                n = 0
        if not self.queue:
            self.q_events = 0.0

    # -- shaper_control(), then shaper_allocate()
    def control(self, now):
        dt = now - self.ctl.last if now > self.ctl.last else 0
        fwd = want = floor = 0.0
        for c in self.classes:
            fwd += c.forwarded
            want += c.wanted
            if dt > 0:
                sample = (c.wanted - c.wanted_seen) * 1e9 / dt
                c.demand = control_smooth(c.demand, sample, dt)
                c.demand_now = sample if sample > c.demand else c.demand
            c.wanted_seen = c.wanted
            if c.priority == 0:
                floor += c.demand_now
        pressure = 1 if self.pushback != self.pushback_seen else 0
        self.pushback_seen = self.pushback
        if self.queue_age(now) > TARGET_LATENCY_NS:
            pressure = 1
        was = self.capacity
        self.ctl.step(now, fwd, want, pressure, floor)
        self.refused_now = NONE_REFUSED
        self.capacity = self.fleet_share(now)
        self.allocate(now, math.isinf(was) and not math.isinf(self.capacity))

    def fleet_share(self, now):
        """shaper_fleet_share(): publish, and admit what the fleet rule gives."""
        if self.fleet is None:
            return self.ctl.capacity
        dem = collections.defaultdict(float)
        for c in self.byprio:
            dem[c.priority] += c.demand_now
        self.report = (self.name, self.ctl.capacity, dict(dem))
        share, v = self.fleet.share(self.report, now)
        self.ctl.fleet_over = v.over
        return share

    def allocate(self, now, fresh):
        """shaper_allocate(): every class's share of C as a token bucket."""
        class It:
            pass
        items = []
        for c in self.byprio:
            it = It()
            it.priority, it.demand, it.alloc = c.priority, c.demand_now, 0.0
            items.append(it)
        if math.isinf(self.capacity):
            self.spare_rate = INF
            for c in self.byprio:
                c.alloc = INF
            return
        self.spare_rate = control_allocate(self.capacity, items)
        for c, it in zip(self.byprio, items):
            c.alloc = it.alloc
            burst = c.alloc if c.alloc > 1 else 1
            if fresh or c.abucket is None:
                c.abucket = Bucket(c.alloc, burst, now)
                c.abucket.tokens = c.alloc * INTERVAL_NS / 1e9
            else:
                c.abucket.configure(c.alloc, burst, now)
        burst = self.spare_rate if self.spare_rate > 1 else 1
        if fresh:
            self.spare = Bucket(self.spare_rate, burst, now)
            self.spare.tokens = 0.0
        else:
            self.spare.configure(self.spare_rate, burst, now)

    def fwd_total(self):
        return sum(c.forwarded for c in self.classes)

    def fwd_rate_1s(self, now):
        """What /stats calls rate_1s forwarded, summed over the classes."""
        tot = self.fwd_total()
        self.fwd_hist.append((now, tot))
        while self.fwd_hist and self.fwd_hist[0][0] < now - NSEC_PER_S:
            self.fwd_hist.popleft()
        t0, f0 = self.fwd_hist[0]
        return (tot - f0) * 1e9 / (now - t0) if now > t0 else 0.0


# ------------------------------------------------------------------- Elasticsearch

class Elasticsearch:
    """A bucket of K events/s, burst K; beyond it each item gets a 429.

    Without rng, when the instances together offer more than the bucket holds, each gets
    tokens in proportion to what it offered, every substep: a deterministic model in
    which every instance sees the same fraction of 429s.  With rng (random.Random), the
    offers are cut into bulk requests of up to BATCH events that arrive in a random
    order and are served as they come, as the emulator and a real cluster do: on average
    the same shares, but one instance may get the 429s of a substep and the other none."""

    def __init__(self, capacity, now, rng=None):
        self.capacity = capacity
        self.tokens = capacity
        self.last = now
        self.rng = rng

    def set_capacity(self, k):
        self.capacity = k

    def exchange(self, offers, now):
        """offers: events offered per instance; returns events accepted per instance."""
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.capacity / 1e9)
        self.last = now
        if self.rng is not None:
            batches = []
            for i, o in enumerate(offers):
                while o > 1e-9:
                    batches.append((i, min(o, BATCH)))
                    o -= BATCH
            self.rng.shuffle(batches)
            got = [0.0] * len(offers)
            for i, b in batches:
                t = min(b, max(self.tokens, 0.0))
                self.tokens -= t
                got[i] += t
            return got
        tot = sum(offers)
        if tot <= 0:
            return [0.0] * len(offers)
        take = min(tot, max(self.tokens, 0.0))
        self.tokens -= take
        f = take / tot
        return [o * f for o in offers]


# ------------------------------------------------------------------------ a scenario

def simulate(instances, capacity, duration, rng=None):
    """Run; returns rows of samples, one per control interval.

    Every instance is up from the start; its load starts and stops at its own times.
    capacity: K (events/s) or f(t); rng: see Elasticsearch."""
    now = 0
    es = Elasticsearch(capacity(0) if callable(capacity) else capacity, now, rng)
    for inst in instances:
        inst.boot(now)
    rows = []
    steps_per_iv = INTERVAL_NS // SUBSTEP_NS
    k = 0
    end = int(duration * NSEC_PER_S)
    while now < end:
        now += SUBSTEP_NS
        k += 1
        t = now / 1e9
        if callable(capacity):
            es.set_capacity(capacity(t))
        live = instances
        for inst in live:
            inst.enqueue(inst.admit(SUBSTEP_NS, now), now)
        offers = [inst.offer_to_sink(SUBSTEP_NS, now) for inst in live]
        got = es.exchange(offers, now)
        for inst, o, g in zip(live, offers, got):
            inst.forwarded_from_queue(g)
            inst.sink_answer(o, g, now, rng)
        if k % steps_per_iv == 0:
            row = {"t": t, "K": es.capacity, "inst": {}}
            # what was published at the last interval arrives now
            reports = [inst.report for inst in live if inst.report is not None]
            channels = {id(i.fleet): i.fleet for i in live if isinstance(i.fleet, Channel)}
            for ch in channels.values():
                ch.deliver(reports)
            for inst in live:
                if isinstance(inst.fleet, Fleet):
                    for r in reports:
                        inst.fleet.heard(r, now)
            for inst in live:
                inst.control(now)
                fwd = inst.fwd_rate_1s(now)
                if inst.start <= t <= inst.stop:
                    row["inst"][inst.name] = {
                        "C": inst.capacity,
                        "fwd": fwd,
                        "offered": inst.offered_rate(t),
                        "queue": inst.q_events,
                        "fwd_p": {c.priority: c.forwarded for c in inst.classes},
                        "shed_p": {c.priority: c.shed + c.queue_full
                                   for c in inst.classes},
                        "want_p": {c.priority: c.wanted for c in inst.classes},
                        "fwd_total": inst.fwd_total(),
                    }
            rows.append(row)
    return rows


# ------------------------------------------------------------------------- numbers

def jain(xs):
    """Jain's fairness index: 1 when all shares are equal, 1/n when one takes all."""
    s2 = sum(x * x for x in xs)
    return (sum(xs) ** 2) / (len(xs) * s2) if xs and s2 > 0 else float("nan")


def counter_rate(rows, a, b, get):
    """The mean rate of a cumulative counter over [a, b], by name: {name: events/s}."""
    ra = min((r for r in rows if r["t"] >= a), key=lambda r: r["t"])
    rb = max((r for r in rows if r["t"] <= b), key=lambda r: r["t"])
    return {n: (get(rb["inst"][n]) - get(ra["inst"][n])) / (rb["t"] - ra["t"])
            for n in rb["inst"] if n in ra["inst"]}


def phase(rows, a, b):
    """One line: each instance's forwarded rate over [a, b], the sum against K, Jain."""
    f = counter_rate(rows, a, b, lambda i: i["fwd_total"])
    cs = {}
    for n in f:
        v = [r["inst"][n]["C"] for r in rows if a <= r["t"] <= b and n in r["inst"] and
             not math.isinf(r["inst"][n]["C"])]
        cs[n] = sum(v) / len(v) if v else float("nan")
    ks = [r["K"] for r in rows if a <= r["t"] <= b]
    k = sum(ks) / len(ks)
    tot = sum(f.values())
    return ("%g-%g s: forwarded %s; sum %.0f of K %.0f (%.1f%%); mean C %s; Jain %.3f" % (
        a, b, " / ".join("%s %.0f" % kv for kv in sorted(f.items())), tot, k,
        100 * tot / k, " / ".join("%s %.0f" % kv for kv in sorted(cs.items())),
        jain(list(f.values()))))


def by_priority(rows, a, b):
    """Forwarded and offered per priority over [a, b], all instances together."""
    out = []
    prios = sorted({p for r in rows for i in r["inst"].values() for p in i["fwd_p"]})
    for p in prios:
        fw = counter_rate(rows, a, b, lambda i: i["fwd_p"].get(p, 0))
        wa = counter_rate(rows, a, b, lambda i: i["want_p"].get(p, 0))
        out.append("p%d %.0f / %.0f" % (p, sum(fw.values()), sum(wa.values())))
    return "by priority, forwarded / offered: " + ", ".join(out)


# ------------------------------------------------------------------------- output

def fmt(v):
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "NaN"
    return "%.1f" % v


def columns(names, prios):
    cols = ["t", "K", "total_fwd"]
    for n in names:
        cols += ["%s_C" % n, "%s_fwd" % n, "%s_offered" % n, "%s_queue" % n]
    return cols + ["fwd_p%d" % p for p in prios] + ["shed_p%d" % p for p in prios]


def write_tsv(path, title, names, rows, prios, notes):
    with open(path + ".tmp", "w") as f:
        f.write("# %s (tools/scaling-sim.py)\n" % title)
        for n in notes:
            f.write("# %s\n" % n)
        f.write("# t: s; K: Elasticsearch's capacity (events/s); per instance X: X_C the "
                "admitted rate C (NaN: unlimited, or no load), X_fwd forwarded over the "
                "last second, X_offered, X_queue (events); total_fwd: sum of X_fwd; "
                "fwd_pN / shed_pN: forwarded / shed events/s of priority N, all instances, "
                "over the last second\n")
        f.write("\t".join(columns(names, prios)) + "\n")
        for j, r in enumerate(rows):
            # the rates by priority over the last second (4 intervals), like rate_1s
            prev = rows[j - 4] if j >= 4 else None
            out = ["%.2f" % r["t"], fmt(r["K"]),
                   fmt(sum(i["fwd"] for i in r["inst"].values()))]
            for n in names:
                i = r["inst"].get(n)
                out += [fmt(x) for x in ([i["C"], i["fwd"], i["offered"], i["queue"]]
                                         if i else [None] * 4)]
            for what in ("fwd_p", "shed_p"):
                for p in prios:
                    v = 0.0
                    if prev is not None:
                        for n, i in r["inst"].items():
                            if n in prev["inst"]:
                                v += i[what].get(p, 0) - prev["inst"][n][what].get(p, 0)
                        v /= r["t"] - prev["t"]
                    out.append(fmt(v))
            f.write("\t".join(out) + "\n")
    os.replace(path + ".tmp", path)


def prio_rates(rows, prios):
    """Per row: (t, K, forwarded, {p: forwarded/s}, {p: offered/s}) over the last second,
    all instances together."""
    out = []
    for j in range(4, len(rows)):
        r, prev = rows[j], rows[j - 4]
        dt = r["t"] - prev["t"]
        fw, wa = {}, {}
        for p in prios:
            fw[p] = wa[p] = 0.0
            for n, i in r["inst"].items():
                if n in prev["inst"]:
                    fw[p] += i["fwd_p"].get(p, 0) - prev["inst"][n]["fwd_p"].get(p, 0)
                    wa[p] += i["want_p"].get(p, 0) - prev["inst"][n]["want_p"].get(p, 0)
            fw[p] /= dt
            wa[p] /= dt
        out.append((r["t"], r["K"], sum(fw.values()), fw, wa))
    return out


def ideal(k, want, prios):
    """The single-spillway answer: the share of each priority's demand that fits in k."""
    left, f = k, {}
    for p in prios:
        give = min(want[p], left)
        f[p] = give / want[p] if want[p] > 0 else 1.0
        left -= give
    return f


def convergence(pr, prios, steps, hold=2.0):
    """Seconds from each change of K until the fleet holds, for `hold` s: the sum within
    10% of K; every priority more important than the margin (the first that does not fit
    in full) at 90% or more of its demand; every priority less important at 10% or less."""
    out = []
    for t0 in steps:
        since, t = None, t0
        for t, k, tot, fw, wa in pr:
            if t < t0:
                continue
            f = ideal(k, wa, prios)
            margin = min([p for p in prios if f[p] < 1] or [max(prios) + 1])
            ok = abs(tot - k) <= 0.1 * k and all(
                (p >= margin or fw[p] >= 0.9 * wa[p]) and
                (p <= margin or fw[p] <= 0.1 * wa[p]) for p in prios if wa[p] > 0)
            if ok and since is None:
                since = t
            elif not ok:
                since = None
            if since is not None and t - since >= hold:
                break
        out.append(None if since is None or t - since < hold else since - t0)
    return out


def write_fleet_tsv(path, title, pr, prios, notes):
    with open(path + ".tmp", "w") as f:
        f.write("# %s (tools/scaling-sim.py)\n" % title)
        for n in notes:
            f.write("# %s\n" % n)
        f.write("# t: s; K; total_fwd: forwarded over the last second, all instances; "
                "fwd_pN, want_pN: forwarded and offered events/s of priority N; got_pN: "
                "their ratio; ideal_pN: what one spillway would give priority N\n")
        cols = ["t", "K", "total_fwd"] + ["%s_p%d" % (w, p) for w in
                                          ("fwd", "want", "got", "ideal") for p in prios]
        f.write("\t".join(cols) + "\n")
        for t, k, tot, fw, wa in pr:
            i = ideal(k, wa, prios)
            out = ["%.2f" % t, fmt(k), fmt(tot)] + [fmt(fw[p]) for p in prios] + \
                [fmt(wa[p]) for p in prios] + \
                ["%.3f" % (fw[p] / wa[p] if wa[p] > 0 else 1.0) for p in prios] + \
                ["%.3f" % i[p] for p in prios]
            f.write("\t".join(out) + "\n")
    os.replace(path + ".tmp", path)


def plot_fleet(tsv, png, title, prios, ymax):
    ix = {c: i + 1 for i, c in enumerate(
        ["t", "K", "total_fwd"] + ["%s_p%d" % (w, p) for w in ("fwd", "want", "got", "ideal")
                                   for p in prios])}
    s = ["set terminal pngcairo size 1000,760 font 'sans,10'", "set output %s" % q(png),
         "set datafile separator '\\t'", "set datafile missing 'NaN'",
         "set key outside right top", "set grid", "set xlabel 'seconds'",
         "set multiplot layout 2,1 title %s" % q(title),
         "set ylabel 'events/s'", "set yrange [0:%d]" % ymax,
         "set title 'forwarded over the last second, all instances, against K'",
         "plot %s using 1:%d with lines lw 2 lc rgb 'black' title 'forwarded', \\\n"
         "  %s using 1:%d with lines lw 2 lc rgb '#c0392b' dt 3 title 'K'" % (
             q(tsv), ix["total_fwd"], q(tsv), ix["K"]),
         "set ylabel 'share of demand'", "set yrange [0:1.05]",
         "set title %s" % q("delivered share of demand by priority (solid); one "
                            "spillway's answer (dotted)")]
    parts = []
    for p in prios:
        parts.append("%s using 1:%d with lines lw 2 lc rgb '%s' title 'p%d'" % (
            q(tsv), ix["got_p%d" % p], PCOLOURS.get(p, "gray"), p))
        parts.append("%s using 1:%d with lines lw 1 dt 3 lc rgb '%s' notitle" % (
            q(tsv), ix["ideal_p%d" % p], PCOLOURS.get(p, "gray")))
    s.append("plot " + ", \\\n  ".join(parts))
    s.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(s).encode(), check=True)


COLOURS = ["#2e86c1", "#e67e22", "#27ae60", "#8e44ad"]
PCOLOURS = {0: "#c0392b", 1: "#e67e22", 2: "#2e86c1", 5: "#27ae60", 9: "#8e44ad"}


def q(s):
    """A gnuplot double-quoted string."""
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def plot(tsv, png, title, names, prios, ymax, with_prio):
    ix = {c: i + 1 for i, c in enumerate(columns(names, prios))}
    s = ["set terminal pngcairo size 1000,%d font 'sans,10'" % (900 if with_prio else 620),
         "set output %s" % q(png),
         "set datafile separator '\\t'", "set datafile missing 'NaN'",
         "set key outside right top", "set grid", "set xlabel 'seconds'",
         "set multiplot layout %d,1 title %s" % (3 if with_prio else 2, q(title)),
         "set ylabel 'events/s'", "set yrange [0:%d]" % ymax,
         "set title 'admitted rate C of each instance (dashed: its forwarded rate)'"]
    parts = []
    for j, n in enumerate(names):
        parts.append("%s using 1:%d with lines lw %g lc rgb '%s' title 'C %s'" % (
            q(tsv), ix["%s_C" % n], max(1.0, 3.5 - j), COLOURS[j % 4], n))
        parts.append("%s using 1:%d with lines lw 1 dt 2 lc rgb '%s' title 'fwd %s'" % (
            q(tsv), ix["%s_fwd" % n], COLOURS[j % 4], n))
    parts.append("%s using 1:%d with lines lw 2 lc rgb 'black' dt 3 title 'K'" % (
        q(tsv), ix["K"]))
    s.append("plot " + ", \\\n  ".join(parts))
    s.append("set title 'forwarded over the last second: the sum against K'")
    parts = ["%s using 1:%d with lines lw 2 lc rgb 'black' title 'sum'" % (
        q(tsv), ix["total_fwd"]),
             "%s using 1:%d with lines lw 2 lc rgb '#c0392b' dt 3 title 'K'" % (
        q(tsv), ix["K"])]
    for j, n in enumerate(names):
        parts.append("%s using 1:%d with lines lw %g lc rgb '%s' title '%s'" % (
            q(tsv), ix["%s_fwd" % n], max(1.0, 3.0 - j), COLOURS[j % 4], n))
    s.append("plot " + ", \\\n  ".join(parts))
    if with_prio:
        s.append("set title 'all instances by priority: forwarded (solid) and shed (dashed)'")
        parts = []
        for p in prios:
            parts.append("%s using 1:%d with lines lw 2 lc rgb '%s' title 'fwd p%d'" % (
                q(tsv), ix["fwd_p%d" % p], PCOLOURS.get(p, "gray"), p))
            parts.append("%s using 1:%d with lines lw 1 dt 2 lc rgb '%s' title 'shed p%d'" % (
                q(tsv), ix["shed_p%d" % p], PCOLOURS.get(p, "gray"), p))
        s.append("plot " + ", \\\n  ".join(parts))
    s.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(s).encode(), check=True)


# ------------------------------------------------------------------------ scenarios

# The mix of rules/demo.json's classes: (class, priority, share of the events).
MIX = [("errors", 0, 5), ("checkout", 1, 10), ("apps", 2, 30), ("other", 5, 45),
       ("debug", 9, 10)]
K = 10000
ADDITIVE = 100.0        # events/s per interval, the comparison variant's increase


def sc_equal():
    return dict(title="equal demand: 12000/s and 12000/s, K = 10000/s", duration=120,
                ins=[Instance("a", 12000, MIX), Instance("b", 12000, MIX)],
                phases=[(60, 120)])


def sc_unequal():
    return dict(title="demand 3:1: 18000/s and 6000/s, K = 10000/s", duration=120,
                ins=[Instance("a", 18000, MIX), Instance("b", 6000, MIX)],
                phases=[(60, 120)])


def sc_small():
    return dict(title="one asks less than half of K: 16000/s and 3000/s, K = 10000/s",
                duration=120, ins=[Instance("a", 16000, MIX), Instance("b", 3000, MIX)],
                phases=[(60, 120)])


def sc_joinleave():
    return dict(title="12000/s each; c starts at 60 s, a stops at 120 s; K = 10000/s",
                duration=180,
                ins=[Instance("a", 12000, MIX, stop=120), Instance("b", 12000, MIX),
                     Instance("c", 12000, MIX, start=60)],
                phases=[(30, 60), (90, 120), (150, 180)])


def sc_priority():
    mix_a = [("errors", 0, 25), ("checkout", 1, 15), ("apps", 2, 30), ("other", 5, 30)]
    mix_b = [("errors", 0, 10), ("apps", 2, 20), ("other", 5, 50), ("debug", 9, 20)]

    def cap(t):
        for until, k in ((40, 10000), (80, 6000), (120, 4500), (150, 3500)):
            if t < until:
                return k
        return 10000
    return dict(title="priority 0: 3000/s on a, 1200/s on b; K = 10000, 6000 at 40 s, "
                "4500 at 80 s, 3500 at 120 s, 10000 at 150 s", duration=180, capacity=cap,
                ins=[Instance("a", 12000, mix_a), Instance("b", 12000, mix_b)],
                phases=[(20, 40), (60, 80), (100, 120), (135, 150), (165, 180)],
                prio=True)


def sc_drift():
    return dict(title="equal demand, 12000/s each, K = 10000/s; requests served in "
                "arrival order (random, seed 1)", duration=600, seed=1,
                ins=[Instance("a", 12000, MIX), Instance("b", 12000, MIX)],
                phases=[(a, a + 100) for a in range(0, 600, 100)])


def sc_additive():
    return dict(title="NOT spillway's controller: additive increase (%g/s per interval); "
                "18000/s and 6000/s, c (12000/s) from 60 s, a stops at 150 s; K = 10000/s"
                % ADDITIVE, duration=240,
                ins=[Instance("a", 18000, MIX, stop=150, additive=ADDITIVE),
                     Instance("b", 6000, MIX, additive=ADDITIVE),
                     Instance("c", 12000, MIX, start=60, additive=ADDITIVE)],
                phases=[(30, 60), (120, 150), (210, 240)])


def sc_fleet2():
    return dict(title="fleet: a offers p0 3000/s and p1 5000/s, b only p9 20000/s; "
                "K = 10000/s", duration=60, prio=True,
                ins=[Instance("a", 8000, [("errors", 0, 3), ("checkout", 1, 5)],
                              fleet=True),
                     Instance("b", 20000, [("debug", 9, 1)], fleet=True)],
                phases=[(30, 60)])


def sc_alone2():
    sc = sc_fleet2()
    sc["title"] = sc["title"].replace("fleet:", "alone (no fleet.url):")
    for i in sc["ins"]:
        i.in_fleet = False
    return sc


# A large fleet: three kinds of host, their rates drawn once (seeded), and K stepped.
KINDS = [("checkout", 0.2, (300, 700), [("errors", 0, 20), ("checkout", 1, 50),
                                        ("apps", 2, 30)]),
         ("apps", 0.5, (200, 600), [("errors", 0, 5), ("apps", 2, 45), ("other", 5, 50)]),
         ("batch", 0.3, (500, 1500), [("other", 5, 30), ("debug", 9, 70)])]
STEPS = ((60, 0.5), (120, 0.25), (180, 0.75))     # (until s, K as a share of demand)


def big(n, fleet, seed=7):
    rng = random.Random(seed)
    ins, ch = [], Channel() if fleet else False
    for kind, share, (lo, hi), mix in KINDS:
        for j in range(int(round(n * share))):
            ins.append(Instance("%s%d" % (kind, j), rng.uniform(lo, hi), mix, fleet=ch))
    total = sum(i.rate for i in ins)

    def cap(t):
        for until, f in STEPS:
            if t < until:
                return round(total * f)
        return round(total * STEPS[-1][1])
    return dict(title="%d instances%s: K = %s of their demand (%.0f/s), stepped at 60 s and "
                "120 s" % (n, " as one fleet" if fleet else ", each alone",
                           ", ".join("%d%%" % (100 * f) for _, f in STEPS), total),
                duration=STEPS[-1][0], capacity=cap, ins=ins, big=True,
                phases=[(a + 30, b) for a, b in zip([0] + [u for u, _ in STEPS[:-1]],
                                                     [u for u, _ in STEPS])])


SCENARIOS = collections.OrderedDict([
    ("equal", sc_equal), ("unequal", sc_unequal), ("small", sc_small),
    ("joinleave", sc_joinleave), ("priority", sc_priority), ("drift", sc_drift),
    ("additive", sc_additive), ("fleet2", sc_fleet2), ("alone2", sc_alone2),
    ("fleet50", lambda: big(50, True)), ("fleet200", lambda: big(200, True)),
    ("alone200", lambda: big(200, False))])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="scaling-sim.py", description=__doc__.split("\n")[0])
    ap.add_argument("--outdir", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "docs", "img"))
    ap.add_argument("--scenario", action="append", choices=list(SCENARIOS))
    ap.add_argument("--seed", type=int, help="arrival order seed for the random scenarios")
    ap.add_argument("--no-plot", action="store_true")
    a = ap.parse_args(argv)
    if not a.no_plot and shutil.which("gnuplot") is None:
        ap.error("gnuplot not found (apt-get install gnuplot-nox), or give --no-plot")
    os.makedirs(a.outdir, exist_ok=True)
    for name in a.scenario or SCENARIOS:
        sc = SCENARIOS[name]()
        ins = sc["ins"]
        seed = sc.get("seed")
        if seed is not None and a.seed is not None:
            seed = a.seed
        rows = simulate(ins, sc.get("capacity", K), sc["duration"],
                        random.Random(seed) if seed is not None else None)
        prios = sorted({p for i in ins for _, p, _ in i.mix})
        names = [i.name for i in ins]
        tsv = os.path.join(a.outdir, "scaling-sim-%s.tsv" % name)
        notes = ["spillway defaults: control.interval_ms 250, decrease 0.7, increase 0.05, "
                 "target_latency_ms 1000; substep 50 ms; Elasticsearch: %s" % (
                     "proportional shares" if seed is None else
                     "requests in random arrival order, seed %d" % seed)]
        for i in ins:
            notes.append("instance %s: %g events/s from %g s%s; mix %s" % (
                i.name, i.rate, i.start, "" if math.isinf(i.stop) else " to %g s" % i.stop,
                ", ".join("%s(p%d)=%g" % m for m in i.mix)))
        print("%s: %s" % (name, sc["title"]))
        if sc.get("big"):
            pr = prio_rates(rows, prios)
            write_fleet_tsv(tsv, sc["title"], pr, prios, notes[:1] + [
                "%d instances; mixes %s" % (len(ins), "; ".join(
                    "%s %d%%: %s" % (k, 100 * f, ", ".join("p%d %d%%" % (m[1], m[2])
                                                            for m in mix))
                    for k, f, _, mix in KINDS))])
            for a0, b0 in sc["phases"]:
                print("  %g-%g s: forwarded %.0f of K %.0f; %s" % (
                    a0, b0, sum(counter_rate(rows, a0, b0,
                                             lambda i: i["fwd_total"]).values()),
                    sum(r["K"] for r in rows if a0 <= r["t"] <= b0) /
                    len([r for r in rows if a0 <= r["t"] <= b0]), by_priority(rows, a0, b0)))
            steps = [0.0] + [u for u, _ in STEPS[:-1]]
            print("  converged after: %s" % ", ".join(
                "step at %g s: %s" % (t0, "not within the phase" if c is None else
                                     "%.2f s" % c)
                for t0, c in zip(steps, convergence(pr, prios, steps))))
            if not a.no_plot:
                plot_fleet(tsv, os.path.join(a.outdir, "scaling-sim-%s.png" % name),
                           sc["title"], prios, int(max(r["K"] for r in rows) * 1.3))
            continue
        write_tsv(tsv, sc["title"], names, rows, prios, notes)
        for a0, b0 in sc["phases"]:
            print("  " + phase(rows, a0, b0))
            if sc.get("prio"):
                print("    " + by_priority(rows, a0, b0))
        if sc.get("prio"):
            print("    largest queue %.0f events" % max(
                i["queue"] for r in rows for i in r["inst"].values()))
        if not a.no_plot:
            kmax = max(r["K"] for r in rows)
            plot(tsv, os.path.join(a.outdir, "scaling-sim-%s.png" % name), sc["title"],
                 names, prios, int(kmax * 1.3), bool(sc.get("prio")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
