#!/usr/bin/python3
"""make bench: spillway and its peers on the same job, in one run.

    /usr/bin/python3 tools/bench/run.py [--events N] [--only JOB,...]
        [--no-doc] [--spillway ./spillway]

BENCH_EVENTS=N scales the corpus (default 1,000,000 events).  Everything it
writes lives under build/bench/ (the corpus is cached there and reused),
except docs/benchmarks.md and docs/img/bench-jobs.png, which it regenerates
in place (unless --no-doc, or --only names a subset of the jobs).

Jobs (each sends the whole corpus over one TCP connection, as fast as the
receiver takes it, and waits until every event is out; the -w1/-w2 jobs cut
it into WORKER_CONNECTIONS parts sent over as many parallel connections):

    floors        jansson parse-only over every line; raw loopback TCP;
                  `spillway classify` offline (parse + the 10 rules)
    spillway-*    file sink, Elasticsearch emulator, Kafka mock cluster,
                  and the emulator at a tenth of the offered rate (shedding)
    spillway-file-w1, spillway-file-w2
                  file sink over 8 connections with --workers 1 and 2: how
                  far a second event loop scales the file path
    rsyslog-*     imptcp + mmjsonparse + a regex filter: 2 files,
                  omelasticsearch, omkafka
    syslog-ng     network source + json-parser + a pcre filter: 2 files
    callgrind     spillway, file sink, a 100k-event slice, instructions per
                  event and the top functions
    ack-latency   _bulk requests over HTTP, paced, at a light load and at about
                  4x the emulator's capacity: request latency with "ack": "sink"
                  against "ack": "admit" (a fixed duration, not the corpus)
    freshness     tools/loadgen.py over TCP, each event stamped with its send
                  time, rules/demo.json, at 1x, 3x and 10x the emulator's
                  capacity: each kind's lag from the sender's write to the
                  emulator's acceptance (p50/p99/max), what was forwarded and
                  shed, and spillway's own lag_10s (a fixed duration)

A peer that is not installed (see packaging/bench-deps.sh) is skipped and
the document says so.
"""

import argparse
import datetime
import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BENCH = os.path.join(REPO, "build", "bench")
TOOLS = os.path.join(REPO, "tools", "bench")
RULES = os.path.join(REPO, "rules", "bench.json")
DOC = os.path.join(REPO, "docs", "benchmarks.md")
GAINS_JSON = os.path.join(BENCH, "gains.json")
CHART = os.path.join(REPO, "docs", "img", "bench-jobs.png")
PYTHON = "/usr/bin/python3"
SEED = 1
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MODDIRS = ["/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog",
           "/usr/lib/rsyslog"]
SYSLOG_NG_DIR = os.path.join(REPO, "build", "syslog-ng")
CALLGRIND_EVENTS = 100000
POLL = 0.05                   # seconds between two looks at a job's progress
STALL_SECONDS = 30.0          # no progress for this long once the sender is done: give up
JOB_TIMEOUT = 300.0
WORKER_CONNECTIONS = 8        # parallel connections of the spillway-file-wN jobs
WORKER_TARGET = 1.7           # events/s with 2 workers over events/s with 1
WORKER_REPEATS = 5            # runs of each of the pair; the median is reported
ACK_DOCS = 100                # documents per _bulk request of the ack-latency job
ACK_WARMUP = 3.0              # seconds sent, and not counted, before the measured window
ACK_SECONDS = 12.0            # the measured window: requests sent in it are counted
ACK_FLUSH_MS = 200            # sink.flush_ms of the ack-latency job (the default, spelt out)
ACK_ERROR_SHARE = 0.1         # documents with level ERROR: class critical, priority 0
ACK_HTTP_TIMEOUT = 90.0       # the sender's socket timeout, above ack_timeout_ms (30 s)
# (load, events/s offered, connections, emulator capacity in events/s or None).
# With ack sink a connection carries at most ACK_DOCS events per answer, so
# 8 connections cannot offer 20,000 events/s when an answer takes a flush:
# the third load has the connections to offer it.
ACK_LOADS = [("light", 2000, 4, None), ("overload", 20000, 8, 5000),
             ("overload-64", 20000, 64, 5000)]
ACK_MODES = ("sink", "admit")
ACK_RULES = {
    "classes": [{"name": "critical", "priority": 0,
                 "match": [{"field": "level", "regex": "^ERROR$"}]}],
    "default": {"priority": 5},
}
FRESH_CAPACITY = 10000        # the emulator's capacity, events/s, in the freshness job
FRESH_LOADS = (1, 3, 10)      # offered load, multiples of FRESH_CAPACITY
FRESH_WARMUP = 10.0           # seconds of load before the measured window: the storm's onset
FRESH_SECONDS = 15.0          # the measured window: the storm goes on
FRESH_RULES = os.path.join(REPO, "rules", "demo.json")
FRESH_STAMP = "lg_sent"       # loadgen --stamp: labels.lg_sent, the send time
FRESH_TARGET_MS = 250         # priority 0's p99 at 10x: flush_ms (200) + one round trip
# loadgen's kinds (tools/loadgen.py DEFAULT_MIX) and the class of rules/demo.json each lands in
FRESH_KIND_CLASS = {"error": "errors", "checkout": "checkout", "app": "apps",
                    "other": "other", "debug": "debug"}

sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, TOOLS)
sys.path.insert(0, os.path.join(REPO, "tools"))
import corpus  # noqa: E402
import loadgen  # noqa: E402

_started = []                 # every process this run started, to end them by pid


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


# ------------------------------------------------------------------ processes

def spawn(argv, name, env=None, stdin=subprocess.DEVNULL, cwd=None, capture=True):
    """Start a process; its stdout and stderr go to build/bench/logs/NAME.log
    (or are captured line by line when capture is True)."""
    os.makedirs(os.path.join(BENCH, "logs"), exist_ok=True)
    logf = open(os.path.join(BENCH, "logs", name + ".log"), "wb")
    p = subprocess.Popen(argv, stdin=stdin, stdout=logf if not capture else subprocess.PIPE,
                         stderr=subprocess.STDOUT if not capture else subprocess.PIPE,
                         env=env, cwd=cwd or BENCH)
    p.bench_log = logf
    p.bench_lines = []
    p.bench_name = name
    p.bench_readers = []
    if capture:
        def drain(stream):
            for raw in iter(stream.readline, b""):
                logf.write(raw)
                logf.flush()
                p.bench_lines.append(raw.decode("utf-8", "replace"))
        for s in (p.stdout, p.stderr):
            t = threading.Thread(target=drain, args=(s,), daemon=True)
            t.start()
            p.bench_readers.append(t)
    _started.append(p)
    return p


def wait_line(p, pattern, timeout=30.0):
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        lines = p.bench_lines
        for line in lines[seen:]:
            m = rx.search(line)
            if m:
                return m
        seen = len(lines)
        if p.poll() is not None:
            break
        time.sleep(0.02)
    raise RuntimeError("%s: no line matching %r (exit %s):\n%s" % (
        p.bench_name, pattern, p.poll(), "".join(p.bench_lines[-30:])))


def stop(p, sig=signal.SIGTERM, timeout=30.0):
    if p is None:
        return None
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
        except ProcessLookupError:
            pass
    if p in _started:
        _started.remove(p)
    p.bench_log.close()
    return p.returncode


def stop_all():
    for p in list(_started):
        try:
            stop(p, timeout=10)
        except Exception:
            pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited %s:\n%s" % (proc.bench_name, proc.returncode,
                                                      "".join(proc.bench_lines[-30:])))
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s: port %d not listening" % (proc.bench_name, port))


# ------------------------------------------------------------------ /proc

def descendants(pid):
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_cpu(pid, tree=False):
    """utime+stime (+ cutime+cstime) in seconds, of pid (and its descendants)."""
    total = 0.0
    for p in (descendants(pid) if tree else [pid]):
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += sum(int(x) for x in fields[11:15]) / CLK_TCK
    return total


def proc_hwm(pid, tree=False):
    """Peak RSS (VmHWM) in bytes, summed over the tree."""
    total = 0
    for p in (descendants(pid) if tree else [pid]):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def thread_stats(pid):
    """{tid: (CPU-s, bytes read, name)} for every thread of pid: utime+stime
    from /proc/PID/task/TID/stat and rchar (bytes read by read(2) and the
    like) from .../io; spillway names its threads ("worker 1", "file
    writer")."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for t in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                st = f.read()
            with open("/proc/%d/task/%s/io" % (pid, t)) as f:
                io = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        out[int(t)] = (sum(int(x) for x in fields[11:13]) / CLK_TCK, int(io["rchar"]),
                       st[st.index("(") + 1:st.rindex(")")])
    return out


def machine_busy():
    """(busy, total) jiffies over every CPU, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice;
    # guest time is already in user, steal is the hypervisor's.
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    return busy, sum(v[:8])


def self_cpu():
    t = os.times()
    return t.user + t.system


# ------------------------------------------------------------------ HTTP

def shadow_rules():
    """The bench rules with the change an operator might try: warnings count as
    critical, and the batch class also takes the etl- namespaces."""
    with open(RULES) as f:
        rules = json.load(f)
    for c in rules["classes"]:
        for m in c.get("match", []):
            if c["name"] == "critical" and "regex" in m:
                m["regex"] = m["regex"].replace("|alert)", "|alert|warn(ing)?)")
            if c["name"] == "batch" and "regex" in m:
                m["regex"] = "^(etl-)?" + m["regex"].lstrip("^")
    return json.dumps(rules)


def http_json(url, timeout=10, method=None):
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


# ------------------------------------------------------------------ building

def sh(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


def build_helpers():
    cc = os.environ.get("CC", "cc")
    out = {}
    jflags = subprocess.run(["pkg-config", "--cflags", "--libs", "jansson"],
                            capture_output=True, text=True, check=True).stdout.split()
    for name, extra in (("send", []), ("discard", []), ("jparse", jflags)):
        src = os.path.join(TOOLS, name + ".c")
        exe = os.path.join(BENCH, name)
        if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
            sh([cc, "-O2", "-g", "-Wall", "-Wextra", "-o", exe, src] + extra)
        out[name] = exe
    return out


def make_corpus(events):
    path = os.path.join(BENCH, "corpus-%d-s%d.ndjson" % (events, SEED))
    src = os.path.join(TOOLS, "corpus.py")
    if not os.path.exists(path) or os.path.getmtime(path) < os.path.getmtime(src):
        log("generating corpus: %d events (cached as %s)" % (events, os.path.relpath(path, REPO)))
        t = time.monotonic()
        corpus.generate(path, events, SEED)
        log("corpus generated in %.1f s" % (time.monotonic() - t))
    return path


def make_slice(path, events, n):
    if n >= events:
        return path
    out = path.replace(".ndjson", "-head%d.ndjson" % n)
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(path):
        with open(path, "rb") as f, open(out + ".tmp", "wb") as g:
            for i, line in enumerate(f):
                if i >= n:
                    break
                g.write(line)
        os.replace(out + ".tmp", out)
    return out


def corpus_stats(path):
    n = size = 0
    lo, hi = 1 << 30, 0
    with open(path, "rb") as f:
        for line in f:
            n += 1
            size += len(line)
            lo = min(lo, len(line))
            hi = max(hi, len(line))
    return {"events": n, "bytes": size, "min": lo, "max": hi, "mean": size / max(n, 1)}


# ------------------------------------------------------------------ measuring

class Job:
    """What one job measured."""

    def __init__(self, name, kind, desc):
        self.name, self.kind, self.desc = name, kind, desc
        self.events = 0          # events counted out at the far end
        self.wall = None
        self.cpu = None          # CPU-s of the measured process(es), during the run
        self.rss = None          # peak RSS, bytes
        self.peer_cpu = None     # the peer's own CPU-s (emulator, mock cluster)
        self.peer_name = None
        self.sender_cpu = None
        self.other_cpu = None    # CPU used by processes that are not part of the job
        self.notes = []
        self.extra = {}
        self.complete = False
        self.skipped = None

    def d(self):
        return dict(self.__dict__)


class Measure:
    """Sends the corpus to ADDR and polls count() until it reaches want."""

    def __init__(self, job, send_exe, addr, corpus_path, want, count, pid,
                 tree=False, peer_pid=None, poll=POLL, on_poll=None, connections=1):
        self.job, self.send_exe, self.addr = job, send_exe, addr
        self.corpus, self.want, self.count = corpus_path, want, count
        self.pid, self.tree, self.peer_pid = pid, tree, peer_pid
        self.poll, self.on_poll = poll, on_poll
        self.connections = connections

    def run(self):
        job = self.job
        cpu0 = proc_cpu(self.pid, self.tree)
        peer0 = proc_cpu(self.peer_pid, True) if self.peer_pid else 0.0
        busy0, _ = machine_busy()
        me0 = self_cpu()
        t0 = time.monotonic()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        argv = [self.send_exe, "%s:%d" % self.addr, self.corpus]
        if self.connections > 1:
            argv.append(str(self.connections))
        sender = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        last, last_t, n = -1, t0, 0
        while True:
            n = self.count()
            now = time.monotonic()
            if self.on_poll:
                self.on_poll()
            if n >= self.want:
                break
            if n != last:
                last, last_t = n, now
            if now - last_t > STALL_SECONDS and sender.poll() is not None:
                job.notes.append("stalled at %d of %d events" % (n, self.want))
                break
            if now - t0 > JOB_TIMEOUT:
                job.notes.append("timed out after %.0f s at %d of %d events"
                                 % (JOB_TIMEOUT, n, self.want))
                break
            time.sleep(self.poll)
        t1 = time.monotonic()
        job.cpu = proc_cpu(self.pid, self.tree) - cpu0
        job.rss = proc_hwm(self.pid, self.tree)
        if self.peer_pid:
            job.peer_cpu = proc_cpu(self.peer_pid, True) - peer0
        busy1, _ = machine_busy()
        me1 = self_cpu()
        sender_out, err = sender.communicate()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        job.sender_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        job.wall = t1 - t0
        job.events = n
        job.complete = n >= self.want
        m = re.search(rb"seconds ([0-9.]+)", sender_out)
        job.extra["send_seconds"] = float(m.group(1)) if m else None
        if self.connections > 1:
            job.extra["connections"] = [
                (int(b), float(t)) for b, t in
                re.findall(rb"^connection \d+ bytes (\d+) seconds ([0-9.]+)$", sender_out,
                           re.M)]
        if sender.returncode != 0:
            job.notes.append("sender exited %s: %s" % (sender.returncode,
                                                       err.decode(errors="replace").strip()))
        busy = (busy1 - busy0) / CLK_TCK
        ours = job.cpu + (job.peer_cpu or 0) + (me1 - me0) + job.sender_cpu
        job.extra["machine_busy_cpu"] = busy
        job.other_cpu = max(0.0, busy - ours)
        return job


class Spillway:
    def __init__(self, exe, sink, name, rules=RULES, config=None, wrapper=(), extra=()):
        argv = list(wrapper) + [exe]
        if config:
            cpath = os.path.join(BENCH, name + "-config.json")
            with open(cpath, "w") as f:
                json.dump(config, f, indent=1)
            argv += ["-c", cpath]
        argv += ["-r", rules, "--sink", sink, "--listen-tcp", "127.0.0.1:0",
                 "--listen-http", "127.0.0.1:0", "--admin", "127.0.0.1:0"] + list(extra)
        self.p = spawn(argv, name)
        self.tcp = int(wait_line(self.p, r"listening tcp 127\.0\.0\.1:(\d+)", 120).group(1))
        self.admin = int(wait_line(self.p, r"listening admin 127\.0\.0\.1:(\d+)", 120).group(1))
        self.http = int(wait_line(self.p, r"listening http 127\.0\.0\.1:(\d+)", 120).group(1))
        self.peak_queue_bytes = 0
        self.peak_queue_events = 0
        self.last = None

    def stats(self):
        st = http_json("http://127.0.0.1:%d/stats" % self.admin)
        self.last = st
        q = st.get("queue", {})
        self.peak_queue_bytes = max(self.peak_queue_bytes, q.get("bytes", 0))
        self.peak_queue_events = max(self.peak_queue_events, q.get("events", 0))
        return st

    @staticmethod
    def totals(st):
        t = {"received": 0, "forwarded": 0, "dropped": 0, "pending": 0,
             "summary_forwarded": 0, "by_reason": {}}
        for name, c in st["classes"].items():
            if name == "_spillway":
                t["summary_forwarded"] += c["forwarded"]
                continue
            t["received"] += c["received"]
            t["forwarded"] += c["forwarded"]
            for r, v in c["dropped"].items():
                t["dropped"] += v
                if v:
                    t["by_reason"][r] = t["by_reason"].get(r, 0) + v
            t["pending"] += c["queued"] + c["inflight"]
        return t

    def final_count(self):
        """Events received and final (forwarded or dropped), or -1."""
        t = self.totals(self.stats())
        if t["pending"]:
            return t["forwarded"] + t["dropped"] - t["pending"]
        return t["forwarded"] + t["dropped"]

    def close(self):
        return stop(self.p, timeout=60)


class LineCounter:
    """Counts newlines appended to a set of files, reading only what is new."""

    def __init__(self, paths):
        self.paths = paths
        self.off = {p: 0 for p in paths}
        self.n = 0

    def __call__(self):
        for p in self.paths:
            try:
                with open(p, "rb") as f:
                    f.seek(self.off[p])
                    while True:
                        b = f.read(1 << 22)
                        if not b:
                            break
                        # count whole lines only
                        k = b.rfind(b"\n")
                        if k < 0:
                            break
                        self.n += b.count(b"\n", 0, k + 1)
                        self.off[p] += k + 1
                        if k + 1 < len(b):
                            f.seek(self.off[p])
            except FileNotFoundError:
                pass
        return self.n


def count_lines(path):
    n = 0
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 22)
            if not b:
                return n
            n += b.count(b"\n")


