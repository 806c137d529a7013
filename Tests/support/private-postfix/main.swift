// private-postfix: ApusTestSupport's PostfixServer as a command, so that the
// benchmarks (bench/) run the same private Postfix as the tests, with one
// home for its set-up.
//
//   private-postfix [--user NAME:PASSWORD]... [--domain DOMAIN]...
//
// Starts a private Postfix on loopback (STARTTLS and AUTH on one port,
// implicit TLS and AUTH on another, Cyrus SASL from a sasldb, Maildir
// delivery for the domains), prints one JSON line describing it, and runs
// until SIGTERM, SIGINT or SIGHUP, or until its standard input ends (its
// caller went away); then stops Postfix's master and removes every file.
// Failure to start: one line on stderr, exit 1; a bad argument: exit 2.
import ApusTestSupport
import Foundation

func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data("private-postfix: \(message)\n".utf8))
    exit(status)
}

var options = PostfixServer.Options()
var users: [(name: String, password: String)] = []
var domains: [String] = []
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    guard argument == "--user" || argument == "--domain" else {
        fail(
            "unknown argument \(argument) (usage: private-postfix [--user NAME:PASSWORD]... [--domain DOMAIN]...)",
            status: 2)
    }
    guard let value = arguments.popFirst() else { fail("\(argument) needs a value", status: 2) }
    if argument == "--domain" {
        domains.append(value)
    } else {
        guard let colon = value.firstIndex(of: ":"), colon != value.startIndex else {
            fail("--user wants NAME:PASSWORD, not \(value)", status: 2)
        }
        users.append((String(value[..<colon]), String(value[value.index(after: colon)...])))
    }
}
if !users.isEmpty { options.users = users }
if !domains.isEmpty { options.domains = domains }

// Blocked here and taken by sigwait below; Postfix's master is started with an
// empty mask (PostfixServer's spawn), so it still gets its signals.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&stopSignals, signal) }
pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

/// Runs the instance until a stop signal; every file is gone when it returns.
func serve(_ options: PostfixServer.Options, until stopSignals: sigset_t) throws {
    var options = options
    var stopSignals = stopSignals
    let certificateDirectory = try TemporaryDirectory(prefix: "apus-postfix-certs")
    options.certificates = try TestCertificates.generate(in: certificateDirectory.path)
    let postfix = try PostfixServer.start(options)
    defer { postfix.stop() }
    let description: [String: Any] = [
        "pid": Int(getpid()),
        "master_pid": Int(postfix.masterPID ?? 0),
        "host": postfix.host,
        "submission_port": Int(postfix.submissionPort),
        "implicit_tls_port": Int(postfix.implicitTLSPort),
        "ca_file": postfix.certificates.caFile,
        "hostname": postfix.hostname,
        "directory": postfix.directory.path,
        "maillog": postfix.directory.file("log/maillog"),
        "maildir": postfix.directory.file("mail/inbox"),
    ]
    let line = try JSONSerialization.data(withJSONObject: description, options: [.sortedKeys])
    FileHandle.standardOutput.write(line + Data("\n".utf8))

    Thread.detachNewThread {
        var buffer = [UInt8](repeating: 0, count: 512)
        while read(0, &buffer, buffer.count) > 0 {}
        kill(getpid(), SIGTERM)
    }
    var received: Int32 = 0
    sigwait(&stopSignals, &received)
}

do {
    try serve(options, until: stopSignals)
} catch {
    fail("\(error)", status: 1)
}
