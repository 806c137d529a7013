import ApusTestSupport
import Foundation
import Testing

/// A scriptable relay configured by `change` (see ``scriptedServer(_:)``) and a
/// sandbox sending to it with `settings`. The sandbox keeps the relay, which
/// stops when both are released.
func scriptedSandbox(
    settings: String = "", _ change: (inout ScriptableSMTPServer.Configuration) -> Void = { _ in }
) throws -> (server: ScriptableSMTPServer, sandbox: ApusSandbox) {
    let server = try scriptedServer(change)
    let sandbox = try ApusSandbox(port: server.port, settings: settings)
    sandbox.relay = server
    return (server, sandbox)
}

/// An smtp-sink relay and a sandbox sending to it with `settings`. The
/// sandbox keeps the sink, which stops when both are released.
func sinkSandbox(settings: String = "") throws -> (sink: SMTPSink, sandbox: ApusSandbox) {
    let sink = try SMTPSink()
    let sandbox = try ApusSandbox(port: sink.port, settings: settings)
    sandbox.relay = sink
    return (sink, sandbox)
}

/// One test's private apus: a temporary directory holding `apus.conf` (relay,
/// `queue_dir` and `log` inside it, `domain test.example`, `timeout 3`), and
/// a way to run the built binary against it.
///
/// Every test makes its own sandbox and its own servers, so tests run in parallel.
final class ApusSandbox: @unchecked Sendable {
    let directory: TemporaryDirectory
    /// The built `apus`.
    let executable: String
    /// The relay settings and whatever the test added.
    private(set) var settings: String

    /// The relay the sandbox sends to, kept running while the sandbox is in
    /// use (see ``scriptedSandbox(settings:_:)`` and ``sinkSandbox(settings:)``).
    var relay: AnyObject?

    var configPath: String { directory.file("apus.conf") }
    var queueDirectory: String { directory.file("queue") }
    var logPath: String { directory.file("apus.log") }

    /// A sandbox relaying to `127.0.0.1:port` with `settings` appended to the
    /// host-wide defaults (before any `account` line the settings may start).
    init(port: UInt16, host: String = "127.0.0.1", settings extra: String = "") throws {
        directory = try TemporaryDirectory(prefix: "apus-e2e")
        executable = try ApusExecutable.path()
        settings = """
            host \(host)
            port \(port)
            domain test.example
            timeout 3
            queue_dir \(directory.path)/queue
            log \(directory.path)/apus.log

            """
        settings += extra.hasSuffix("\n") || extra.isEmpty ? extra : extra + "\n"
        try directory.write("apus.conf", settings)
        // install.sh makes the queue directory (apus would create it on first use).
        try directory.makeDirectory("queue")
    }

    /// A sandbox relaying to a port where nothing listens (connection refused).
    convenience init(refusing settings: String = "") throws {
        try self.init(port: try freeLoopbackPort(), settings: settings)
    }

    /// Replaces apus.conf with `text`.
    func writeConfig(_ text: String) throws {
        settings = text
        try directory.write("apus.conf", text)
    }

    /// Runs apus with `-C apus.conf` then `arguments`, `input` on stdin.
    ///
    /// - Parameters:
    ///   - program: run through a symlink of that name (`sendmail`, `mailq`).
    ///   - config: pass `-C apus.conf` first (false: the arguments alone).
    func run(
        _ arguments: [String], input: String = "", program: String? = nil, config: Bool = true,
        environment: [String: String]? = nil, timeout: Double = 20
    ) throws -> SubprocessResult {
        try run(
            arguments, bytes: Array(input.utf8), program: program, config: config, environment: environment,
            timeout: timeout)
    }

    /// Like ``run(_:input:program:config:environment:timeout:)`` with bytes on stdin.
    func run(
        _ arguments: [String], bytes: [UInt8], program: String? = nil, config: Bool = true,
        environment: [String: String]? = nil, timeout: Double = 20
    ) throws -> SubprocessResult {
        let path = try program.map { try link($0) } ?? executable
        return try Subprocess.run(
            path, arguments: (config ? ["-C", configPath] : []) + arguments, environment: environment,
            standardInput: bytes, workingDirectory: directory.path, timeout: timeout)
    }

    /// A symlink to apus named `name` in the sandbox (made once).
    func link(_ name: String) throws -> String {
        let path = directory.file(name)
        if FileManager.default.fileExists(atPath: path) { return path }
        return try directory.symlink(name, to: executable)
    }

