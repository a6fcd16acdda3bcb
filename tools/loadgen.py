#!/usr/bin/python3
"""loadgen: offer a paced mix of ECS-style NDJSON events to spillway over TCP.

Command line:

    tools/loadgen.py --tcp 127.0.0.1:5170 --rate 12000 --duration 30 \
        [--mix error=5,checkout=10,app=30,other=35,debug=20] \
        [--schedule 0:12000,10:3000,20:12000] [--seed 1] [--size 350] \
        [--connections 1] [--stamp FIELD] [--log]

At the end it prints, on stdout, one JSON object with what it offered:

    {"offered": {"error": N, ...}, "total": N, "first_seq": 0, "last_seq": N-1,
     "seconds": S, "rate": R, "late": L, "error": null}

As a module (standard library only):

    sys.path.insert(0, "tools"); import loadgen
    lg = loadgen.LoadGen(("127.0.0.1", port), 12000, {"error": 5, "app": 95}, seed=1)
    result = lg.run(10)                  # blocks; returns the dict above
    lg.start(); ...; lg.offered(); result = lg.stop()     # from another thread

Every event carries `"labels": {"lg_kind": KIND, "lg_seq": N}`. Sequence numbers start at 0
and rise by one per event; every event with a number below `total` was sent whole, in order on
its connection, and `lg.kind_of(seq)` (or `loadgen.line(seq, ...)`) tells which kind it was, so a
consumer can check exactly which events arrived.

Send-time stamps (`--stamp FIELD`, or `LoadGen(..., stamp="FIELD")`): every event also carries
`"FIELD": T` inside `labels`, after `lg_seq` (e.g. `"labels": {"lg_kind": "error", "lg_seq": 7,
"lg_sent": 1765069285.123456}`), where T is the wall clock (`time.time()`, epoch seconds, a JSON
number with 6 decimals) read just before the write that carries the event: one reading per
connection and tick, so the events of one write share it (they are written together, and a
write that blocks because the receiver pushes back keeps the stamp it had before it blocked:
that wait is part of the lag). A consumer on the same machine (the same clock) can then measure
the lag of each event from the sender's write, e.g. tests/peers/es_emulator.py `--lag-field
labels.lg_sent --lag-by labels.lg_kind`. The stamp is spliced into the precomputed template like
the sequence number, so it costs next to nothing per event. The events are the same as without
it (same kinds, same content, for the same seed), each longer by the stamp: 28 bytes with
`lg_sent` (`--size` does not count them). FIELD must not be `lg_kind` or `lg_seq`.

Kinds (what the rules in rules/demo.json match):

    error     log.level ERROR, from any service and namespace
    checkout  log.level INFO, service.name checkout or payments, namespace prod-shop
    app       log.level INFO or WARN, prod-* namespaces, several services
    debug     log.level DEBUG, from a batch job (namespace batch-etl)
    other     anything else: INFO/WARN/NOTICE from staging, dev and infrastructure

Pacing: a fixed tick (10 ms) on time.monotonic(); at each tick it sends every event that is
due by then (the integral of the rate since the start), in one write per connection. Lines are
precomputed templates, so one process offers 50k+ events/s. If the receiver pushes back, sends
block and the generator catches up later (at most one second's worth per tick); `late` says
how many events were still due but unsent when it stopped.
"""

import argparse
import json
import random
import socket
import sys
import threading
import time

__all__ = ["KINDS", "DEFAULT_MIX", "LoadGen", "parse_mix", "parse_schedule",
           "parse_addr", "main"]

TICK = 0.010
TABLE_BITS = 18                         # kind/template schedule cycles every 262144 events
TABLE_SIZE = 1 << TABLE_BITS
TABLE_MASK = TABLE_SIZE - 1
VARIANTS = 64                           # templates per kind

DEFAULT_MIX = {"error": 5, "checkout": 10, "app": 30, "other": 35, "debug": 20}

_WORDS = ("request handled upstream cache miss retry order cart session token user "
          "latency queue worker batch item payload index shard lookup commit span trace "
          "connection pool timeout fallback client server response status record flush "
          "config reload metric sample window bucket").split()

_PROD_APPS = [("prod-web", "frontend"), ("prod-web", "search"), ("prod-web", "catalog"),
              ("prod-core", "inventory"), ("prod-core", "shipping"),
              ("prod-core", "recommend"), ("prod-ads", "ads")]
