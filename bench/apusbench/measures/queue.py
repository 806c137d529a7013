"""Rows 7 and 8: a queue run of many messages, and queueing one with the relay down."""

import os
import shutil
import subprocess

from ..common import Failure, NotMeasured, Row, apus_conf, fmt_ms, median, small_message, write_private
from ..processes import run_timed
from ..sink import SMTPSink


def row_queue_run(bench):
    n = bench.args.queue_messages or (250 if bench.quick else 1000)
    row = Row("7", f"queue run, {n:,} queued messages, to smtp-sink", "≥ 5,000/s")
    bench.rows.append(row)
    row.msmtp = "— (no queue)"
    if bench.apus_problem:
        row.apus, row.note = "not measured", bench.apus_problem
        return
    a_conf, _, q, dead = bench.relay_down_configs("qrun")
    bench.log(f"queueing {n} messages with the relay down")
    t_queue = []
    try:
        for i in range(n):
            t, _ = run_timed(bench.apus_cmd(a_conf, "-t"), stdin_data=small_message(i))
            t_queue.append(t)
        try:
            queued = bench.queue_count(a_conf)
        except (Failure, ValueError) as e:
            queued = None
            bench.log(f"mailq --json did not list the queue ({e}); relying on smtp-sink's count")
        if queued is not None and queued < n:
            raise Failure(f"{queued} of {n} messages were queued (apus exited 0 for all)")
        # The queue as queued, kept aside: every timed run starts from a copy of it.
        snapshot = q + ".snapshot"
        shutil.copytree(q, snapshot, symlinks=True)
        runs = bench.args.runs or (2 if bench.quick else 5)
        times = []
        for _ in range(runs):
            shutil.rmtree(q)
            shutil.copytree(snapshot, q, symlinks=True)
            # A smtp-sink of this run's own, its counter written to a file and
            # read after the run: reading it live through a pipe woke this Python
            # process once a message, on the same two cores as apus and the sink.
            sink = SMTPSink(bench.procs, bench.work, counter_file=os.path.join(bench.work, "qrun-sink.count"))
            sink.start()
            try:
                write_private(a_conf, apus_conf(sink.port, q))
                t, _ = run_timed(bench.apus_cmd(a_conf, "-qf"))
                got = sink.wait_count(n, timeout=10)
            finally:
                sink.stop()
            if got < n:
                raise Failure(f"the queue run delivered {got} of {n} messages to smtp-sink")
            times.append(t)
    except (Failure, OSError, subprocess.TimeoutExpired) as e:
        row.apus, row.note = "not measured", str(e)
        return
    t = median(times)
    rate = n / t
    row.apus = f"{rate:,.0f} msg/s"
    row.data = {"messages": n, "run_s": t, "runs_s": times, "queueing_median_s": median(t_queue)}
    row.met = rate >= 5000
    row.note = (
        f"{n} messages in {t * 1000:.0f} ms (median of {len(times)} runs, each from a copy of the same queue:"
        f" {min(times) * 1000:.0f}–{max(times) * 1000:.0f} ms); queueing them took {fmt_ms(median(t_queue))} each (median)"
    )


def row_queueing(bench):
    row = Row("8", "queueing, relay down: one submission into the queue (median wall)", "≤ 10 ms")
    bench.rows.append(row)
    a_conf, m_conf, q, _ = bench.relay_down_configs("queueing")
    runs, warm = bench.counts(50, 15), 2
    m_fail = []

    def apus_one():
        t, _ = run_timed(bench.apus_cmd(a_conf, "-t"), stdin_data=small_message())
        return t

    def msmtp_one():
        t, r = run_timed(bench.msmtp_cmd(m_conf, "-t"), stdin_data=small_message(), check=False)
        m_fail.append(r.returncode)
        return t

    a, m, a_err, m_err = bench.alternate(runs, warm, apus_one, msmtp_one)
    if not a_err:
        try:
            queued = bench.queue_count(a_conf)
            if queued < runs + warm:
                a_err = f"apus exited 0 but mailq --json lists {queued} of {runs + warm} messages"
        except (Failure, ValueError) as e:
            a_err = f"could not check the queue with mailq --json: {e}"
    row.data = {"apus_s": a, "msmtp_fail_s": m, "msmtp_status": sorted(set(m_fail))}
    row.msmtp = (f"{fmt_ms(median(m))} (fails, exit {','.join(map(str, sorted(set(m_fail))))})"
                 if m and not m_err else "not measured")
    if a_err:
        row.apus, row.note = "not measured", a_err
    else:
        row.apus = fmt_ms(median(a))
        row.met = median(a) <= 0.010
    row.note = ((row.note + "; ") if row.note else "") + "msmtp has no queue: its column is the time to fail"
    if not a_err:
        try:
            syncs = count_syncs(bench, bench.apus_cmd(a_conf, "-t"))
        except (NotMeasured, OSError, subprocess.SubprocessError) as e:
            row.add_note(f"fsync calls not counted: {e}")
        else:
            if syncs is not None:
                row.data["fsync_calls"] = syncs
                row.add_note(f"one queued submission made {syncs} fsync/fdatasync call(s) (strace, untimed)")


def count_syncs(bench, cmd):
    """fsync-family calls in one run, counted by strace outside the timed runs (None without strace).

    NotMeasured, saying why, when strace ran but gave no count."""
    strace = shutil.which("strace")
    if not strace:
        return None
    out = bench.path("strace.txt")
    r = subprocess.run([strace, "-f", "-c", "-o", out, "-e", "trace=fsync,fdatasync,syncfs,sync_file_range",
                        *cmd], input=small_message(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace").strip().splitlines()
        raise NotMeasured(f"strace exited {r.returncode}" + (f": {err[-1]}" if err else ""))
    if not os.path.exists(out):
        raise NotMeasured(f"strace wrote no summary to {out}")
    total = 0
    with open(out) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and parts[-1] in ("fsync", "fdatasync", "syncfs", "sync_file_range"):
                total += int(parts[3])
    return total
