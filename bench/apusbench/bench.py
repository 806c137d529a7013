"""One benchmark run: its work directory, the servers, the client loop shared by the rows."""

import os
import shutil
import subprocess
import sys
import tempfile

from .common import Failure, NotMeasured, Row, apus_conf, count_json_lines, free_port, median, msmtp_conf, \
    small_message, write_private
from .measures import large, queue, roundtrips, startup, submission
from .postfix import DEFAULT_TOOL as DEFAULT_POSTFIX_TOOL
from .postfix import PrivatePostfix
from .processes import Processes, run_timed
from .sink import SMTPSink


class Bench:
    """One run: its work directory, its servers, the two clients, the rows measured so far."""

    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.delay = args.delay / 1000.0
        self.procs = Processes()
        self.work = tempfile.mkdtemp(prefix="apus-bench-")
        self.apus = args.apus
        self.msmtp = args.msmtp
        self.rows = []
        self.sink = None
        self.postfix = None
        self.postfix_error = None
        self.apus_problem = None
        if not (self.apus and os.access(self.apus, os.X_OK)):
            self.apus_problem = f"no apus binary at {self.apus} (./install.sh builds it, or --build)"
        self.postfix_tool = getattr(args, "postfix_tool", None) or DEFAULT_POSTFIX_TOOL
        self.msmtp_problem = None
        if not (self.msmtp and os.access(self.msmtp, os.X_OK)):
            self.msmtp_problem = "msmtp not found (Debian package msmtp)"

    def log(self, text):
        if not self.args.quiet:
            print(f"bench: {text}", file=sys.stderr, flush=True)

    def path(self, *names):
        return os.path.join(self.work, *names)

    def new_dir(self, name):
        p = self.path(name)
        os.makedirs(p, exist_ok=True)
        return p

    def counts(self, full, quick):
        if self.args.runs:
            return self.args.runs
        return quick if self.quick else full

    def apus_cmd(self, conf, *extra):
        return [self.apus, "-C", conf, *extra]

    def msmtp_cmd(self, conf, *extra):
        return [self.msmtp, "-C", conf, *extra]

    def configs(self, name, port, tls="off", trust=None, auth=False):
        q = self.new_dir(f"queue-{name}")
        a = self.path(f"apus-{name}.conf")
        m = self.path(f"msmtp-{name}.conf")
        write_private(a, apus_conf(port, q, tls, trust, auth))
        write_private(m, msmtp_conf(port, tls, trust, auth))
        return a, m, q

    def alternate(self, runs, warmup, apus_fn, msmtp_fn):
        """Run the two clients pair by pair, order swapped every pair; return their times."""
        a_times, m_times = [], []
        a_err = self.apus_problem
        m_err = self.msmtp_problem
        for i in range(warmup + runs):
            order = (("apus", apus_fn), ("msmtp", msmtp_fn))
            if i % 2:
                order = order[::-1]
            for who, fn in order:
                if (who == "apus" and a_err) or (who == "msmtp" and m_err):
                    continue
                try:
                    t = fn()
                except (Failure, NotMeasured, OSError, subprocess.TimeoutExpired) as e:
                    if who == "apus":
                        a_err = str(e)
                    else:
                        m_err = str(e)
                    continue
                if i >= warmup:
                    (a_times if who == "apus" else m_times).append(t)
        return a_times, m_times, a_err, m_err

    def sink_verifier(self):
        def verify(target=None):
            return self.sink.count() if target is None else self.sink.wait_count(target, 3.0)
        return verify

    @staticmethod
    def delivering(cmd, verify, server, scale=1.0, stdin_path=None):
        """A timed run of `cmd` that must also leave one more message at the server."""
        def f():
            before = verify()
            if stdin_path:
                t, _ = run_timed(cmd, stdin_path=stdin_path)
            else:
                t, _ = run_timed(cmd, stdin_data=small_message())
            if verify(before + 1) < before + 1:
                raise Failure(f"{os.path.basename(cmd[0])} exited 0 but {server} received no message "
                              "(does it deliver yet?)")
            return t / scale
        return f

    def finish_ratio(self, row, a, m, a_err, m_err, fmt, ok, ratio_of=None):
        ma, mm = median(a), median(m)
        row.msmtp = fmt(mm) if not m_err else "not measured"
        if a_err:
            row.apus = "not measured"
            row.note = a_err
        else:
            row.apus = fmt(ma)
        if m_err:
            row.note = ((row.note + "; ") if row.note else "") + f"msmtp: {m_err}"
        if not a_err and not m_err and ma is not None and mm:
            r = ma / mm if ratio_of is None else ratio_of(ma, mm)
            row.ratio = f"{r:.3f}"
            row.met = ok(r)

    def relay_down_configs(self, name):
        dead = free_port()  # nothing listens there: connection refused at once
        a_conf, m_conf, q = self.configs(name, dead)
        return a_conf, m_conf, q, dead

    def queue_count(self, conf):
        """Messages in apus's queue, as `mailq --json` lists them."""
        _, r = run_timed([self.apus, "-C", conf, "-bp", "--json"], capture=True)
        return count_json_lines(r.stdout.decode(errors="replace"))

    def run(self):
        only = set(self.args.rows.split(",")) if self.args.rows else None
        want = (lambda r: only is None or r in only)
        try:
            # Its counter goes to a file read when asked: nothing here wakes up
            # per message while apus or msmtp is being timed.
            self.sink = SMTPSink(self.procs, self.work, counter_file=os.path.join(self.work, "sink.count")).start()
            self.log(f"smtp-sink on 127.0.0.1:{self.sink.port}; work dir {self.work}")
            steps = [("2", startup.row_startup), ("1", submission.row_submission),
                     ("3", roundtrips.row_plain_rt), ("4", roundtrips.tls_rows), ("6", large.row_large),
                     ("8", queue.row_queueing), ("7", queue.row_queue_run)]
            for rid, fn in steps:
                if rid == "4" and not (want("4") or want("5")):
                    continue
                if rid != "4" and not want(rid):
                    continue
                self.log(f"row {rid}")
                try:
                    fn(self)
                except (NotMeasured, Failure, OSError, subprocess.SubprocessError) as e:
                    row = Row(rid, fn.__name__, "")
                    row.msmtp = row.apus = "not measured"
                    row.note = f"{type(e).__name__}: {e}"
                    self.rows.append(row)
        finally:
            self.procs.stop_all()
            if not self.args.keep:
                try:
                    shutil.rmtree(self.work)
                except OSError as e:
                    print(f"bench: cannot remove the work directory {self.work}: {e}", file=sys.stderr)
            else:
                self.log(f"kept {self.work}")
        self.rows.sort(key=lambda r: r.id)
        if not (want("4") and want("5")) and only is not None:
            self.rows = [r for r in self.rows if r.id in only]
        return self.rows

    def private_postfix(self):
        """The private Postfix, started on first use; NotMeasured (again each time) when it cannot start."""
        if self.postfix is None and self.postfix_error is None:
            try:
                self.log("starting a private Postfix (STARTTLS, implicit TLS, Cyrus SASL)")
                self.postfix = PrivatePostfix(self.procs, self.work, self.postfix_tool).start()
            except (NotMeasured, OSError, subprocess.SubprocessError) as e:
                self.postfix_error = str(e)
        if self.postfix_error:
            raise NotMeasured(self.postfix_error)
        return self.postfix
