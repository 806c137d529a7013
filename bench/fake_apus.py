#!/usr/bin/env python3
"""A stand-in for apus, for checking bench/run's flows before apus delivers mail.

Never a measurement of apus: it only speaks enough of apus's interface for the
harness's rows to run end to end (bench/run --self-test uses it).
    fake_apus.py -C CONF -t          < message   send, or queue when the relay is down
    fake_apus.py -C CONF -bp [--json]            list the queue (as mailq, or named mailq)
    fake_apus.py -C CONF -qf                     send every queued message over one connection
Config keys read: host, port, queue_dir, from; the rest is ignored.
"""
import json
import os
import smtplib
import sys
import time
import uuid


def config(path):
    conf = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition(" ")
                conf[key] = value.strip()
    return conf


def recipients(message):
    head = message.split(b"\n\n", 1)[0].decode(errors="replace")
    for line in head.splitlines():
        if line.lower().startswith(("to:", "cc:", "bcc:")):
            addr = line.split(":", 1)[1].strip()
            yield addr.strip("<>").split("<")[-1].rstrip(">")


def main(argv):
    name = os.path.basename(argv[0])
    args = argv[1:]
    conf = config(args[args.index("-C") + 1]) if "-C" in args else {}
    qdir = conf.get("queue_dir", "/tmp/fake-apus-queue")
    os.makedirs(qdir, exist_ok=True)
    host, port = conf.get("host", "127.0.0.1"), int(conf.get("port", "25"))
    sender = conf.get("from", "bench@bench.example")
    if name == "mailq" or "-bp" in args:
        files = sorted(f for f in os.listdir(qdir) if f.endswith(".msg"))
        if "--json" in args:
            for f in files:
                print(json.dumps({"queue_id": f[:-4], "recipients": []}))
        elif not files:
            print("Mail queue is empty")
        return 0
    if "-qf" in args:
        files = sorted(f for f in os.listdir(qdir) if f.endswith(".msg"))
        if files:
            with smtplib.SMTP(host, port, local_hostname="bench.example") as s:
                for f in files:
                    path = os.path.join(qdir, f)
                    with open(path, "rb") as fh:
                        msg = fh.read()
                    s.sendmail(sender, list(recipients(msg)), msg)
                    os.unlink(path)
        return 0
    msg = sys.stdin.buffer.read()
    try:
        with smtplib.SMTP(host, port, local_hostname="bench.example", timeout=30) as s:
            if conf.get("tls") == "starttls":
                return 75  # not needed by the harness's checks
            s.sendmail(sender, list(recipients(msg)), msg)
    except OSError:
        path = os.path.join(qdir, f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.msg")
        with open(path + ".tmp", "wb") as fh:
            fh.write(msg)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(path + ".tmp", path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
