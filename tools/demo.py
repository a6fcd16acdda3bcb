#!/usr/bin/python3
"""demo: a newcomer's tour of spillway (`make demo`).

An emulated Elasticsearch that takes a few thousand events/s, a load generator offering
several times that, and spillway in between, shedding the least important events first.
Each second it shows, from spillway's `GET /stats`, what each class offered, what went through
and what was shed, and how stale its events were by the time they were forwarded or shed (the
lag from arrival to outcome, p50 and p99 over the last 10 s, `lag_10s`); at the end it checks
the guarantee from the final counters:

  - every event the load generator offered was received, and for every class
    received = forwarded + dropped (all reasons) + queued + in flight, exactly;
  - what spillway counts as forwarded is what Elasticsearch indexed;
  - priority 0 lost nothing;
  - the share shed never decreases as the priority number grows;
  - spillway stops cleanly on SIGTERM.

Exit status: 0 if the guarantee held, 1 if not, 2 if the demo could not run.

    tools/demo.py [--spillway ./spillway] [--duration 30] [--capacity 3000] [--load 4]
                  [--dip 0.5 | --no-dip] [--rules rules/demo.json] [--seed 1] [--plain] [-v]

Ctrl-C stops the load early and goes on to the summary; a second Ctrl-C quits at once.
Standard library only.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import loadgen  # noqa: E402

PYTHON = "/usr/bin/python3"
EMULATOR = os.path.join(REPO, "tests", "peers", "es_emulator.py")
LISTEN_RE = re.compile(r"listening (tcp|http|admin) (\S+):(\d+)")
REASONS = ("rate_limit", "backpressure", "queue_full", "too_large", "expired",
           "sink_rejected", "sink_error", "unacknowledged", "shutdown")

# what the load generator offers, and the class of rules/demo.json each kind lands in
MIX = {"error": 5, "checkout": 10, "app": 30, "other": 35, "debug": 20}
KIND_CLASS = {"error": "errors", "checkout": "checkout", "app": "apps", "other": "other",
              "debug": "debug"}
KIND_TEXT = {"error": "log.level ERROR, from any service",
             "checkout": "the checkout and payments services",
             "app": "other production services (a bucket per service)",
             "other": "staging, dev, infrastructure: the default class",
             "debug": "DEBUG from a batch job"}


class DemoError(Exception):
    pass


def num(n):
    return "{:,}".format(int(round(n)))


def pct(part, whole, digits=0):
    if whole <= 0:
        return "-"
    return "%.*f%%" % (digits, 100.0 * part / whole)


# -- child processes -----------------------------------------------------------------------

def _pdeathsig():
    """In the child: get SIGTERM if the demo dies without cleaning up (Linux)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except Exception:
        pass


class Child:
    """A child process whose stderr is drained by a thread and kept (the last lines)."""

    def __init__(self, name, argv, echo=False):
        self.name = name
        self.argv = argv
        self.lines = []
        self.listening = {}
        self.ready = threading.Event()
        self.want = set()
        self.echo = echo
        # its own session: a Ctrl-C in the terminal reaches the demo only, which then
        # stops the load, drains and summarises
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True, preexec_fn=_pdeathsig)
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if len(self.lines) > 200:
                del self.lines[:100]
            m = LISTEN_RE.search(line)
            if m:
                self.listening[m.group(1)] = (m.group(2).strip("[]"), int(m.group(3)))
                if self.want and self.want <= set(self.listening):
                    self.ready.set()
            elif self.echo and self.ready.is_set():
                Out.note("%s: %s" % (self.name, line))
        self.ready.set()

    def wait_listening(self, kinds, timeout=15.0):
        self.want = set(kinds)
        if self.want <= set(self.listening):
            return self.listening
        self.ready.wait(timeout)
        if not self.want <= set(self.listening):
            rc = self.proc.poll()
            raise DemoError("%s did not start (%s):\n  %s" % (
                self.name, "exit status %s" % rc if rc is not None else "no listening line",
                "\n  ".join(self.lines[-15:]) or "(no output)"))
        return self.listening

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Signal it and wait; returns the exit status (SIGKILL after `timeout`)."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(2)
        return self.proc.returncode


