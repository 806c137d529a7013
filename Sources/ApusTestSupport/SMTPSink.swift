import ApusTransport
import Foundation

/// Postfix's `smtp-sink` test server, run on a free loopback port.
///
/// It offers PIPELINING, 8BITMIME, DSN, ENHANCEDSTATUSCODES and AUTH (any
/// credentials), not CHUNKING and not STARTTLS. With `saveMessages` each
/// message is dumped (`-d`) into a temporary directory and can be read back
/// with ``savedMessages()``.
///
/// Runs `/usr/sbin/smtp-sink` (Debian package `postfix`); as root it adds
/// `-u nobody` and makes the dump directory writable for `nobody`. The process
/// is stopped by its PID in ``stop()`` or on release.
package final class SMTPSink: @unchecked Sendable {
    /// Where the program is expected.
    package static let executable = "/usr/sbin/smtp-sink"

    /// Why the sink could not start.
    package struct StartError: Error, CustomStringConvertible {
        /// One sentence naming the cause.
        package var description: String
    }

    /// The loopback host it listens on, `127.0.0.1`.
    package let host = "127.0.0.1"
    /// The port it listens on.
    package let port: UInt16
    /// Host and port to connect to.
    package let address: ServerAddress
    /// The directory messages are dumped into, when saving.
    package let directory: TemporaryDirectory?
    private let child: ChildProcess
    private let log: TemporaryDirectory
    private let stopping = Once()

    /// Starts `smtp-sink` and waits (up to 5 s) until it accepts connections.
    ///
    /// - Parameters:
    ///   - saveMessages: dump each message into ``directory`` (`-d`).
    ///   - hostname: the name in its greeting and EHLO reply (`-h`).
    ///   - arguments: more options placed before the address, for example
    ///     `["-r", "RCPT"]` (soft-reject RCPT), `["-f", "DATA"]`, `["-q", "MAIL"]`,
    ///     `["-W", "RCPT:1"]`, `["-a"]` (no AUTH), `["-p"]` (no PIPELINING).
    /// - Throws: ``StartError`` when smtp-sink is missing (install the
    ///   `postfix` package) or does not come up.
    package init(saveMessages: Bool = true, hostname: String = "smtp-sink", arguments: [String] = []) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw StartError(
                description: "\(Self.executable) not found: install the postfix package "
                    + "(echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections; "
                    + "apt-get install postfix)")
        }
        let directory = saveMessages ? try TemporaryDirectory(prefix: "apus-smtp-sink") : nil
        if let directory {
            try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: directory.path)
        }
        let log = try TemporaryDirectory(prefix: "apus-smtp-sink-log")
        var lastFailure = "did not start"
        for _ in 0..<3 {
            let port = try freeLoopbackPort()
            var argv: [String] = []
            if getuid() == 0 { argv += ["-u", "nobody"] }
            argv += ["-h", hostname]
            if let directory { argv += ["-d", directory.path + "/msg."] }
            argv += arguments
            argv += ["\(host):\(port)", "64"]
            let logPath = log.file("smtp-sink.log")
            let child = try ChildProcess.spawnServer(Self.executable, arguments: argv, log: logPath)
            if Self.waitUntilListening(host: host, port: port, child: child) {
                self.port = port
                self.address = try ServerAddress(host: host, port: port)
                self.directory = directory
                self.child = child
                self.log = log
                return
            }
            child.signal(SIGKILL)
            let status = decodeWaitStatus(child.wait())
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            lastFailure = "exited (\(status.1 ? "signal" : "status") \(status.0)): \(text)"
        }
        throw StartError(description: "smtp-sink \(lastFailure)")
    }

    deinit { stop() }

    private static func waitUntilListening(host: String, port: UInt16, child: ChildProcess) -> Bool {
        let end = Date(timeIntervalSinceNow: 5)
        while Date() < end && child.poll() == nil {
            if let stream = try? TCPStream.connect(host: host, port: port, timeout: 1) {
                stream.close()
                return true
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    /// The process id of the running smtp-sink.
    package var processIdentifier: Int32 { child.pid }

    /// Stops smtp-sink (SIGTERM, then SIGKILL after 2 s) and reaps it. Idempotent.
    package func stop() {
        stopping.run { child.terminate() }
    }

    /// A message smtp-sink dumped: its generated headers and what the client sent.
    package struct SavedMessage: Sendable {
        /// The client's address (`X-Client-Addr`).
        package var clientAddress: String
        /// The HELO/EHLO argument (`X-Helo-Args`), if sent.
        package var heloArguments: String?
        /// The MAIL FROM arguments (`X-Mail-Args`): `FROM:<a@example.com> BODY=8BITMIME`.
        package var mailArguments: String
        /// One per RCPT (`X-Rcpt-Args`): `TO:<b@example.com>`.
        package var recipientArguments: [String]
        /// The message as received (header and body), lines ending in LF as
        /// smtp-sink writes them, without the dump's final empty line.
        package var content: [UInt8]
        /// The dump file's path.
        package var path: String

        /// The content as text.
        package var text: String { String(decoding: content, as: UTF8.self) }
    }

    /// The messages dumped so far, oldest first (by file modification time, then name).
    ///
    /// - Throws: when the sink was started without `saveMessages`, or a dump
    ///   cannot be read or parsed.
    package func savedMessages() throws -> [SavedMessage] {
        guard let directory else { throw StartError(description: "smtp-sink was started without saveMessages") }
        let names = try directory.contents()
        var dated: [(Date, String)] = []
        for name in names {
            let attributes = try FileManager.default.attributesOfItem(atPath: directory.file(name))
            dated.append(((attributes[.modificationDate] as? Date) ?? .distantPast, name))
        }
        dated.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        return try dated.map { try Self.parse(directory.read($0.1), path: directory.file($0.1)) }
    }

    /// Waits (polling) until `count` messages are saved; returns what is there after `timeout`.
    package func waitForMessages(_ count: Int, timeout: Double = 5) throws -> [SavedMessage] {
        let end = Date(timeIntervalSinceNow: timeout)
        while Date() < end {
            let saved = try savedMessages()
            if saved.count >= count { return saved }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return try savedMessages()
    }

    /// Parses a dump: `X-*` records, a three-line `Received:` header, the
    /// message, one empty line.
    static func parse(_ bytes: [UInt8], path: String) throws -> SavedMessage {
        var message = SavedMessage(
            clientAddress: "", heloArguments: nil, mailArguments: "", recipientArguments: [], content: [], path: path)
        var offset = 0
        var receivedLines = 0
        while offset < bytes.count {
            let end = bytes[offset...].firstIndex(of: 10) ?? bytes.count
            let line = String(decoding: bytes[offset..<end], as: UTF8.self)
            offset = min(bytes.count, end + 1)
            if receivedLines > 0 {
                receivedLines += 1
                if receivedLines == 3 { break }
                continue
            }
            func value(_ prefix: String) -> String? {
                line.hasPrefix(prefix) ? String(line.dropFirst(prefix.count)) : nil
            }
            if let v = value("X-Client-Addr: ") {
                message.clientAddress = v
            } else if let v = value("X-Client-Proto: ") {
                _ = v
            } else if let v = value("X-Helo-Args: ") {
                message.heloArguments = v
            } else if let v = value("X-Mail-Args: ") {
                message.mailArguments = v
            } else if let v = value("X-Rcpt-Args: ") {
                message.recipientArguments.append(v)
            } else if line.hasPrefix("Received: ") {
                receivedLines = 1
            } else {
                throw StartError(description: "unexpected line in smtp-sink dump \(path): \(line)")
            }
        }
        var content = Array(bytes[offset...])
        if content.suffix(1) == [10] { content.removeLast() }
        message.content = content
        return message
    }
}
