"""Row 2: start-up of `mailq` on an empty queue, and the static Swift "hello" it is compared with."""

import os
import shutil
import subprocess

from ..common import SWIFT_BIN, Failure, NotMeasured, Row, fmt_ms, free_port, mailq_is_empty, median, release_link_flags
from ..processes import run_timed


def row_startup(bench):
    row = Row("2", "start-up: mailq, empty queue (median wall)", "≤ 5 ms")
    row2 = Row("2", "start-up ÷ static Swift hello (same flags)", "≤ 1.3 × hello")
    bench.rows += [row, row2]
    row.msmtp = row2.msmtp = "—"
    conf, _, q = bench.configs("mailq", free_port())
    bindir = bench.new_dir("bin")
    mailq = os.path.join(bindir, "mailq")
    hello = None
    hello_err = None
    try:
        hello = build_hello(bench)
    except NotMeasured as e:
        hello_err = str(e)
    a_err = bench.apus_problem
    if not a_err:
        if os.path.lexists(mailq):
            os.unlink(mailq)
        os.symlink(os.path.abspath(bench.apus), mailq)
        try:
            _, r = run_timed([mailq, "-C", conf], capture=True)
            out = r.stdout.decode(errors="replace")
            if not mailq_is_empty(out):
                a_err = f"mailq printed {out.strip()[:60]!r}, not 'Mail queue is empty' (not implemented yet?)"
        except Failure as e:
            a_err = str(e)
    runs, warm = bench.counts(200, 40), 5
    a_times, h_times = [], []
    for i in range(warm + runs):
        order = [("apus", [mailq, "-C", conf]), ("hello", [hello] if hello else None)]
        if i % 2:
            order.reverse()
        for who, cmd in order:
            if cmd is None or (who == "apus" and a_err):
                continue
            t, _ = run_timed(cmd, check=False)
            if i >= warm:
                (a_times if who == "apus" else h_times).append(t)
    ma, mh = median(a_times), median(h_times)
    row.data = row2.data = {"apus_s": a_times, "hello_s": h_times, "runs": runs}
    row2.measure = f"start-up ÷ static Swift hello ({fmt_ms(mh) if mh else 'not built'})"
    if a_err:
        row.apus = row2.apus = "not measured"
        row.note = row2.note = a_err
    else:
        row.apus = row2.apus = fmt_ms(ma)
        row.met = ma <= 0.005
        if mh:
            row2.ratio = f"{ma / mh:.2f}"
            row2.met = ma / mh <= 1.3
        else:
            row2.note = f"hello: {hello_err}"


def build_hello(bench):
    swiftc = shutil.which("swiftc") or os.path.join(SWIFT_BIN, "swiftc")
    if not os.access(swiftc, os.X_OK):
        raise NotMeasured("swiftc not found (/opt/swift/usr/bin)")
    d = bench.new_dir("hello")
    src = os.path.join(d, "hello.swift")
    with open(src, "w") as f:
        f.write('import Glibc\n\nputs("hello")\n')
    out = os.path.join(d, "hello")
    bench.log("building the static Swift hello baseline (swiftc -O -static-stdlib, apus's linker flags)")
    # The same linker flags install.sh builds apus with (packaging/release-link-flags).
    flags = release_link_flags()
    # swiftc (unlike swift build) puts `-Xlinker -L…` after the toolchain's own
    # library directories, so libstdc++.so would be found before the linker
    # script that points at libstdc++.a and the hello would load libstdc++.so
    # at every start, which apus does not: the directory is named once more as
    # swiftc's own -L, which comes first.
    search = [f for f in flags if f.startswith("-L")]
    r = subprocess.run([swiftc, "-O", "-static-stdlib", *search, *flags, src, "-o", out], cwd=d,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    if r.returncode != 0:
        raise NotMeasured("swiftc failed: " + r.stdout.decode(errors="replace").strip()[:200])
    if search:
        linked = subprocess.run(["ldd", out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode()
        if "libstdc++" in linked:
            raise NotMeasured("the hello baseline still loads libstdc++.so; it would not be built as apus is")
    return out
