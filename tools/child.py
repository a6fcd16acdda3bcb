"""child: a process started by the tools in this directory (spillway, the
Elasticsearch emulator) whose stderr is read by a thread, so its
"listening KIND HOST:PORT" lines can be waited for and its last lines shown
when it fails.

    sys.path.insert(0, "tools"); from child import Child, ChildError
    sp = Child("spillway", ["./spillway", ...], cwd=REPO)
    addrs = sp.wait_listening(["tcp", "admin"])    # {"tcp": (host, port), ...}
    ...
    sp.stop()
"""

import re
import signal
import subprocess
import threading
import time

LISTEN_RE = re.compile(r"listening (tcp|http|admin) (\S+):(\d+)")
START_TIMEOUT = 20.0


class ChildError(Exception):
    """The child exited, or did not say where it listens, in time."""


class Child:
    """A child process whose stderr is read by a thread: listening lines, then a log."""

    def __init__(self, name, argv, cwd=None):
        self.name = name
        self.lines = []                     # (monotonic time, text)
        self.addrs = {}
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.thread = threading.Thread(target=self._read, name=name, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stderr:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append((time.monotonic(), text))
                m = LISTEN_RE.search(text)
                if m:
                    self.addrs[m.group(1)] = (m.group(2), int(m.group(3)))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_listening(self, kinds, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not all(k in self.addrs for k in kinds):
                if self.proc.poll() is not None:
                    raise ChildError("%s exited with status %s before listening:\n%s" % (
                        self.name, self.proc.returncode, self.log_text()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ChildError("%s did not say where it listens within %.0f s:\n%s" % (
                        self.name, timeout, self.log_text()))
                self.cond.wait(min(left, 0.2))
            return {k: self.addrs[k] for k in kinds}

    def log_text(self):
        return "\n".join(t for _, t in self.lines[-20:])

    def stop(self):
        """SIGTERM, then SIGKILL after 15 s; always reaps the process."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            except OSError:
                pass
        self.thread.join(2)
