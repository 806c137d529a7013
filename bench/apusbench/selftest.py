"""--self-test: the pieces, quickly, with no timing assertions."""

import os
import shutil
import socket
import tempfile
import threading

from .common import REPO, SMTP_SINK, MiB, NotMeasured, Row, apus_conf, count_json_lines, mailq_is_empty, median, \
    msmtp_conf, parse_sink_counter, small_message, write_large_message, write_private
from .postfix import DEFAULT_TOOL as POSTFIX_TOOL
from .postfix import PrivatePostfix
from .processes import Processes, wait_for_port
from .proxy import DelayProxy
from .report import markdown_table, table
from .sink import SMTPSink


def self_test():
    failures = []

    def check(name, cond):
        print(f"{'ok  ' if cond else 'FAIL'} {name}")
        if not cond:
            failures.append(name)

    check("median", median([3, 1, 2]) == 2 and median([]) is None)
    check("smtp-sink counter", parse_sink_counter(b"sess=1 quit=1 mesg=1\rsess=2 quit=2 mesg=12\r") == 12)
    check("smtp-sink counter, none yet", parse_sink_counter(b"sess=0 qu") is None)
    check("mailq empty", mailq_is_empty("Mail queue is empty\n") and not mailq_is_empty(""))
    check("mailq --json count", count_json_lines('{"queue_id":"A"}\n\n{"queue_id":"B"}\n') == 2)
    c = apus_conf(2525, "/q", "starttls", "/ca.pem", True)
    check("apus config", "port 2525" in c and "tls starttls" in c and "tls_trust_file /ca.pem" in c
          and c.index("queue_dir") < c.index("host") and "password secret" in c)
    m = msmtp_conf(2525, "on", "/ca.pem", True)
    check("msmtp config", "tls on" in m and "tls_starttls off" in m and "auth plain" in m)
    check("msmtp config plain", "tls off" in msmtp_conf(25) and "auth off" in msmtp_conf(25))
    msg = small_message(7)
    check("small message", b"\n\n" in msg and b"Message-ID: <bench.7@" in msg)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "big")
        write_large_message(p, 3 * MiB + 1000)
        size = os.path.getsize(p)
        check("large message size", abs(size - (3 * MiB + 1000)) < 100)
        conf = os.path.join(d, "c")
        write_private(conf, "x")
        check("private config mode", (os.stat(conf).st_mode & 0o777) == 0o600)
    r = Row("1", "m", "t")
    r.msmtp, r.apus, r.ratio, r.met = "50 ms", "not measured", None, None
    r.note = "why"
    t = table([r])
    check("table", "not measured [1]" in t and "[1] why" in t)
    check("markdown table", "| 1 | m | 50 ms |" in markdown_table([r]))

    # the proxy against a tiny server: replies pass (delayed), order is kept, EOF is passed on
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    sport = srv.getsockname()[1]

    def serve():
        for _ in range(2):
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"220 hi\r\n")
                buf = b""
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    buf += data
                    while b"\r\n" in buf:
                        line, buf = buf.split(b"\r\n", 1)
                        conn.sendall(b"250 " + line.upper() + b"\r\n")
                        if line == b"quit":
                            conn.shutdown(socket.SHUT_WR)
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    proxy = DelayProxy(sport, 0.01).start()
    try:
        for round_ in range(2):
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
                got = b""
                s.sendall(b"ehlo x\r\nmail\r\nquit\r\n")
                while True:
                    data = s.recv(4096)
                    if not data:
                        break
                    got += data
            check(f"proxy passes replies in order, then EOF (connection {round_ + 1})",
                  got == b"220 hi\r\n250 EHLO X\r\n250 MAIL\r\n250 QUIT\r\n")
        check("proxy counted connections", proxy.connections == 2)
    finally:
        proxy.stop()
        srv.close()

    # the proxy in front of a real smtp-sink, with smtp-sink's counter (skipped without postfix)
    if os.access(SMTP_SINK, os.X_OK):
        procs = Processes()
        try:
            with tempfile.TemporaryDirectory() as d:
                sink = SMTPSink(procs, d).start()
                proxy = DelayProxy(sink.port, 0.005).start()
                try:
                    before = sink.count()
                    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
                        f = s.makefile("rb")

                        def reply():
                            lines = []
                            while True:
                                line = f.readline()
                                lines.append(line)
                                if len(line) < 4 or line[3:4] != b"-":
                                    return lines
                        ok = reply()[0].startswith(b"220")
                        s.sendall(b"EHLO bench.example\r\n")
                        ok &= reply()[-1].startswith(b"250")
                        s.sendall(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
                        ok &= reply()[0].startswith(b"250") and reply()[0].startswith(b"250")
                        ok &= reply()[0].startswith(b"354")
                        s.sendall(b"Subject: t\r\n\r\nbody\r\n.\r\nQUIT\r\n")
                        ok &= reply()[0].startswith(b"250")
                        ok &= reply()[0].startswith(b"221")
                    check("SMTP through the proxy to smtp-sink", ok)
                    check("smtp-sink counted the message", sink.wait_count(before + 1) == before + 1)
                finally:
                    proxy.stop()
                    sink.stop()
        finally:
            procs.stop_all()
    else:
        print(f"skip smtp-sink checks ({SMTP_SINK} not installed)")

    # the private Postfix: a missing command is a reason, not a crash; a built one starts and stops
    procs = Processes()
    with tempfile.TemporaryDirectory() as d:
        try:
            PrivatePostfix(procs, d, tool=os.path.join(d, "absent")).start()
            check("private Postfix without its command says why", False)
        except NotMeasured as e:
            check("private Postfix without its command says why", "swift build --product private-postfix" in str(e))
        if os.access(POSTFIX_TOOL, os.X_OK) and os.geteuid() == 0:
            pf = None
            try:
                pf = PrivatePostfix(procs, d).start()
                wait_for_port(pf.starttls_port, pf.proc, timeout=5)
                wait_for_port(pf.tls_port, pf.proc, timeout=5, greeting=False)
                check("private Postfix listens on both ports", os.path.exists(pf.ca_file) and pf.accepted() == 0)
            except NotMeasured as e:
                print(f"     {e}")
                check("private Postfix listens on both ports", False)
            finally:
                if pf:
                    pf.stop()
                    check("private Postfix stopped", pf.proc.returncode == 0)
                procs.stop_all()
        else:
            print(f"skip private Postfix start (needs root and {POSTFIX_TOOL})")

    # the rows' flows end to end, with bench/fake_apus.py standing in for apus (its figures mean nothing)
    if os.access(SMTP_SINK, os.X_OK) and shutil.which("msmtp"):
        from .bench import Bench
        from .cli import parser
        fake = os.path.join(REPO, "bench", "fake_apus.py")
        args = parser().parse_args(["--apus", fake, "--runs", "2", "--queue-messages", "5",
                                    "--rows", "1,3,7,8", "--quiet", "--delay", "5"])
        rows = Bench(args).run()
        for r in rows:
            check(f"row {r.id} runs end to end with a stand-in apus ({r.measure[:40]}…)",
                  r.met is not None and r.apus not in (None, "not measured"))
        check("rows 1, 3, 7, 8 all reported", sorted(r.id for r in rows) == ["1", "3", "7", "8"])
    else:
        print("skip end-to-end flow check (needs smtp-sink and msmtp)")

    print("self-test:", "FAILED " + ", ".join(failures) if failures else "all passed")
    return 1 if failures else 0
