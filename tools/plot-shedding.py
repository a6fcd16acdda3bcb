#!/usr/bin/python3
"""plot-shedding: run spillway against an Elasticsearch whose capacity is cut, and draw it.

    tools/plot-shedding.py [--spillway ./spillway] [--capacity 2000] [--factor 3]
        [--duration 60] [--cut-at 20] [--restore-at 40] [--cut 0.2] [--mix ...]
        [--tsv docs/img/shedding.tsv] [--png docs/img/shedding.png] [--plot-only]

The scenario, end to end, on loopback (every port is 0, chosen by the kernel):

  1. tests/peers/es_emulator.py --fast --no-store --capacity CAPACITY: an Elasticsearch that
     indexes CAPACITY events/s and answers per-item 429s beyond that;
  2. ./spillway -r rules/demo.json with that emulator as its sink, defaults otherwise
     (control.interval_ms 250, decrease 0.7, increase 0.05, target_latency_ms 1000);
  3. tools/loadgen.py offers FACTOR x CAPACITY events/s of a steady mix over TCP for DURATION
     seconds; at CUT_AT seconds the emulator's capacity is cut to CUT x CAPACITY
     (PUT /_emulator/config), at RESTORE_AT seconds it is restored;
  4. every 0.5 s, spillway's GET /stats is sampled: per class the 1 s rates (received,
     forwarded, dropped) and the dropped counters by reason, the admitted capacity C,
     backpressure, the queue depth and the controller's state. One row per sample goes to the
     TSV (docs/img/shedding.tsv);
  5. gnuplot draws the TSV into a PNG (docs/img/shedding.png): forwarded per class, stacked,
     against C and the emulator's capacity on top; shed per class below.

At the end it prints what it measured (time to follow the cut, time to recover, forwarded vs
capacity in steady state, priority-0 drops). --plot-only redraws the PNG from an existing TSV.

Needs the built spillway (`make`), Python 3 (standard library only) and gnuplot with the
pngcairo terminal: on Debian or Ubuntu, `apt-get install gnuplot-nox`.
"""

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
import loadgen  # noqa: E402
from child import Child, ChildError  # noqa: E402

PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
EMULATOR = os.path.join(REPO, "tests", "peers", "es_emulator.py")
RULES = os.path.join(REPO, "rules", "demo.json")

# What each loadgen kind is classified as by rules/demo.json, most important first.
KIND_CLASS = [("error", "errors"), ("checkout", "checkout"), ("app", "apps"),
              ("other", "other"), ("debug", "debug")]
# error: 5% is priority 0; debug stays under its fixed rate (100/s) and apps under its
# per-service buckets at the default offered load, so what is shed is the controller's
# doing, not the fixed buckets'.
DEFAULT_MIX = "error=5,checkout=10,app=30,other=53.5,debug=1.5"
# Drop reasons kept in the TSV as cumulative counters, short column names.
REASONS = [("backpressure", "bp"), ("rate_limit", "rl"), ("queue_full", "qf"),
           ("sink_error", "se")]
# One colour per class, by position in the class table (priority order).
COLOURS = ["#c0392b", "#e67e22", "#2e86c1", "#27ae60", "#8e44ad", "#7f8c8d", "#34495e"]


def die(msg):
    sys.stderr.write("plot-shedding: %s\n" % msg)
    sys.exit(1)


# ------------------------------------------------------------------------------- processes

