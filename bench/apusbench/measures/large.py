"""Row 6: a 100 MiB message: peak RSS and throughput to smtp-sink."""

import os

from ..common import MiB, Failure, Row, median, write_large_message
from ..processes import run_rusage


def row_large(bench):
    size = 100 * MiB
    row = Row("6", "100 MiB message: peak RSS", "≤ 16 MiB")
    row2 = Row("6", "100 MiB message: throughput to smtp-sink", "≥ 2 × msmtp's")
    bench.rows += [row, row2]
    path = bench.path("large.eml")
    write_large_message(path, size)
    real = os.path.getsize(path)
    a_conf, m_conf, _ = bench.configs("large", bench.sink.port)
    runs = bench.counts(3, 1)
    res = {"apus": [], "msmtp": []}

    def one(who, cmd):
        def f():
            before = bench.sink.count()
            t, rss, exact = run_rusage(cmd, path, bench.work)
            if not exact:
                row.data["rss_upper_bound"] = True
            if bench.sink.wait_count(before + 1, timeout=10) < before + 1:
                raise Failure(f"{who} exited 0 but smtp-sink received no message (does it deliver yet?)")
            res[who].append((t, rss))
            return t
        return f

    try:
        _, _, a_err, m_err = bench.alternate(runs, 0, one("apus", bench.apus_cmd(a_conf, "-t")),
                                            one("msmtp", bench.msmtp_cmd(m_conf, "-t")))
    finally:
        os.unlink(path)
    rss = {w: max((r for _, r in v), default=None) for w, v in res.items()}
    tput = {w: median([real / t / MiB for t, _ in v]) for w, v in res.items()}
    row.data = row2.data = {"bytes": real, "apus": res["apus"], "msmtp": res["msmtp"]}
    row.msmtp = f"{rss['msmtp'] / MiB:.1f} MiB" if rss["msmtp"] and not m_err else "not measured"
    row2.msmtp = f"{tput['msmtp']:.0f} MiB/s" if tput["msmtp"] and not m_err else "not measured"
    if a_err:
        row.apus = row2.apus = "not measured"
        row.note = row2.note = a_err
    else:
        row.apus = f"{rss['apus'] / MiB:.1f} MiB"
        row2.apus = f"{tput['apus']:.0f} MiB/s"
        row.met = rss["apus"] <= 16 * MiB
        if rss["msmtp"]:
            row.ratio = f"{rss['apus'] / rss['msmtp']:.2f}"
        if tput["msmtp"] and not m_err:
            row2.ratio = f"{tput['apus'] / tput['msmtp']:.2f}"
            row2.met = tput["apus"] >= 2 * tput["msmtp"]
    if m_err:
        row.note = ((row.note + "; ") if row.note else "") + f"msmtp: {m_err}"
