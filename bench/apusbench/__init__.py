"""apus benchmarks: every row of the performance contract, apus against msmtp.

    bench/run                  full run (a few minutes)
    bench/run --quick          CI-sized run (under a minute)
    bench/run --json FILE      also write the results as JSON
    bench/run --strict         exit 1 when a target is missed or a row could not be measured
    bench/run --self-test      check the delaying proxy and the parsing pieces (no timing)

Python 3 standard library only; installs nothing. It needs, from Debian packages:
postfix (/usr/sbin/smtp-sink, and a private Postfix for the TLS rows), msmtp,
sasl2-bin + libsasl2-modules (the private Postfix's AUTH), openssl (its
certificate), and /opt/swift for the static "hello" start-up baseline and for
the private Postfix, which the tests' own runner starts (the private-postfix
command of the Swift package). Every server it starts listens on 127.0.0.1 and
is stopped by its PID. See docs/performance.md for what each row measures.

The modules:
    common      constants, messages, client configurations, formatting, Row
    processes   starting and stopping processes, timing a client run
    sink        Postfix's smtp-sink with its live message counter
    proxy       the delaying TCP proxy (round trips, in user space)
    postfix     the private Postfix (Tests/support/private-postfix)
    bench       the run: servers, the alternating apus/msmtp loop, the rows in order
    measures/   one module per row group (startup, submission, roundtrips, large, queue)
    report      the text and Markdown tables, JSON
    selftest    --self-test
    cli         the command line
"""
