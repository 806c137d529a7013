"""Constants and small pieces every part uses (covered by --self-test)."""

import json
import os
import re
import socket
import statistics
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMTP_SINK = "/usr/sbin/smtp-sink"
SWIFT_BIN = "/opt/swift/usr/bin"
DOMAIN = "bench.example"
SENDER = "bench@bench.example"
RECIPIENT = "rcpt@bench.example"
SASL_USER = "bench"
SASL_PASSWORD = "secret"
MiB = 1024 * 1024


class NotMeasured(Exception):
    """A row (or half of one) that could not be measured; the message says why."""


class Failure(Exception):
    """A client run that did not do what it must (exit status, nothing delivered)."""


def release_link_flags():
    """The linker flags of apus's release build, from packaging/release-link-flags."""
    script = os.path.join(REPO, "packaging", "release-link-flags")
    r = subprocess.run([script], capture_output=True, text=True)
    if r.returncode != 0:
        raise NotMeasured(f"{script} failed: {r.stderr.strip()}")
    return [line for line in r.stdout.splitlines() if line]


def median(values):
    return statistics.median(values) if values else None


def free_port():
    """A loopback port the kernel says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SINK_COUNTER = re.compile(rb"mesg=(\d+)")


def parse_sink_counter(text):
    """The last message count in smtp-sink -c output ("sess=1 quit=1 mesg=1\\r…"), or None."""
    found = SINK_COUNTER.findall(text)
    return int(found[-1]) if found else None


def small_message(n=0):
    return (
        f"From: Bench <{SENDER}>\n"
        f"To: <{RECIPIENT}>\n"
        f"Subject: apus benchmark {n}\n"
        f"Date: Mon, 23 Nov 2026 12:00:00 +0000\n"
        f"Message-ID: <bench.{n}@{DOMAIN}>\n"
        "\n"
        "A small message, a few lines long, as cron or a script would send.\n"
        "\n"
        "-- \n"
        "bench\n"
    ).encode()


def write_large_message(path, size):
    """A text message of about `size` bytes: headers, then 76-character lines."""
    line = (b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/-_" + b"\n")
    assert len(line) == 77
    head = small_message(0).split(b"\n\n", 1)[0] + b"\n\n"
    with open(path, "wb") as f:
        f.write(head)
        block = line * (MiB // len(line))
        written = len(head)
        while written + len(block) <= size:
            f.write(block)
            written += len(block)
        rest = (size - written) // len(line)
        f.write(line * max(rest, 0))


def apus_conf(port, queue_dir, tls="off", trust_file=None, auth=False):
    lines = [
        "# written by bench/run",
        "queue on",
        f"queue_dir {queue_dir}",
        "log off",
        "host 127.0.0.1",
        f"port {port}",
        f"tls {tls}",
        f"domain {DOMAIN}",
        f"from {SENDER}",
        "timeout 30",
    ]
    if trust_file:
        lines.append(f"tls_trust_file {trust_file}")
    if auth:
        lines += ["auth plain", f"user {SASL_USER}", f"password {SASL_PASSWORD}"]
    return "\n".join(lines) + "\n"


def msmtp_conf(port, tls="off", trust_file=None, auth=False):
    lines = [
        "# written by bench/run",
        "account default",
        "host 127.0.0.1",
        f"port {port}",
        f"domain {DOMAIN}",
        f"from {SENDER}",
        "timeout 30",
        "syslog off",
    ]
    if tls == "off":
        lines.append("tls off")
    else:
        lines += ["tls on", f"tls_starttls {'on' if tls == 'starttls' else 'off'}",
                  f"tls_trust_file {trust_file}"]
    if auth:
        lines += ["auth plain", f"user {SASL_USER}", f"password {SASL_PASSWORD}"]
    else:
        lines.append("auth off")
    return "\n".join(lines) + "\n"


def write_private(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)  # msmtp refuses a password in a file others can read


def mailq_is_empty(output):
    return "Mail queue is empty" in output


def count_json_lines(output):
    """`mailq --json` prints one JSON object per queued message."""
    n = 0
    for line in output.splitlines():
        line = line.strip()
        if line:
            json.loads(line)
            n += 1
    return n


def fmt_ms(seconds):
    if seconds is None:
        return "—"
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms"



class Row:
    """One row of the table: display strings, whether the target was met, a note, the raw data."""

    def __init__(self, rid, measure, target):
        self.id, self.measure, self.target = rid, measure, target
        self.msmtp = self.apus = self.ratio = None  # display strings
        self.met = None  # True / False / None (not measured)
        self.note = None
        self.data = {}

    def add_note(self, text):
        self.note = ((self.note + "; ") if self.note else "") + text

    def as_dict(self):
        return {"id": self.id, "measure": self.measure, "msmtp": self.msmtp, "apus": self.apus,
                "ratio": self.ratio, "target": self.target,
                "met": {True: "yes", False: "no", None: "not measured"}[self.met],
                "note": self.note, "data": self.data}