def http_json(url, body=None, method="GET", timeout=5.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


# -- output --------------------------------------------------------------------------------

class Out:
    """Live output: on a terminal, a one-line history per second scrolls above a table
    that is redrawn in place; otherwise (or with --plain) the table is printed each second."""

    tty = False
    drawn = 0                   # lines of the live table currently on screen
    lock = threading.Lock()

    @classmethod
    def _clear(cls):
        if cls.tty and cls.drawn:
            sys.stdout.write("\x1b[%dF\x1b[J" % cls.drawn)
            cls.drawn = 0

    @classmethod
    def note(cls, text, table=None):
        """Print lines that stay (history), then (re)draw the live table under them."""
        with cls.lock:
            cls._clear()
            if text is not None:
                sys.stdout.write(text + "\n")
            if table:
                sys.stdout.write("\n".join(table) + "\n")
                if cls.tty:
                    cls.drawn = len(table)
            sys.stdout.flush()

    @classmethod
    def finish(cls):
        with cls.lock:
            cls._clear()
            sys.stdout.flush()


def by_priority(classes):
    """Class names in display order: priority, then rule order; internal classes last
    unless they saw traffic."""
    names = [n for n, c in classes.items()
             if not n.startswith("_") or c.get("received", 0) > 0]
    order = {n: i for i, n in enumerate(classes)}
    return sorted(names, key=lambda n: (n.startswith("_"), classes[n]["priority"], order[n]))


def lag_ms(c, q):
    """A class's lag quantile q ("p50_ms", "p99_ms") over the last 10 s, as text: "-" when
    no event of it reached an outcome in that time (or the binary does not measure lag)."""
    lag = c.get("lag_10s")
    if not lag or not lag.get("events"):
        return "-"
    v = lag[q]
    return "%.1f" % v if v < 10 else num(v)


def live_table(st, t, duration, es_cap):
    cls = st["classes"]
    cap = st.get("capacity")
    inflight = sum(c.get("inflight", 0) for c in cls.values())
    lines = [
        " %-12s Elasticsearch takes %-9s spillway admits %s" % (
            "%ds of %ds" % (t, duration),
            "%s/s" % num(es_cap) if es_cap is not None else "any",
            "%s/s" % num(cap) if cap is not None else "all (no limit)"),
        " backpressure %-4s queue %-8s in flight %-8s %25s" % (
            "ON" if st.get("backpressure") else "off", num(st["queue"]["events"]),
            num(inflight), "(events/s, last second)"),
        " %-10s %3s %10s %10s %10s %6s %8s %8s" % ("class", "pri", "offered", "forwarded",
                                                   "shed", "% shed", "lag p50", "lag p99"),
    ]
    tot = [0.0, 0.0, 0.0]
    for n in by_priority(cls):
        c = cls[n]
        r = c["rate_1s"]
        tot[0] += r["received"]
        tot[1] += r["forwarded"]
        tot[2] += r["dropped"]
        lines.append(" %-10s %3d %10s %10s %10s %6s %8s %8s" % (
            n[:10], c["priority"], num(r["received"]), num(r["forwarded"]),
            num(r["dropped"]), pct(min(r["dropped"], r["received"]), r["received"]),
            lag_ms(c, "p50_ms"), lag_ms(c, "p99_ms")))
    lines.append(" %-10s %3s %10s %10s %10s %6s" % (
        "all", "", num(tot[0]), num(tot[1]), num(tot[2]), pct(min(tot[2], tot[0]), tot[0])))
    lines.append(" lag: ms from arrival to outcome (forwarded, or shed once queued), last 10 s")
    return lines


def history_header(names):
    cols = "".join(" %*s" % (max(len(n[:9]), 5), n[:9]) for n in names)
    return ("  Each second: what Elasticsearch takes and what spillway admits (events/s),\n"
            "  back-pressure, queue depth, events forwarded, and the share of each class\n"
            "  that was shed; the table under it shows the last second in full.\n\n"
            "%41s | %s\n" % ("", "shed, % of offered".center(len(cols) - 1).rstrip()) +
            "   t  ES takes   admits  bp  queue   fwd/s |%s" % cols)


def history_row(st, t, es_cap, names):
    cls = st["classes"]
    cap = st.get("capacity")
    fwd = sum(c["rate_1s"]["forwarded"] for c in cls.values())
    cols = ""
    for n in names:
        c = cls.get(n)
        w = max(len(n[:9]), 5)
        if c is None:
            cols += " %*s" % (w, "-")
            continue
        r = c["rate_1s"]
        cols += " %*s" % (w, pct(min(r["dropped"], r["received"]), r["received"]))
    return "%4d %9s %8s %3s %6s %7s |%s" % (
        t, num(es_cap) if es_cap is not None else "any",
        num(cap) if cap is not None else "all", "on" if st.get("backpressure") else "-",
        num(st["queue"]["events"]), num(fwd), cols)


# -- the run -------------------------------------------------------------------------------

def identity_errors(st):
    """Classes whose counters do not add up: [(name, received, sum of the parts)]."""
    bad = []
    for n, c in st["classes"].items():
        parts = (c["forwarded"] + sum(c["dropped"].get(r, 0) for r in c["dropped"]) +
                 c["queued"] + c["inflight"])
        if parts != c["received"]:
            bad.append((n, c["received"], parts))
    return bad


def run(a):
    spillway = os.path.abspath(a.spillway)
    if not (os.path.isfile(spillway) and os.access(spillway, os.X_OK)):
        raise DemoError("no spillway binary at %s (run make first)" % a.spillway)
    rules = os.path.abspath(a.rules)
    rate = a.capacity * a.load
    D = a.duration
    dip_at = dip_end = None
    if a.dip and D >= 10:
        dip_at, dip_end = int(round(D * 0.4)), int(round(D * 0.7))
    dip_cap = int(round(a.capacity * a.dip)) if dip_at is not None else None

    children = []
    lg = None
    try:
        # 1. the emulated Elasticsearch, overloaded on purpose
        emu = Child("es_emulator", [PYTHON, EMULATOR, "--listen", "127.0.0.1:0", "--fast",
                                    "--no-store", "--capacity", str(a.capacity)])
        children.append(emu)
        eh, ep = emu.wait_listening(["http"])["http"]
        es = "http://%s:%d" % (eh, ep)

        # 2. spillway in front of it
        sp = Child("spillway", [spillway, "-r", rules, "--sink", es,
                                "--listen-tcp", "127.0.0.1:0", "--listen-http", "127.0.0.1:0",
                                "--admin", "127.0.0.1:0"], echo=a.verbose)
        children.append(sp)
        ports = sp.wait_listening(["tcp", "http", "admin"])
        admin = "http://%s:%d" % ports["admin"]
        st = http_json(admin + "/stats")
        names = by_priority(st["classes"])

        # 3. the tour
        prio = {KIND_CLASS[k]: st["classes"][KIND_CLASS[k]]["priority"]
                for k in MIX if KIND_CLASS[k] in st["classes"]}
        total_share = float(sum(MIX.values()))
        intro = [
            "",
            "spillway demo: what happens when the logs outgrow Elasticsearch",
            "",
            "  An emulated Elasticsearch takes %s events/s and refuses the rest (429)." %
            num(a.capacity),
            "  A load generator offers %s events/s, %gx that, in five kinds:" % (
                num(rate), a.load),
        ]
        for k in sorted(MIX, key=lambda k: prio.get(KIND_CLASS[k], 99)):
            c = KIND_CLASS[k]
            text = KIND_TEXT[k]
            # a fixed rate in the rules that is below what this kind offers
            cap = st["classes"].get(c, {}).get("effective_rate")
            if cap is not None and cap < rate * MIX[k] / total_share:
                text += ", capped at %s/s" % num(cap)
            intro.append("    %-9s p%-2s %3.0f%%  %s" % (
                c, prio.get(c, "?"), 100 * MIX[k] / total_share, text))
        intro += [
            "  spillway (rules/demo.json) admits only what Elasticsearch can take and",
            "  sheds the least important first: priority 0 matters most, 9 least.",
        ]
        if dip_at is not None:
            intro.append("  At %ds Elasticsearch slows to %s events/s; at %ds it recovers." % (
                dip_at, num(dip_cap), dip_end))
        intro += ["  spillway: admin http://%s:%d/ (live dashboard), tcp %s:%d" % (
            ports["admin"] + ports["tcp"]), ""]
        Out.note("\n".join(intro))
        hist_names = [n for n in names if not n.startswith("_")]
        if Out.tty:
            Out.note(history_header(hist_names))

        lg = loadgen.LoadGen(ports["tcp"], rate, MIX, seed=a.seed, size=a.size,
                             connections=2)
        t0 = time.monotonic()
        lg.start(D)
        es_cap = a.capacity
        scrapes = 0
        scrape_bad = []
        interrupted = False
        try:
            for sec in range(1, int(D) + 1):
                delay = t0 + sec - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                note = None
                if dip_at is not None and sec == dip_at:
                    http_json(es + "/_emulator/config", {"capacity": dip_cap}, "PUT")
                    note = "  -- %ds: Elasticsearch slows down: it now takes %s events/s" % (
                        sec, num(dip_cap))
                elif dip_at is not None and sec == dip_end:
                    http_json(es + "/_emulator/config", {"capacity": a.capacity}, "PUT")
                    note = "  -- %ds: Elasticsearch recovers: %s events/s again" % (
                        sec, num(a.capacity))
                es_cap = http_json(es + "/_emulator/config").get("capacity")
                st = http_json(admin + "/stats")
                scrapes += 1
                bad = identity_errors(st)
                if bad:
                    scrape_bad.append((sec, bad))
                table = live_table(st, sec, D, es_cap)
                if Out.tty:
                    if note:
                        Out.note(note)
                    Out.note(history_row(st, sec, es_cap, hist_names), table)
                else:
                    Out.note((note + "\n" if note else "") + "\n".join(table) + "\n")
                if sp.proc.poll() is not None:
                    raise DemoError("spillway exited (status %s) during the run:\n  %s" % (
                        sp.proc.returncode, "\n  ".join(sp.lines[-15:])))
        except KeyboardInterrupt:
            interrupted = True
            Out.note("  -- interrupted: stopping the load (Ctrl-C again quits at once)")
        if not interrupted:
            lg.join()
        offered = lg.stop()
        elapsed = offered["seconds"]
        Out.finish()
        if offered["error"]:
            raise DemoError("load generator: %s" % offered["error"])

        # 4. let spillway finish: everything offered received, nothing queued or in flight
        print("\nLoad stopped after %.1f s (%s events offered)." % (
            elapsed, num(offered["total"])))
        print("Waiting for spillway to drain its queue, then SIGTERM...")
        deadline = time.monotonic() + 30
        while True:
            st = http_json(admin + "/stats")
            cls = st["classes"]
            received = sum(c["received"] for n, c in cls.items() if n != "_spillway")
            busy = sum(c["queued"] + c["inflight"] for c in cls.values())
            if (received >= offered["total"] and busy == 0) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        drained = busy == 0
        emu_stats = http_json(es + "/_emulator/stats")
        rc = sp.stop(signal.SIGTERM, 20)
        ok = summary(st, offered, emu_stats, rc, drained, scrapes, scrape_bad, elapsed,
                     interrupted)
        return 0 if ok else 1
    finally:
        if lg is not None:
            lg.stop()
        Out.finish()
        for ch in reversed(children):
            ch.stop()


def summary(st, offered, emu_stats, rc, drained, scrapes, scrape_bad, elapsed,
            interrupted):
    cls = st["classes"]
    names = by_priority(cls)
    out = []
    w = out.append
    w("")
    w("Final counters (events), after %.0f s of load%s" % (
        elapsed, " (interrupted)" if interrupted else ""))
    w(" %-10s %3s %12s %12s %12s %8s" % ("class", "pri", "received", "forwarded", "shed",
                                         "% shed"))
    tot = [0, 0, 0]
    for n in names:
        c = cls[n]
        shed = sum(c["dropped"].values())
        tot[0] += c["received"]
        tot[1] += c["forwarded"]
        tot[2] += shed
        w(" %-10s %3d %12s %12s %12s %8s" % (n[:10], c["priority"], num(c["received"]),
                                             num(c["forwarded"]), num(shed),
                                             pct(shed, c["received"], 1)))
    w(" %-10s %3s %12s %12s %12s %8s" % ("all", "", num(tot[0]), num(tot[1]), num(tot[2]),
                                         pct(tot[2], tot[0], 1)))
    why = []
    for n in names:
        d = cls[n]["dropped"]
        parts = ["%s %s" % (r, num(d[r])) for r in REASONS if d.get(r)]
        parts += ["%s %s" % (r, num(v)) for r, v in d.items() if r not in REASONS and v]
        if parts:
            why.append("   %-10s %s" % (n[:10], ", ".join(parts)))
    if why:
        w("")
        w(" Shed, by reason:")
        out.extend(why)
    if "_spillway" in cls and cls["_spillway"]["received"]:
        w("")
        w(" _spillway events are spillway's drop summaries, sent to Elasticsearch so the")
        w(" gap is visible next to the data.")
    indexed = sum(emu_stats.get("indexed", {}).values())
    refused = emu_stats.get("rejected", {}).get("capacity_items", 0)
    w("")
    w(" Elasticsearch indexed %s events and refused %s items with 429," % (
        num(indexed), num(refused)))
    w(" which spillway held and retried, while admitting less.")

    checks = []

    def check(ok, text):
        checks.append((ok, text))

    # every event offered arrived and was classified where the rules say
    received = sum(c["received"] for n, c in cls.items() if n != "_spillway")
    check(received == offered["total"],
          "every offered event was received: %s offered, %s received" % (
              num(offered["total"]), num(received)))
    mism = []
    for k, n in offered["offered"].items():
        c = cls.get(KIND_CLASS.get(k, ""))
        if c is None or c["received"] != n:
            mism.append("%s %s vs %s" % (k, num(n), num(c["received"]) if c else "-"))
    if mism:
        check(False, "each kind landed in its class: " + "; ".join(mism))
    # accounting identity, at the end and at every scrape
    bad = identity_errors(st)
    if not drained:
        check(False, "spillway drained its queue (still %s queued or in flight)" % num(
            sum(c["queued"] + c["inflight"] for c in cls.values())))
    check(not bad, "accounting exact per class: received = forwarded + shed + queued"
          " + in flight" + ("" if not bad else ": " + "; ".join(
              "%s %s != %s" % (n, num(r), num(p)) for n, r, p in bad)))
    check(not scrape_bad, "... and at each of the %d live snapshots%s" % (
        scrapes, "" if not scrape_bad else " (wrong at %d: first at %ds, %s)" % (
            len(scrape_bad), scrape_bad[0][0],
            ", ".join("%s %s != %s" % b for b in scrape_bad[0][1]))))
    check(indexed == tot[1], "forwarded = what Elasticsearch indexed: %s and %s" % (
        num(tot[1]), num(indexed)))
    # priority 0 lost nothing
    p0 = [n for n in names if cls[n]["priority"] == 0]
    p0_lost = sum(sum(cls[n]["dropped"].values()) for n in p0)
    check(p0_lost == 0, "priority 0 (%s) lost nothing%s" % (
        ", ".join(p0), "" if not p0_lost else ": %s shed" % num(p0_lost)))
    # drop fraction never decreases as the priority number grows
    byp = {}
    for n in names:
        c = cls[n]
        if c["received"] == 0:
            continue
        r, s = byp.get(c["priority"], (0, 0))
        byp[c["priority"]] = (r + c["received"], s + sum(c["dropped"].values()))
    ps = sorted(byp)
    ordered = all(byp[ps[i]][1] * byp[ps[i + 1]][0] <= byp[ps[i + 1]][1] * byp[ps[i]][0]
                  for i in range(len(ps) - 1))
    check(ordered, "shed share rises with the priority number: " + " <= ".join(
        "p%d %s" % (p, pct(byp[p][1], byp[p][0], 1)) for p in ps))
    check(rc == 0, "spillway stopped cleanly on SIGTERM (exit status %s)" % rc)

    w("")
    w(" Checks:")
    for ok, text in checks:
        line = "   [%s] %s" % ("ok" if ok else "FAIL", text)
        while len(line) > 79:                    # wrap long lines at a space
            cut = line.rfind(" ", 0, 79)
            if cut <= 10:
                break
            out.append(line[:cut])
            line = "          " + line[cut + 1:]
        out.append(line)
    held = all(ok for ok, _ in checks)
    w("")
    if held:
        w(" The guarantee held: Elasticsearch got what it could take, priority 0 lost")
        w(" nothing, lower priorities were shed first, and every event is accounted for.")
    else:
        w(" The guarantee did NOT hold: see the FAIL lines above.")
    print("\n".join(out))
    sys.stdout.flush()
    return held


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="demo.py",
        description="A tour of spillway: an overloaded Elasticsearch emulator, a load "
                    "generator offering several times its capacity, and what spillway "
                    "sheds, live.")
    ap.add_argument("--spillway", default=os.path.join(REPO, "spillway"),
                    help="the spillway binary (default: the one in the repository)")
    ap.add_argument("--rules", default=os.path.join(REPO, "rules", "demo.json"),
                    help="rules file (default rules/demo.json)")
    ap.add_argument("--duration", type=float, default=30.0, metavar="S",
                    help="seconds of load (default 30)")
    ap.add_argument("--capacity", type=int, default=3000, metavar="EV_PER_S",
                    help="what the emulated Elasticsearch takes (default 3000)")
    ap.add_argument("--load", type=float, default=4.0, metavar="X",
                    help="offered load, as a multiple of the capacity (default 4)")
    ap.add_argument("--dip", type=float, default=0.5, metavar="F",
                    help="capacity during the dip, as a fraction (default 0.5)")
    ap.add_argument("--no-dip", dest="dip", action="store_const", const=0.0,
                    help="keep the capacity constant")
    ap.add_argument("--seed", default="1", help="load generator seed")
    ap.add_argument("--size", type=int, default=350, help="approximate bytes per event")
    ap.add_argument("--plain", action="store_true",
                    help="print the table each second instead of redrawing it")
    ap.add_argument("-v", "--verbose", action="store_true", help="show spillway's log")
    a = ap.parse_args(argv)
    if a.duration < 1 or a.capacity < 1 or a.load <= 0 or a.dip < 0:
        ap.error("duration, capacity and load must be positive")
    Out.tty = (sys.stdout.isatty() and not a.plain and
               os.environ.get("TERM", "dumb") != "dumb")

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even when started with &
    try:
        return run(a)
    except DemoError as e:
        Out.finish()
        sys.stderr.write("demo: %s\n" % e)
        return 2
    except (urllib.error.URLError, OSError) as e:
        Out.finish()
        sys.stderr.write("demo: %s\n" % e)
        return 2
    except KeyboardInterrupt:
        Out.finish()
        sys.stderr.write("demo: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