_CHECKOUT = [("prod-shop", "checkout"), ("prod-shop", "payments")]
_OTHER = [("staging", "frontend"), ("staging", "checkout"), ("dev-alice", "search"),
          ("infra", "nginx"), ("infra", "coredns"), ("monitoring", "prometheus")]
_BATCH = [("batch-etl", "nightly-etl"), ("batch-etl", "report-builder")]


def _pick(rng, seq):
    return seq[rng.randrange(len(seq))]


def _k_error(rng):
    ns, svc = _pick(rng, _PROD_APPS + _CHECKOUT + _OTHER + _BATCH)
    return "ERROR", ns, svc, _pick(rng, ["failed to process request",
                                         "unhandled exception", "upstream returned 503",
                                         "database connection refused"])


def _k_checkout(rng):
    ns, svc = _pick(rng, _CHECKOUT)
    return "INFO", ns, svc, _pick(rng, ["order placed", "payment authorised",
                                        "cart updated", "checkout step completed"])


def _k_app(rng):
    ns, svc = _pick(rng, _PROD_APPS)
    return (_pick(rng, ["INFO"] * 9 + ["WARN"]), ns, svc,
            _pick(rng, ["request served", "cache refreshed", "slow query",
                        "feature flag evaluated"]))


def _k_debug(rng):
    ns, svc = _pick(rng, _BATCH)
    return "DEBUG", ns, svc, _pick(rng, ["row transformed", "chunk read",
                                         "checkpoint written", "partition scanned"])


def _k_other(rng):
    ns, svc = _pick(rng, _OTHER)
    return (_pick(rng, ["INFO", "INFO", "WARN", "NOTICE"]), ns, svc,
            _pick(rng, ["health check ok", "config loaded", "access logged",
                        "scrape completed"]))


# name -> (maker, description); order is the order of reports
KINDS = {
    "error": (_k_error, "log.level ERROR from any service"),
    "checkout": (_k_checkout, "INFO from service checkout/payments"),
    "app": (_k_app, "INFO/WARN from prod-* app services"),
    "debug": (_k_debug, "DEBUG from a batch job"),
    "other": (_k_other, "anything else (staging, dev, infra)"),
}


def _template(kind, rng, size, stamp=None):
    """One line template for `kind`: bytes with %s for @timestamp and %d for lg_seq, and with
    `stamp` a third, %s for the send time in labels.STAMP (a JSON number)."""
    level, ns, svc, msg = KINDS[kind][0](rng)
    pod = "%s-%x-%s" % (svc, rng.randrange(0x10000000, 0xffffffff),
                        "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5)))
    ev = {
        "@timestamp": "@@TS@@",
        "log.level": level,
        "message": msg,
        "service.name": svc,
        "event.dataset": "%s.log" % svc,
        "host": {"name": "node-%02d" % rng.randrange(1, 17)},
        "kubernetes": {"namespace": ns, "pod": {"name": pod}},
        "trace.id": "%032x" % rng.getrandbits(128),
        "labels": {"lg_kind": kind, "lg_seq": "@@SEQ@@"},
    }
    text = json.dumps(ev, separators=(",", ":"))
    # 24 for the timestamp, ~7 for the sequence number, 1 for the newline
    base = len(text) - len('"@@TS@@"') + 26 - len('"@@SEQ@@"') + 7 + 1
    if stamp is not None:
        # added after `base` is measured, so that the padding, and every random draw, is
        # what it is without a stamp: the same events, each longer by the stamp
        ev["labels"][stamp] = "@@SENT@@"
        text = json.dumps(ev, separators=(",", ":"))
    want = int(size * rng.uniform(0.85, 1.15))
    if want > base:
        pad = []
        n = want - base - 1
        while n > 0:
            w = _pick(rng, _WORDS)
            pad.append(w[:n])
            n -= len(w) + 1
        ev["message"] = msg + " " + " ".join(pad)
        text = json.dumps(ev, separators=(",", ":"))
    text = text.replace("%", "%%")
    text = text.replace('"@@TS@@"', '"%s"').replace('"@@SEQ@@"', "%d")
    text = text.replace('"@@SENT@@"', "%s")
    return (text + "\n").encode()


def _stamp(now=None):
    """The send-time stamp: epoch seconds with 6 decimals, as bytes (a JSON number)."""
    return b"%.6f" % (time.time() if now is None else now)


def _timestamp(now=None):
    t = time.time() if now is None else now
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) +
            ".%03dZ" % (int(t * 1000) % 1000)).encode()