class Emulator:
    def __init__(self, name, capacity=None, capacity_mode=None, extra=()):
        argv = [PYTHON, os.path.join(REPO, "tests", "peers", "es_emulator.py"),
                "--listen", "127.0.0.1:0", "--fast", "--no-store"]
        if capacity:
            argv += ["--capacity", str(capacity)]
        if capacity_mode:
            argv += ["--capacity-mode", capacity_mode]
        argv += list(extra)
        self.p = spawn(argv, name)
        self.port = int(wait_line(self.p, r"listening http 127\.0\.0\.1:(\d+)").group(1))
        self.url = "http://127.0.0.1:%d" % self.port

    def stats(self):
        return http_json(self.url + "/_emulator/stats")

    def indexed(self):
        return sum(self.stats().get("indexed", {}).values())

    def close(self):
        return stop(self.p)


def ack_bodies(n=32, seed=SEED):
    """n _bulk bodies of ACK_DOCS index actions each: small log-like documents,
    ACK_ERROR_SHARE of them with level ERROR; and the share of ERROR made."""
    rng = random.Random(seed)
    levels = ["INFO"] * 13 + ["WARN"] * 3 + ["DEBUG"] * 4
    services = ["api", "web", "auth", "billing", "search", "worker"]
    bodies, errors = [], 0
    for b in range(n):
        out = []
        for i in range(ACK_DOCS):
            lvl = "ERROR" if rng.random() < ACK_ERROR_SHARE else rng.choice(levels)
            errors += lvl == "ERROR"
            doc = {"@timestamp": "2026-01-01T00:%02d:%02d.%03dZ" % (b % 60, i % 60,
                                                                   rng.randrange(1000)),
                   "level": lvl, "service": rng.choice(services),
                   "host": "node-%d" % rng.randrange(12),
                   "message": "request %d handled in %d ms" % (rng.randrange(10 ** 6),
                                                               rng.randrange(500))}
            out.append('{"index":{"_index":"bench-ack"}}')
            out.append(json.dumps(doc, separators=(",", ":")))
        bodies.append(("\n".join(out) + "\n").encode())
    return bodies, errors / (n * ACK_DOCS)


