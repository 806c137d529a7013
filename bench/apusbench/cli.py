"""The command line: bench/run's options, building what is missing, printing the results."""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

from . import __doc__ as PACKAGE_DOC
from .bench import Bench
from .common import REPO, SWIFT_BIN
from .postfix import DEFAULT_TOOL as POSTFIX_TOOL
from .report import markdown_table, table, tool_version, write_json
from .selftest import self_test


def parser():
    ap = argparse.ArgumentParser(prog="bench/run", description=PACKAGE_DOC.split("\n")[0])
    ap.add_argument("--apus", default=os.path.join(REPO, ".build", "release", "apus"),
                    help="the apus binary (default .build/release/apus)")
    ap.add_argument("--msmtp", default=shutil.which("msmtp") or "/usr/bin/msmtp")
    ap.add_argument("--quick", action="store_true", help="fewer runs and a 250-message queue: under a minute")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed or not measured")
    ap.add_argument("--build", action="store_true",
                    help="build apus first if it is missing (packaging/build-release), and the private-postfix "
                         "command the TLS rows use (swift build --product private-postfix)")
    ap.add_argument("--postfix-tool", metavar="PATH", default=POSTFIX_TOOL,
                    help="the command that runs the private Postfix (default .build/debug/private-postfix)")
    ap.add_argument("--delay", type=float, metavar="MS",
                    help="server→client delay D of the round-trip rows (default 50: at smaller D the servers' own TLS work weighs too much)")
    ap.add_argument("--rows", help="only these rows, e.g. 1,3,7")
    ap.add_argument("--runs", type=int, metavar="N", help="timed runs per client in every row (overrides the defaults)")
    ap.add_argument("--queue-messages", type=int, metavar="N",
                    help="messages in the queue-run row (default 1000, 250 with --quick)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown too")
    ap.add_argument("--self-test", action="store_true", help="check the proxy and the parsers, no timing")
    return ap


def main(argv):
    ap = parser()
    args = ap.parse_args(argv)

    if args.self_test:
        return self_test()
    if args.delay is None:
        args.delay = 50.0
    if args.delay <= 0:
        ap.error("--delay must be positive")

    args.apus = os.path.abspath(args.apus)
    if args.build:
        build(args)

    bench = Bench(args)
    started = time.time()

    def on_signal(signum, _frame):
        bench.procs.stop_all()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    rows = bench.run()
    elapsed = time.time() - started
    msmtp_v = tool_version([args.msmtp, "--version"]) if not bench.msmtp_problem else None
    cmd = "bench/run " + " ".join(argv)
    print(f"apus benchmarks ({'quick' if args.quick else 'full'} run, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; apus {args.apus}; {msmtp_v or 'msmtp: none'})")
    print(table(rows))
    if args.markdown:
        print()
        print(markdown_table(rows))
    print(f"({elapsed:.0f} s)")
    if args.json:
        write_json(args.json, cmd, args, msmtp_v, elapsed, rows)
    if args.strict and any(r.met is not True for r in rows):
        return 1
    return 0


def build(args):
    """--build: what is missing, built; a failed build is said, and its rows say "not measured"."""
    env = dict(os.environ, PATH=f"{SWIFT_BIN}:{os.environ.get('PATH', '')}")
    if not os.access(args.apus, os.X_OK):
        # install.sh's and the Debian package's build, flags and all
        script = os.path.join(REPO, "packaging", "build-release")
        print(f"bench: {script}", file=sys.stderr)
        r = subprocess.run([script], cwd=REPO, env=env, stdout=subprocess.PIPE)
        built = r.stdout.decode(errors="replace").strip().splitlines()
        if r.returncode != 0 or not built:
            print("bench: the build failed; apus rows will not be measured", file=sys.stderr)
        elif not os.access(args.apus, os.X_OK):  # --apus named another place: measure what was built
            args.apus = built[-1]
    if not os.access(args.postfix_tool, os.X_OK) and shutil.which("swift", path=env["PATH"]):
        print("bench: swift build --product private-postfix (the TLS rows' private Postfix)", file=sys.stderr)
        r = subprocess.run(["swift", "build", "--product", "private-postfix"], cwd=REPO, env=env)
        if r.returncode != 0:
            print("bench: the build failed; the TLS rows will not be measured", file=sys.stderr)
