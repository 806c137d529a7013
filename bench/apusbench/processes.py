"""Processes the harness starts (all tracked, all stopped by PID), and timed client runs."""

import os
import signal
import socket
import subprocess
import sys
import time

from .common import Failure, NotMeasured


# processes the harness starts: all tracked, all stopped by PID

class Processes:
    """Every process the harness started and has not stopped yet."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, timeout=5):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout)
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(reversed(self.procs)):
            try:
                self.stop(p)
            except (OSError, subprocess.SubprocessError) as e:  # reported; the others are still stopped
                print(f"bench: stopping pid {p.pid}: {e}", file=sys.stderr)


def wait_for_port(port, proc=None, timeout=10.0, greeting=True):
    """Connect until the server answers (its 220 greeting, if `greeting`); bounded."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise NotMeasured(f"server exited with status {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if not greeting:
                    return
                data = s.recv(512)
                if data.startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    try:
                        s.recv(512)
                    except OSError:
                        pass
                    return
                last = data
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise NotMeasured(f"127.0.0.1:{port} did not answer within {timeout:.0f} s ({last})")


def run_timed(argv, stdin_data=None, stdin_path=None, env=None, check=True, capture=False):
    """Wall time of one whole process, as the caller of sendmail sees it."""
    stdin = subprocess.PIPE if stdin_data is not None else (
        open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL)
    try:
        t0 = time.perf_counter()
        r = subprocess.run(argv, input=stdin_data if stdin_data is not None else None,
                           stdin=None if stdin_data is not None else stdin,
                           stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env=env, timeout=120)
        t = time.perf_counter() - t0
    finally:
        if stdin_path:
            stdin.close()
    if check and r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip().splitlines()
        raise Failure(f"{os.path.basename(argv[0])} exited {r.returncode}"
                      + (f": {err[0]}" if err else ""))
    return t, r


GNU_TIME = "/usr/bin/time"


def run_rusage(argv, stdin_path, workdir):
    """Wall time and peak RSS (bytes) of one process.

    Peak RSS comes from GNU time (`/usr/bin/time -f %M`, package time): Linux
    carries a process's high-water RSS across exec, and a child forked (or
    vforked) by this Python harness starts with the harness's ~25 MiB, which
    would hide anything smaller. time(1) is a small C program, so its child
    starts small. Without it, wait4's ru_maxrss is used and marked as an upper bound.
    """
    out = os.path.join(workdir, "time.out")
    use_time = os.access(GNU_TIME, os.X_OK)
    cmd = [GNU_TIME, "-f", "%M", "-o", out, *argv] if use_time else argv
    with open(stdin_path, "rb") as f:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = p.stderr.read()  # small; read until the child closes it, then reap
        _, status, ru = os.wait4(p.pid, 0)
        t = time.perf_counter() - t0
        p.stderr.close()
        p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        lines = [x for x in err.decode(errors="replace").strip().splitlines()
                 if not x.startswith("Command exited with non-zero status")]
        raise Failure(f"{os.path.basename(argv[0])} exited {p.returncode}" + (f": {lines[0]}" if lines else ""))
    if use_time:
        with open(out) as fh:
            return t, int(fh.read().strip().splitlines()[-1]) * 1024, True
    return t, ru.ru_maxrss * 1024, False
