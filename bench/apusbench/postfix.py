"""The private Postfix of the TLS rows: STARTTLS, implicit TLS and AUTH on loopback.

It is the tests' own (ApusTestSupport's PostfixServer), started through the
private-postfix command of the Swift package (Tests/support/private-postfix):
one home for its set-up. That command prints one JSON line describing the
instance, runs until SIGTERM (or until its stdin ends), then stops Postfix's
master and removes its files.
"""

import json
import os
import select
import subprocess
import time

from .common import DOMAIN, REPO, SASL_PASSWORD, SASL_USER, NotMeasured

DEFAULT_TOOL = os.path.join(REPO, ".build", "debug", "private-postfix")
BUILD_HINT = "swift build --product private-postfix, or bench/run --build"


class PrivatePostfix:
    def __init__(self, procs, workdir, tool=DEFAULT_TOOL):
        self.procs = procs
        self.tool = tool
        self.stderr_path = os.path.join(workdir, "private-postfix.err")
        self.proc = None
        self.starttls_port = None
        self.tls_port = None
        self.ca_file = None
        self.maillog = None

    def start(self, timeout=90.0):
        if not os.access(self.tool, os.X_OK):
            raise NotMeasured(f"no {self.tool} ({BUILD_HINT})")
        with open(self.stderr_path, "wb") as err:
            self.proc = self.procs.start(
                [self.tool, "--user", f"{SASL_USER}:{SASL_PASSWORD}", "--domain", DOMAIN],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            if not ready:
                self.stop()
                raise NotMeasured(f"private-postfix did not describe its instance within {timeout:.0f} s")
            self.proc.wait(10)
            raise NotMeasured(f"private-postfix exited {self.proc.returncode}: {self._stderr_tail()}")
        try:
            info = json.loads(line)
            self.starttls_port = info["submission_port"]
            self.tls_port = info["implicit_tls_port"]
            self.ca_file = info["ca_file"]
            self.maillog = info["maillog"]
        except (ValueError, KeyError) as e:
            self.stop()
            raise NotMeasured(f"private-postfix printed {line[:200]!r}, not its JSON description ({e})")
        return self

    def _stderr_tail(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                lines = [x for x in f.read().strip().splitlines() if x]
        except OSError as e:
            return f"(its stderr is unreadable: {e})"
        return lines[-1] if lines else "(nothing on stderr)"

    def accepted(self):
        """Messages Postfix has taken into its queue: qmgr logs "(queue active)" for each."""
        try:
            with open(self.maillog, "rb") as f:
                return f.read().count(b"(queue active)")
        except FileNotFoundError:  # nothing logged yet
            return 0

    def wait_accepted(self, target, timeout=3.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.accepted() >= target:
                break
            time.sleep(0.01)
        return self.accepted()

    def stop(self):
        if self.proc:
            # master gets up to 10 s to stop its children; the command exits after it
            self.procs.stop(self.proc, timeout=15)
            if self.proc.stdin:
                self.proc.stdin.close()
            if self.proc.stdout:
                self.proc.stdout.close()