def http(method, addr, path, body=None, timeout=5.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request("http://%s:%d%s" % (addr[0], addr[1], path), data=data,
                                 method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


# --------------------------------------------------------------------------------- the TSV

def columns(classes):
    cols = ["t", "emu_capacity", "capacity", "backpressure", "queue_events", "sink_pending",
            "fwd_rate", "demand_rate", "ceiling", "floor"]
    for name, _ in classes:
        cols += ["%s_%s" % (name, k) for k in ("received", "forwarded", "dropped",
                                                "alloc")]
        cols += ["%s_%s" % (name, short) for _, short in REASONS]
    return cols


def fmt(v):
    if v is None or (isinstance(v, float) and (math.isinf(v) or math.isnan(v))):
        return "NaN"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    return "%.1f" % v


def row(t, emu_cap, st, classes):
    ctl = st.get("control", {})
    out = [round(t, 2), emu_cap, st.get("capacity"), st.get("backpressure"),
           st["queue"]["events"], (st.get("sink") or {}).get("pending"),
           ctl.get("forwarded_rate"), ctl.get("demand_rate"), ctl.get("ceiling"),
           ctl.get("floor")]
    for name, _ in classes:
        c = st["classes"].get(name, {})
        r1 = c.get("rate_1s", {})
        out += [r1.get("received", 0), r1.get("forwarded", 0), r1.get("dropped", 0),
                c.get("allocation")]
        out += [c.get("dropped", {}).get(reason, 0) for reason, _ in REASONS]
    return [fmt(v) for v in out]


def read_tsv(path):
    meta, classes, head, rows = {}, [], None, []
    with open(path) as f:
        for ln in f:
            ln = ln.rstrip("\n")
            if ln.startswith("# class\t"):
                _, name, prio = ln.split("\t")
                classes.append((name, int(prio)))
            elif ln.startswith("# ") and "\t" in ln:
                k, v = ln[2:].split("\t", 1)
                meta[k] = v
            elif ln.startswith("#") or not ln:
                continue
            elif head is None:
                head = ln.split("\t")
            else:
                rows.append([float(x) for x in ln.split("\t")])
    if head is None:
        die("%s: no header line" % path)
    return meta, classes, head, rows


# ------------------------------------------------------------------------------ the run

def run(a):
    mix = loadgen.parse_mix(a.mix)
    total_share = sum(mix.values())
    offered = a.factor * a.capacity
    cut_to = round(a.cut * a.capacity)
    p0 = offered * mix.get("error", 0) / total_share
    if cut_to < 1.2 * p0:
        die("the cut capacity (%d/s) must stay 20%% above the priority-0 demand (%.0f/s): "
            "raise --cut or lower the error share" % (cut_to, p0))
    if not (os.path.isfile(a.spillway) and os.access(a.spillway, os.X_OK)):
        die("%s: no spillway binary (run make, or give --spillway PATH)" % a.spillway)

    children = []
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    for s in old:
        signal.signal(s, on_signal)
    lg = out = None
    tmp = a.tsv + ".tmp"
    try:
        emu = Child("es_emulator", cwd=REPO, argv=[PYTHON, EMULATOR, "--listen", "127.0.0.1:0", "--fast",
                                    "--no-store", "--capacity", str(a.capacity)])
        children.append(emu)
        emu_addr = emu.wait_listening(["http"])["http"]
        sp = Child("spillway", cwd=REPO, argv=[a.spillway, "-r", RULES,
                                "--sink", "http://%s:%d" % emu_addr,
                                "--listen-tcp", "127.0.0.1:0", "--listen-http", "127.0.0.1:0",
                                "--admin", "127.0.0.1:0"])
        children.append(sp)
        addrs = sp.wait_listening(["tcp", "http", "admin"])
        admin = addrs["admin"]

        st = http("GET", admin, "/stats")
        prio = {n: c["priority"] for n, c in st["classes"].items()}
        classes = [(cls, prio.get(cls, 0)) for kind, cls in KIND_CLASS if kind in mix]
        classes.sort(key=lambda c: c[1])

        os.makedirs(os.path.dirname(os.path.abspath(a.tsv)), exist_ok=True)
        out = open(tmp, "w")
        out.write("# spillway shedding run: tools/plot-shedding.py\n")
        version = subprocess.run([a.spillway, "version"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL).stdout.decode().strip()
        for k, v in [("spillway_version", version or "unknown"),
                     ("date", time.strftime("%Y-%m-%d", time.gmtime())),
                     ("emulator_capacity", a.capacity), ("offered", offered),
                     ("mix", a.mix), ("cut_at", a.cut_at), ("cut_to", cut_to),
                     ("restore_at", a.restore_at), ("duration", a.duration),
                     ("interval", a.interval), ("rules", "rules/demo.json"),
                     ("spillway", "defaults: control.interval_ms 250, decrease 0.7, "
                      "increase 0.05, target_latency_ms 1000")]:
            out.write("# %s\t%s\n" % (k, v))
        for name, p in classes:
            out.write("# class\t%s\t%d\n" % (name, p))
        out.write("# t: s since the load started; *_received/forwarded/dropped: /stats rate_1s "
                  "(events/s); *_alloc: the controller's allocation (events/s); *_bp/rl/qf/se: "
                  "dropped so far by reason (backpressure, rate_limit, queue_full, "
                  "sink_error); capacity, alloc NaN: unlimited\n")
        out.write("\t".join(columns(classes)) + "\n")

        lg = loadgen.LoadGen(addrs["tcp"], offered, mix, seed=a.seed)
        sys.stderr.write("plot-shedding: offering %.0f events/s for %.0f s; emulator capacity "
                         "%d/s, cut to %d/s at %.0f s, restored at %.0f s\n" % (
                             offered, a.duration, a.capacity, cut_to, a.cut_at,
                             a.restore_at))
        lg.start(a.duration)
        t0 = time.monotonic()
        emu_cap = a.capacity
        events = [(a.cut_at, cut_to), (a.restore_at, a.capacity)]
        k = 0
        while True:
            t_next = k * a.interval
            if t_next > a.duration:
                break
            while events and events[0][0] <= t_next:
                at, cap = events.pop(0)
                wait = t0 + at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                http("PUT", emu_addr, "/_emulator/config", {"capacity": cap})
                emu_cap = cap
            wait = t0 + t_next - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            for child in children:
                if child.proc.poll() is not None:
                    die("%s exited with status %s during the run:\n%s" % (
                        child.name, child.proc.returncode, child.log_text()))
            t = time.monotonic() - t0
            st = http("GET", admin, "/stats")
            out.write("\t".join(row(t, emu_cap, st, classes)) + "\n")
            out.flush()
            k += 1
        res = lg.stop()
        lg = None
        out.close()
        out = None
        os.replace(tmp, a.tsv)
        if res.get("error"):
            sys.stderr.write("plot-shedding: loadgen: %s\n" % res["error"])
        sys.stderr.write("plot-shedding: offered %d events in %.1f s (%.0f/s, %d late)\n" % (
            res["total"], res["seconds"], res["rate"], res["late"]))
        for ts, text in sp.lines:
            if "backpressure" in text or "capacity" in text:
                sys.stderr.write("  spillway +%6.2f s: %s\n" % (ts - t0, text))
    finally:
        if lg is not None:
            lg.stop()
        for child in reversed(children):
            child.stop()
        if out is not None:
            out.close()
            os.unlink(tmp)
        for s, h in old.items():
            signal.signal(s, h)


# ------------------------------------------------------------------------ the numbers

def measure(path):
    """What an operator wants to know from the run, computed from the TSV."""
    meta, classes, head, rows = read_tsv(path)
    ix = {h: i for i, h in enumerate(head)}
    cap = float(meta["emulator_capacity"])
    cut_at, restore_at = float(meta["cut_at"]), float(meta["restore_at"])
    cut_to = float(meta["cut_to"])
    end = float(meta["duration"])
    c, pend = ix["capacity"], ix["sink_pending"]

    def total(r, what):
        return sum(r[ix["%s_%s" % (n, what)]] for n, _ in classes)

    def admitted(r):
        return total(r, "received") - total(r, "dropped")

    def mean(a, b, f):
        v = [f(r) for r in rows if a <= r[0] < b]
        v = [x for x in v if not math.isnan(x)]
        return sum(v) / len(v) if v else float("nan")

    def first(after, pred):
        for r in rows:
            if r[0] >= after and pred(r):
                return r[0] - after
        return float("nan")

    # steady state: the second half of each phase
    phases = [("before the cut", cut_at / 2, cut_at, cap),
              ("during the cut", (cut_at + restore_at) / 2, restore_at, cut_to),
              ("after the restore", restore_at + (end - restore_at) / 2, end + 1, cap)]
    out = []
    for what, a, b, k in phases:
        fwd = mean(a, b, lambda r: total(r, "forwarded"))
        cs = [r[c] for r in rows if a <= r[0] < b and not math.isnan(r[c])]
        out.append("%s (%g-%g s): forwarded %.0f/s of %.0f/s (%.0f%%); C mean %.0f, "
                   "min %.0f, max %.0f; sink holding up to %d events" % (
                       what, a, min(b, end), fwd, k, 100 * fwd / k,
                       sum(cs) / len(cs) if cs else float("nan"),
                       min(cs) if cs else float("nan"), max(cs) if cs else float("nan"),
                       max(r[pend] for r in rows if a <= r[0] < b)))
        out.append("    per class, events/s forwarded / shed: " + ", ".join(
            "%s %.0f / %.0f" % (n, mean(a, b, lambda r: r[ix[n + "_forwarded"]]),
                                mean(a, b, lambda r: r[ix[n + "_dropped"]]))
            for n, _ in classes))
    out.append("cut: C at or below the new capacity after %.2f s, admitted rate within 10%% "
               "of it after %.2f s, sink holding < 100 events after %.2f s" % (
                   first(cut_at, lambda r: not math.isnan(r[c]) and r[c] <= cut_to),
                   first(cut_at, lambda r: admitted(r) <= 1.1 * cut_to),
                   first(cut_at + 1, lambda r: r[pend] < 100) + 1))
    peak = max((r[c] for r in rows if restore_at <= r[0] and not math.isnan(r[c])),
               default=float("nan"))
    out.append("restore: C at capacity after %.2f s (peak %.0f), forwarded at 90%% of "
               "capacity after %.2f s (rates lag up to 1 s)" % (
                   first(restore_at, lambda r: math.isnan(r[c]) or r[c] >= cap), peak,
                   first(restore_at, lambda r: total(r, "forwarded") >= 0.9 * cap)))
    out.append("queue: at most %d events" % max(r[ix["queue_events"]] for r in rows))
    last = rows[-1]
    for name, p in classes:
        drops = ", ".join("%s %d" % (reason, last[ix["%s_%s" % (name, short)]])
                          for reason, short in REASONS
                          if last[ix["%s_%s" % (name, short)]] > 0)
        out.append("class %s (priority %d): dropped %s" % (name, p, drops or "nothing"))
    return "\n".join(out)


# ------------------------------------------------------------------------------ the plot

def q(s):
    """A gnuplot double-quoted string."""
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def gnuplot_script(tsv, png, meta, classes, head, rows):
    ix = {h: i + 1 for i, h in enumerate(head)}        # gnuplot columns count from 1
    cap = float(meta["emulator_capacity"])
    cut_at, restore_at = float(meta["cut_at"]), float(meta["restore_at"])
    cut_to = float(meta["cut_to"])
    offered = float(meta["offered"])
    end = float(meta["duration"])
    mix = loadgen.parse_mix(meta["mix"])
    kind_of = {cls: kind for kind, cls in KIND_CLASS}

    def title(name, p):
        share = mix.get(kind_of.get(name), 0) / sum(mix.values())
        return q("%s (priority %d), %.0f/s offered" % (name, p, offered * share))

    g = []
    g.append("set terminal pngcairo size 1200,800 font 'DejaVu Sans,10' noenhanced")
    g.append("set output %s" % q(png))
    g.append("set datafile separator '\\t'")
    g.append("set datafile commentschars '#'")
    g.append("set multiplot layout 2,1 title %s font ',13'" % q(
        "spillway sheds by priority when Elasticsearch's capacity drops\n"
        "offered %.0f events/s (%.0fx what Elasticsearch takes), rules/demo.json, "
        "control defaults: interval 250 ms, decrease 0.7, increase 0.05" % (
            offered, offered / cap)))
    g.append("set xrange [0:%g]" % end)
    g.append("set grid ytics lc rgb '#dddddd'")
    g.append("set key at screen 0.745, graph 1 left top vertical Left reverse samplen 2 "
             "spacing 1.15 box lc rgb '#bbbbbb'")
    g.append("set lmargin at screen 0.08")
    g.append("set rmargin at screen 0.68")
    for at, label in [(cut_at, "Elasticsearch capacity cut\nto %d/s" % cut_to),
                      (restore_at, "restored to %d/s" % cap)]:
        g.append("set arrow from %g, graph 0 to %g, graph 1 nohead dt 2 lw 1.5 "
                 "lc rgb '#555555' front" % (at, at))
        g.append("set label %s at %g, graph 0.90 left offset 0.5,0 front tc rgb '#333333'" % (
            q(label), at))

    # top panel: forwarded per class, stacked from priority 0 up; C and the emulator on top
    g.append("set tmargin 4")
    g.append("set bmargin 2")
    g.append("set ylabel %s" % q("events/s forwarded\n(acknowledged by Elasticsearch)"))
    g.append("set format x ''")
    g.append("set yrange [0:%g]" % (cap * 1.45))
    plots = []
    names = [n for n, _ in classes]
    for i in range(len(names)):
        top = "+".join("column(%d)" % ix["%s_forwarded" % n] for n in names[:i + 1])
        bot = "+".join("column(%d)" % ix["%s_forwarded" % n] for n in names[:i]) or "0"
        plots.append("%s using 1:(%s):(%s) with filledcurves fc rgb '%s' fs solid 0.75 "
                     "title %s" % (q(tsv), bot, top, COLOURS[i % len(COLOURS)],
                                   title(*classes[i])))
    plots.append("%s using 1:%d with steps lw 2.5 lc rgb '#000000' "
                 "title 'Elasticsearch capacity'" % (q(tsv), ix["emu_capacity"]))
    plots.append("%s using 1:%d with lines lw 2 lc rgb '#b7950b' "
                 "title %s" % (q(tsv), ix["capacity"],
                                q("admitted capacity C (gap: unlimited)")))
    plots.append("%s using 1:($%d > 0 ? %g : NaN) with points pt 5 ps 0.35 "
                 "lc rgb '#000000' title 'back-pressure on (/stats)'" % (
                     q(tsv), ix["backpressure"], cap * 1.38))
    g.append("plot " + ", \\\n     ".join(plots))

    # bottom panel: shed per class, lines
    g.append("unset label")
    g.append("set tmargin 1")
    g.append("set bmargin 4")
    g.append("set format x '%g'")
    g.append("set xlabel 'seconds since the load started (spillway /stats, sampled every "
             "%s s; rates are averages over the last second)'" % meta.get("interval", "0.5"))
    g.append("set ylabel %s" % q("events/s shed\n(dropped, all reasons)"))
    g.append("set yrange [0:*]")
    g.append("set key at screen 0.745, graph 1 left top vertical Left reverse samplen 2 "
             "spacing 1.15 box lc rgb '#bbbbbb'")
    plots = []
    for i, (name, p) in enumerate(classes):
        plots.append("%s using 1:%d with lines lw 2 lc rgb '%s' title %s" % (
            q(tsv), ix["%s_dropped" % name], COLOURS[i % len(COLOURS)],
            title(name, p)))
    plots.append("%s using 1:%d axes x1y2 with lines lw 1.5 dt 2 lc rgb '#555555' "
                 "title %s" % (q(tsv), ix["sink_pending"],
                               q("admitted, held by the sink (right axis)")))
    plots.append("%s using 1:%d axes x1y2 with lines lw 1.5 dt 3 lc rgb '#000000' "
                 "title %s" % (q(tsv), ix["queue_events"],
                               q("admitted, in the queue (right axis)")))
    g.append("set y2label 'events admitted, not yet acknowledged'")
    g.append("set y2tics")
    g.append("set ytics nomirror")
    held = max(max(r[ix["queue_events"] - 1], r[ix["sink_pending"] - 1]) for r in rows)
    g.append("set y2range [0:%g]" % max(1000, held * 1.1))
    g.append("plot " + ", \\\n     ".join(plots))
    g.append("unset multiplot")
    return "\n".join(g) + "\n"


def plot(tsv, png):
    gp = shutil.which("gnuplot")
    if gp is None:
        die("gnuplot is not installed; on Debian or Ubuntu: apt-get install gnuplot-nox "
            "(the data is in %s)" % tsv)
    meta, classes, head, rows = read_tsv(tsv)
    if not rows:
        die("%s: no samples" % tsv)
    os.makedirs(os.path.dirname(os.path.abspath(png)), exist_ok=True)
    script = gnuplot_script(os.path.relpath(tsv, REPO), os.path.relpath(png, REPO), meta,
                            classes, head, rows)
    r = subprocess.run([gp], input=script.encode(), cwd=REPO, stderr=subprocess.PIPE)
    if r.returncode != 0 or r.stderr.strip():
        sys.stderr.write(r.stderr.decode("utf-8", "replace"))
        if r.returncode != 0:
            die("gnuplot failed (status %d)" % r.returncode)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="plot-shedding.py", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spillway", default=os.path.join(REPO, "spillway"),
                    help="spillway binary (default ./spillway)")
    ap.add_argument("--capacity", type=int, default=2000, metavar="EV_PER_S",
                    help="emulator capacity before the cut and after the restore (2000)")
    ap.add_argument("--factor", type=float, default=3.0,
                    help="offered load as a multiple of the capacity (3)")
    ap.add_argument("--duration", type=float, default=60.0, metavar="S",
                    help="seconds of load (60)")
    ap.add_argument("--cut-at", type=float, default=20.0, metavar="S",
                    help="when the capacity is cut (20)")
    ap.add_argument("--restore-at", type=float, default=40.0, metavar="S",
                    help="when it is restored (40)")
    ap.add_argument("--cut", type=float, default=0.2, metavar="FRACTION",
                    help="capacity during the cut, as a fraction (0.2)")
    ap.add_argument("--interval", type=float, default=0.5, metavar="S",
                    help="seconds between /stats samples (0.5)")
    ap.add_argument("--mix", default=DEFAULT_MIX, metavar="KIND=SHARE,...",
                    help="loadgen mix (default %(default)s)")
    ap.add_argument("--seed", default="1", help="loadgen seed (1)")
    ap.add_argument("--tsv", default=os.path.join(REPO, "docs", "img", "shedding.tsv"),
                    help="samples, tab-separated (docs/img/shedding.tsv)")
    ap.add_argument("--png", default=os.path.join(REPO, "docs", "img", "shedding.png"),
                    help="the plot (docs/img/shedding.png)")
    ap.add_argument("--plot-only", action="store_true",
                    help="do not run; redraw the PNG from the TSV")
    a = ap.parse_args(argv)
    a.tsv, a.png = os.path.abspath(a.tsv), os.path.abspath(a.png)
    a.spillway = os.path.abspath(a.spillway)
    if not 0 < a.cut_at < a.restore_at < a.duration:
        ap.error("need 0 < --cut-at < --restore-at < --duration")
    if shutil.which("gnuplot") is None:
        die("gnuplot is not installed. On Debian or Ubuntu: apt-get install gnuplot-nox "
            "(it has the pngcairo terminal this script draws with), then run this again.")
    if not a.plot_only:
        try:
            run(a)
        except (urllib.error.URLError, OSError) as e:
            die("the run failed: %s" % e)
    plot(a.tsv, a.png)
    print(measure(a.tsv))
    sys.stderr.write("plot-shedding: wrote %s and %s\n" % (
        os.path.relpath(a.tsv, REPO), os.path.relpath(a.png, REPO)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ChildError as e:
        die(str(e))
    except KeyboardInterrupt:
        sys.exit(130)
