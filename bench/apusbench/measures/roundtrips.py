"""Rows 3 to 5: round trips a client waits for, through the delaying proxy: plain relay (smtp-sink), STARTTLS + AUTH and implicit TLS + AUTH (the private Postfix)."""

from ..common import NotMeasured, Row, median
from ..proxy import DelayProxy


def round_trips(bench, rid, label, target_rt, server_port, tls, trust, auth, verify, server):
    """Each run goes once through a proxy with no delay and once through one with delay D.

    Shown: median wall at D ÷ D, the measure of the contract, judged on the nearest
    whole number (the fraction is local work: process start, the server's work, TLS
    computation); in brackets (median wall at D − median wall at 0) ÷ D, an estimate
    with that local work taken out, which runs low for a client whose own fixed
    stalls (msmtp's 40 ms delayed-ACK waits) overlap the delayed replies.
    """
    row = Row(rid, f"round trips, {label} (wall_D ÷ D [(wall_D − wall_0) ÷ D], D = {bench.args.delay:g} ms)",
              f"≤ {target_rt}")
    bench.rows.append(row)
    proxy0 = DelayProxy(server_port, 0.0).start()
    proxy = DelayProxy(server_port, bench.delay).start()
    try:
        a0, m0, _ = bench.configs(f"rt{rid}-0", proxy0.port, tls, trust, auth)
        a_conf, m_conf, _ = bench.configs(f"rt{rid}", proxy.port, tls, trust, auth)
        runs, warm = bench.counts(10, 3), 1

        def both(cmd0, cmd):
            first = bench.delivering(cmd0, verify, server)
            second = bench.delivering(cmd, verify, server)
            return lambda: (first(), second())

        a, m, a_err, m_err = bench.alternate(
            runs, warm,
            both(bench.apus_cmd(a0, "-t"), bench.apus_cmd(a_conf, "-t")),
            both(bench.msmtp_cmd(m0, "-t"), bench.msmtp_cmd(m_conf, "-t")))

        def rt(pairs):
            if not pairs:
                return None, None
            w0 = median([x for x, _ in pairs])
            wd = median([y for _, y in pairs])
            return (wd - w0) / bench.delay, wd / bench.delay

        (a_net, a_raw), (m_net, m_raw) = rt(a), rt(m)
        row.data = {"apus_wall0_wallD_s": a, "msmtp_wall0_wallD_s": m, "runs": runs,
                    "delay_s": bench.delay, "apus_rt": a_net, "apus_wall_over_D": a_raw,
                    "msmtp_rt": m_net, "msmtp_wall_over_D": m_raw}
        row.msmtp = "not measured" if m_err or m_net is None else f"{m_raw:.1f} [{m_net:.1f}]"
        if m_err:
            row.note = f"msmtp: {m_err}"
        if a_err or a_net is None:
            row.apus = "not measured"
            row.note = ((row.note + "; ") if row.note else "") + (a_err or "no runs")
        else:
            row.apus = f"{a_raw:.1f} [{a_net:.1f}]"
            # a count of waits is a whole number: judged on the nearest one (timer and
            # scheduling slack adds a little to each delayed flight)
            row.met = round(a_raw) <= target_rt
            if m_raw:
                row.ratio = f"{a_raw / m_raw:.2f}"
    finally:
        proxy.stop()
        proxy0.stop()


def row_plain_rt(bench):
    round_trips(bench, "3", "plain relay", 4, bench.sink.port, "off", None, False,
                     bench.sink_verifier(), "smtp-sink")


def tls_rows(bench):
    for rid, label, target, tls in (("4", "STARTTLS + AUTH", 8, "starttls"),
                                     ("5", "implicit TLS + AUTH", 6, "on")):
        try:
            pf = bench.private_postfix()
        except NotMeasured as e:
            row = Row(rid, f"round trips, {label}", f"≤ {target}")
            row.msmtp = row.apus = "not measured"
            row.note = f"private Postfix: {e}"
            bench.rows.append(row)
            continue
        port = pf.starttls_port if tls == "starttls" else pf.tls_port

        def verify(target_n=None, pf=pf):
            return pf.accepted() if target_n is None else pf.wait_accepted(target_n)
        round_trips(bench, rid, label, target, port, tls, pf.ca_file, True, verify, "the private Postfix")
