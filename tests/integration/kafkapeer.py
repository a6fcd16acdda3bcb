"""Kafka peer for integration tests: librdkafka's mock cluster in its own
process (`build/kafka_mock`, see tests/peers/README.md), and kcat as an
independent client.

    with KafkaMock(brokers=1, topics={"logs": 4}) as kafka:
        sink = "kafka://%s/logs" % kafka.bootstrap
        ...
        kafka.push_errors("MSG_SIZE_TOO_LARGE")
        assert kafka.watermarks("logs") == {0: (0, 3), 1: (0, 0), ...}
        msgs = kafka.dump("logs")    # [(partition, offset, key, value)]

Nothing is built here: `make integration` builds the peer next to the
spillway binary (`build/`, or `build-asan/` for `spillway-asan`).
"""

import os
import queue
import subprocess
import threading
import time

from harness import REPO, SANITIZER_MARKERS, drain

START_TIMEOUT = 30.0
COMMAND_TIMEOUT = 60.0      # above the peer's own dump timeout, under ASan too
STOP_TIMEOUT = 30.0

KCAT = "/usr/bin/kcat"
# Lengths first, so keys and values may hold any byte, tabs and newlines too.
KCAT_FORMAT = r"%p\t%o\t%K\t%S\t%k%s\n"


class KafkaPeerError(Exception):
    """The peer answered `error ...`, or died."""


def peer_path():
    """build/kafka_mock from the same build as SPILLWAY_BIN.

    `make asan` runs the tests with SPILLWAY_BIN=.../spillway-asan and the
    peers in build-asan/, so the binary's suffix picks the build dir.
    """
    cands = []
    binary = os.environ.get("SPILLWAY_BIN")
    if binary:
        top = os.path.dirname(os.path.abspath(binary))
        name = os.path.basename(binary)
        suffix = name[len("spillway"):] if name.startswith("spillway") else ""
        if suffix:
            cands.append(os.path.join(top, "build" + suffix, "kafka_mock"))
        cands.append(os.path.join(top, "build", "kafka_mock"))
    cands.append(os.path.join(REPO, "build", "kafka_mock"))
    for c in cands:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise AssertionError("kafka_mock not found (make build/kafka_mock); "
                         "tried: %s" % ", ".join(cands))


def _unescape(field):
    """A dump field back to bytes: `-` is None, `\\-` a lone "-"."""
    if field == b"-":
        return None
    if b"\\" not in field:
        return field
    out = bytearray()
    i = 0
    while i < len(field):
        c = field[i]
        if c == 0x5C and i + 1 < len(field):
            n = field[i + 1:i + 2]
            out += {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"\\": b"\\",
                    b"-": b"-"}.get(n, b"\\" + n)
            i += 2
        else:
            out.append(c)
            i += 1
    return bytes(out)