def pctl(xs, q):
    """The q-quantile of the sorted list xs (nearest rank), or None."""
    if not xs:
        return None
    return xs[min(len(xs) - 1, max(0, int(-(-q * len(xs) // 1)) - 1))]


class BulkSender(threading.Thread):
    """One keep-alive HTTP connection posting _bulk bodies, one at a time, the
    whole answer read before the next: a request is sent at its slot (first,
    first + interval, ...), or, when the answer to the one before came after
    that, at once, and the slots after it move by as much (a late answer
    lowers the rate, it is not made up with a burst).  Requests sent from
    measure_from until until are counted: their latency (send to the end of
    the answer) and their items' statuses."""

    def __init__(self, port, bodies, interval, first, measure_from, until):
        super().__init__(daemon=True)
        self.port, self.bodies, self.interval = port, bodies, interval
        self.first, self.measure_from, self.until = first, measure_from, until
        self.lat = []             # seconds, of the counted requests
        self.items = {}           # item status -> count, of the counted requests
        self.requests = {}        # HTTP status (or "error") -> count
        self.events = 0           # documents of the counted requests
        self.late = 0             # counted requests sent after their slot (an answer was slow)
        self.errors = []

    def run(self):
        conn = None
        slot, k = self.first, 0
        hdr = {"Content-Type": "application/x-ndjson"}
        while slot < self.until:
            now = time.monotonic()
            if now >= self.until:
                break
            late = now > slot
            if not late:
                time.sleep(slot - now)
            body = self.bodies[k % len(self.bodies)]
            k += 1
            t0 = time.monotonic()
            status, data = "error", b""
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                      timeout=ACK_HTTP_TIMEOUT)
                conn.request("POST", "/_bulk", body=body, headers=hdr)
                r = conn.getresponse()
                data = r.read()
                status = r.status
            except (OSError, http.client.HTTPException) as e:
                if len(self.errors) < 5:
                    self.errors.append(str(e) or e.__class__.__name__)
                if conn is not None:
                    conn.close()
                conn = None
            t1 = time.monotonic()
            if t0 >= self.measure_from:
                self.lat.append(t1 - t0)
                self.events += ACK_DOCS
                self.requests[str(status)] = self.requests.get(str(status), 0) + 1
                self.late += late
                n = 0
                if status == 200:
                    try:
                        for it in json.loads(data)["items"]:
                            st = str(next(iter(it.values())).get("status"))
                            self.items[st] = self.items.get(st, 0) + 1
                            n += 1
                    except (ValueError, KeyError, TypeError, AttributeError):
                        pass
                if n < ACK_DOCS:      # items not answered one by one: the request's status
                    key = "request %s" % status
                    self.items[key] = self.items.get(key, 0) + ACK_DOCS - n
            slot = max(slot, t0) + self.interval     # late: the schedule moves, no burst
        if conn is not None:
            conn.close()


def kafka_count(kafka, topic):
    try:
        return kafka.count(topic)
    except Exception:
        return 0


# ------------------------------------------------------------------ the jobs

class Bench:
    def __init__(self, args):
        self.args = args
        self.exe = os.path.abspath(args.spillway)
        self.commit = getattr(args, "commit", None)
        self.events = args.events
        self.jobs = {}
        self.skipped = {}
        # The work tree's commit when the run starts, and whether the code differs from it.
        self.tree = (run_text(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]),
                     bool(run_text(["git", "-C", REPO, "status", "--porcelain",
                                    "--untracked-files=no", "--", "src", "include",
                                    "Makefile"])))
        self.out = os.path.join(BENCH, "out")
        os.makedirs(self.out, exist_ok=True)

    def load(self, path):
        """The state of an earlier run, from its results.json (--doc-only)."""
        with open(path) as f:
            res = json.load(f)
        self.events = res["events"]
        self.commit = res.get("commit")
        self.exe = res.get("spillway", self.exe)
        self.cstats, self.shares = res["corpus"], [tuple(x) for x in res["shares"]]
        self.t_start, self.t_end = res["t_start"], res["t_end"]
        self.load_start, self.load_end = res["load_start"], res["load_end"]
        self.skipped = res["skipped"]
        self.tree = tuple(res.get("tree", self.tree))
        for name, d in res["jobs"].items():
            j = Job(name, d["kind"], d["desc"])
            j.__dict__.update(d)
            for k in ("self", "inclusive"):
                if k in j.extra:
                    j.extra[k] = [tuple(r) for r in j.extra[k]]
            self.jobs[name] = j

    def want(self, name):
        return not self.args.only or any(name == o or name.startswith(o + "-") or
                                         name.startswith(o) for o in self.args.only)

    def add(self, job):
        self.jobs[job.name] = job
        rate = job.events / job.wall if job.wall else 0
        log("%-22s %9d ev %7.2f s %9.0f ev/s cpu %6.2f s rss %6.1f MiB %s" % (
            job.name, job.events, job.wall or 0, rate, job.cpu or 0,
            (job.rss or 0) / 1048576, "; ".join(job.notes)))

    def skip(self, name, why):
        self.skipped[name] = why
        log("%s: skipped: %s" % (name, why))

    def guard(self, name, fn, *a, **kw):
        """Run one job; a job that fails is reported as failed, the run goes on."""
        try:
            return fn(*a, **kw)
        except Exception as e:
            log("%s failed: %s" % (name, e))
            self.skipped[name] = "failed: %s" % str(e).splitlines()[0][:300]
            self.clean_out()
            return None

    def clean_out(self):
        for f in os.listdir(self.out):
            os.unlink(os.path.join(self.out, f))

    # -- floors

    def floor_jansson(self):
        job = Job("jansson-parse", "floor", "json_loadb + json_decref per line, one core")
        r = subprocess.run([self.h["jparse"], self.corpus], capture_output=True, text=True,
                           check=True).stdout
        v = dict(zip(r.split()[0::2], r.split()[1::2]))
        job.events = int(v["lines"])
        job.wall = float(v["seconds"])
        job.cpu = float(v["cpu"])
        job.complete = int(v["invalid"]) == 0
        if int(v["invalid"]):
            job.notes.append("%s lines did not parse" % v["invalid"])
        self.add(job)

    def floor_loopback(self):
        job = Job("loopback-tcp", "floor", "C sender to a C receiver that discards")
        rx = spawn([self.h["discard"]], "loopback-discard")
        port = int(wait_line(rx, r"listening (\d+)").group(1))
        t0 = time.monotonic()
        s = subprocess.run([self.h["send"], "127.0.0.1:%d" % port, self.corpus],
                           capture_output=True, text=True)
        rx.wait(60)
        t1 = time.monotonic()
        for t in rx.bench_readers:     # its last line may still be on its way
            t.join(10)
        out = "".join(rx.bench_lines)
        stop(rx)
        m = re.search(r"bytes (\d+) lines (\d+) seconds ([0-9.]+) cpu ([0-9.]+)", out)
        if s.returncode != 0 or not m:
            job.notes.append("failed: %s %s" % (s.stderr.strip(), out.strip()))
            self.add(job)
            return
        job.events = int(m.group(2))
        job.wall = float(m.group(3)) or (t1 - t0)
        job.cpu = float(m.group(4))
        job.complete = job.events == self.events
        ms = re.search(r"seconds ([0-9.]+)", s.stdout)
        job.extra["send_seconds"] = float(ms.group(1)) if ms else None
        self.add(job)

    def floor_classify(self):
        job = Job("spillway-classify", "floor",
                  "`spillway classify` offline: parse + the 10 rules, one core")
        t0 = time.monotonic()
        p = subprocess.Popen([self.exe, "classify", "-r", RULES, self.corpus],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        stdout = p.stdout.read().decode()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        job.wall = time.monotonic() - t0
        job.cpu = ru.ru_utime + ru.ru_stime
        job.rss = ru.ru_maxrss * 1024
        shares = []
        for line in stdout.splitlines()[1:]:
            f = line.split()
            if len(f) == 4:
                shares.append((f[0], int(f[1]), int(f[2]), f[3]))
        job.events = sum(s[2] for s in shares)
        job.complete = p.returncode == 0 and job.events == self.events
        self.shares = shares
        self.add(job)

    # -- spillway

    def spillway_job(self, name, desc, sink_kind, capacity=None, workers=None,
                     connections=1, shadow=None):
        job = Job(name, "spillway", desc)
        em = kafka = None
        sp = None
        try:
            if sink_kind == "file":
                outf = os.path.join(self.out, name + ".ndjson")
                sink = "file:" + outf
            elif sink_kind == "es":
                em = Emulator(name + "-es", capacity)
                sink = em.url
                job.peer_name = "es_emulator.py"
            elif sink_kind == "kafka":
                from kafkapeer import KafkaMock
                kafka = KafkaMock(brokers=1, topics={"bench": 4}).start()
                sink = "kafka://%s/bench" % kafka.bootstrap
                job.peer_name = "kafka_mock"
            sp = Spillway(self.exe, sink, name,
                          extra=["--workers", str(workers)] if workers else ())
            if shadow:
                # candidate rules beside those in force, one event in `shadow`
                req = urllib.request.Request(
                    "http://127.0.0.1:%d/rules/shadow?sample=%d" % (sp.admin, shadow),
                    data=shadow_rules().encode(), method="PUT")
                with urllib.request.urlopen(req, timeout=10) as r:
                    r.read()
            peer_pid = em.p.pid if em else (kafka.proc.pid if kafka else None)
            m = Measure(job, self.h["send"], ("127.0.0.1", sp.tcp), self.corpus,
                        self.events, sp.final_count, sp.p.pid, peer_pid=peer_pid,
                        poll=POLL, connections=connections)
            th0 = thread_stats(sp.p.pid)
            m.run()
            th1 = thread_stats(sp.p.pid)
            if workers:
                # each thread's CPU and the bytes it read: the main loop is the
                # thread whose id is the pid, the others go by their names
                job.extra["workers"] = workers
                job.extra["threads"] = [
                    ("main loop" if tid == sp.p.pid else name,
                     c1 - th0.get(tid, (0.0, 0, ""))[0],
                     r1 - th0.get(tid, (0.0, 0, ""))[1])
                    for tid, (c1, r1, name) in sorted(th1.items(), key=lambda kv: (
                        kv[0] != sp.p.pid, kv[0]))]
            if shadow:
                job.extra["shadow"] = http_json("http://127.0.0.1:%d/rules/shadow" % sp.admin)
            st = sp.stats()
            t = Spillway.totals(st)
            job.extra.update(received=t["received"], forwarded=t["forwarded"],
                             dropped=t["dropped"], dropped_by_reason=t["by_reason"],
                             summaries=t["summary_forwarded"],
                             peak_queue_bytes=sp.peak_queue_bytes,
                             peak_queue_events=sp.peak_queue_events,
                             queue_max_bytes=st["queue"]["max_bytes"],
                             capacity=st.get("capacity"))
            # what reached the far end
            if sink_kind == "file":
                sp.close()
                sp = None
                got = count_lines(outf)
                job.extra["out_lines"] = got
                job.events = got - t["summary_forwarded"]
                os.unlink(outf)
            elif sink_kind == "es":
                es = em.stats()
                job.events = sum(es.get("indexed", {}).values()) - t["summary_forwarded"]
                job.extra["es_items_by_status"] = es.get("items", {}).get("by_status")
                job.extra["es_requests"] = es.get("requests", {}).get("bulk")
            elif sink_kind == "kafka":
                job.events = kafka_count(kafka, "bench") - t["summary_forwarded"]
            # every event received is accounted for: out at the far end, or shed
            job.complete = (t["received"] == self.events and
                            job.events + t["dropped"] == self.events)
            if not job.complete and not job.notes:
                job.notes.append("received %d, out %d of %d" % (
                    t["received"], job.events, self.events))
        finally:
            if sp:
                sp.close()
            if em:
                em.close()
            if kafka:
                try:
                    kafka.close()
                except Exception as e:
                    job.notes.append("kafka_mock: %s" % e)
                if kafka.proc.poll() is None:
                    kafka.kill()
        self.add(job)
        return job

    # -- acknowledgement latency

    def ack_latency(self):
        """_bulk requests over HTTP, sender-visible latency with "ack": "sink"
        against "ack": "admit", at each load of ACK_LOADS."""
        job = Job("ack-latency", "latency",
                  "_bulk over HTTP -> 2 rules -> Elasticsearch emulator, request latency "
                  "with ack sink and ack admit")
        rules = os.path.join(BENCH, "ack-latency-rules.json")
        with open(rules, "w") as f:
            json.dump(ACK_RULES, f, indent=1)
        bodies, share = ack_bodies()
        job.peer_name = "es_emulator.py"
        job.extra.update(docs_per_request=ACK_DOCS, error_share=share, warmup=ACK_WARMUP,
                         seconds=ACK_SECONDS, flush_ms=ACK_FLUSH_MS, rules=ACK_RULES,
                         body_bytes=sum(len(b) for b in bodies) / len(bodies), phases=[])
        # A thread woken by its answer should not wait 5 ms for the interpreter.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        try:
            for load, rate, conns, cap in ACK_LOADS:
                for mode in ACK_MODES:
                    ph = self.ack_phase(load, rate, conns, cap, mode, rules, bodies)
                    job.extra["phases"].append(ph)
                    log("ack-latency %-8s ack %-5s: %5d requests, p50 %8.1f ms, p99 %8.1f "
                        "ms, max %8.1f ms, items %s, %s CPU-s per M events" % (
                            load, mode, ph["requests"], ph["p50_ms"] or 0, ph["p99_ms"] or 0,
                            ph["max_ms"] or 0, ph["items_by_status"],
                            fmt(ph["cpu_per_m"])))
        finally:
            sys.setswitchinterval(switch)
        phs = job.extra["phases"]
        job.events = sum(p["events"] for p in phs)
        job.wall = sum(p["window_seconds"] for p in phs)
        job.cpu = sum(p["cpu"] for p in phs)
        job.peer_cpu = sum(p["peer_cpu"] for p in phs)
        job.sender_cpu = sum(p["driver_cpu"] for p in phs)
        job.complete = len(phs) == len(ACK_LOADS) * len(ACK_MODES) and all(
            p["requests"] and not p["errors"] for p in phs)
        for p in phs:
            if p["errors"]:
                job.notes.append("%s/%s: %s" % (p["load"], p["mode"], "; ".join(p["errors"])))
        self.add(job)
        return job

    def ack_phase(self, load, rate, conns, cap, mode, rules, bodies):
        """One (load, mode): a fresh emulator and spillway, conns senders for
        ACK_WARMUP + ACK_SECONDS; what the senders saw in the window."""
        name = "ack-latency-%s-%s" % (load, mode)
        em = sp = None
        try:
            em = Emulator(name + "-es", cap, "items" if cap else None)
            sp = Spillway(self.exe, em.url, name, rules=rules,
                          config={"ack": mode, "sink": {"flush_ms": ACK_FLUSH_MS}})
            interval = conns * ACK_DOCS / rate
            t0 = time.monotonic() + 0.2
            measure, until = t0 + ACK_WARMUP, t0 + ACK_WARMUP + ACK_SECONDS
            senders = [BulkSender(sp.http, bodies[i:] + bodies[:i], interval,
                                  t0 + i * interval / conns, measure, until)
                       for i in range(conns)]
            for s in senders:
                s.start()
            time.sleep(max(0.0, measure - time.monotonic()))
            cpu0, peer0 = proc_cpu(sp.p.pid), proc_cpu(em.p.pid, True)
            me0, (busy0, _) = self_cpu(), machine_busy()
            w0 = time.monotonic()
            for s in senders:
                s.join(ACK_SECONDS + ACK_HTTP_TIMEOUT + 30)
            w1 = time.monotonic()
            cpu1, peer1 = proc_cpu(sp.p.pid), proc_cpu(em.p.pid, True)
            me1, (busy1, _) = self_cpu(), machine_busy()
            lat = sorted(x for s in senders for x in s.lat)
            items, reqs = {}, {}
            for s in senders:
                for k, v in s.items.items():
                    items[k] = items.get(k, 0) + v
                for k, v in s.requests.items():
                    reqs[k] = reqs.get(k, 0) + v
            events = sum(s.events for s in senders)
            st = sp.stats()
            t = Spillway.totals(st)
            es = em.stats()
            cpu = cpu1 - cpu0

            def ms(x):
                return round(x * 1000, 2) if x is not None else None
            return {
                "load": load, "mode": mode, "offered": rate, "connections": conns,
                "capacity": cap, "interval_ms": interval * 1000,
                "requests": len(lat), "events": events,
                "sent_rate": events / ACK_SECONDS,
                "late": sum(s.late for s in senders),
                "p50_ms": ms(pctl(lat, 0.5)), "p90_ms": ms(pctl(lat, 0.9)),
                "p99_ms": ms(pctl(lat, 0.99)), "max_ms": ms(lat[-1] if lat else None),
                "mean_ms": ms(sum(lat) / len(lat) if lat else None),
                "items_by_status": dict(sorted(items.items())),
                "requests_by_status": dict(sorted(reqs.items())),
                "window_seconds": w1 - w0, "cpu": cpu,
                "cpu_per_m": cpu / events * 1e6 if events else None,
                "peer_cpu": peer1 - peer0, "driver_cpu": me1 - me0,
                "machine_busy_cpu": (busy1 - busy0) / CLK_TCK,
                "errors": [e for s in senders for e in s.errors][:5]
                + ["a sender still runs" for s in senders if s.is_alive()],
                # over the whole phase, the warm-up included
                "received": t["received"], "forwarded": t["forwarded"],
                "dropped": t["dropped"], "dropped_by_reason": t["by_reason"],
                "classes": {n: {"received": c["received"], "forwarded": c["forwarded"],
                                "dropped": sum(c["dropped"].values())}
                            for n, c in st["classes"].items() if n != "_spillway"},
                "es_items_by_status": es.get("items", {}).get("by_status"),
                "es_requests": es.get("requests", {}).get("bulk"),
            }
        finally:
            if sp:
                sp.close()
            if em:
                em.close()

    # -- freshness

    def freshness(self):
        """tools/loadgen.py over TCP with send-time stamps, rules/demo.json, at each
        load of FRESH_LOADS: per kind, the lag from the sender's write to the
        emulator's acceptance, forwarded and shed, and spillway's own lag_10s."""
        job = Job("freshness", "latency",
                  "loadgen over TCP -> rules/demo.json -> Elasticsearch emulator, lag from "
                  "the sender's write to the cluster's acceptance, at 1x, 3x and 10x its "
                  "capacity")
        job.peer_name = "es_emulator.py"
        job.extra.update(capacity=FRESH_CAPACITY, warmup=FRESH_WARMUP, seconds=FRESH_SECONDS,
                         rules=os.path.relpath(FRESH_RULES, REPO), mix=loadgen.DEFAULT_MIX,
                         kind_class=FRESH_KIND_CLASS, stamp=FRESH_STAMP,
                         target_ms=FRESH_TARGET_MS, phases=[])
        for x in FRESH_LOADS:
            ph = self.fresh_phase(x)
            job.extra["phases"].append(ph)
            log("freshness %2gx: %s ev/s offered, %s received by spillway, shed %s; "
                "CPU spillway %.2f, emulator %.2f, loadgen %.2f, other load %.2f cores" % (
                    x, fmt_int(ph["offered_rate"]), fmt_int(ph["sent_rate"]),
                    fmt_int(sum(k["shed"] for k in ph["kinds"].values())),
                    ph["cpu"] / ph["window_seconds"], ph["peer_cpu"] / ph["window_seconds"],
                    ph["sender_cpu"] / ph["window_seconds"],
                    ph["other_cpu"] / ph["window_seconds"]))
            for kind, k in ph["kinds"].items():
                sl, o = k.get("spillway_lag") or {}, k["onset"]
                log("freshness %2gx   %-8s p%d %7s/s fwd %8s shed %8s accepted %8s p50 %8s "
                    "p99 %8s max %8s ms; spillway p50 %s p99 %s; onset p99 %s max %s" % (
                        x, kind, k["priority"], fmt_int(k["received"] / ph["window_seconds"]),
                        fmt_int(k["forwarded"]), fmt_int(k["shed"]), fmt_int(k["accepted"]),
                        fmt(k["p50_ms"], 1), fmt(k["p99_ms"], 1), fmt(k["max_ms"], 1),
                        fmt(sl.get("p50_ms"), 1), fmt(sl.get("p99_ms"), 1),
                        fmt(o["p99_ms"], 1), fmt(o["max_ms"], 1)))
        phs = job.extra["phases"]
        job.events = sum(sum(k["accepted"] for k in p["kinds"].values()) for p in phs)
        job.wall = sum(p["window_seconds"] for p in phs)
        job.cpu = sum(p["cpu"] for p in phs)
        job.peer_cpu = sum(p["peer_cpu"] for p in phs)
        job.sender_cpu = sum(p["sender_cpu"] for p in phs)
        job.other_cpu = sum(p["other_cpu"] for p in phs)
        job.rss = max(p["rss"] for p in phs) if phs else None
        job.extra["machine_busy_cpu"] = sum(p["machine_busy_cpu"] for p in phs)
        job.complete = len(phs) == len(FRESH_LOADS) and all(not p["errors"] for p in phs)
        for p in phs:
            if p["errors"]:
                job.notes.append("%gx: %s" % (p["load"], "; ".join(p["errors"])))
        self.add(job)
        return job

    def fresh_phase(self, x):
        """One load: a fresh emulator and spillway, loadgen for FRESH_WARMUP +
        FRESH_SECONDS (and a second more); what was measured in the window."""
        name = "freshness-%gx" % x
        rate = x * FRESH_CAPACITY
        em = sp = lg = None
        errors = []
        try:
            em = Emulator(name + "-es", FRESH_CAPACITY, "items",
                          extra=["--lag-field", "labels." + FRESH_STAMP,
                                 "--lag-by", "labels.lg_kind"])
            sp = Spillway(self.exe, em.url, name, rules=FRESH_RULES)
            lg = spawn([PYTHON, os.path.join(REPO, "tools", "loadgen.py"),
                        "--tcp", "127.0.0.1:%d" % sp.tcp, "--rate", str(rate),
                        "--duration", str(FRESH_WARMUP + FRESH_SECONDS + 1.0),
                        "--stamp", FRESH_STAMP, "--seed", str(SEED)], name + "-loadgen")
            # the clock starts at spillway's first event, not at the generator's start-up
            deadline = time.monotonic() + 30
            while sum(c["received"] for c in sp.stats()["classes"].values()) == 0:
                if lg.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("loadgen sent nothing (exit %s): %s" % (
                        lg.poll(), "".join(lg.bench_lines[-5:]).strip()))
                time.sleep(0.02)
            t0 = time.monotonic()
            while time.monotonic() < t0 + FRESH_WARMUP:
                time.sleep(min(0.5, max(0.0, t0 + FRESH_WARMUP - time.monotonic())))
                sp.stats()
            # the onset's lags, from the first event on; then the window's
            onset = http_json(em.url + "/_emulator/lag", timeout=30)
            http_json(em.url + "/_emulator/lag", method="DELETE")
            s0 = sp.stats()
            cpu0, peer0, lg0 = proc_cpu(sp.p.pid), proc_cpu(em.p.pid, True), proc_cpu(lg.pid)
            me0, (busy0, _) = self_cpu(), machine_busy()
            w0 = time.monotonic()
            while time.monotonic() < w0 + FRESH_SECONDS:      # for the queue's peak
                time.sleep(min(0.5, max(0.0, w0 + FRESH_SECONDS - time.monotonic())))
                if time.monotonic() < w0 + FRESH_SECONDS - 0.1:
                    sp.stats()
            lag = http_json(em.url + "/_emulator/lag", timeout=30)
            s1 = sp.stats()
            w1 = time.monotonic()
            cpu1, peer1, lg1 = proc_cpu(sp.p.pid), proc_cpu(em.p.pid, True), proc_cpu(lg.pid)
            me1, (busy1, _) = self_cpu(), machine_busy()
            rss = proc_hwm(sp.p.pid)
            try:
                lg.wait(30)
            except subprocess.TimeoutExpired:
                errors.append("loadgen did not stop")
            for t in lg.bench_readers:
                t.join(5)
            out = None
            for line in lg.bench_lines:
                if line.startswith("{") and '"offered"' in line:
                    out = json.loads(line)
            if out is None:
                errors.append("loadgen printed no result: %s" % "".join(
                    lg.bench_lines[-5:]).strip()[:200])
            elif out.get("error"):
                errors.append("loadgen: %s" % out["error"])
            es = em.stats()
            secs = w1 - w0
            kinds = {}
            for kind, cname in FRESH_KIND_CLASS.items():
                c0, c1 = s0["classes"].get(cname), s1["classes"].get(cname)
                if c1 is None:
                    errors.append("no class %s in /stats" % cname)
                    continue
                drop = {r: v - c0["dropped"].get(r, 0) for r, v in c1["dropped"].items()
                        if v - c0["dropped"].get(r, 0)}
                g = (lag.get("by") or {}).get(kind) or {}
                o = (onset.get("by") or {}).get(kind) or {}
                kinds[kind] = {
                    "class": cname, "priority": c1["priority"],
                    "received": c1["received"] - c0["received"],
                    "forwarded": c1["forwarded"] - c0["forwarded"],
                    "shed": sum(drop.values()), "shed_by_reason": drop,
                    "queued": c1["queued"], "inflight": c1["inflight"],
                    "accepted": g.get("events", 0),
                    "p50_ms": g.get("p50_ms"), "p90_ms": g.get("p90_ms"),
                    "p99_ms": g.get("p99_ms"), "max_ms": g.get("max_ms"),
                    "mean_ms": g.get("mean_ms"),
                    # arrival to final outcome over the last 10 s, as spillway
                    # measures it (builds before it have none)
                    "spillway_lag": c1.get("lag_10s"),
                    # the warm-up: the first FRESH_WARMUP s of the storm
                    "onset": {"accepted": o.get("events", 0), "p50_ms": o.get("p50_ms"),
                              "p99_ms": o.get("p99_ms"), "max_ms": o.get("max_ms"),
                              "spillway_lag": c0.get("lag_10s")},
                }
            busy = (busy1 - busy0) / CLK_TCK
            cpu, peer, snd = cpu1 - cpu0, peer1 - peer0, lg1 - lg0
            return {
                "load": x, "offered_rate": rate, "capacity": FRESH_CAPACITY,
                "window_seconds": secs, "onset_seconds": FRESH_WARMUP,
                "sent_rate": sum(k["received"] for k in kinds.values()) / secs,
                "loadgen": out, "kinds": kinds,
                "lag_unread": lag.get("unread"),
                "spillway_capacity": s1.get("capacity"),
                "peak_queue_events": sp.peak_queue_events, "rss": rss,
                "es_items_by_status": es.get("items", {}).get("by_status"),
                "es_requests": es.get("requests", {}).get("bulk"),
                "cpu": cpu, "peer_cpu": peer, "sender_cpu": snd,
                "driver_cpu": me1 - me0, "machine_busy_cpu": busy,
                "other_cpu": max(0.0, busy - cpu - peer - snd - (me1 - me0)),
                "errors": errors,
            }
        finally:
            if lg is not None:
                stop(lg)
            if sp:
                sp.close()
            if em:
                em.close()

    # -- rsyslog

    def rsyslog_moddir(self):
        for d in MODDIRS:
            if os.path.exists(os.path.join(d, "imptcp.so")):
                return d
        return None

    def rsyslog_job(self, name, conf_name, desc, need_module, target):
        rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        moddir = self.rsyslog_moddir()
        if not os.path.exists(rsyslogd) or moddir is None:
            return self.skip(name, "rsyslogd with imptcp is not installed")
        if not os.path.exists(os.path.join(moddir, need_module)):
            return self.skip(name, "rsyslog module %s is not installed "
                             "(packaging/bench-deps.sh)" % need_module)
        job = Job(name, "peer", desc)
        work = os.path.join(BENCH, name)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        port = free_port()
        em = kafka = rs = None
        try:
            subst = {"WORK": work, "MODDIR": moddir, "PORT": str(port), "OUT": self.out}
            if target == "es":
                em = Emulator(name + "-es")
                subst["ES_PORT"] = str(em.port)
                job.peer_name = "es_emulator.py"
            elif target == "kafka":
                from kafkapeer import KafkaMock
                kafka = KafkaMock(brokers=1, topics={"bench": 4}).start()
                subst["BROKERS"] = kafka.bootstrap
                job.peer_name = "kafka_mock"
            with open(os.path.join(TOOLS, conf_name)) as f:
                text = f.read()
            for k, v in subst.items():
                text = text.replace("@%s@" % k, v)
            conf = os.path.join(work, "rsyslog.conf")
            with open(conf, "w") as f:
                f.write(text)
            rs = spawn([rsyslogd, "-n", "-f", conf, "-i", os.path.join(work, "rsyslogd.pid")],
                       name, cwd=work)
            wait_port(port, rs)
            if target == "file":
                count = LineCounter([os.path.join(self.out, name + "-match.ndjson"),
                                     os.path.join(self.out, name + "-rest.ndjson")])
            elif target == "es":
                count = em.indexed
            else:
                count = lambda: kafka_count(kafka, "bench")  # noqa: E731
            peer_pid = em.p.pid if em else (kafka.proc.pid if kafka else None)
            Measure(job, self.h["send"], ("127.0.0.1", port), self.corpus, self.events,
                    count, rs.pid, tree=True, peer_pid=peer_pid,
                    poll=POLL if target == "file" else 2 * POLL).run()
            if target == "file":
                m = count_lines(os.path.join(self.out, name + "-match.ndjson"))
                job.extra["matched"] = m
            elif target == "es":
                job.extra["es_indexed"] = em.stats().get("indexed")
            errs = [l for l in rs.bench_lines if "error" in l.lower()]
            if errs:
                job.extra["errors"] = errs[:5]
        finally:
            if rs:
                stop(rs)
            if em:
                em.close()
            if kafka:
                try:
                    kafka.close()
                except Exception as e:
                    job.notes.append("kafka_mock: %s" % e)
            self.clean_out()
        self.add(job)
        return job

    # -- syslog-ng

    def syslog_ng_paths(self):
        exe = os.path.join(SYSLOG_NG_DIR, "usr", "sbin", "syslog-ng")
        if not os.path.exists(exe):
            r = subprocess.run(["sh", os.path.join(REPO, "packaging", "bench-deps.sh"),
                                "unpack"], cwd=REPO, capture_output=True, text=True)
            if r.returncode != 0 or not os.path.exists(exe):
                return None, None, None
        ma = subprocess.run(["gcc", "-print-multiarch"], capture_output=True,
                            text=True).stdout.strip() or "x86_64-linux-gnu"
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = ":".join([
            os.path.join(SYSLOG_NG_DIR, "usr", "lib", "syslog-ng"),
            os.path.join(SYSLOG_NG_DIR, "usr", "lib", ma),
            os.path.join(SYSLOG_NG_DIR, "lib", ma)])
        mods = os.path.join(SYSLOG_NG_DIR, "usr", "lib", "syslog-ng")
        mods = os.path.join(mods, sorted(d for d in os.listdir(mods)
                                         if re.match(r"^\d+\.\d+$", d))[-1])
        return exe, env, mods

    def syslog_ng_job(self):
        name = "syslog-ng-file"
        exe, env, mods = self.syslog_ng_paths()
        if exe is None:
            return self.skip(name, "syslog-ng is not unpacked in build/syslog-ng "
                             "(sh packaging/bench-deps.sh)")
        job = Job(name, "peer", "network source + json-parser + pcre filter, 2 files")
        work = os.path.join(BENCH, name)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        port = free_port()
        with open(os.path.join(TOOLS, "syslog-ng.conf")) as f:
            text = f.read()
        for k, v in {"PORT": str(port), "OUT": self.out, "NAME": name}.items():
            text = text.replace("@%s@" % k, v)
        conf = os.path.join(work, "syslog-ng.conf")
        with open(conf, "w") as f:
            f.write(text)
        sn = None
        try:
            sn = spawn([exe, "-F", "--no-caps", "-f", conf, "--module-path", mods,
                        "--persist-file", os.path.join(work, "syslog-ng.persist"),
                        "--pidfile", os.path.join(work, "syslog-ng.pid"),
                        "--control", os.path.join(work, "syslog-ng.ctl")],
                       name, env=env, cwd=work)
            wait_port(port, sn)
            count = LineCounter([os.path.join(self.out, name + "-match.ndjson"),
                                 os.path.join(self.out, name + "-rest.ndjson")])
            Measure(job, self.h["send"], ("127.0.0.1", port), self.corpus, self.events,
                    count, sn.pid, tree=True).run()
            job.extra["matched"] = count_lines(os.path.join(self.out, name + "-match.ndjson"))
        finally:
            if sn:
                stop(sn)
            self.clean_out()
        self.add(job)
        return job

    # -- callgrind

    def callgrind(self):
        job = Job("callgrind", "profile", "spillway under callgrind, file sink, "
                  "%d-event slice" % min(CALLGRIND_EVENTS, self.events))
        if not shutil.which("valgrind"):
            return self.skip("callgrind", "valgrind is not installed")
        sl = make_slice(self.corpus, self.events, CALLGRIND_EVENTS)
        n = min(CALLGRIND_EVENTS, self.events)
        outf = os.path.join(self.out, "callgrind.ndjson")
        cgout = os.path.join(BENCH, "callgrind.out")
        for f in (cgout,):
            if os.path.exists(f):
                os.unlink(f)
        sp = Spillway(self.exe, "file:" + outf, "callgrind",
                      wrapper=["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cgout,
                               "--toggle-collect=event_base_loop"])
        try:
            t0 = time.monotonic()
            s = subprocess.Popen([self.h["send"], "127.0.0.1:%d" % sp.tcp, sl],
                                 stdout=subprocess.DEVNULL)
            while time.monotonic() - t0 < 900:
                if sp.final_count() >= n:
                    break
                time.sleep(0.5)
            s.wait()
            job.wall = time.monotonic() - t0
            job.events = Spillway.totals(sp.stats())["forwarded"]
        finally:
            sp.close()
        if os.path.exists(outf):
            os.unlink(outf)
        ann = subprocess.run(["callgrind_annotate", "--auto=no", "--inclusive=no", "--threshold=99",
                              cgout], capture_output=True, text=True).stdout
        ann_inc = subprocess.run(["callgrind_annotate", "--auto=no", "--inclusive=yes",
                                  "--threshold=99", cgout],
                                 capture_output=True, text=True).stdout
        total = parse_total(ann)
        job.extra["ir_total"] = total
        job.extra["ir_per_event"] = total / job.events if job.events else None
        job.extra["self"] = parse_functions(ann)
        job.extra["inclusive"] = parse_functions(ann_inc)[:80]
        job.complete = job.events == n
        # the same slice through jansson alone, for an instruction-count floor
        jout = os.path.join(BENCH, "callgrind-jparse.out")
        r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + jout,
                            self.h["jparse"], sl], capture_output=True, text=True)
        if r.returncode == 0:
            jann = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=99", jout],
                                  capture_output=True, text=True).stdout
            jt = parse_total(jann)
            job.extra["jparse_ir_per_event"] = jt / n if jt else None
            mal = sum(r[0] for r in parse_functions(jann) if r[3].startswith("libc.") and
                      re.search(r"malloc|free|_int_|tcache", r[1]))
            job.extra["jparse_malloc_share"] = 100.0 * mal / jt if jt else None
        with open(os.path.join(BENCH, "callgrind-self.txt"), "w") as f:
            f.write(ann)
        with open(os.path.join(BENCH, "callgrind-inclusive.txt"), "w") as f:
            f.write(ann_inc)
        self.add(job)

    # -- all

    def run(self):
        os.makedirs(BENCH, exist_ok=True)
        self.h = build_helpers()
        self.corpus = make_corpus(self.events)
        self.cstats = corpus_stats(self.corpus)
        self.shares = []
        log("corpus: %d events, %.1f MB" % (self.cstats["events"], self.cstats["bytes"] / 1e6))
        self.t_start = time.time()
        self.load_start = open("/proc/loadavg").read().split()[:3]
        if self.want("floors"):
            self.guard("jansson-parse", self.floor_jansson)
            self.guard("loopback-tcp", self.floor_loopback)
            self.guard("spillway-classify", self.floor_classify)
        for name, desc, sink in (
                ("spillway-file", "TCP -> 10 rules -> file", "file"),
                ("spillway-es", "TCP -> 10 rules -> Elasticsearch emulator", "es"),
                ("spillway-kafka", "TCP -> 10 rules -> Kafka mock cluster", "kafka")):
            if self.want(name):
                self.guard(name, self.spillway_job, name, desc, sink)
        # Shadow rules (PUT /rules/shadow): the same job with a candidate rule
        # set classifying every event, then one in ten, beside the rules in force.
        for name, sample in (("spillway-file-shadow", 1), ("spillway-file-shadow10", 10)):
            if self.want(name):
                self.guard(name, self.spillway_job, name,
                           "TCP -> 10 rules -> file, shadow rules on 1 event in %d" % sample,
                           "file", shadow=sample)
        # The pair runs WORKER_REPEATS times, in turn, and each reports its
        # median run: one run each is at the mercy of whatever else the
        # machine does during a second or two.
        runs = {1: [], 2: []}
        for rep in range(WORKER_REPEATS):
            for n in (1, 2):
                name = "spillway-file-w%d" % n
                if self.want(name):
                    j = self.guard(name, self.spillway_job, name,
                                   "TCP (%d connections) -> 10 rules -> file, `--workers %d`"
                                   % (WORKER_CONNECTIONS, n), "file", workers=n,
                                   connections=WORKER_CONNECTIONS)
                    if j is not None and j.complete and j.wall:
                        runs[n].append(j)
        for n, js in runs.items():
            if js:
                js.sort(key=lambda j: j.events / j.wall)
                med = js[len(js) // 2]
                med.extra["repeats"] = [round(j.events / j.wall) for j in js]
                self.add(med)
        if self.want("spillway-es-overload"):
            es = self.jobs.get("spillway-es")
            rate = es.events / es.wall if es and es.wall and es.events else 50000
            cap = max(500, int(rate / 10))
            j = self.guard("spillway-es-overload", self.spillway_job, "spillway-es-overload",
                           "TCP -> 10 rules -> emulator at %d events/s" % cap, "es",
                           capacity=cap)
            if j:
                j.extra["es_capacity"] = cap
        if self.want("ack-latency"):
            self.guard("ack-latency", self.ack_latency)
        if self.want("freshness"):
            self.guard("freshness", self.freshness)
        if self.want("rsyslog-file"):
            self.guard("rsyslog-file", self.rsyslog_job, "rsyslog-file", "rsyslog-file.conf",
                       "imptcp + mmjsonparse + re_match on log.level -> 2 files",
                       "mmjsonparse.so", "file")
        if self.want("syslog-ng-file"):
            self.guard("syslog-ng-file", self.syslog_ng_job)
        if self.want("rsyslog-es"):
            self.guard("rsyslog-es", self.rsyslog_job, "rsyslog-es", "rsyslog-es.conf",
                       "imptcp + mmjsonparse + re_match -> omelasticsearch",
                       "omelasticsearch.so", "es")
        if self.want("rsyslog-kafka"):
            self.guard("rsyslog-kafka", self.rsyslog_job, "rsyslog-kafka", "rsyslog-kafka.conf",
                       "imptcp + mmjsonparse + re_match -> omkafka", "omkafka.so", "kafka")
        if self.want("callgrind"):
            self.guard("callgrind", self.callgrind)
        self.t_end = time.time()
        self.load_end = open("/proc/loadavg").read().split()[:3]
        res = {"events": self.events, "commit": self.commit, "tree": self.tree,
               "spillway": self.exe,
               "corpus": self.cstats, "shares": self.shares,
               "t_start": self.t_start, "t_end": self.t_end,
               "load_start": self.load_start, "load_end": self.load_end,
               "jobs": {k: v.d() for k, v in self.jobs.items()}, "skipped": self.skipped}
        with open(os.path.join(BENCH, "results.json"), "w") as f:
            json.dump(res, f, indent=1, default=str)
        return res


def parse_total(ann):
    for line in ann.splitlines():
        if "PROGRAM TOTALS" in line:
            return int(line.split()[0].replace(",", ""))
    return 0


def parse_functions(ann):
    """callgrind_annotate rows -> [(Ir, function, file, object)], each
    (function, file, object) once (recursion shows up more than once)."""
    out, seen = [], set()
    started = False
    for line in ann.splitlines():
        if line.startswith("Ir") and "file:function" in line:
            started = True
            continue
        if not started:
            continue
        m = re.match(r"^\s*([\d,]+)\s+(?:\([\s\d.]+%\)\s+)?(\S.*?)(?:\s+\[(.*)\])?\s*$",
                     line)
        if not m:
            if out and not line.strip():
                break               # the end of the table
            continue
        ir = int(m.group(1).replace(",", ""))
        f, _, fn = m.group(2).rpartition(":")
        fn = re.sub(r"'\d+$", "", fn)
        f = "" if f in ("", "???") else os.path.basename(f)
        obj = os.path.basename(m.group(3) or "")
        if (fn, f, obj) in seen:
            continue
        seen.add((fn, f, obj))
        out.append((ir, fn, f, obj))
    return out


# ------------------------------------------------------------------ the document

def run_text(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:
        return ""


def versions(bench):
    v = {}
    sv = run_text([bench.exe, "version"])
    if bench.commit:
        v["spillway"] = "%s (commit %s, built from a clean export)" % (sv or "?",
                                                                     bench.commit[:7])
    else:
        rev, dirty = bench.tree
        v["spillway"] = "%s (work tree at commit %s%s)" % (
            sv or "?", rev or "?", ", with uncommitted changes" if dirty else "")
    v["compiler"] = run_text(["cc", "--version"]).splitlines()[0] if run_text(
        ["cc", "--version"]) else "?"
    for lib, pc in (("jansson", "jansson"), ("libevent", "libevent"),
                    ("PCRE2", "libpcre2-8"), ("librdkafka", "rdkafka"), ("zlib", "zlib")):
        v[lib] = run_text(["pkg-config", "--modversion", pc]) or "?"
    rs = run_text(["rsyslogd", "-v"]) or run_text(["/usr/sbin/rsyslogd", "-v"])
    v["rsyslog"] = rs.splitlines()[0].split(" compiled")[0].replace("rsyslogd", "").strip() \
        if rs else "not installed"
    exe, env, mods = bench.syslog_ng_paths() if "syslog-ng-file" not in bench.skipped else \
        (None, None, None)
    if exe:
        out = subprocess.run([exe, "--version"], env=env, capture_output=True,
                             text=True).stdout
        m = re.search(r"Revision: (\S+)", out)
        v["syslog-ng"] = (m.group(1) if m else out.splitlines()[0]) + " (unpacked, not installed)"
    else:
        v["syslog-ng"] = "not available"
    v["Python"] = run_text([PYTHON, "--version"]).replace("Python ", "")
    v["valgrind"] = run_text(["valgrind", "--version"]).replace("valgrind-", "")
    return v


def machine():
    model = cores = "?"
    for line in run_text(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
        if line.startswith("CPU(s):"):
            cores = line.split(":", 1)[1].strip()
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = "%.1f GiB" % (int(line.split()[1]) / 1048576)
    hv = ""
    for line in run_text(["lscpu"]).splitlines():
        if line.startswith("Hypervisor vendor:"):
            hv = ", virtual machine (%s)" % line.split(":", 1)[1].strip()
    return {"cpu": model + hv, "cores": cores, "memory": mem,
            "kernel": run_text(["uname", "-sr"]),
            "os": run_text(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"])}


def fmt_int(x):
    return "{:,}".format(int(round(x))) if x is not None else "–"


def fmt(x, nd=2):
    return ("%%.%df" % nd) % x if x is not None else "–"


def per_m(job, events=None):
    """CPU-s per million events taken in: received by spillway (out or shed),
    out at the far end for the others (they shed nothing)."""
    ev = events if events is not None else (job.extra.get("received") or job.events)
    if job.cpu is None or not ev:
        return None
    return job.cpu / ev * 1e6


def ratio_row(name, value, target, better, unit="×"):
    if value is None:
        return "| %s | – | %s | not measured |" % (name, target)
    tv = float(re.sub(r"[^\d.]", "", target))
    met = value <= tv if better == "low" else value >= tv
    if met:
        verdict = "met"
    elif better == "low":
        verdict = "missed: %.2f%s is %.0f %% above the target" % (
            value, unit, (value / tv - 1) * 100)
    else:
        verdict = "missed: %.2f%s is %.0f %% below the target" % (
            value, unit, (1 - value / tv) * 100)
    return "| %s | %.2f%s | %s | %s |" % (name, value, unit, target, verdict)


def chart(bench, rows):
    if not shutil.which("gnuplot"):
        return None
    data = os.path.join(BENCH, "chart.tsv")
    with open(data, "w") as f:
        for name, job in rows:
            color = {"floor": 0x999999, "spillway": 0x4477AA}.get(job.kind, 0xEE7733)
            f.write("%s\t%s\t%s\t%d\n" % (name, fmt(per_m(job) or 0, 3),
                                          fmt((job.events / job.wall / 1000)
                                              if job.wall and job.events else 0, 1), color))
    os.makedirs(os.path.dirname(CHART), exist_ok=True)
    script = """
set terminal pngcairo size 1100,820 font "DejaVu Sans,10"
set output "{out}"
set datafile separator "\\t"
set multiplot layout 2,1 title "spillway (blue), rsyslog and syslog-ng (orange), floors (grey): {events} events of {mean:.0f} bytes ({when})"
set style fill solid 0.85 border -1
set xrange [-0.6:{xmax}]
set grid ytics
set xtics rotate by -25 nomirror
set key off
set yrange [0:*]
set ylabel "CPU-seconds per million events"
set title "CPU per event (lower is better)"
plot "{data}" using 0:2:(0.7):4:xtic(1) with boxes lc rgb variable, "" using 0:2:(sprintf("%.2f",$2)) with labels offset 0,0.7 notitle
set ylabel "thousand events per second"
set title "Throughput, wall time from the first byte sent to the last event out (higher is better)"
plot "{data}" using 0:3:(0.7):4:xtic(1) with boxes lc rgb variable, "" using 0:3:(sprintf("%.0f",$3)) with labels offset 0,0.7 notitle
unset multiplot
""".format(out=CHART, data=data, xmax=len(rows) - 0.4, events=fmt_int(bench.events), mean=bench.cstats["mean"],
           when=datetime.datetime.utcfromtimestamp(bench.t_start).strftime("%Y-%m-%d"))
    sp = os.path.join(BENCH, "chart.gp")
    with open(sp, "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", sp], capture_output=True, text=True)
    if r.returncode != 0:
        log("gnuplot failed: %s" % r.stderr)
        return None
    return CHART


def write_doc(bench):
    J = bench.jobs
    N = bench.events
    cs = bench.cstats
    mach = machine()
    ver = versions(bench)
    L = []
    w = L.append
    w("# Benchmarks")
    w("")
    w("`make bench` runs spillway and the shippers it is compared with on the same job, on the "
      "same corpus, in one invocation, and rewrites this file and "
      "[docs/img/bench-jobs.png](img/bench-jobs.png) with what it measured. It is not part of "
      "`make test` or CI, and nothing in it is a pass/fail check: timings depend on the "
      "machine and on whatever else runs on it.")
    w("")
    w("```sh")
    w("sh packaging/bench-deps.sh      # once: rsyslog-kafka, gnuplot, perf, valgrind; "
      "unpacks syslog-ng")
    w("make bench                      # BENCH_EVENTS=N scales the corpus (default 1000000)")
    w("```")
    w("")
    w("The driver is `tools/bench/run.py` (`--only JOB,...` reruns some jobs without rewriting "
      "this file; `--help`). Everything it writes, the cached corpus, private configurations "
      "and work directories, logs, `results.json` and the callgrind output, is under "
      "`build/bench/`. Run it before and after a change to the hot path, on the same machine, "
      "and compare.")
    w("")
    w("## This run")
    w("")
    w("| | |")
    w("| --- | --- |")
    w("| date | %s UTC, %.0f s for the whole run |" % (
        datetime.datetime.utcfromtimestamp(bench.t_start).strftime("%Y-%m-%d %H:%M"),
        bench.t_end - bench.t_start))
    w("| CPU | %s |" % mach["cpu"])
    w("| cores | %s |" % mach["cores"])
    w("| memory | %s |" % mach["memory"])
    w("| kernel | %s (%s) |" % (mach["kernel"], mach["os"]))
    w("| load average | %s at the start, %s at the end |" % (
        " ".join(bench.load_start), " ".join(bench.load_end)))
    for k in ("spillway", "compiler", "jansson", "libevent", "PCRE2", "librdkafka", "zlib",
              "rsyslog", "syslog-ng", "Python", "valgrind"):
        w("| %s | %s |" % (k, ver.get(k, "?")))
    w("| build | `make` defaults: `-O2 -g`, not the sanitizer build |")
    w("")
    noisy = [j for j in J.values() if j.other_cpu and j.wall and j.other_cpu / j.wall > 0.25]
    w("**Noise.** This machine has %s cores, and other work (test suites, builds) may run on "
      "it during a benchmark. For every job the driver reads the machine's busy time from "
      "`/proc/stat` and subtracts what the job's own processes, the sender and the driver "
      "used; the rest is listed as *other load* below. %s CPU-seconds per event are less "
      "sensitive to that than events/s; the ratios below compare jobs of the same run." % (
          mach["cores"],
          ("In this run %d of %d jobs saw more than a quarter of a core of other load, so "
           "treat their rates as noisy." % (len(noisy), len(J))) if noisy else
          "In this run no job saw more than a quarter of a core of other load."))
    w("")
    w("While this harness was written, repeated runs on this shared machine moved the rates "
      "of the Elasticsearch and Kafka jobs by up to a factor of two (those jobs run three "
      "or more busy processes on two cores), and CPU per event by up to about 20 %; the "
      "file jobs and the floors moved by a few per cent. Compare a change with several "
      "runs before and after, and prefer the callgrind instruction counts below, which do "
      "not depend on the load.")
    w("")
    w("## The corpus")
    w("")
    w("%s events, %s bytes (%.1f MB), %d to %d bytes a line, %.0f on average; generated by "
      "`tools/bench/corpus.py` with seed %d and cached in `build/bench/`. Each line is one "
      "ECS-style JSON object with nested fields, as Filebeat or Logstash ship them: "
      "`@timestamp`, `log.level` (lower case, upper case from the Java services), "
      "`service.name`, `kubernetes.namespace`, `http.response.status_code`, "
      "`event.dataset`, sometimes `event.category`, `tags`, `labels.audit`, `trace.id`, and "
      "a `message`; about 1 %% of messages hold non-ASCII UTF-8. %d services in %d "
      "namespaces (production, ingress, batch, staging, infrastructure)." % (
          fmt_int(cs["events"]), fmt_int(cs["bytes"]), cs["bytes"] / 1e6, cs["min"], cs["max"],
          cs["mean"], SEED, len(corpus.SERVICES), len({s[0] for s in corpus.SERVICES})))
    w("")
    if bench.shares:
        w("How [rules/bench.json](../rules/bench.json) (10 classes: field regexes on level, "
          "service, namespace and status, one raw rule, one `any` group, a keyed class, a "
          "negated condition; rates sized so that nothing is rate-limited in this "
          "benchmark) splits it, from `spillway classify`:")
        w("")
        w("| class | priority | events | share |")
        w("| --- | ---: | ---: | ---: |")
        for name, prio, n, share in bench.shares:
            w("| %s | %d | %s | %s |" % (name, prio, fmt_int(n), share))
        w("")
    w("## The jobs")
    w("")
    w("Every job but the floors receives the whole corpus over one TCP connection from "
      "`tools/bench/send.c`, which writes it as fast as the receiver reads it (the two "
      "worker jobs over %d, see below); the sender's "
      "CPU is not counted. " % WORKER_CONNECTIONS + "The clock runs from the sender's first byte until the last event "
      "is out: spillway's `/stats` says every event is forwarded (acknowledged by the sink) "
      "or dropped, and the far end has counted them (lines in the output files, documents "
      "indexed by the emulator, Kafka high watermarks summed). *CPU* is utime + stime of the "
      "process under test (all threads; children included) from `/proc/PID/stat` over that "
      "interval; *peak RSS* is its `VmHWM`. MB is 10^6 bytes of corpus.")
    w("")
    w("- **spillway**: `spillway -r rules/bench.json --sink ...`, built-in defaults otherwise "
      "(queue 200,000 events / 256 MiB; Elasticsearch sink: batches of 1,000, 4 concurrent "
      "requests, gzip; Kafka sink: librdkafka defaults with `linger.ms=5`). All 10 rules run "
      "on every event.")
    w("- **rsyslog** (`tools/bench/rsyslog-*.conf`): `imptcp`, `mmjsonparse` on the raw line, "
      "one `re_match` on `$!log!level`; to two files with `omfile`, or to the emulator with "
      "`omelasticsearch` (bulk mode, index chosen by the filter, 2 worker threads, batches "
      "of 1,000), or to the mock cluster with `omkafka` (both branches to topic `bench`). "
      "Private configuration and `workDirectory` under `build/bench/`, run as "
      "`rsyslogd -n -f CONF -i PIDFILE`. Its peak RSS mostly reflects the in-memory "
      "queues configured here (main queue and action queue, up to 200,000 messages each).")
    w("- **syslog-ng** (`tools/bench/syslog-ng.conf`): `network()` source with "
      "`flags(no-parse)`, `json-parser()`, one `match(... type(pcre))` filter on "
      "`log.level`, flow control, two `file()` destinations; run from `build/syslog-ng/` "
      "(unpacked by `packaging/bench-deps.sh`, since the package conflicts with rsyslog).")
    w("- **spillway-file-w1, spillway-file-w2**: the file job with `--workers 1` and "
      "`--workers 2`, the corpus cut into %d contiguous parts of about the same size on line "
      "boundaries and sent over %d parallel connections (`send HOST:PORT FILE %d`). With "
      "`--workers 2` a second thread has its own event loop and parses and classifies the "
      "lines of the connections the main loop deals it; the main loop shapes them all and "
      "writes the file. The main loop accepts every connection and deals each to the loop "
      "with the fewest, its own weighing 5/4, and moves its own to a worker that lost its "
      "connections, between two lines; the file is written by a thread of its own. The "
      "driver reads each thread's CPU and bytes read (`rchar`) from `/proc/PID/task/TID/` "
      "to show the split. With `--workers 1` the main loop serves all %d. The pair runs %d "
      "times, in turn, and the median run of each is reported." % (
          (WORKER_CONNECTIONS,) * 4 + (WORKER_REPEATS,)))
    w("- The peers get one regex filter; spillway runs ten rules. That is the job each is "
      "configured for here, and it favours the peers.")
    w("- **Floors**: `tools/bench/jparse.c` runs jansson's `json_loadb` + `json_decref` "
      "(the flags spillway uses) over every line on one core, the least a parsing proxy "
      "can spend; `tools/bench/discard.c` receives the corpus over loopback TCP and discards "
      "it, the physical floor of moving the bytes (its CPU is the receiving side only); "
      "`spillway classify` is spillway's own parse + classify over the file, offline.")
    w("- Elasticsearch is `tests/peers/es_emulator.py --fast --no-store`, Kafka is "
      "`build/kafka_mock` (librdkafka's mock cluster, one broker, topic `bench` with 4 "
      "partitions). Both peers run on the same two cores; their own CPU is listed.")
    w("")
    w("## Results")
    w("")
    w("| job | what | events out | events/s | MB/s | CPU-s per M events | peak RSS | "
      "peer CPU | other load of busy cores |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    order = ["jansson-parse", "loopback-tcp", "spillway-classify", "spillway-file",
             "spillway-file-w1", "spillway-file-w2", "rsyslog-file", "syslog-ng-file", "spillway-es", "rsyslog-es",
             "spillway-kafka", "rsyslog-kafka", "spillway-es-overload"]
    chart_rows = []
    for name in order:
        j = J.get(name)
        if j is None:
            if name in bench.skipped:
                w("| %s | skipped: %s | | | | | | | |" % (name, bench.skipped[name]))
            continue
        rate = j.events / j.wall if j.wall and j.events else None
        mbs = rate * cs["mean"] / 1e6 if rate else None
        peer = ""
        if j.peer_cpu is not None and j.wall:
            peer = "%s: %.1f s (%.0f %% of a core)" % (j.peer_name, j.peer_cpu,
                                                      100 * j.peer_cpu / j.wall)
        busy = j.extra.get("machine_busy_cpu")
        other = ("%.2f of %.2f" % (j.other_cpu / j.wall, busy / j.wall)
                 if j.other_cpu is not None and busy is not None and j.wall else "")
        cpu_m = per_m(j)
        note = "" if j.complete else " (incomplete: %s)" % "; ".join(j.notes)
        if j.extra.get("dropped"):
            note += "; %s shed (%s)" % (fmt_int(j.extra["dropped"]), ", ".join(
                "%s %s" % (k, fmt_int(v)) for k, v in
                sorted(j.extra.get("dropped_by_reason", {}).items())))
        w("| %s | %s%s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, j.desc, note, fmt_int(j.events), fmt_int(rate) if rate else "–",
            fmt(mbs, 1), fmt(cpu_m), "%.1f MiB" % (j.rss / 1048576) if j.rss else "–",
            peer, other))
        if name not in ("spillway-es-overload", "loopback-tcp"):
            chart_rows.append((name, j))
    w("")
    w("*Events out* are counted at the far end (spillway's own drop summaries not "
      "included); events/s and MB/s are events out per second of wall time. *CPU per M "
      "events* divides by the events taken in: for spillway, every event received, "
      "forwarded or shed (a shed event is parsed and classified too); the peers shed "
      "nothing. *Other load of busy cores*: of the cores busy on average during the job "
      "(`/proc/stat`), how many were busy with processes that are not part of it. "
      "For `loopback-tcp` the "
      "events/s is the receiver's time from first byte to EOF, and the CPU the receiver's; "
      "the chart leaves it out, and the overload job, to keep the scale readable.")
    w("")
    if chart(bench, chart_rows):
        w("![CPU per million events and events per second, per job](img/bench-jobs.png)")
        w("")

    # ---- ratios
    w("## Against the targets")
    w("")
    w("| ratio | this run | target | |")
    w("| --- | ---: | ---: | --- |")
    sf, jp, rf = J.get("spillway-file"), J.get("jansson-parse"), J.get("rsyslog-file")
    se, re_, sk, rk = (J.get("spillway-es"), J.get("rsyslog-es"), J.get("spillway-kafka"),
                       J.get("rsyslog-kafka"))

    def r_cpu(a, b):
        return per_m(a) / per_m(b) if a and b and per_m(a) and per_m(b) else None

    def r_rate(a, b):
        return ((a.events / a.wall) / (b.events / b.wall)
                if a and b and a.wall and b.wall and b.events else None)
    w(ratio_row("spillway-file CPU per event ÷ jansson parse-only", r_cpu(sf, jp),
                "≤ 1.15×", "low"))
    w(ratio_row("spillway-file CPU per event ÷ rsyslog-file", r_cpu(sf, rf), "≤ 0.5×", "low"))
    rs = r_cpu(sf, J.get("syslog-ng-file"))
    if rs is not None:
        w("| spillway-file CPU per event ÷ syslog-ng-file | %.2f× | – | no target, "
          "for reference |" % rs)
    w(ratio_row("spillway-es events/s ÷ rsyslog-es", r_rate(se, re_), "≥ 2.5×", "high"))
    w(ratio_row("spillway-kafka events/s ÷ rsyslog-kafka", r_rate(sk, rk), "≥ 2×", "high"))
    w1, w2 = J.get("spillway-file-w1"), J.get("spillway-file-w2")
    if w1 or w2:
        w(ratio_row("spillway-file-w2 events/s ÷ spillway-file-w1 (%d connections)"
                    % WORKER_CONNECTIONS, r_rate(w2, w1), "≥ %.1f×" % WORKER_TARGET, "high"))
        rc = r_cpu(w2, w1)
        if rc is not None:
            w("| spillway-file-w2 CPU per event ÷ spillway-file-w1 (%.2f and %.2f CPU-s per "
              "M events) | %.2f× | – | no target, for reference |" % (per_m(w2), per_m(w1), rc))
        else:
            for j in (w1, w2):
                if j and per_m(j):
                    w("| %s CPU-s per M events | %.2f | – | no target, for reference |"
                      % (j.name, per_m(j)))
    for name in ("spillway-file", "spillway-file-w1", "spillway-file-w2", "spillway-es",
                 "spillway-kafka", "spillway-es-overload"):
        j = J.get(name)
        if j and j.rss:
            q = j.extra.get("peak_queue_bytes", 0)
            qmax = j.extra.get("queue_max_bytes") or 0
            w(ratio_row("%s peak RSS ÷ (32 MiB + configured queue bytes %.0f MiB)" % (
                name, qmax / 1048576), j.rss / (32 * 1048576 + qmax), "≤ 1×", "low"))
            budget = 32 * 1048576 + q
            w("| %s peak RSS ÷ (32 MiB + peak queue bytes %.1f MiB) | %.2f× | – | "
              "stricter, for reference%s |" % (
                  name, q / 1048576, j.rss / budget, "" if j.rss <= budget else
                  ": over, since queue bytes count the events' bytes and not the "
                  "records that hold them"))
    w("")
    w("The target counts the configured `queue.max_bytes`; the stricter rows count the "
      "largest `queue.bytes` seen in `/stats`, polled every %d ms while the job runs."
      % (POLL * 1000))
    w("")
    w(findings(bench))

    # ---- overload
    ov = J.get("spillway-es-overload")
    if ov and se:
        w("## Shedding")
        w("")
        fwd, drop = ov.extra.get("forwarded", 0), ov.extra.get("dropped", 0)
        rec = ov.extra.get("received", 0)
        w("`spillway-es-overload` points spillway at the emulator with `--capacity %s` "
          "(events/s, a tenth of what `spillway-es` indexed per second; excess items are "
          "answered 429). spillway received %s events, forwarded %s and dropped %s (%s), "
          "in %.1f s; the emulator indexed %s, %s of them spillway's own drop summaries." % (
              fmt_int(ov.extra.get("es_capacity")), fmt_int(rec), fmt_int(fwd), fmt_int(drop),
              ", ".join("%s %s" % (k, fmt_int(v)) for k, v in
                        sorted(ov.extra.get("dropped_by_reason", {}).items())) or "–",
              ov.wall, fmt_int(ov.events + ov.extra.get("summaries", 0)),
              fmt_int(ov.extra.get("summaries", 0))))
        st429 = (ov.extra.get("es_items_by_status") or {}).get("429")
        if st429:
            w("The emulator answered %s items with 429; spillway put those events back in "
              "its queue and sent them again or shed them later." % fmt_int(st429))
        w("")
        f_cost = se.cpu / se.events if se.events else None
        if f_cost and drop and ov.cpu is not None:
            shed = (ov.cpu - fwd * f_cost) / drop
            w("| | CPU-s per M events |")
            w("| --- | ---: |")
            w("| forwarding (spillway-es: every event parsed, classified, batched, "
              "gzipped, sent, acknowledged) | %.2f |" % (f_cost * 1e6))
            w("| spillway-es-overload, all events received | %.2f |" % (ov.cpu / rec * 1e6))
            w("| shedding, per shed event: (overload CPU − forwarded × forwarding cost) ÷ "
              "shed | %.2f |" % (shed * 1e6))
            w("")
            w("The shedding estimate charges everything that is not forwarding to the shed "
              "events, the retries of 429 items and the controller included. A shed event "
              "is parsed and classified like any other; it skips the batch, the gzip and the "
              "sink.")
            w("")
    ack_section(w, bench)
    freshness_section(w, bench)
    shadow_section(w, bench)
    # ---- where the time goes
    cg = J.get("callgrind")
    w("## Where the time goes")
    w("")
    if cg and cg.extra.get("ir_per_event"):
        ipe = cg.extra["ir_per_event"]
        jpe = cg.extra.get("jparse_ir_per_event")
        w("spillway under `valgrind --tool=callgrind --toggle-collect=event_base_loop` (so "
          "start-up and the compilation of the rules are left out), file sink, the first %s "
          "events of the corpus: **%s instructions per event** (%s in all)%s. Instruction "
          "counts do not depend on the machine's load, so these are the numbers to compare "
          "between commits; they leave out the time spent in the kernel (reads, writes, "
          "epoll), which CPU-seconds include." % (
              fmt_int(cg.events), fmt_int(ipe), fmt_int(cg.extra["ir_total"]),
              ("; `jparse` (jansson alone) over the same slice takes %s per event, so spillway "
               "executes %.2f× the instructions of its parse" % (fmt_int(jpe), ipe / jpe))
              if jpe else ""))
        w("")
        tot = cg.extra["ir_total"]
        rows = merge_stripped(cg.extra["self"])
        w("Top functions by their own instructions (self cost):")
        w("")
        w("| function | in | instructions per event | share |")
        w("| --- | --- | ---: | ---: |")
        for ir, fn, f, obj in rows[:15]:
            w("| %s | %s | %s | %.1f %% |" % (fn if fn.startswith("jansson") else
                                               "`%s`" % fn, f or obj, fmt_int(ir / cg.events),
                                               100.0 * ir / tot))
        w("")
        groups = group_self(cg.extra["self"], tot)
        if groups:
            w("Self cost by library: %s." % ", ".join(
                "%s %.1f %%" % (k, v) for k, v in groups))
            w("")
        incl = [r for r in cg.extra["inclusive"]
                if r[3] == "spillway" and r[2].endswith(".c") and r[1] != "main"][:12]
        if incl:
            w("spillway's own functions by inclusive cost (with everything they call):")
            w("")
            w("| function | file | instructions per event | share |")
            w("| --- | --- | ---: | ---: |")
            for ir, fn, f, obj in incl:
                w("| `%s` | %s | %s | %.1f %% |" % (fn, f, fmt_int(ir / cg.events),
                                                   100.0 * ir / tot))
            w("")
        w("Debian's libjansson carries no symbols for its internal functions (the lexer and "
          "the parser), so they are summed in one row. After a run, the full listings are in "
          "`build/bench/callgrind-self.txt` and `callgrind-inclusive.txt`; "
          "`callgrind_annotate build/bench/callgrind.out src/classify.c` annotates a source "
          "file line by line.")
    else:
        w("Not measured in this run (%s)." % bench.skipped.get("callgrind", "callgrind failed"))
    w("")
    gains_section(w)
    with open(DOC, "w") as f:
        f.write("\n".join(L).rstrip() + "\n")
    log("wrote %s" % os.path.relpath(DOC, REPO))


def ack_section(w, bench):
    """The ack-latency job: _bulk request latency with ack sink and ack admit.
    Nothing when the results have no such job (runs from before it)."""
    j = bench.jobs.get("ack-latency")
    if j is None:
        if "ack-latency" in bench.skipped:
            w("## Acknowledgement latency")
            w("")
            w("Not measured in this run (%s)." % bench.skipped["ack-latency"])
            w("")
        return
    x = j.extra
    phases = x.get("phases") or []
    if not phases:
        return
    by = {(p["load"], p["mode"]): p for p in phases}
    loads = []
    for p in phases:
        if p["load"] not in loads:
            loads.append(p["load"])

    def shape(p):
        return "%s events/s from %d connection%s%s" % (
            fmt_int(p["offered"]), p["connections"], "s" if p["connections"] > 1 else "",
            ", emulator `--capacity %d --capacity-mode items`" % p["capacity"]
            if p.get("capacity") else ", emulator unlimited")
    w("## Acknowledgement latency")
    w("")
    w("`ack-latency` posts `_bulk` requests of %d `index` actions (small log-like documents, "
      "%s bytes a request, %.0f %% of the documents with `\"level\":\"ERROR\"`) to "
      "spillway's HTTP listener over keep-alive connections, each connection one request at a "
      "time (`http.client` in a thread: send, read the whole answer, wait for the next slot of "
      "the offered rate, or send at once when the answer came after it). The rules put "
      "`ERROR` in class `critical`, priority 0, and everything else in the default class, "
      "priority 5. For each load and each `ack` mode a fresh emulator (`--fast --no-store`) "
      "and spillway (`{\"ack\": MODE, \"sink\": {\"flush_ms\": %d}}`; otherwise the "
      "defaults: batches of 1,000 events, 4 concurrent bulk requests, `shed_response` "
      "`accept`) run %.0f s of warm-up, then %.0f s measured: the latency is from sending a "
      "request to the end of its answer, over the requests sent in those %.0f s; items are "
      "counted by the status spillway answered them with. Loads: %s." % (
          x.get("docs_per_request", ACK_DOCS), fmt_int(x.get("body_bytes", 0)),
          100 * x.get("error_share", 0), x.get("flush_ms", ACK_FLUSH_MS),
          x.get("warmup", 0), x.get("seconds", 0), x.get("seconds", 0),
          "; ".join("**%s**, %s" % (ld, shape(by.get((ld, "sink")) or by.get((ld, "admit"))))
                    for ld in loads)))
    w("")
    w("| load | ack | requests | events/s sent | p50 ms | p99 ms | max ms | items 201 | "
      "429 | 503 | other | shed by spillway | spillway CPU-s per M events |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for ld in loads:
        for mode in ACK_MODES:
            p = by.get((ld, mode))
            if p is None:
                continue
            it = p.get("items_by_status") or {}
            other = sum(v for k, v in it.items() if k not in ("201", "429", "503"))
            w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                ld, mode, fmt_int(p["requests"]), fmt_int(p["sent_rate"]),
                fmt(p["p50_ms"], 1), fmt(p["p99_ms"], 1), fmt(p["max_ms"], 1),
                fmt_int(it.get("201", 0)), fmt_int(it.get("429", 0)),
                fmt_int(it.get("503", 0)), fmt_int(other), fmt_int(p.get("dropped", 0)),
                fmt(p.get("cpu_per_m"))))
    w("")
    w("| load | ack sink p50 ÷ ack admit p50 | ack sink p99 ÷ ack admit p99 |")
    w("| --- | ---: | ---: |")
    for ld in loads:
        a, b = by.get((ld, "sink")), by.get((ld, "admit"))

        def r(k):
            return ("%.0f×" % (a[k] / b[k]) if a and b and a.get(k) and b.get(k) else "–")
        w("| %s | %s | %s |" % (ld, r("p50_ms"), r("p99_ms")))
    w("")
    w("*Shed by spillway* counts the events the controller dropped over the whole run of the "
      "pair, warm-up included, and *CPU* is spillway's utime + stime over the measured "
      "window divided by the events sent in it. Items in *other* were answered with another "
      "status, or not one by one (a whole request refused).")
    w("")
    s = ("With `ack: sink` an answer waits until every item of the request is final, so it "
         "includes the sink round trip: an event waits for the batch it joins to be sent, "
         "at 1,000 events or `flush_ms` (%d ms) after the batch's first event, and then for "
         "Elasticsearch's answer to that bulk request; with `ack: admit` spillway answers "
         "as soon as the items are in its queue. Items shed by policy are answered `201` at "
         "once in both modes, but a request still waits for its other items: its `critical` "
         "ones, and those of the default class that were let through." % (
             x.get("flush_ms", ACK_FLUSH_MS)))
    lt = by.get(("light", "sink")), by.get(("light", "admit"))
    if all(lt) and lt[0]["p50_ms"] and lt[1]["p50_ms"]:
        s += (" At light load that is about one flush: p50 %.0f ms against %.1f ms." % (
            lt[0]["p50_ms"], lt[1]["p50_ms"]))
    ov = by.get(("overload", "sink"))
    if ov and ov.get("capacity") and ov["sent_rate"] < 0.9 * ov["offered"]:
        s += (" With %d connections and `ack: sink` the senders sent only %s of the %s "
              "events/s offered%s, since each connection waits for an answer (%.0f ms at "
              "p50) before it sends its next %d events: acknowledging from the sink slows "
              "the senders down, where `ack: admit` lets them overload the cluster and "
              "spillway sheds (%s events shed with `admit`, %s with `sink`)." % (
                  ov["connections"], fmt_int(ov["sent_rate"]), fmt_int(ov["offered"]),
                  " (less than the emulator's %s)" % fmt_int(ov["capacity"])
                  if ov["sent_rate"] < ov["capacity"] else "",
                  ov["p50_ms"], x.get("docs_per_request", ACK_DOCS),
                  fmt_int((by.get(("overload", "admit")) or {}).get("dropped", 0)),
                  fmt_int(ov.get("dropped", 0))))

    def per_bulk(p):
        es = p.get("es_items_by_status") or {}
        return sum(es.values()) / p["es_requests"] if p.get("es_requests") else None
    for ld in loads:
        a, b = by.get((ld, "sink")), by.get((ld, "admit"))
        if not (a and b and a.get("capacity") and a["sent_rate"] >= 0.9 * a["offered"]):
            continue
        crit = [(p.get("classes") or {}).get("critical", {}).get("dropped") for p in (a, b)]
        s += (" With %d connections (**%s**) the senders did offer %s events/s with `ack: "
              "sink` too (%s sent): spillway shed %s events (%s with `admit`)%s, the emulator "
              "answered %s items 429, which spillway sent again, and the requests waited %.0f "
              "ms at p50 and %.0f ms at p99 (%.0f ms at most)." % (
                  a["connections"], ld, fmt_int(a["offered"]), fmt_int(a["sent_rate"]),
                  fmt_int(a.get("dropped", 0)), fmt_int(b.get("dropped", 0)),
                  ", none of them `critical`" if crit == [0, 0] else "",
                  fmt_int((a.get("es_items_by_status") or {}).get("429", 0)),
                  a["p50_ms"], a["p99_ms"], a["max_ms"]))
        lp = by.get(("light", "sink"))
        if lp and per_bulk(a) and per_bulk(lp) and a["p50_ms"] < lp["p50_ms"]:
            s += (" That p50 is below the light load's because the batches filled up before "
                  "`flush_ms` (%.0f items a bulk request on average, against %.0f at light "
                  "load)." % (per_bulk(a), per_bulk(lp)))
    w(s)
    w("")


def shadow_section(w, bench):
    """What candidate rules in the shadow cost: CPU per event of spillway-file
    against the same job with a shadow on every event and on one in ten."""
    J = bench.jobs
    base = J.get("spillway-file")
    rows = [J.get(n) for n in ("spillway-file-shadow", "spillway-file-shadow10")]
    if not base or not base.cpu or not base.events or not all(r and r.cpu for r in rows):
        return
    w("## Shadow rules")
    w("")
    w("`PUT /rules/shadow` classifies live events under candidate rules beside the rules in "
      "force (docs/operations.md). The cost is a second parse and classification of each "
      "sampled event on the main loop. The candidate here is `rules/bench.json` with warnings "
      "moved into `critical` and `etl-` namespaces into `batch`; the jobs are `spillway-file` "
      "with it on every event (`?sample=1`) and on one in ten (the default).")
    w("")
    w("| job | events/s | CPU µs/event | CPU × spillway-file | shadow's own ns/event | "
      "events shadowed | moved |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    b_us = base.cpu / base.events * 1e6
    w("| spillway-file | %s | %.2f | 1.00 | - | - | - |" % (
        fmt_int(base.events / base.wall), b_us))
    for r in rows:
        sd = r.extra.get("shadow") or {}
        us = r.cpu / r.events * 1e6 if r.events else 0
        w("| %s | %s | %.2f | %.2f | %s | %s | %s |" % (
            r.name, fmt_int(r.events / r.wall) if r.wall else "-", us, us / b_us,
            fmt_int(sd.get("cpu_ns_per_event", 0)), fmt_int(sd.get("events", 0)),
            fmt_int(sd.get("moved", 0))))
    w("")
    w("CPU is the process's user and system time over the job, divided by the events "
      "forwarded; the shadow's own ns/event is what `GET /rules/shadow` reports as "
      "`cpu_ns_per_event`, the thread CPU time of the candidate's classification alone.")
    w("")


def freshness_section(w, bench):
    """The freshness job: each kind's lag from the sender's write to the
    emulator's acceptance, at 1x, 3x and 10x its capacity.  Nothing when the
    results have no such job (runs from before it)."""
    j = bench.jobs.get("freshness")
    if j is None:
        if "freshness" in bench.skipped:
            w("## Freshness")
            w("")
            w("Not measured in this run (%s)." % bench.skipped["freshness"])
            w("")
        return
    x = j.extra
    phases = x.get("phases") or []
    if not phases:
        return
    kc = x.get("kind_class") or FRESH_KIND_CLASS
    mix = x.get("mix") or loadgen.DEFAULT_MIX
    total = float(sum(mix.values())) or 1.0
    first = phases[0]["kinds"]
    target = x.get("target_ms", FRESH_TARGET_MS)

    def lag_cell(d):
        if not d or not d.get("events"):
            return "–" if d else "n/a"
        return "%s / %s" % (fmt(d["p50_ms"], 1), fmt(d["p99_ms"], 1))
    no_own = any(k.get("spillway_lag") is None for p in phases for k in p["kinds"].values())

    def ms(v):
        return fmt(v, 1) if v is not None else "–"
    w("## Freshness")
    w("")
    w("How stale is what reaches the cluster when it cannot take everything? `freshness` "
      "offers `tools/loadgen.py`'s default mix over one TCP connection at %s the capacity of "
      "the emulator (`--capacity %d --capacity-mode items --fast --no-store`), through "
      "spillway with [%s](../%s) and otherwise its defaults (`flush_ms` 200, batches of "
      "1,000 events, 4 concurrent bulk requests). The generator stamps every event with the "
      "wall clock just before the write that carries it (`--stamp %s`, in `labels`), and the "
      "emulator records for every document it accepts its acceptance time minus that stamp, "
      "per kind (`--lag-field labels.%s --lag-by labels.lg_kind`): the lag from the sender's "
      "write to the cluster's acceptance, with the TCP path into spillway, its queue, the "
      "wait of a batch for `flush_ms`, every 429 and retry, and the bulk request in it. Each "
      "load runs on a fresh emulator and spillway; the first %.0f s from spillway's first "
      "event (the storm's onset: spillway does not yet know the cluster's capacity and "
      "queues what it cannot send) and the %.0f s after it (the storm going on) are measured "
      "apart. Forwarded and shed are spillway's counters over the %.0f s; *spillway* is "
      "spillway's own measure, from an event's arrival to its outcome, forwarded or shed "
      "once queued (`lag_10s` in `/stats`, over the last 10 s, interpolated within the "
      "buckets of its histogram), read at the end of each part." % (
          ", ".join("%g×" % p["load"] for p in phases), x.get("capacity") or 0,
          x.get("rules", "rules/demo.json"), x.get("rules", "rules/demo.json"),
          x.get("stamp", FRESH_STAMP), x.get("stamp", FRESH_STAMP),
          x.get("warmup", FRESH_WARMUP), x.get("seconds", FRESH_SECONDS),
          x.get("seconds", FRESH_SECONDS)))
    w("")
    w("| kind | share | class | priority |")
    w("| --- | ---: | --- | ---: |")
    for kind in kc:
        k = first.get(kind)
        w("| %s | %.0f %% | %s | %s |" % (kind, 100 * mix.get(kind, 0) / total, kc[kind],
                                          k["priority"] if k else "?"))
    w("")
    for p in phases:
        secs = p["window_seconds"]
        w("**%g× (%s events/s offered, %s received by spillway).** CPU over the %.0f s, in "
          "cores: spillway %.2f, emulator %.2f, loadgen %.2f, other processes %.2f." % (
              p["load"], fmt_int(p["offered_rate"]), fmt_int(p["sent_rate"]), secs,
              p["cpu"] / secs, p["peer_cpu"] / secs, p["sender_cpu"] / secs,
              p["other_cpu"] / secs))
        w("")
        w("| kind | priority | received/s | forwarded | shed | accepted by the cluster | "
          "p50 ms | p99 ms | max ms | spillway p50 / p99 ms | onset p99 / max ms | "
          "onset, spillway p50 / p99 ms |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for kind in kc:
            k = p["kinds"].get(kind)
            if k is None:
                continue
            o = k.get("onset") or {}
            shed = fmt_int(k["shed"])
            if k.get("shed_by_reason"):
                shed += " (%s)" % ", ".join("%s %s" % (r, fmt_int(v)) for r, v in
                                            sorted(k["shed_by_reason"].items()))
            w("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                kind, k["priority"], fmt_int(k["received"] / secs), fmt_int(k["forwarded"]),
                shed, fmt_int(k["accepted"]), ms(k["p50_ms"]), ms(k["p99_ms"]),
                ms(k["max_ms"]), lag_cell(k.get("spillway_lag")),
                "%s / %s" % (ms(o.get("p99_ms")), ms(o.get("max_ms"))) if o.get("accepted")
                else "–", lag_cell(o.get("spillway_lag"))))
        w("")
    w("*Accepted by the cluster* counts the documents the emulator took in the %.0f s, and "
      "the lags are theirs; a kind forwarded late (queued during the onset, sent once there "
      "was room) shows lags of seconds over few documents. A `–` is a kind of which nothing "
      "was accepted. The share of the mix that each priority gets is set by the rules "
      "(`debug` is rate-limited to 100 events/s at any load).%s" % (
          x.get("seconds", FRESH_SECONDS),
          " *n/a*: this build of spillway has no `lag_10s` in `/stats`." if no_own else ""))
    w("")
    p0 = [kind for kind in kc if first.get(kind, {}).get("priority") == 0]
    if p0:
        kind = p0[0]
        w("Priority 0 (`%s`, class `%s`) against the target: a p99 within `flush_ms` and "
          "one sink round trip, %d ms with the defaults." % (kind, kc[kind], target))
        w("")
        w("| load | p99 ms, storm going on | ≤ %d ms | spillway p99 ms | p99 / max ms, "
          "onset | ≤ %d ms | spillway p99 ms, onset |" % (target, target))
        w("| --- | ---: | --- | ---: | ---: | --- | ---: |")

        def verdict(v):
            return "–" if v is None else ("met" if v <= target else
                                          "missed by %.0f ms" % (v - target))
        for p in phases:
            k = p["kinds"].get(kind) or {}
            o = k.get("onset") or {}
            sl, osl = k.get("spillway_lag") or {}, o.get("spillway_lag") or {}
            w("| %g× | %s | %s | %s | %s / %s | %s | %s |" % (
                p["load"], ms(k.get("p99_ms")), verdict(k.get("p99_ms")),
                ms(sl.get("p99_ms")) if sl.get("events") else ("–" if sl else "n/a"),
                ms(o.get("p99_ms")), ms(o.get("max_ms")), verdict(o.get("p99_ms")),
                ms(osl.get("p99_ms")) if osl.get("events") else ("–" if osl else "n/a")))
        w("")
    w("The emulator and the generator read the same wall clock (`time.time()`), so the lags "
      "are exact to the clock's resolution; the generator reads it once per write of up to "
      "a tick's events (10 ms), before it formats them, which adds up to a millisecond or "
      "so. The emulator parses each accepted document's source to find the stamp, about "
      "4 µs a document, in its own process.")
    w("")


def gains_section(w):
    """The instruction counts of the hot path's changes, from `run.py --gains`."""
    if not os.path.exists(GAINS_JSON):
        return
    with open(GAINS_JSON) as f:
        g = json.load(f)
    rows = [r for r in g["rows"] if r.get("ir_per_event")]
    if not rows:
        return
    w("### Gains, change by change")
    w("")
    w("`tools/bench/run.py --gains` runs the callgrind job above at each commit that changed "
      "the hot path, built from `git archive` of that commit, over the same slice and rules "
      "(%s, %s events). Instruction counts do not depend on the machine's load, so they "
      "reproduce closely on another x86-64 Debian 12 machine with the same libraries." % (
          time.strftime("%Y-%m-%d", time.gmtime(g["date"])), fmt_int(rows[0]["events"])))
    w("")
    w("| commit | change | instructions per event | of the one before | of the first |")
    w("| --- | --- | ---: | ---: | ---: |")
    prev = None
    for r in rows:
        ipe = r["ir_per_event"]
        w("| %s | %s | %s | %s | %s |" % (
            "`%s`" % r["rev"] if r["rev"] else "work tree", r["what"], fmt_int(ipe),
            "%.2f×" % (ipe / prev) if prev else "", "%.2f×" % (ipe / rows[0]["ir_per_event"])))
        prev = ipe
    jp = rows[-1].get("jparse")
    if jp:
        w("")
        w("For scale: jansson's parse alone (`jparse`, glibc malloc) takes %s instructions per "
          "event over the same slice." % fmt_int(jp))
    w("")


def merge_stripped(rows):
    """Functions of a library without symbols (0x... names) summed in one row."""
    out, merged = [], {}
    for ir, fn, f, obj in rows:
        if fn.startswith("0x"):
            merged[obj] = merged.get(obj, 0) + ir
        else:
            out.append((ir, fn, f, obj))
    for obj, ir in merged.items():
        name = obj.split(".so")[0]
        name = name[3:] if name.startswith("lib") else name
        out.append((ir, "%s internals (no symbols)" % name, "", obj))
    for i, (ir, fn, f, obj) in enumerate(out):
        if obj in ("???", ""):
            out[i] = (ir, "code outside any object (PCRE2's JIT output)", "", "")
    return sorted(out, key=lambda r: -r[0])


def group_self(rows, total):
    g = {}
    for ir, fn, f, obj in rows:
        if obj.startswith("libjansson"):
            k = "jansson"
        elif obj.startswith("libpcre2"):
            k = "PCRE2"
        elif obj.startswith(("libc.", "ld-linux")):
            k = "libc"
        elif obj.startswith("libevent"):
            k = "libevent"
        elif obj == "spillway":
            k = "spillway"
        elif obj.startswith("???") or not obj:
            k = "JIT code and unknown"
        else:
            k = obj.split(".so")[0]
        g[k] = g.get(k, 0) + ir
    return sorted(((k, 100.0 * v / total) for k, v in g.items() if v / total >= 0.001),
                  key=lambda kv: -kv[1])


def workers_finding(bench):
    """The spillway-file-w1/-w2 pair: the ratio, what it is made of, and what
    bounds it on this machine."""
    J = bench.jobs
    w1, w2 = J.get("spillway-file-w1"), J.get("spillway-file-w2")
    if not (w1 and w2 and w1.wall and w2.wall and w1.events and w2.events and
            per_m(w1) and per_m(w2)):
        return ""
    ncores = os.cpu_count() or 1
    r1, r2 = w1.events / w1.wall, w2.events / w2.wall
    ratio = r2 / r1
    c1, c2 = w1.cpu / w1.wall, w2.cpu / w2.wall
    s = ("**Workers.** Over %d connections to the file sink spillway moved %s events/s with "
         "`--workers 1` and %s with `--workers 2`: %.2f×, %s the %.1f× target. It spent %.2f "
         "CPU-s per million events with one loop and %.2f with two. The ratio is the cores "
         "spillway kept busy, %.2f against %.2f (%.2f×), times the CPU per event of one loop "
         "over that of two (%.2f×)." % (
             WORKER_CONNECTIONS, fmt_int(r1), fmt_int(r2), ratio,
             "meeting" if ratio >= WORKER_TARGET else "short of", WORKER_TARGET,
             per_m(w1), per_m(w2), c2, c1, c2 / c1, per_m(w1) / per_m(w2)))
    th = w2.extra.get("threads") or []
    read = sum(t[2] for t in th)
    if len(th) >= 2 and read > 0:
        parts = []
        top = 0.0
        for label, cpu, rb in th:
            share = rb / read
            top = max(top, share)
            who = label if label.startswith("worker") else "the " + label
            if share < 0.01:
                parts.append("%s used %.2f of a core" % (who, cpu / w2.wall))
            else:
                parts.append("%s read %.0f %% of the bytes and used %.2f of a core"
                             % (who, 100 * share, cpu / w2.wall))
        s += (" With two loops %s. The main loop deals each connection to the loop with "
              "the fewest, its own weighing 5/4, since it also shapes every event, and when a "
              "worker's connections end first it moves some of its own there." % (
                  "; ".join(parts),))
    reps = [(w.extra.get("repeats") or []) for w in (w1, w2)]
    if all(len(r) > 1 for r in reps):
        s += (" Each of the pair ran %d times, in turn, and the median run is reported: "
              "%s events/s with one loop, %s with two." % (
                  len(reps[0]), ", ".join(fmt_int(x) for x in reps[0]),
                  ", ".join(fmt_int(x) for x in reps[1])))
    busy = []
    for j in (w1, w2):
        b = j.extra.get("machine_busy_cpu")
        if b is None:
            return s
        busy.append((b / j.wall, j.cpu / j.wall, (j.sender_cpu or 0) / j.wall,
                     (j.other_cpu or 0) / j.wall))
    (b1, s1, x1, o1), (b2, s2, x2, o2) = busy
    left = max(0.0, ncores - (b2 - s2))
    need = 2 * r1 * per_m(w2) / 1e6
    s += (" This machine has %d cores, and the sender and the file writes share them with "
          "spillway's two loops: the writes are spillway's own `writev()` calls into the page "
          "cache, on its file writer thread, and whatever the kernel writes back meanwhile, "
          "which shows as other load. During `spillway-file-w1` %.2f of the %d cores were busy "
          "on average (spillway %.2f, the sender %.2f, the driver %.2f, other load %.2f), "
          "during `spillway-file-w2` %.2f (spillway %.2f, the sender %.2f, the driver %.2f, "
          "other load %.2f). Twice the one-loop rate at the CPU per event of two loops "
          "needs %.2f cores for spillway alone; what the others used in the second job left "
          "it at most %.2f, which bounds the ratio on this machine at %.2f×%s. Only a "
          "machine with cores to spare beyond the two loops would measure the workers "
          "alone." % (
              ncores, b1, ncores, s1, x1, max(0.0, b1 - s1 - x1 - o1), o1, b2, s2, x2,
              max(0.0, b2 - s2 - x2 - o2), o2, need, left,
              left / (per_m(w2) / 1e6) / r1,
              " (%.2f of the %d cores were busy: the machine was close to saturated)"
              % (b2, ncores) if b2 >= 0.9 * ncores else ""))
    return s


def findings(bench):
    """Plain sentences on where spillway wins and loses in this run."""
    J = bench.jobs
    out = []

    def rate(j):
        return j.events / j.wall if j and j.wall and j.events else None

    def cores(j):
        b = j.extra.get("machine_busy_cpu") if j else None
        return b / j.wall if b is not None and j.wall else None
    sf, jp, rf, sn = (J.get("spillway-file"), J.get("jansson-parse"), J.get("rsyslog-file"),
                      J.get("syslog-ng-file"))
    cg = J.get("callgrind")
    if sf and jp and per_m(sf) and per_m(jp):
        s = ("**File path.** spillway spends %.2f CPU-s per million events, %.2f× the %.2f "
             "of jansson's parse alone, although it also reads the socket, frames lines, "
             "runs 10 rules, shapes, queues and writes." % (
                 per_m(sf), per_m(sf) / per_m(jp), per_m(jp)))
        if cg and cg.extra.get("jparse_ir_per_event"):
            ms = cg.extra.get("jparse_malloc_share")
            s += (" The floor is not a hard one: `jparse` allocates with glibc's malloc%s, "
                  "while spillway parses into an arena (`src/arena.c`); by instruction count "
                  "spillway's whole path takes %s per event and the floor's parse %s." % (
                      " (%.0f %% of its instructions are in malloc and free)" % ms
                      if ms else "", fmt_int(cg.extra["ir_per_event"]),
                      fmt_int(cg.extra["jparse_ir_per_event"])))
        out.append(s)
    for peer in (rf, sn):
        if sf and peer and per_m(sf) and per_m(peer):
            r = per_m(sf) / per_m(peer)
            s = ("Against %s (one regex where spillway runs ten) spillway uses %.0f %% %s CPU "
                 "per event (%.2f against %.2f) and moves %.2f× its events per second" % (
                     peer.name, abs(1 - r) * 100, "less" if r < 1 else "more", per_m(sf),
                     per_m(peer), rate(sf) / rate(peer)))
            if peer is rf:
                s += "; the target of half rsyslog's CPU is missed" if r > 0.5 else ""
            out.append(s + ".")
    m = [j for j in (rf, sn) if j and j.extra.get("matched") is not None]
    crit = [x for x in bench.shares if x[0] == "critical"]
    if m and crit:
        out.append("The peers' filters matched %s (the same events as spillway's class "
                   "`critical`, %s), so they did the same selection." % (
                       " and ".join("%s in %s" % (fmt_int(j.extra["matched"]), j.name)
                                    for j in m), fmt_int(crit[0][2])))
    se, re_ = J.get("spillway-es"), J.get("rsyslog-es")
    if se and re_ and rate(se) and rate(re_):
        s = ("**Elasticsearch path.** spillway indexed %s events/s, rsyslog's "
             "omelasticsearch %s: %.2f×, %s the 2.5× target. spillway used %.2f "
             "CPU-s per million events, gzip of its bulk bodies included, rsyslog %.2f "
             "(%.1f× as much, uncompressed) with a peak RSS of %.0f MiB against spillway's "
             "%.0f MiB." % (
                 fmt_int(rate(se)), fmt_int(rate(re_)), rate(se) / rate(re_),
                 "meeting" if rate(se) / rate(re_) >= 2.5 else "short of", per_m(se),
                 per_m(re_), per_m(re_) / per_m(se), re_.rss / 1048576, se.rss / 1048576))
        if se.peer_cpu is not None:
            busy = se.peer_cpu / se.wall
            if busy > 0.8:
                s += (" The emulator, one Python process, used %.0f %% of a core: it is near "
                      "its limit and bounds both rates." % (100 * busy))
            else:
                s += (" The emulator used %.0f %% of a core, so it was not the bottleneck"
                      % (100 * busy))
                c = cores(se)
                if c and c > 1.7:
                    s += ("; the machine was: %.2f of its 2 cores were busy on average, "
                          "shared by spillway, the emulator, the sender and other work." % c)
                else:
                    s += "."
        out.append(s)
    sk, rk = J.get("spillway-kafka"), J.get("rsyslog-kafka")
    if sk and rk and rate(sk) and rate(rk):
        s = ("**Kafka path.** spillway delivered %s events/s, rsyslog's omkafka %s: %.2f×, "
             "%s the 2× target. spillway used %.2f CPU-s per million events, rsyslog %.2f."
             % (fmt_int(rate(sk)), fmt_int(rate(rk)), rate(sk) / rate(rk),
                 "meeting" if rate(sk) / rate(rk) >= 2 else "short of", per_m(sk),
                 per_m(rk)))
        d = sk.extra.get("dropped")
        if d:
            s += (" But spillway did not deliver everything: its Kafka sink reported "
                  "back-pressure and the controller shed %s events (%.1f %%, the lowest priorities first), where "
                  "rsyslog delivered all %s by slowing its input. Its queue held up to %s "
                  "events (%.0f MiB), and its peak RSS, %.0f MiB, is where the memory target "
                  "%s." % (fmt_int(d), 100.0 * d / bench.events, fmt_int(rk.events),
                           fmt_int(sk.extra.get("peak_queue_events", 0)),
                           sk.extra.get("peak_queue_bytes", 0) / 1048576, sk.rss / 1048576,
                           "is missed" if sk.rss > 32 * 1048576 +
                           sk.extra.get("peak_queue_bytes", 0) else "still holds"))
        out.append(s)
    s = workers_finding(bench)
    if s:
        out.append(s)
    ov = J.get("spillway-es-overload")
    if ov and se and se.events and ov.extra.get("dropped"):
        fwd = ov.extra.get("forwarded", 0)
        shed = (ov.cpu - fwd * se.cpu / se.events) / ov.extra["dropped"]
        fc = J.get("spillway-classify")
        s = ("**Shedding.** At a tenth of the capacity spillway shed %.0f %% of the events "
             "at about %.2f CPU-s per million shed events, %.0f %% of the cost of "
             "forwarding one (%.2f)" % (
                 100.0 * ov.extra["dropped"] / ov.extra.get("received", 1), shed * 1e6,
                 100 * shed / (se.cpu / se.events), per_m(se)))
        if fc and per_m(fc):
            s += ("; a shed event is still parsed and classified, which alone costs %.2f "
                  "(`spillway classify`)." % per_m(fc))
        else:
            s += "."
        out.append(s)
    if not out:
        return ""
    return "### What this run shows\n\n" + "\n\n".join(out) + "\n"


# The hot path's changes, one commit each, for --gains: the instruction count of
# the callgrind job at each, on the same slice, shows what each change gained.
GAINS = [
    ("610956f", "jansson parses every event into a tree kept with the record, "
                "glibc malloc"),
    ("2443f78", "jansson allocates from a per-thread arena reset per event; the "
                "received bytes are forwarded, the tree is not kept"),
    ("83d6b16", "one validating scan builds only the fields the rules read; a full "
                "parse only where jansson would read the event differently"),
    ("334a5dc", "the scan compares keys by stored length and passes plain ASCII 16 "
                "bytes at a time"),
    ("8af7e13", "a regular file is written by a thread of its own, outside "
                "event_base_loop and so outside the count"),
    ("b344c87", "the scan checks a number against jansson's range only when it is "
                "long enough to be out of it"),
    ("7273dc0", "an integer's text for a regex is written without snprintf"),
]


def run_gains(args):
    """--gains: the callgrind job at each commit of GAINS and at the work tree,
    into build/bench/gains.json, which the document shows."""
    rows = []
    res = os.path.join(BENCH, "results.json")
    kept = open(res).read() if os.path.exists(res) else None
    try:
        for rev, what in GAINS + [(None, "this work tree")]:
            rows.append(gains_row(args, rev, what))
    finally:
        if kept is None:                # each step wrote a results.json of its own
            if os.path.exists(res):
                os.unlink(res)
        else:                           # the full run's results, as they were
            with open(res, "w") as f:
                f.write(kept)
    with open(GAINS_JSON, "w") as f:
        json.dump({"date": time.time(), "rows": rows}, f, indent=1)
    if kept is not None and not args.no_doc:
        bench = Bench(args)
        bench.load(res)
        write_doc(bench)


def gains_row(args, rev, what):
    """The callgrind job at commit rev (None: the work tree), as a row of the table."""
    a = argparse.Namespace(**vars(args))
    a.only, a.commit = ["callgrind"], rev
    a.spillway = build_rev(rev) if rev else args.spillway
    bench = Bench(a)
    bench.run()
    cg = bench.jobs.get("callgrind")
    ipe = cg.extra.get("ir_per_event") if cg else None
    sha = rev and run_text(["git", "-C", REPO, "rev-parse", "--short", rev])
    log("gains: %s: %s instructions per event" % (sha or "work tree",
                                                  fmt_int(ipe) if ipe else "-"))
    return {"rev": sha, "what": what,
            "subject": run_text(["git", "-C", REPO, "log", "-1", "--format=%s", rev])
            if rev else "",
            "ir_per_event": ipe, "events": cg.events if cg else 0,
            "jparse": cg.extra.get("jparse_ir_per_event") if cg else None}


def build_rev(rev):
    """The spillway binary of commit rev, exported and built under build/bench/."""
    sha = subprocess.run(["git", "-C", REPO, "rev-parse", "--verify", rev + "^{commit}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    tree = os.path.join(BENCH, "rev-" + sha[:12])
    if not os.path.exists(os.path.join(tree, "spillway")):
        shutil.rmtree(tree, ignore_errors=True)
        os.makedirs(tree)
        sh("git -C '%s' archive %s | tar -x -C '%s'" % (REPO, sha, tree), shell=True)
        sh(["make", "-C", tree, "-j2", "all"], stdout=subprocess.DEVNULL)
    return os.path.join(tree, "spillway")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--events", type=int,
                    default=int(os.environ.get("BENCH_EVENTS") or 1000000))
    ap.add_argument("--only", type=lambda s: [x for x in s.split(",") if x],
                    help="comma list of jobs (or prefixes) to run; the document is "
                    "then not rewritten")
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument("--doc-only", action="store_true",
                    help="rewrite the document from build/bench/results.json, run nothing")
    ap.add_argument("--spillway", default=os.path.join(REPO, "spillway"))
    ap.add_argument("--commit", metavar="REV",
                    help="benchmark REV instead of the work tree: export it with git "
                    "archive into build/bench/rev-SHA, build it there and use that binary")
    ap.add_argument("--gains", action="store_true",
                    help="run the callgrind job at each hot-path commit of GAINS and at "
                    "the work tree, keep the counts in build/bench/gains.json and show them "
                    "in the document (about two minutes a commit)")
    args = ap.parse_args(argv)
    if args.events < 1:
        ap.error("--events must be at least 1")

    def on_signal(signum, frame):
        stop_all()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.gains:
        try:
            run_gains(args)
        finally:
            stop_all()
        return 0
    if args.commit:
        args.spillway = build_rev(args.commit)
        args.commit = run_text(["git", "-C", REPO, "rev-parse", args.commit])
    bench = Bench(args)
    if args.doc_only:
        bench.load(os.path.join(BENCH, "results.json"))
        write_doc(bench)
        return 0
    try:
        bench.run()
        if not args.no_doc and not args.only:
            write_doc(bench)
    finally:
        stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
