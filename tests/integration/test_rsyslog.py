"""rsyslog's omelasticsearch, pointed at spillway's HTTP port as if it were
Elasticsearch, delivers every event to the file sink."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import SpillwayTestCase, free_port

RSYSLOGD = shutil.which("rsyslogd") or (
    "/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None)
MODDIRS = ["/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog",
           "/usr/lib/rsyslog"]


def module_dir():
    for d in MODDIRS:
        if os.path.exists(os.path.join(d, "omelasticsearch.so")) and \
                os.path.exists(os.path.join(d, "imptcp.so")):
            return d
    return None


HAVE_RSYSLOG = RSYSLOGD is not None and module_dir() is not None

CONF = """\
global(workDirectory="{work}" processInternalMessages="on")
module(load="{moddir}/imptcp.so")
module(load="{moddir}/omelasticsearch.so")

template(name="spillway_json" type="list" option.jsonf="on") {{
    property(outname="msg" name="msg" format="jsonf")
    property(outname="tag" name="syslogtag" format="jsonf")
    property(outname="severity" name="syslogseverity-text" format="jsonf")
}}

input(type="imptcp" address="127.0.0.1" port="{port}" ruleset="to_es")

ruleset(name="to_es") {{
    action(type="omelasticsearch"
           server="127.0.0.1" serverport="{http}"
           template="spillway_json" searchIndex="rsyslog-test"
           bulkmode="on" maxbytes="100k" errorfile="{work}/es-errors.json"
           action.resumeRetryCount="-1" action.resumeInterval="1"
           queue.type="linkedlist" queue.size="100000"
           queue.dequeueBatchSize="200")
}}
"""


class Rsyslogd:
    def __init__(self, http_port):
        self.tmp = tempfile.mkdtemp(prefix="spillway-rsyslog-")
        self.work = os.path.join(self.tmp, "work")
        os.mkdir(self.work)
        self.port = free_port()
        self.conf = os.path.join(self.tmp, "rsyslog.conf")
        self.pidfile = os.path.join(self.tmp, "rsyslogd.pid")
        with open(self.conf, "w") as f:
            f.write(CONF.format(work=self.work, moddir=module_dir(),
                                port=self.port, http=http_port))
        self.proc = None
        self.buf = bytearray()

    def start(self, timeout=20):
        self.proc = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", self.conf, "-i", self.pidfile],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, cwd=self.tmp)
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("rsyslogd exited %s:\n%s"
                                     % (self.proc.returncode, self.output()))
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("rsyslogd did not listen:\n" + self.output())

    def _drain(self):
        while True:
            b = self.proc.stdout.read1(65536) if hasattr(
                self.proc.stdout, "read1") else self.proc.stdout.read(4096)
            if not b:
                break
            self.buf += b

    def output(self):
        return self.buf.decode("utf-8", "replace")

    def errorfile(self):
        p = os.path.join(self.work, "es-errors.json")
        if os.path.exists(p):
            with open(p) as f:
                return f.read()
        return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


@unittest.skipUnless(HAVE_RSYSLOG, "rsyslogd with imptcp and omelasticsearch "
                     "not installed")
class TestRsyslog(SpillwayTestCase):
    def send(self, rs, n, start=0):
        s = socket.create_connection(("127.0.0.1", rs.port), timeout=10)
        try:
            for i in range(start, start + n):
                s.sendall(b"<14>Jun  1 12:00:00 testhost app[42]: "
                          b"event seq=%06d \"quoted\" \\ done\n" % i)
        finally:
            s.close()

    def wait_forwarded(self, sp, rs, n, timeout=60):
        try:
            return sp.wait_for(lambda m: m.total(
                "spillway_events_forwarded_total") >= n,
                "%d events forwarded" % n, timeout=timeout)
        except AssertionError as e:
            raise AssertionError("%s\nrsyslogd output:\n%s\nerrorfile:\n%s"
                                 % (e, rs.output(), rs.errorfile()))

    def seqs(self, sp):
        docs = [json.loads(l) for l in sp.sink_lines()]
        return sorted(int(d["msg"].split("seq=")[1].split()[0])
                      for d in docs)

    def test_resumes_when_spillway_comes_up_later(self):
        # rsyslog starts first and suspends its action; when it retries it
        # runs its health check (GET /_cat/health) against spillway.
        port = free_port()
        rs = Rsyslogd(port)
        self.addCleanup(rs.cleanup)
        rs.start()
        self.send(rs, 50)
        time.sleep(1.5)  # let the first bulk attempt fail
        sp = self.start(args=["--listen-http", "127.0.0.1:%d" % port])
        m = self.wait_forwarded(sp, rs, 50, timeout=45)
        self.assertEqual(m.received("default"), 50)
        self.assertEqual(self.seqs(sp), list(range(50)))
        self.send(rs, 50, start=50)
        self.wait_forwarded(sp, rs, 100)
        self.assertEqual(self.seqs(sp), list(range(100)))

    def test_omelasticsearch_delivers_everything(self):
        sp = self.start()
        rs = Rsyslogd(sp.ports["http"])
        self.addCleanup(rs.cleanup)
        rs.start()
        n = 1000
        s = socket.create_connection(("127.0.0.1", rs.port), timeout=10)
        try:
            for i in range(n):
                s.sendall(b"<14>Jun  1 12:00:00 testhost app[42]: "
                          b"event seq=%06d \"quoted\" \\ done\n" % i)
        finally:
            s.close()
        try:
            m = sp.wait_for(lambda m: m.total(
                "spillway_events_forwarded_total") >= n,
                "%d events forwarded" % n, timeout=60)
        except AssertionError as e:
            raise AssertionError("%s\nrsyslogd output:\n%s\nerrorfile:\n%s"
                                 % (e, rs.output(), rs.errorfile()))
        self.assertEqual(m.received("default"), n)
        self.assertEqual(m.forwarded("default"), n)
        self.assertEqual(m.received("_invalid"), 0)
        docs = [json.loads(l) for l in sp.sink_lines()]
        self.assertEqual(len(docs), n)
        seqs = sorted(int(d["msg"].split("seq=")[1].split()[0]) for d in docs)
        self.assertEqual(seqs, list(range(n)))
        self.assertTrue(all(d["msg"].endswith('"quoted" \\ done')
                            for d in docs), docs[0])
        self.assertEqual(rs.errorfile(), "")
        rs.stop()
        self.assertNotIn("omelasticsearch", rs.output().lower()
                         .replace("module(load=", ""),
                         "rsyslogd complained:\n" + rs.output())