def parse_mix(text):
    """'error=5,app=95' -> {'error': 5.0, 'app': 95.0}; names must be known kinds."""
    mix = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, share = part.partition("=")
        name = name.strip()
        if name not in KINDS:
            raise ValueError("unknown kind %r (known: %s)" % (name, ", ".join(KINDS)))
        try:
            v = float(share) if sep else 1.0
        except ValueError:
            raise ValueError("bad share for %s: %r" % (name, share))
        if v < 0:
            raise ValueError("negative share for %s" % name)
        mix[name] = mix.get(name, 0.0) + v
    if not mix or sum(mix.values()) <= 0:
        raise ValueError("the mix offers nothing")
    return mix


def parse_schedule(text):
    """'0:12000,10:3000' -> [(0.0, 12000.0), (10.0, 3000.0)], sorted by time."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        t, sep, r = part.partition(":")
        if not sep:
            raise ValueError("schedule entry %r is not T:RATE" % part)
        t, r = float(t), float(r)
        if t < 0 or r < 0:
            raise ValueError("schedule entry %r is negative" % part)
        out.append((t, r))
    out.sort()
    return out


def parse_addr(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError("address %r is not HOST:PORT" % text)
    return host.strip("[]"), int(port)


class LoadGen:
    """A paced generator of NDJSON events to one TCP address.

    addr: (host, port) or "host:port"; rate: events/s until a schedule entry changes it;
    mix: {kind: share} or "kind=share,..." (default DEFAULT_MIX); schedule: [(t, rate)] or
    "t:rate,..." (rate changes at t seconds from the start); on_second: called once a second
    from the sending thread with a dict {t, rate, sent, total, offered}; stamp: None, or a
    field name: every event carries labels.STAMP = the wall-clock time of its write (epoch
    seconds, a JSON number with 6 decimals).
    """

    def __init__(self, addr, rate, mix=None, seed=1, size=350, schedule=None,
                 connections=1, on_second=None, stamp=None):
        if isinstance(addr, str):
            addr = parse_addr(addr)
        self.addr = tuple(addr)
        self.rate = float(rate)
        if mix is None:
            mix = DEFAULT_MIX
        if isinstance(mix, str):
            mix = parse_mix(mix)
        self.mix = {k: float(v) for k, v in mix.items() if v > 0}
        for k in self.mix:
            if k not in KINDS:
                raise ValueError("unknown kind %r" % k)
        if isinstance(schedule, str):
            schedule = parse_schedule(schedule)
        self.schedule = sorted(schedule or [])
        self.seed = seed
        self.size = int(size)
        self.connections = max(1, int(connections))
        self.on_second = on_second
        if stamp is not None:
            stamp = str(stamp)
            if not stamp or stamp in ("lg_kind", "lg_seq"):
                raise ValueError("bad stamp field %r (not empty, lg_kind or lg_seq)" % stamp)
        self.stamp = stamp
        self.kinds = [k for k in KINDS if k in self.mix]
        self._build()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._counts = [0] * len(self.kinds)
        self._total = 0
        self._late = 0
        self._error = None
        self._t0 = None
        self._t_end = None
        self._result = None

    # -- precomputation ----------------------------------------------------------------

    def _build(self):
        rng = random.Random("loadgen/%s" % self.seed)
        self.templates = [[_template(k, rng, self.size, self.stamp) for _ in range(VARIANTS)]
                          for k in self.kinds]
        weights = [self.mix[k] for k in self.kinds]
        ks = rng.choices(range(len(self.kinds)), weights=weights, k=TABLE_SIZE)
        self._kind_tab = bytes(ks)
        vs = [rng.randrange(VARIANTS) for _ in range(TABLE_SIZE)]
        self._tpl_tab = [self.templates[k][v] for k, v in zip(ks, vs)]

    def kind_of(self, seq):
        """The kind of the event with sequence number `seq`."""
        return self.kinds[self._kind_tab[seq & TABLE_MASK]]

    def line(self, seq, ts=b"2024-01-01T00:00:00.000Z", sent=None):
        """The line (bytes, with its newline) this generator sends as event `seq`; with a
        stamp field, `sent` is its send time (epoch seconds, default now)."""
        if self.stamp is None:
            return self._tpl_tab[seq & TABLE_MASK] % (ts, seq)
        return self._tpl_tab[seq & TABLE_MASK] % (ts, seq, _stamp(sent))

    # -- schedule ----------------------------------------------------------------------

    def rate_at(self, t):
        r = self.rate
        for st, sr in self.schedule:
            if st <= t:
                r = sr
            else:
                break
        return r

    def _due(self, t):
        """Events due by t seconds from the start: the integral of the rate."""
        due, prev_t, prev_r = 0.0, 0.0, self.rate
        for st, sr in self.schedule:
            if st >= t:
                break
            due += prev_r * (st - prev_t)
            prev_t, prev_r = st, sr
        return due + prev_r * (t - prev_t)

    # -- running -----------------------------------------------------------------------

    def _connect(self):
        socks = []
        for _ in range(self.connections):
            s = socket.create_connection(self.addr, timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(0.1)
            socks.append(s)
        return socks

    def _send(self, sock, data, give_up):
        """Send all of data; returns bytes sent (fewer only if give_up() said so)."""
        mv = memoryview(data)
        off = 0
        while off < len(mv):
            try:
                off += sock.send(mv[off:])
            except socket.timeout:
                if give_up():
                    break
        return off

    def _loop(self, duration):
        socks = []
        try:
            socks = self._connect()
            t0 = time.monotonic()
            with self._lock:
                self._t0 = t0
            tab_tpl, tab_kind = self._tpl_tab, self._kind_tab
            counts = [0] * len(self.kinds)
            sent = 0
            tick = 0
            next_sec = 1
            sec_sent = 0
            n_conn = len(socks)
            stamp = self.stamp is not None
            drain_deadline = [None]

            def give_up():
                # on stop, finish the batch in hand for up to 2 s, then cut it short
                if not self._stop.is_set():
                    return False
                if drain_deadline[0] is None:
                    drain_deadline[0] = time.monotonic() + 2.0
                return time.monotonic() > drain_deadline[0]

            while True:
                now = time.monotonic()
                el = now - t0
                if duration is not None and el >= duration:
                    el = duration
                due = int(self._due(el)) - sent
                cap = max(1, int(self.rate_at(el) * 1.0))
                n = min(due, cap) if due > 0 else 0
                if n > 0:
                    ts = _timestamp()
                    # contiguous chunks per connection, sent in order, so that the events
                    # sent whole are always exactly those numbered below `sent`
                    step = -(-n // n_conn)
                    done = 0
                    for c in range(n_conn):
                        lo, hi = sent + c * step, min(sent + n, sent + (c + 1) * step)
                        if lo >= hi:
                            break
                        if stamp:
                            # read the clock for each write, just before it
                            sent_at = _stamp()
                            chunk = [tab_tpl[i & TABLE_MASK] % (ts, i, sent_at)
                                     for i in range(lo, hi)]
                        else:
                            chunk = [tab_tpl[i & TABLE_MASK] % (ts, i) for i in range(lo, hi)]
                        data = b"".join(chunk)
                        got = self._send(socks[c], data, give_up)
                        if got < len(data):
                            acc = 0
                            for ln in chunk:
                                acc += len(ln)
                                if acc > got:
                                    break
                                done += 1
                            break
                        done += len(chunk)
                    for i in range(sent, sent + done):
                        counts[tab_kind[i & TABLE_MASK]] += 1
                    sent += done
                    with self._lock:
                        self._counts = counts[:]
                        self._total = sent
                    if done < n:
                        with self._lock:
                            self._error = "stopped while the receiver was not reading"
                        break
                    sec_sent += n
                if duration is not None and el >= duration:
                    break
                if self._stop.is_set():
                    break
                if self.on_second is not None and el >= next_sec:
                    info = {"t": next_sec,
                            "rate": round(self._due(next_sec) - self._due(next_sec - 1), 1),
                            "sent": sec_sent,
                            "total": sent,
                            "offered": dict(zip(self.kinds, counts))}
                    sec_sent = 0
                    next_sec = int(el) + 1
                    try:
                        self.on_second(info)
                    except Exception:
                        pass
                tick += 1
                target = t0 + tick * TICK
                now = time.monotonic()
                if target < now:
                    # fell behind (a blocked send): resume from now, the debt is still due
                    tick = int((now - t0) / TICK) + 1
                    target = t0 + tick * TICK
                if duration is not None:
                    target = min(target, t0 + duration)
                self._stop.wait(max(0.0, target - time.monotonic()))
            el = time.monotonic() - t0
            late = max(0, int(self._due(min(el, duration) if duration is not None else el))
                       - sent)
            with self._lock:
                self._late = late
                self._t_end = time.monotonic()
        except OSError as e:
            with self._lock:
                self._error = "%s:%d: %s" % (self.addr[0], self.addr[1], e)
                self._t_end = time.monotonic()
        except Exception as e:                       # a bug: report it, do not hang
            with self._lock:
                self._error = "%s: %s" % (type(e).__name__, e)
                self._t_end = time.monotonic()
        finally:
            for s in socks:
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                s.close()

    def _snapshot(self):
        with self._lock:
            t0, t1 = self._t0, self._t_end
            secs = 0.0 if t0 is None else ((t1 if t1 is not None else time.monotonic()) - t0)
            total = self._total
            return {
                "offered": dict(zip(self.kinds, self._counts)),
                "total": total,
                "first_seq": 0,
                "last_seq": total - 1,
                "seconds": round(secs, 3),
                "rate": round(total / secs, 1) if secs > 0 else 0.0,
                "late": self._late,
                "error": self._error,
            }

    def run(self, duration):
        """Offer the load for `duration` seconds (None: until stop()); return the result."""
        self._loop(duration)
        self._result = self._snapshot()
        return self._result

    def start(self, duration=None):
        """Run in a background thread (until stop(), or for `duration` seconds)."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self.run, args=(duration,),
                                        name="loadgen", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop sending (the batch in hand is finished) and return the result."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._result is None:
            self._result = self._snapshot()
        return self._result

    def join(self, timeout=None):
        if self._thread is not None:
            self._thread.join(timeout)
        return self._result

    def running(self):
        return self._thread is not None and self._thread.is_alive()

    def offered(self):
        """What was offered so far: the same dict as the final result."""
        return self._snapshot()


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="loadgen.py",
        description="Offer a paced mix of ECS-style NDJSON events over TCP.",
        epilog="kinds: " + "; ".join("%s = %s" % (k, v[1]) for k, v in KINDS.items()))
    ap.add_argument("--tcp", metavar="HOST:PORT",
                    help="spillway's TCP NDJSON listener")
    ap.add_argument("--rate", type=float, default=10000.0, metavar="EV_PER_S",
                    help="offered events per second (default 10000)")
    ap.add_argument("--duration", type=float, default=10.0, metavar="S",
                    help="seconds to run (default 10)")
    ap.add_argument("--mix", default=",".join("%s=%g" % kv for kv in DEFAULT_MIX.items()),
                    metavar="NAME=SHARE,...", help="shares of each kind (default %(default)s)")
    ap.add_argument("--schedule", default="", metavar="T:RATE,...",
                    help="change the rate to RATE at T seconds from the start")
    ap.add_argument("--seed", default="1", help="seed of the event mix and content")
    ap.add_argument("--size", type=int, default=350, metavar="BYTES",
                    help="approximate bytes per event (default 350)")
    ap.add_argument("--connections", type=int, default=1, metavar="N",
                    help="TCP connections, events spread round-robin (default 1)")
    ap.add_argument("--stamp", metavar="FIELD",
                    help="put the send time in labels.FIELD of every event (epoch seconds, "
                         "a number with 6 decimals), e.g. --stamp lg_sent")
    ap.add_argument("--log", action="store_true",
                    help="print a JSON line per second on stderr")
    ap.add_argument("--print", type=int, default=0, metavar="N", dest="print_n",
                    help="print the first N events on stdout and exit (nothing is sent)")
    a = ap.parse_args(argv)
    if a.tcp is None and not a.print_n:
        ap.error("--tcp HOST:PORT is required")
    try:
        mix = parse_mix(a.mix)
        schedule = parse_schedule(a.schedule)
        addr = parse_addr(a.tcp) if a.tcp else ("127.0.0.1", 0)
    except ValueError as e:
        ap.error(str(e))
    if a.rate < 0 or a.duration < 0 or a.connections < 1 or a.size < 0:
        ap.error("negative rate, duration or size, or no connections")

    def log(info):
        sys.stderr.write(json.dumps(info, separators=(",", ":")) + "\n")
        sys.stderr.flush()

    try:
        lg = LoadGen(addr, a.rate, mix, seed=a.seed, size=a.size, schedule=schedule,
                     connections=a.connections, on_second=log if a.log else None,
                     stamp=a.stamp)
    except ValueError as e:
        ap.error(str(e))
    if a.print_n:
        ts = _timestamp()
        out = sys.stdout.buffer
        for i in range(a.print_n):
            out.write(lg.line(i, ts))
        return 0
    lg.start(a.duration)
    try:
        lg.join()
        res = lg.stop()
    except KeyboardInterrupt:
        res = lg.stop()
    sys.stdout.write(json.dumps(res) + "\n")
    return 0 if res["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