    /// A shell script named `name` that records its arguments (one per line,
    /// in `NAME.argv`) and runs apus under that name with `-C apus.conf` first:
    /// for real clients, which cannot pass `-C`.
    func wrapper(_ name: String = "sendmail") throws -> String {
        let argv = directory.file("\(name).argv")
        let script = """
            #!/bin/bash
            printf '%s\\n' "$@" > '\(argv)'
            exec -a \(name) '\(executable)' -C '\(configPath)' "$@"

            """
        return try directory.write(name, script, mode: 0o755)
    }

    /// The arguments the wrapper named `name` was last run with.
    func wrapperArguments(_ name: String = "sendmail") -> [String] {
        let text = (try? String(contentsOfFile: directory.file("\(name).argv"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// Runs apus like ``run(_:input:program:config:environment:timeout:)``,
    /// expects exit 0, and returns the one message `sink` then received.
    func sendOne(
        _ arguments: [String], input: String, program: String? = nil, to sink: SMTPSink,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> SMTPSink.SavedMessage {
        let result = try run(arguments, input: input, program: program)
        #expect(result.status == 0, "\(result.summary)", sourceLocation: sourceLocation)
        return try #require(try sink.waitForMessages(1).first, sourceLocation: sourceLocation)
    }

    /// The lines of the delivery log.
    func logLines() -> [String] {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    /// Every regular file under the queue directory (relative paths).
    func queueFiles() -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: queueDirectory) else { return [] }
        var files: [String] = []
        while let name = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: queueDirectory + "/" + name, isDirectory: &isDirectory),
                !isDirectory.boolValue
            {
                files.append(name)
            }
        }
        return files.sorted()
    }

    /// The queued messages' files (`<id>.msg`, one per message: apus(8), QUEUE FILE FORMAT).
    func queuedMessages() -> [String] { queueFiles().filter { $0.hasSuffix(".msg") && !$0.contains("/") } }

    /// The text of every queue file together.
    func queueText() -> String {
        queueFiles().map { (try? String(contentsOfFile: queueDirectory + "/" + $0, encoding: .utf8)) ?? "" }
            .joined(separator: "\n")
    }
}

/// A plain message with the given headers and body (LF line ends).
func message(_ headers: [String], body: String = "Hello.\n") -> String {
    headers.map { $0 + "\n" }.joined() + "\n" + body
}

extension SubprocessResult {
    /// Standard error's lines.
    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }

    /// A description for failed expectations.
    var summary: String { "status \(status)\(timedOut ? " (timed out)" : "")\nstdout: \(stdout)\nstderr: \(stderr)" }
}

extension SMTPSink.SavedMessage {
    /// The header section (up to the first empty line).
    var headerText: String {
        guard let end = text.range(of: "\n\n") else { return text }
        return String(text[..<end.lowerBound])
    }

    /// The body (after the first empty line).
    var body: String {
        guard let end = text.range(of: "\n\n") else { return "" }
        return String(text[end.upperBound...])
    }

    /// The values of header `name` (case-insensitive), unfolded.
    func header(_ name: String) -> [String] {
        headers(in: headerText, name)
    }

    /// The recipient addresses (inside the brackets of each X-Rcpt-Args).
    var recipients: [String] { recipientArguments.map(bracketed) }

    /// The MAIL FROM address.
    var sender: String { bracketed(mailArguments) }
}

extension ReceivedMessage {
    /// The values of header `name` (case-insensitive), unfolded.
    func header(_ name: String) -> [String] {
        let text = self.text.replacingOccurrences(of: "\r\n", with: "\n")
        guard let end = text.range(of: "\n\n") else { return headers(in: text, name) }
        return headers(in: String(text[..<end.lowerBound]), name)
    }
}

/// The values of header `name` in a header section.
func headers(in section: String, _ name: String) -> [String] {
    var values: [String] = []
    var current: String? = nil
    for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.first == " " || line.first == "\t" {
            if let before = current { current = before + " " + line.trimmingCharacters(in: .whitespaces) }
            continue
        }
        if let current { values.append(current) }
        current = nil
        if let colon = line.firstIndex(of: ":"), line[..<colon].lowercased() == name.lowercased() {
            current = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
    }
    if let current { values.append(current) }
    return values
}

/// The address inside the first `<…>`, or the first word.
func bracketed(_ text: String) -> String {
    guard let open = text.firstIndex(of: "<"), let close = text[open...].firstIndex(of: ">") else {
        return String(text.split(separator: " ").first ?? "")
    }
    return String(text[text.index(after: open)..<close])
}

/// Whether `program` is installed in one of the usual directories.
func installed(_ program: String) -> Bool {
    ["/usr/bin/", "/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/lib/git-core/"].contains {
        FileManager.default.isExecutableFile(atPath: $0 + program)
    }
}

/// Whether the tests run as root (the setgid tests need it).
let runningAsRoot = getuid() == 0
