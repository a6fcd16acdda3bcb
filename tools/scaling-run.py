#!/usr/bin/python3
"""scaling-run: two spillways in front of one Elasticsearch, measured on this machine.

    tools/scaling-run.py [--spillway ./spillway] [--capacity 3000] [--rate 3750]...
        [--start 0]... [--duration 40] [--steady 20] [--name equal] [--seed 1]
        [--outdir docs/img] [--plot-only]

The run, end to end, on loopback (every port is 0, chosen by the kernel):

  1. tests/peers/es_emulator.py --fast --no-store --capacity CAPACITY: an Elasticsearch that
     indexes CAPACITY events/s and answers per-item 429 beyond that;
  2. one ./spillway per --rate (two by default), each with rules/demo.json, that emulator as
     its sink and the defaults otherwise (control.interval_ms 250, decrease 0.7,
     increase 0.05, target_latency_ms 1000); they know nothing of each other;
  3. each spillway is fed by its own tools/loadgen.py generator at RATE events/s (default
     1.25 x CAPACITY each, so 2.5 x CAPACITY together), starting --start seconds into the
     run, for the rest of DURATION seconds;
  4. every 0.5 s, each spillway's GET /stats is sampled (capacity, per-class rate_1s) and
     the emulator's GET /_emulator/stats (events indexed so far): one TSV row per sample,
     docs/img/scaling-run-NAME.tsv, drawn by gnuplot into docs/img/scaling-run-NAME.png.

At the end it prints each instance's forwarded rate over the last STEADY seconds, their sum
against CAPACITY, the emulator's own indexed rate over the same seconds, and Jain's fairness
index (sum x)^2 / (n sum x^2): 1 when the shares are equal, 1/n when one takes all.
Child processes are always stopped, also on SIGINT, SIGTERM or an error.

Needs the built spillway (`make`), Python 3 (standard library only) and gnuplot with the
pngcairo terminal (Debian: apt-get install gnuplot-nox).
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
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(REPO, "tools"))
import loadgen  # noqa: E402
from child import Child, ChildError  # noqa: E402

PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
EMULATOR = os.path.join(REPO, "tests", "peers", "es_emulator.py")
RULES = os.path.join(REPO, "rules", "demo.json")
SAMPLE = 0.5
# 5% priority 0 (errors); debug stays under its fixed 100/s and apps under its per-service
# buckets, so what is shed is the controller's doing, not the fixed buckets'.
MIX = "error=5,checkout=10,app=30,other=53.5,debug=1.5"
CLASS_PRIO = [("errors", 0), ("checkout", 1), ("apps", 2), ("other", 5), ("debug", 9)]
CLASSES = [c for c, _ in CLASS_PRIO]
NAMES = "abcdefgh"
COLOURS = ["#2e86c1", "#e67e22", "#27ae60", "#8e44ad"]


def die(msg):
    sys.stderr.write("scaling-run: %s\n" % msg)
    sys.exit(1)


def get(addr, path, timeout=5.0):
    with urllib.request.urlopen("http://%s:%d%s" % (addr[0], addr[1], path),
                                timeout=timeout) as r:
        return json.loads(r.read())


def fmt(v):
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "NaN"
    if isinstance(v, int):
        return str(v)
    return "%.1f" % v


def columns(n):
    cols = ["t", "K", "es_indexed", "total_fwd"]
    for i in range(n):
        x = NAMES[i]
        cols += ["%s_C" % x, "%s_fwd" % x, "%s_recv" % x, "%s_shed" % x, "%s_p0_fwd" % x,
                 "%s_queue" % x, "%s_fwd_total" % x]
        for c in CLASSES:
            cols += ["%s_%s_fwd_total" % (x, c), "%s_%s_shed_total" % (x, c)]
    return cols


def sample_row(t, k, es_indexed, stats):
    out = [round(t, 2), k, es_indexed, None]
    tot = 0.0
    for st in stats:
        if st is None:
            out += [None] * (7 + 2 * len(CLASSES))
            continue
        cl = st["classes"]
        fwd = sum(c["rate_1s"]["forwarded"] for c in cl.values())
        recv = sum(c["rate_1s"]["received"] for c in cl.values())
        shed = sum(c["rate_1s"]["dropped"] for c in cl.values())
        p0 = sum(c["rate_1s"]["forwarded"] for c in cl.values() if c["priority"] == 0)
        ftot = sum(c["forwarded"] for c in cl.values())
        tot += fwd
        out += [st["capacity"], fwd, recv, shed, p0, st["queue"]["events"], ftot]
        for name in CLASSES:
            c = cl.get(name, {"forwarded": 0, "dropped": {}})
            out += [c["forwarded"], sum(c["dropped"].values())]
    out[3] = tot
    return out


def read_tsv(path):
    meta, head, rows = {}, None, []
    with open(path) as f:
        for ln in f:
            ln = ln.rstrip("\n")
            if ln.startswith("# class\t"):
                continue
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
    return meta, head, rows


def run(a, tsv):
    n = len(a.rate)
    starts = (a.start + [0.0] * n)[:n]
    if not (os.path.isfile(a.spillway) and os.access(a.spillway, os.X_OK)):
        die("%s: no spillway binary (run make, or give --spillway PATH)" % a.spillway)
    children, gens = [], []
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    for s in old:
        signal.signal(s, on_signal)
    out = None
    tmp = tsv + ".tmp"
    try:
        emu = Child("es_emulator", cwd=REPO, argv=[PYTHON, EMULATOR, "--listen", "127.0.0.1:0", "--fast",
                                    "--no-store", "--capacity", str(a.capacity)])
        children.append(emu)
        emu_addr = emu.wait_listening(["http"])["http"]
        admins, tcps = [], []
        for i in range(n):
            sp = Child("spillway-%s" % NAMES[i], cwd=REPO, argv=[
                a.spillway, "-r", RULES, "--sink", "http://%s:%d" % emu_addr,
                "--listen-tcp", "127.0.0.1:0", "--listen-http", "127.0.0.1:0",
                "--admin", "127.0.0.1:0"])
            children.append(sp)
            addrs = sp.wait_listening(["tcp", "http", "admin"])
            admins.append(addrs["admin"])
            tcps.append(addrs["tcp"])

        os.makedirs(os.path.dirname(os.path.abspath(tsv)), exist_ok=True)
        out = open(tmp, "w")
        version = subprocess.run([a.spillway, "version"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL).stdout.decode().strip()
        out.write("# two spillways, one Elasticsearch: tools/scaling-run.py\n")
        for k, v in [("spillway_version", version or "unknown"), ("commit", a.commit),
                     ("date", time.strftime("%Y-%m-%d", time.gmtime())),
                     ("emulator_capacity", a.capacity),
                     ("instances", n),
                     ("rates", ",".join("%g" % r for r in a.rate)),
                     ("starts", ",".join("%g" % s for s in starts)),
                     ("mix", MIX), ("duration", a.duration), ("steady", a.steady),
                     ("rules", "rules/demo.json"),
                     ("spillway", "defaults: control.interval_ms 250, decrease 0.7, "
                      "increase 0.05, target_latency_ms 1000")]:
            out.write("# %s\t%s\n" % (k, v))
        out.write("# t: s since the start; K: emulator capacity; es_indexed: events the "
                  "emulator indexed, cumulative; per instance X: X_C capacity (NaN: "
                  "unlimited), X_fwd / X_recv / X_shed / X_p0_fwd: /stats rate_1s summed "
                  "over classes (events/s), X_queue: queued events, X_fwd_total: forwarded "
                  "so far; X_CLASS_fwd_total / X_CLASS_shed_total: forwarded / dropped so "
                  "far, by class\n")
        for c, p in CLASS_PRIO:
            out.write("# class\t%s\t%d\n" % (c, p))
        out.write("\t".join(columns(n)) + "\n")

        for i in range(n):
            gens.append(loadgen.LoadGen(tcps[i], a.rate[i], MIX,
                                        seed="%s-%s" % (a.seed, NAMES[i])))
        sys.stderr.write("scaling-run: %d spillways, emulator capacity %d/s, offered %s "
                         "events/s from %s s, %g s\n" % (
                             n, a.capacity, " + ".join("%g" % r for r in a.rate),
                             ",".join("%g" % s for s in starts), a.duration))
        t0 = time.monotonic()
        started = [False] * n
        k = 0
        while True:
            t_next = k * SAMPLE
            if t_next > a.duration:
                break
            wait = t0 + t_next - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            for i in range(n):
                if not started[i] and starts[i] <= t_next:
                    gens[i].start(a.duration - starts[i])
                    started[i] = True
            for child in children:
                if child.proc.poll() is not None:
                    die("%s exited with status %s during the run:\n%s" % (
                        child.name, child.proc.returncode, child.log_text()))
            t = time.monotonic() - t0
            es = get(emu_addr, "/_emulator/stats")
            stats = [get(ad, "/stats") for ad in admins]
            row = sample_row(t, a.capacity, sum(es["indexed"].values()), stats)
            out.write("\t".join(fmt(v) for v in row) + "\n")
            out.flush()
            k += 1
        results = [g.stop() for g in gens]
        gens = []
        out.close()
        out = None
        os.replace(tmp, tsv)
        for i, res in enumerate(results):
            sys.stderr.write("scaling-run: loadgen %s: offered %d events in %.1f s "
                             "(%.0f/s, %d late)%s\n" % (
                                 NAMES[i], res["total"], res["seconds"], res["rate"],
                                 res["late"],
                                 "; " + res["error"] if res.get("error") else ""))
        for child in children[1:]:
            for ts, text in child.lines:
                if "backpressure" in text or "capacity" in text:
                    sys.stderr.write("  %s +%6.2f s: %s\n" % (child.name, ts - t0, text))
    finally:
        for g in gens:
            g.stop()
        for child in reversed(children):
            child.stop()
        if out is not None:
            out.close()
            os.unlink(tmp)
        for s, h in old.items():
            signal.signal(s, h)


def jain(xs):
    s2 = sum(x * x for x in xs)
    return sum(xs) ** 2 / (len(xs) * s2) if xs and s2 > 0 else float("nan")


def measure(tsv):
    meta, head, rows = read_tsv(tsv)
    ix = {h: i for i, h in enumerate(head)}
    n = int(meta["instances"])
    k = float(meta["emulator_capacity"])
    end = rows[-1][0]
    a = end - float(meta["steady"])
    ra = min((r for r in rows if r[0] >= a), key=lambda r: r[0])
    rb = rows[-1]
    dt = rb[0] - ra[0]
    lines = ["steady state %.1f-%.1f s (forwarded counters, not the 1 s rates):" % (
        ra[0], rb[0])]
    shares = []
    for i in range(n):
        x = NAMES[i]
        f = (rb[ix["%s_fwd_total" % x]] - ra[ix["%s_fwd_total" % x]]) / dt
        cs = [r[ix["%s_C" % x]] for r in rows if r[0] >= a and not math.isnan(r[ix["%s_C" % x]])]
        sheds = [r[ix["%s_shed" % x]] for r in rows if r[0] >= a]
        p0 = [r[ix["%s_p0_fwd" % x]] for r in rows if r[0] >= a]
        shares.append(f)
        lines.append("  %s: forwarded %.0f/s; C mean %.0f (min %.0f, max %.0f); shed %.0f/s; "
                     "priority 0 forwarded %.0f/s" % (
                         x, f, sum(cs) / len(cs) if cs else float("nan"),
                         min(cs) if cs else float("nan"), max(cs) if cs else float("nan"),
                         sum(sheds) / len(sheds), sum(p0) / len(p0)))
    for i in range(n):
        x = NAMES[i]
        if "%s_errors_fwd_total" % x not in ix:
            break
        lines.append("    %s by class, forwarded / shed (events/s): %s" % (x, ", ".join(
            "%s (p%d) %.0f / %.0f" % (
                c, p, (rb[ix["%s_%s_fwd_total" % (x, c)]] - ra[ix["%s_%s_fwd_total" % (x, c)]])
                / dt, (rb[ix["%s_%s_shed_total" % (x, c)]] -
                       ra[ix["%s_%s_shed_total" % (x, c)]]) / dt)
            for c, p in CLASS_PRIO)))
    es = (rb[ix["es_indexed"]] - ra[ix["es_indexed"]]) / dt
    tot = sum(shares)
    lines.append("  sum %.0f/s of K %.0f/s (%.1f%%); emulator indexed %.0f/s (%.1f%%, "
                 "includes spillway's drop summaries)" % (tot, k, 100 * tot / k, es,
                                                          100 * es / k))
    lines.append("  Jain's fairness index %.3f; shares %s" % (
        jain(shares), " / ".join("%.1f%%" % (100 * s / tot) for s in shares)))
    # the 10 s windows, to show whether the split moves
    w = []
    t = rows[0][0]
    while t + 10 <= end + 0.01:
        r0 = min((r for r in rows if r[0] >= t), key=lambda r: r[0])
        r1 = max((r for r in rows if r[0] <= t + 10), key=lambda r: r[0])
        if r1[0] > r0[0]:
            fs = [(r1[ix["%s_fwd_total" % NAMES[i]]] - r0[ix["%s_fwd_total" % NAMES[i]]]) /
                  (r1[0] - r0[0]) for i in range(n)]
            w.append("%g-%g s: %s" % (t, t + 10, " / ".join("%.0f" % f for f in fs)))
        t += 10
    lines.append("  per 10 s window: " + "; ".join(w))
    return "\n".join(lines), shares, es


def q(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def plot(tsv, png):
    meta, head, rows = read_tsv(tsv)
    ix = {h: i + 1 for i, h in enumerate(head)}
    n = int(meta["instances"])
    k = float(meta["emulator_capacity"])
    title = "%d spillways, one Elasticsearch of %d events/s; offered %s events/s" % (
        n, k, " + ".join(meta["rates"].split(",")))
    # the emulator's indexed rate over 1 s, from its cumulative count
    es_tmp = tsv + ".es.tmp"
    with open(es_tmp, "w") as f:
        for j, r in enumerate(rows):
            back = [p for p in rows[:j] if p[0] <= r[0] - 1.0]
            if back:
                p = back[-1]
                f.write("%.2f\t%.1f\n" % (r[0], (r[ix["es_indexed"] - 1] -
                                               p[ix["es_indexed"] - 1]) / (r[0] - p[0])))
    ymax = int(k * 1.5)
    s = ["set terminal pngcairo size 1000,620 font 'sans,10'",
         "set output %s" % q(png),
         "set datafile separator '\\t'", "set datafile missing 'NaN'",
         "set key outside right top", "set grid", "set xlabel 'seconds'",
         "set multiplot layout 2,1 title %s" % q(title),
         "set ylabel 'events/s'", "set yrange [0:%d]" % ymax,
         "set title 'admitted rate C of each instance (dashed: forwarded, 1 s)'"]
    parts = []
    for i in range(n):
        x = NAMES[i]
        parts.append("%s using 1:%d with lines lw 2 lc rgb '%s' title 'C %s'" % (
            q(tsv), ix["%s_C" % x], COLOURS[i % 4], x))
        parts.append("%s using 1:%d with lines lw 1 dt 2 lc rgb '%s' title 'fwd %s'" % (
            q(tsv), ix["%s_fwd" % x], COLOURS[i % 4], x))
    parts.append("%s using 1:2 with lines lw 2 dt 3 lc rgb 'black' title 'K'" % q(tsv))
    s.append("plot " + ", \\\n  ".join(parts))
    s.append("set title 'forwarded (1 s): the sum against K, and what the emulator indexed'")
    parts = ["%s using 1:%d with lines lw 2 lc rgb 'black' title 'sum forwarded'" % (
        q(tsv), ix["total_fwd"]),
             "%s using 1:2 with lines lw 2 lc rgb '#c0392b' dt 3 title 'K'" % q(tsv),
             "%s using 1:2 with lines lw 1 lc rgb '#7f8c8d' title 'emulator indexed'" % q(
                 es_tmp)]
    for i in range(n):
        x = NAMES[i]
        parts.append("%s using 1:%d with lines lw 1 lc rgb '%s' title '%s'" % (
            q(tsv), ix["%s_fwd" % x], COLOURS[i % 4], x))
    s.append("plot " + ", \\\n  ".join(parts))
    s.append("unset multiplot")
    try:
        subprocess.run(["gnuplot"], input="\n".join(s).encode(), check=True)
    finally:
        os.unlink(es_tmp)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="scaling-run.py", description=__doc__.split("\n")[0])
    ap.add_argument("--spillway", default=os.path.join(REPO, "spillway"))
    ap.add_argument("--capacity", type=int, default=3000, metavar="EV_PER_S",
                    help="the emulator's capacity K (default 3000)")
    ap.add_argument("--rate", type=float, action="append", metavar="EV_PER_S",
                    help="offered to one instance; once per instance (default: two, "
                         "1.25 x K each)")
    ap.add_argument("--start", type=float, action="append", default=[], metavar="S",
                    help="when its load starts, once per instance (default 0)")
    ap.add_argument("--duration", type=float, default=40.0)
    ap.add_argument("--steady", type=float, default=20.0,
                    help="the last S seconds are the steady state (default 20)")
    ap.add_argument("--name", default="equal", help="docs/img/scaling-run-NAME.tsv/.png")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--commit", help="the commit the spillway binary was built from, "
                    "recorded in the TSV (default: the repository's HEAD)")
    ap.add_argument("--outdir", default=os.path.join(REPO, "docs", "img"))
    ap.add_argument("--plot-only", action="store_true",
                    help="redraw the PNG and print the numbers from an existing TSV")
    a = ap.parse_args(argv)
    if a.rate is None:
        a.rate = [1.25 * a.capacity] * 2
    if a.commit is None:
        a.commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
                                  ).stdout.decode().strip() or "unknown"
    if not 1 <= len(a.rate) <= len(NAMES):
        ap.error("one to %d instances" % len(NAMES))
    if shutil.which("gnuplot") is None:
        ap.error("gnuplot not found (apt-get install gnuplot-nox)")
    tsv = os.path.join(a.outdir, "scaling-run-%s.tsv" % a.name)
    png = os.path.join(a.outdir, "scaling-run-%s.png" % a.name)
    if not a.plot_only:
        run(a, tsv)
    text, _, _ = measure(tsv)
    print(text)
    plot(tsv, png)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ChildError as e:
        die(str(e))
