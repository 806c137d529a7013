"""Processes the harness starts (all tracked, all stopped by PID), and timed client runs."""

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
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
    """Wall time of one whole process, as the caller of sendmail sees it.

    The child is started with posix_spawn (glibc's clone(CLONE_VFORK)) and
    reaped through a pidfd, its standard input a file (`sendmail -t < msg`:
    `stdin_data` is written to an unnamed file first) and its output files
    read after the clock stops, so the harness adds about what a small C
    harness would. subprocess.run with `input=` used to feed a pipe and watch
    two more with a selector loop, which added ~1 ms to every run: nothing to
    msmtp's ~48 ms, a third of a ~3 ms apus submission (row 1)."""
    with contextlib.ExitStack() as files:
        if stdin_data is not None:
            stdin = files.enter_context(tempfile.TemporaryFile())
            stdin.write(stdin_data if isinstance(stdin_data, bytes) else stdin_data.encode())
            stdin.flush()
            stdin.seek(0)
        else:
            stdin = files.enter_context(open(stdin_path or os.devnull, "rb"))
        out = files.enter_context(tempfile.TemporaryFile() if capture else open(os.devnull, "wb"))
        err = files.enter_context(tempfile.TemporaryFile())
        actions = [(os.POSIX_SPAWN_DUP2, stdin.fileno(), 0), (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                   (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        t0 = time.perf_counter()
        pid = os.posix_spawnp(argv[0], argv, os.environ if env is None else env, file_actions=actions)
        pidfd = os.pidfd_open(pid)
        try:
            ready, _, _ = select.select([pidfd], [], [], 120)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise subprocess.TimeoutExpired(argv, 120)
            _, status = os.waitpid(pid, 0)
            t = time.perf_counter() - t0
        finally:
            os.close(pidfd)
        code = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()
        stdout = None
        if capture:
            out.seek(0)
            stdout = out.read()
    r = subprocess.CompletedProcess(argv, code, stdout, stderr)
    if check and r.returncode != 0:
        lines = r.stderr.decode(errors="replace").strip().splitlines()
        raise Failure(f"{os.path.basename(argv[0])} exited {r.returncode}"
                      + (f": {lines[0]}" if lines else ""))
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
