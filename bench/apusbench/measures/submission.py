"""Row 1: one submission of a small message to smtp-sink, apus against msmtp."""

from ..common import Row, fmt_ms


def row_submission(bench):
    row = Row("1", "one submission, small message, loopback relay (median wall)",
              "apus ≤ 0.06 × msmtp")
    bench.rows.append(row)
    a_conf, m_conf, _ = bench.configs("sink", bench.sink.port)
    runs, warm = bench.counts(40, 10), 2
    verify = bench.sink_verifier()
    a, m, a_err, m_err = bench.alternate(
        runs, warm,
        bench.delivering(bench.apus_cmd(a_conf, "-t"), verify, "smtp-sink"),
        bench.delivering(bench.msmtp_cmd(m_conf, "-t"), verify, "smtp-sink"))
    row.data = {"apus_s": a, "msmtp_s": m, "runs": runs}
    bench.finish_ratio(row, a, m, a_err, m_err, fmt_ms, lambda r: r <= 0.06)
