"""Integration test harness: runs the real spillway binary on loopback.

Every listener is bound to port 0; the chosen ports are read from the
`listening tcp|http|admin HOST:PORT` lines spillway writes on stderr.
stderr is drained by a thread into a buffer so the pipe never fills.

SPILLWAY_BIN names the binary (an ASan build under `make asan`).
"""

import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
PEERS = os.path.join(REPO, "tests", "peers")
EMULATOR = os.path.join(PEERS, "es_emulator.py")
BIN = os.environ.get("SPILLWAY_BIN") or os.path.join(REPO, "spillway")

# ASan builds start and run slower; every deadline is generous.
START_TIMEOUT = 30.0
WAIT_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0

SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:",
                     "LeakSanitizer", "UndefinedBehaviorSanitizer")

LISTEN_RE = re.compile(r"listening (tcp|https|http|admin) (\S+):(\d+)")


def drain(pipe, buf, lock):
    """Appends what pipe gives to the bytearray buf, under lock, until EOF
    (run in a thread, so that a child's pipe never fills)."""
    fd = pipe.fileno()
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        with lock:
            buf += chunk


def slurp(path, mode="rb"):
    """The whole file at path: bytes, or text with mode "r"."""
    with open(path, mode) as f:
        return f.read()


def proc_status(pid, key):
    """A kB value from /proc/PID/status (VmRSS, VmHWM)."""
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith(key + ":"):
                return int(l.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


def have_binary():
    return os.path.isfile(BIN) and os.access(BIN, os.X_OK)


def sanitizer_lines(text):
    return [l for l in text.splitlines()
            if any(m in l for m in SANITIZER_MARKERS)]


# ---------------------------------------------------------------- metrics

_METRIC_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?\s*$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(v):
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\" and i + 1 < len(v):
            n = v[i + 1]
            out.append({"n": "\n", "\\": "\\", '"': '"'}.get(n, "\\" + n))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _value(s):
    if s in ("+Inf", "Inf"):
        return float("inf")
    if s == "-Inf":
        return float("-inf")
    if s == "NaN":
        return float("nan")
    return float(s)


def parse_metrics(text):
    """Prometheus text -> {(name, frozenset({(label, value)})): float}.

    Raises ValueError on a line that is not a comment, blank or sample.
    """
    out = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _METRIC_LINE.match(line)
        if not m:
            raise ValueError("bad metrics line: %r" % line)
        name, _, labels, value = m.group(1), m.group(2), m.group(3), m.group(4)
        lab = []
        if labels:
            pos = 0
            while pos < len(labels):
                lm = _LABEL.match(labels, pos)
                if not lm or lm.end() == pos:
                    raise ValueError("bad labels: %r" % line)
                lab.append((lm.group(1), _unescape(lm.group(2))))
                pos = lm.end()
        key = (name, frozenset(lab))
        if key in out:
            raise ValueError("duplicate series: %r" % line)
        out[key] = _value(value)
    return out


class Metrics(dict):
    """Parsed /metrics with helpers; missing series read as 0."""

    def get1(self, name, **labels):
        return self.get((name, frozenset(labels.items())), 0.0)

    def has(self, name, **labels):
        return (name, frozenset(labels.items())) in self

    def series(self, name):
        return {k[1]: v for k, v in self.items() if k[0] == name}

    def classes(self):
        names = set()
        for (name, labels) in self:
            if name.startswith("spillway_events_"):
                for k, v in labels:
                    if k == "class":
                        names.add(v)
        return names

    def received(self, cls):
        return self.get1("spillway_events_received_total", **{"class": cls})

    def forwarded(self, cls):
        return self.get1("spillway_events_forwarded_total", **{"class": cls})

    def dropped(self, cls, reason=None):
        total = 0.0
        for labels, v in self.series("spillway_events_dropped_total").items():
            d = dict(labels)
            if d.get("class") == cls and (reason is None
                                          or d.get("reason") == reason):
                total += v
        return total

    def queued(self, cls):
        return self.get1("spillway_events_queued", **{"class": cls})

    def inflight(self, cls):
        return self.get1("spillway_events_inflight", **{"class": cls})

    def total(self, name):
        return sum(self.series(name).values())


# ---------------------------------------------------------------- process

class Spillway:
    """One spillway process with its own temp dir."""

    def __init__(self, config=None, rules=None, sink="file", args=(),
                 listen=True, env=None, preexec=None):
        self.tmp = tempfile.mkdtemp(prefix="spillway-it-")
        self.out = os.path.join(self.tmp, "out.ndjson")
        self.proc = None
        self.stderr_buf = bytearray()
        self._lock = threading.Lock()
        self.ports = {}
        self.rules_path = None
        self.config_path = None
        argv = [BIN]
        if config is not None:
            self.config_path = os.path.join(self.tmp, "config.json")
            with open(self.config_path, "w") as f:
                f.write(config if isinstance(config, str)
                        else json.dumps(config, indent=2))
            argv += ["-c", self.config_path]
        if rules is not None:
            self.rules_path = os.path.join(self.tmp, "rules.json")
            with open(self.rules_path, "w") as f:
                f.write(rules if isinstance(rules, str)
                        else json.dumps(rules, indent=2))
            argv += ["-r", self.rules_path]
        if sink == "file":
            argv += ["--sink", "file:" + self.out]
        elif sink is not None:
            argv += ["--sink", sink]
        if listen:
            argv += ["--listen-tcp", "127.0.0.1:0",
                     "--listen-http", "127.0.0.1:0",
                     "--admin", "127.0.0.1:0"]
        argv += list(args)
        self.argv = argv
        self.env = dict(os.environ)
        if env:
            self.env.update(env)
        self.exit_code = None
        self.preexec = preexec      # run in the child before exec

    # -- lifecycle

    def start(self, want=("tcp", "http", "admin")):
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=self.env, cwd=self.tmp,
            preexec_fn=self.preexec)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self._scan_ports()
            if all(w in self.ports for w in want):
                return self
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise AssertionError(
                    "spillway exited with %s at start-up: %s\nstderr:\n%s"
                    % (self.proc.returncode, self.argv, self.stderr()))
            time.sleep(0.02)
        raise AssertionError("no listening lines within %ss; stderr:\n%s"
                             % (START_TIMEOUT, self.stderr()))

    def _drain(self):
        drain(self.proc.stderr, self.stderr_buf, self._lock)

    def _scan_ports(self):
        for m in LISTEN_RE.finditer(self.stderr()):
            self.ports.setdefault(m.group(1), int(m.group(3)))

    def stderr(self):
        with self._lock:
            return self.stderr_buf.decode("utf-8", "replace")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and wait; returns the exit code (kills on timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self._reader.join(5)
                self.exit_code = "timeout"
                return self.exit_code
        self._reader.join(5)
        self.exit_code = self.proc.returncode
        return self.exit_code

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None and self.proc.stderr:
            try:
                self.proc.stderr.close()
            except OSError:
                pass

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- file sink

    def sink_bytes(self):
        try:
            with open(self.out, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def sink_lines(self):
        data = self.sink_bytes()
        if not data:
            return []
        assert data.endswith(b"\n"), "sink file does not end in a newline: %r" % data[-80:]
        return data[:-1].split(b"\n")

    # -- TCP

    def tcp_connect(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.ports["tcp"]),
                                     timeout=timeout)
        return s

    def send_tcp(self, data, close=True):
        """Send bytes on a fresh connection and close it (write side first)."""
        s = self.tcp_connect()
        try:
            s.sendall(data)
            if close:
                s.shutdown(socket.SHUT_WR)
        finally:
            if close:
                s.close()
        return None if close else s

    # -- HTTP

    def _request(self, port, method, path, body=None, headers=None,
                 timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def http(self, method, path, body=None, headers=None, gzip_body=False,
             content_type="application/x-ndjson", timeout=30):
        h = {}
        if body is not None and content_type:
            h["Content-Type"] = content_type
        if isinstance(body, str):
            body = body.encode()
        if gzip_body and body is not None:
            body = gzip.compress(body)
            h["Content-Encoding"] = "gzip"
        h.update(headers or {})
        return self._request(self.ports["http"], method, path, body, h,
                             timeout)

    def bulk(self, body, path="/_bulk", **kw):
        """POST a bulk body; returns (status, headers, parsed JSON or raw)."""
        st, hd, data = self.http("POST", path, body, **kw)
        try:
            return st, hd, json.loads(data)
        except ValueError:
            return st, hd, data

    def admin(self, method, path, body=None, headers=None, timeout=30):
        return self._request(self.ports["admin"], method, path, body,
                             headers, timeout)

    def metrics_text(self):
        st, _, data = self.admin("GET", "/metrics")
        assert st == 200, "GET /metrics -> %s %r" % (st, data[:200])
        return data.decode("utf-8")

    def metrics(self):
        return Metrics(parse_metrics(self.metrics_text()))

    def stats(self):
        st, _, data = self.admin("GET", "/stats")
        assert st == 200, "GET /stats -> %s" % st
        return json.loads(data)

    # -- waiting

    def wait_for(self, pred, what="condition", timeout=WAIT_TIMEOUT):
        """Poll /metrics until pred(metrics) is true; returns the metrics."""
        deadline = time.monotonic() + timeout
        m = None
        while True:
            if not self.alive():
                raise AssertionError("spillway died (rc=%s) waiting for %s; "
                                     "stderr:\n%s" % (self.proc.returncode,
                                                      what, self.stderr()))
            m = self.metrics()
            if pred(m):
                return m
            if time.monotonic() > deadline:
                raise AssertionError(
                    "timed out waiting for %s; metrics:\n%s"
                    % (what, summarize(m)))
            time.sleep(0.02)

    def wait_received(self, n, timeout=WAIT_TIMEOUT):
        """Wait until exactly-or-more n events were received in total."""
        return self.wait_for(
            lambda m: m.total("spillway_events_received_total") >= n,
            "received >= %d" % n, timeout)

    def wait_settled(self, n, timeout=WAIT_TIMEOUT):
        """Wait until n events were received and none is queued/inflight."""
        def ok(m):
            return (m.total("spillway_events_received_total") >= n
                    and m.total("spillway_events_queued") == 0
                    and m.total("spillway_events_inflight") == 0)
        return self.wait_for(ok, "%d events received and settled" % n,
                             timeout)


def summarize(m):
    if m is None:
        return "(none)"
    lines = []
    for (name, labels), v in sorted(m.items(), key=lambda kv: (kv[0][0], sorted(kv[0][1]))):
        if name.startswith("spillway_events") or name.startswith(
                "spillway_parse"):
            lab = ",".join('%s="%s"' % kv for kv in sorted(labels))
            lines.append("  %s{%s} %g" % (name, lab, v))
    return "\n".join(lines)


def accounting_errors(m):
    """Per class: received == forwarded + dropped + queued + inflight."""
    errs = []
    for cls in sorted(m.classes()):
        r = m.received(cls)
        f, d, q, i = (m.forwarded(cls), m.dropped(cls), m.queued(cls),
                      m.inflight(cls))
        if r != f + d + q + i:
            errs.append("class %s: received %g != forwarded %g + dropped %g"
                        " + queued %g + inflight %g" % (cls, r, f, d, q, i))
    return errs


def emulator_port(proc):
    """The port of an es_emulator.py just started with stderr=PIPE, from
    its first line; kills it and raises when that is not
    `listening http 127.0.0.1:PORT`."""
    line = proc.stderr.readline().decode()
    if not line.startswith("listening http 127.0.0.1:"):
        proc.kill()
        proc.wait(10)
        raise RuntimeError("emulator did not start: %r %r"
                           % (line, proc.stderr.read()))
    return int(line.rsplit(":", 1)[1])


class Emulator:
    """One es_emulator.py process (tests/peers), on a free port unless
    `listen` says otherwise; with `record`, every request it answers is
    kept for requests().  Extra command-line arguments go to the
    emulator."""

    def __init__(self, *args, listen="127.0.0.1:0", record=True):
        self.tmp = self.record = None
        argv = ["/usr/bin/python3", EMULATOR, "--listen", listen]
        if record:
            self.tmp = tempfile.mkdtemp(prefix="spillway-es-")
            self.record = os.path.join(self.tmp, "requests.jsonl")
            argv += ["--record", self.record]
        self.proc = subprocess.Popen(
            argv + list(args), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            self.port = emulator_port(self.proc)
        except RuntimeError:
            self.cleanup()
            raise
        self.url = "http://127.0.0.1:%d" % self.port
        # Keep draining stderr so the pipe never fills.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        try:
            while self.proc.stderr.read(65536):
                pass
        except (OSError, ValueError):
            pass

    def call(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read()

    def config(self, **cfg):
        return json.loads(self.call("POST", "/_emulator/config", cfg))

    def received(self):
        """The documents accepted, in order: the emulator's records."""
        return [json.loads(l) for l in
                self.call("GET", "/_emulator/received",
                          timeout=60).splitlines()]

    def stats(self):
        return json.loads(self.call("GET", "/_emulator/stats"))

    def indexed(self):
        """Documents accepted so far (all indices)."""
        return sum(self.stats()["indexed"].values())

    def requests(self):
        """The recorded ES requests (bulk and others), in order."""
        try:
            with open(self.record) as f:
                return [json.loads(l) for l in f if l.strip()]
        except (FileNotFoundError, TypeError):
            return []

    def bulk_requests(self):
        return [r for r in self.requests() if "_bulk" in r["path"]]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc.stderr.close()

    def cleanup(self):
        self.stop()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def run_cli(args, stdin=None, timeout=60, cwd=None):
    """Run `spillway ARGS`; returns CompletedProcess with bytes out/err."""
    return subprocess.run([BIN] + list(args), input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, cwd=cwd or REPO)


class SpillwayTestCase(unittest.TestCase):
    """Base class: start() spillway; teardown checks accounting, a clean
    SIGTERM exit with code 0 and a sanitizer-clean stderr."""

    maxDiff = None

    def setUp(self):
        if not have_binary():
            self.fail("SPILLWAY_BIN %r is not an executable" % BIN)
        self.procs = []

    def start(self, **kw):
        want = kw.pop("want", ("tcp", "http", "admin"))
        sp = Spillway(**kw)
        self.procs.append(sp)
        self.addCleanup(sp.cleanup)
        sp.start(want=want)
        return sp

    def check_accounting(self, sp):
        m = sp.metrics()
        errs = accounting_errors(m)
        self.assertEqual(errs, [], "accounting identity broken:\n"
                         + "\n".join(errs) + "\n" + summarize(m))
        return m

    def finish(self, sp, check_accounting=True):
        """Accounting check, SIGTERM, exit 0, no sanitizer reports."""
        if check_accounting and sp.alive():
            self.check_accounting(sp)
        if sp.exit_code is None:
            self.assertTrue(sp.alive(), "spillway died (rc=%s); stderr:\n%s"
                            % (sp.proc.returncode, sp.stderr()))
            rc = sp.stop()
        else:
            rc = sp.exit_code
        self.assertEqual(rc, 0, "exit code after SIGTERM; stderr:\n%s"
                         % sp.stderr())
        bad = sanitizer_lines(sp.stderr())
        self.assertEqual(bad, [], "sanitizer reports:\n" + sp.stderr())

    def tearDown(self):
        # Only when the test itself passed: a failing test already failed.
        outcome = getattr(self, "_outcome", None)
        ok = bool(getattr(outcome, "success", True))
        for sp in self.procs:
            if sp.proc is None:
                continue
            if ok and sp.exit_code is None:
                self.finish(sp)
            else:
                if sp.exit_code is None:
                    sp.stop()
                bad = sanitizer_lines(sp.stderr())
                if bad:
                    self.fail("sanitizer reports:\n" + sp.stderr())


def ndjson(objs):
    return b"".join(json.dumps(o, separators=(",", ":")).encode() + b"\n"
                    for o in objs)


def bulk_body(docs, op="index", index=None):
    out = []
    for d in docs:
        meta = {} if index is None else {"_index": index}
        out.append(json.dumps({op: meta}, separators=(",", ":")).encode())
        out.append(d if isinstance(d, bytes) else
                   json.dumps(d, separators=(",", ":")).encode())
    return b"\n".join(out) + b"\n"