class KafkaMock:
    """One kafka_mock process; commands are answered synchronously."""

    def __init__(self, brokers=1, topics=None, args=()):
        self.argv = [peer_path(), "--brokers", str(brokers)]
        for name, parts in (topics or {}).items():
            self.argv += ["--topic", "%s:%d" % (name, parts)]
        self.argv += list(args)
        self.proc = None
        self.bootstrap = None
        self.exit_code = None
        self._err = bytearray()
        self._lock = threading.Lock()
        self._lines = queue.Queue()

    # -- lifecycle

    def start(self):
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        threading.Thread(target=self._drain_err, daemon=True).start()
        threading.Thread(target=self._read_out, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for line in self.stderr().splitlines():
                if line.startswith("listening kafka "):
                    self.bootstrap = line.split(" ", 2)[2].strip()
                    return self
            if self.proc.poll() is not None:
                raise AssertionError("kafka_mock exited with %s at start-up;"
                                     " stderr:\n%s" % (self.proc.returncode,
                                                       self.stderr()))
            time.sleep(0.01)
        self.kill()
        raise AssertionError("kafka_mock: no listening line within %ss; "
                             "stderr:\n%s" % (START_TIMEOUT, self.stderr()))

    def _drain_err(self):
        drain(self.proc.stderr, self._err, self._lock)

    def _read_out(self):
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def stderr(self):
        with self._lock:
            return self._err.decode("utf-8", "replace")

    def close(self, timeout=STOP_TIMEOUT):
        """Close stdin (the peer exits 0 on EOF) and wait; returns the exit
        code.  Raises AssertionError on another exit code or a sanitizer
        report."""
        if self.proc is None or self.exit_code is not None:
            return self.exit_code
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("kafka_mock did not exit within %ss of EOF; "
                                 "stderr:\n%s" % (timeout, self.stderr()))
        self.proc.stdout.close()
        self.proc.stderr.close()
        bad = [l for l in self.stderr().splitlines()
               if any(m in l for m in SANITIZER_MARKERS)]
        if self.exit_code != 0 or bad:
            raise AssertionError("kafka_mock exited with %s; stderr:\n%s"
                                 % (self.exit_code, self.stderr()))
        return self.exit_code

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc is not None and self.exit_code is None:
            self.exit_code = self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            # Keep the test's own failure; do not mask it.
            try:
                self.close()
            except AssertionError:
                pass
            self.kill()
        return False

    # -- commands

    def _readline(self, timeout):
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise KafkaPeerError("kafka_mock: no answer within %ss; "
                                 "stderr:\n%s" % (timeout, self.stderr()))
        if line is None:
            raise KafkaPeerError("kafka_mock exited (rc=%s); stderr:\n%s"
                                 % (self.proc.wait(10), self.stderr()))
        return line

    def command(self, line, timeout=COMMAND_TIMEOUT):
        """Send one command line; return the text after `ok` (may be empty).
        Raises KafkaPeerError on an `error` answer."""
        return self._command(line, timeout).decode("utf-8", "replace")

    def _command(self, line, timeout):
        if "\n" in line:
            raise ValueError("one command per line: %r" % line)
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except OSError as e:
            raise KafkaPeerError("kafka_mock: cannot send %r (%s); rc=%s; "
                                 "stderr:\n%s" % (line, e, self.proc.poll(),
                                                  self.stderr()))
        answer = self._readline(timeout).rstrip(b"\n")
        if answer == b"ok" or answer.startswith(b"ok "):
            return answer[3:]
        if answer.startswith(b"error "):
            raise KafkaPeerError("%s: %s" % (line,
                                 answer[6:].decode("utf-8", "replace")))
        raise KafkaPeerError("%s: unexpected answer %r" % (line, answer))

    def create_topic(self, name, partitions):
        self.command("topic %s %d" % (name, partitions))

    def push_errors(self, name, count=1, apikey=0):
        """The next `count` requests of type `apikey` (0 = Produce), from any
        client, fail with the error `name` (e.g. "NOT_LEADER_FOR_PARTITION")
        for every partition they carry."""
        self.command("push %s %d %d" % (name, count, apikey))

    def clear_errors(self, apikey=0):
        self.command("clear %d" % apikey)

    def topic_error(self, topic, name):
        """Metadata reports `topic` with error `name` ("NO_ERROR" clears)."""
        self.command("topic_error %s %s" % (topic, name))

    def broker_down(self, broker_id):
        """Close the broker's connections and refuse new ones (-1: all)."""
        self.command("down %d" % broker_id)

    def broker_up(self, broker_id):
        self.command("up %d" % broker_id)

    def rtt(self, broker_id, ms):
        """Delay each of the broker's responses by `ms` (-1: all brokers)."""
        self.command("rtt %d %d" % (broker_id, ms))

    def set_leader(self, topic, partition, broker_id):
        self.command("leader %s %d %d" % (topic, partition, broker_id))

    def watermarks(self, topic, timeout_ms=None):
        """{partition: (low, high)}; high - low messages are retained."""
        line = "watermarks %s" % topic
        if timeout_ms is not None:
            line += " %d" % timeout_ms
        out = {}
        for item in self.command(line).split():
            p, lo, hi = item.split(":")
            out[int(p)] = (int(lo), int(hi))
        return out

    def count(self, topic):
        """Messages written to `topic` (high watermarks summed)."""
        return sum(hi for _, hi in self.watermarks(topic).values())

    def dump(self, topic, timeout_ms=None):
        """Every retained message: [(partition, offset, key or None, value
        bytes or None)], by partition then offset."""
        line = "dump %s" % topic
        if timeout_ms is not None:
            line += " %d" % timeout_ms
        n = int(self._command(line, COMMAND_TIMEOUT))
        msgs = []
        for _ in range(n):
            raw = self._readline(COMMAND_TIMEOUT).rstrip(b"\n")
            p, o, k, v = raw.split(b"\t", 3)
            msgs.append((int(p), int(o), _unescape(k), _unescape(v)))
        return msgs


# ---------------------------------------------------------------- kcat

def _parse_kcat(data):
    """Messages in KCAT_FORMAT: header fields, then exactly K + S bytes."""
    msgs, pos = [], 0
    while pos < len(data):
        fields = []
        for _ in range(4):
            tab = data.index(b"\t", pos)
            fields.append(int(data[pos:tab]))
            pos = tab + 1
        p, o, klen, vlen = fields
        key = None if klen < 0 else data[pos:pos + klen]
        pos += max(klen, 0)
        value = None if vlen < 0 else data[pos:pos + vlen]
        pos += max(vlen, 0)
        if data[pos:pos + 1] != b"\n":
            raise ValueError("kcat output out of step at byte %d" % pos)
        pos += 1
        msgs.append((p, o, key, value))
    return msgs


def kcat_consume(bootstrap, topic, count=None, timeout=30.0, args=()):
    """Read `topic` from the beginning with kcat until every partition's end
    (or `count` messages); returns [(partition, offset, key or None,
    value bytes or None)] sorted by partition then offset."""
    argv = [KCAT, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning",
            "-e", "-q", "-f", KCAT_FORMAT]
    if count is not None:
        argv += ["-c", str(count)]
    argv += list(args)
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("kcat -C exited with %d: %s"
                             % (r.returncode, r.stderr.decode("utf-8",
                                                              "replace")))
    return sorted(_parse_kcat(r.stdout), key=lambda m: (m[0], m[1]))


def kcat_produce(bootstrap, topic, lines, key_delim=":", partition=None,
                 timeout=30.0, args=()):
    """Produce one message per line with kcat (`key_delim` splits off a key;
    None sends no keys); returns the CompletedProcess (check returncode)."""
    argv = [KCAT, "-P", "-b", bootstrap, "-t", topic]
    if key_delim is not None:
        argv += ["-K", key_delim]
    if partition is not None:
        argv += ["-p", str(partition)]
    argv += list(args)
    body = b"".join((l if isinstance(l, bytes) else l.encode()) + b"\n"
                    for l in lines)
    return subprocess.run(argv, input=body, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)
