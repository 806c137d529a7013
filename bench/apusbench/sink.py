"""Postfix's smtp-sink on a free loopback port, its message counter read live."""

import os
import subprocess
import threading
import time

from .common import SMTP_SINK, NotMeasured, free_port, parse_sink_counter
from .processes import wait_for_port

class SMTPSink:
    """Postfix's smtp-sink on a free loopback port, with its -c message counter read live."""

    def __init__(self, procs, workdir, counter_file=None):
        """With `counter_file`, smtp-sink's counter goes to that file and is read
        only when asked: nothing in this process wakes up per message while a
        timed run is under way (the queue-run row; a pipe read live costs a
        wake-up of this Python process for every message on the same 2 cores)."""
        self.procs, self.workdir = procs, workdir
        self.counter_file = counter_file
        self.port = None
        self.proc = None
        self._buf = b""
        self._count = 0
        self._lock = threading.Lock()

    def start(self):
        if not os.access(SMTP_SINK, os.X_OK):
            raise NotMeasured(f"{SMTP_SINK} not found (Debian package postfix)")
        self.port = free_port()
        argv = [SMTP_SINK, "-c"]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]
        argv += [f"127.0.0.1:{self.port}", "256"]
        if self.counter_file:
            with open(self.counter_file, "wb") as out:
                self.proc = self.procs.start(argv, stdout=out, stderr=subprocess.DEVNULL)
        else:
            self.proc = self.procs.start(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            threading.Thread(target=self._read, daemon=True).start()
        wait_for_port(self.port, self.proc)
        return self

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self._buf = (self._buf + chunk)[-256:]
                n = parse_sink_counter(self._buf)
                if n is not None:
                    self._count = n

    def count(self):
        if self.counter_file:
            with open(self.counter_file, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 256))
                n = parse_sink_counter(f.read())
            return n or 0
        with self._lock:
            return self._count

    def wait_count(self, target, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= target:
                return self.count()
            time.sleep(0.01)
        return self.count()

    def stop(self):
        if self.proc:
            self.procs.stop(self.proc)
