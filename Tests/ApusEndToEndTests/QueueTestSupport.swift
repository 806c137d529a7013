import ApusTestSupport
import Foundation
import Glibc
import Testing

/// One test's world for the durable-queue end-to-end tests: a temporary
/// directory with the queue (`q`), the delivery log (`log`) and configuration
/// files, and the built `apus` run against it.
final class QueueHarness: @unchecked Sendable {
    let directory: TemporaryDirectory
    /// The queue directory.
    let queue: String
    /// The delivery log file.
    let logPath: String
    /// The built executable.
    let executable: String

    init() throws {
        directory = try TemporaryDirectory(prefix: "apus-queue-e2e")
        queue = try directory.makeDirectory("q", mode: 0o755)
        logPath = directory.file("log")
        executable = try ApusExecutable.path()
    }

    /// Writes a configuration file for a relay at 127.0.0.1:`port` and returns its path.
    @discardableResult
    func config(
        _ name: String = "apus.conf", port: UInt16, retry: String = "1s", lifetime: String = "5d",
        timeout: String = "3", queueDirectory: String? = nil, extra: [String] = []
    ) throws -> String {
        let lines =
            [
                "queue_dir \(queueDirectory ?? queue)", "log \(logPath)", "host 127.0.0.1", "port \(port)", "tls off",
                "domain test.example", "timeout \(timeout)", "retry \(retry)", "queue_lifetime \(lifetime)",
            ] + extra
        return try directory.write(name, lines.joined(separator: "\n") + "\n")
    }

    /// A configuration whose relay refuses connections (a port nobody listens on).
    func downConfig(_ name: String = "down.conf", retry: String = "1s", lifetime: String = "5d", extra: [String] = [])
        throws -> String
    {
        try config(name, port: try freeLoopbackPort(), retry: retry, lifetime: lifetime, extra: extra)
    }

    /// Runs `apus arguments…` with the test's environment plus `environment`.
    func apus(
        _ arguments: [String], environment: [String: String] = [:], input: [UInt8] = [], timeout: Double = 30
    ) throws -> SubprocessResult {
        var env = ProcessInfo.processInfo.environment
        env["APUS_FAULT"] = nil
        for (key, value) in environment { env[key] = value }
        return try Subprocess.run(
            executable, arguments: arguments, environment: env, standardInput: input, timeout: timeout)
    }

    /// A message with a unique Subject and Message-ID (`<subject@test.example>`).
    static func message(subject: String, body: String = "hello from the queue tests\n") -> [UInt8] {
        Array("Subject: \(subject)\nMessage-ID: <\(subject)@test.example>\n\n\(body)".utf8)
    }

    /// Submits a message (`-bm`) through `config` to `recipients`.
    func submit(
        _ config: String, subject: String, to recipients: [String] = ["rcpt@example.com"], sender: String? = nil,
        body: String = "hello from the queue tests\n", environment: [String: String] = [:]
    ) throws -> SubprocessResult {
        var arguments = ["-C", config, "-i"]
        if let sender { arguments += ["-f", sender] }
        arguments += ["--"] + recipients
        return try apus(
            arguments, environment: environment, input: Self.message(subject: subject, body: body), timeout: 30)
    }

    /// Runs the queue (`-qf` unless told otherwise) with `config`.
    func runQueue(_ config: String, _ flags: [String] = ["-qf"], environment: [String: String] = [:])
        throws -> SubprocessResult
    {
        try apus(["-C", config] + flags, environment: environment, timeout: 60)
    }

    /// The ids of visible messages (a `.msg` file, or a version-1 `.env`), sorted.
    func visibleIDs() throws -> [String] {
        try directory.contents(of: "q").filter { $0.hasSuffix(".msg") || $0.hasSuffix(".env") }
            .map { String($0.dropLast(4)) }.sorted()
    }

    /// Every file in the queue directory.
    func queueFiles() throws -> [String] { try directory.contents(of: "q") }

    /// The envelope's text: the last record of the `.msg` file, or the
    /// version-1 `.env` file.
    func envelope(_ id: String) throws -> String {
        let path = queue + "/\(id).msg"
        guard FileManager.default.fileExists(atPath: path) else {
            return String(decoding: try directory.read("q/\(id).env"), as: UTF8.self)
        }
        let file = try QueueFileParts(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        return String(decoding: try #require(file.records.last), as: UTF8.self)
    }

    /// Gives a message a new envelope as a queue run would: a record appended
    /// to its `.msg` file (apus(8), QUEUE FILE FORMAT), or a version-1 `.env` rewritten.
    func replaceEnvelope(_ id: String, _ text: String) throws {
        let path = queue + "/\(id).msg"
        guard FileManager.default.fileExists(atPath: path) else {
            try directory.write("q/\(id).env", text)
            return
        }
        let body = Array(text.utf8)
        let header = String(format: "envelope %010d %08x\n", body.count, QueueFileParts.crc32(body))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(Array(header.utf8) + body))
    }

    /// The queued content (the `.msg` file's content part, or a version-1 `.data` file).
    func content(_ id: String) throws -> [UInt8] {
        let path = queue + "/\(id).msg"
        guard FileManager.default.fileExists(atPath: path) else { return try directory.read("q/\(id).data") }
        return try QueueFileParts(Array(try Data(contentsOf: URL(fileURLWithPath: path)))).content
    }

    /// `mailq --json` (through `-bp --json`), each line parsed.
    func mailqJSON(_ config: String) throws -> [[String: Any]] {
        let result = try apus(["-C", config, "-bp", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty, "mailq reported problems: \(result.stderr)")
        return try result.stdout.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any], "not an object: \(line)")
        }
    }

    /// The delivery log so far.
    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// The id and reason of the one `apus: queued ID: reason` line on stderr, or nil.
func parseQueuedLine(_ result: SubprocessResult) -> (id: String, reason: String)? {
    let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false)
    guard lines.count == 2, lines[1].isEmpty else { return nil }
    guard let match = lines[0].wholeMatch(of: /apus: queued ([0-9A-F]{10,32}): (.+)/) else { return nil }
    return (String(match.1), String(match.2))
}

/// The value of the first `Subject:` header in `text`.
func subjectHeader(of text: String) -> String? {
    // "\r\n" is one Character: split the unified text.
    for line in text.replacingOccurrences(of: "\r\n", with: "\n").split(
        separator: "\n", omittingEmptySubsequences: false)
    {
        if line.isEmpty { return nil }
        if line.lowercased().hasPrefix("subject:") {
            return line.dropFirst(8).trimmingCharacters(in: .whitespaces)
        }
    }
    return nil
}

/// How many accepted messages the server got per Subject.
func acceptedSubjects(_ server: ScriptableSMTPServer) -> [String: Int] {
    var counts: [String: Int] = [:]
    for message in server.messages where message.accepted {
        counts[subjectHeader(of: message.text) ?? "", default: 0] += 1
    }
    return counts
}

/// A server without CHUNKING (so the message goes with DATA), scripted by `rules`.
func dataServer(_ script: (inout ScriptableSMTPServer.Configuration) -> Void = { _ in }) throws
    -> ScriptableSMTPServer
{
    var configuration = ScriptableSMTPServer.Configuration()
    configuration.extensions.removeAll { $0 == "CHUNKING" }
    script(&configuration)
    return try ScriptableSMTPServer(configuration)
}

/// Runs `body` for each element on its own thread, all at once; results in order.
func concurrently<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) -> [Result<T, any Error>] {
    let lock = NSLock()
    nonisolated(unsafe) var results = [Result<T, any Error>?](repeating: nil, count: count)
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            let result = Result { try body(index) }
            lock.withLock { results[index] = result }
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    group.wait()
    return results.map { $0 ?? .failure(Unfinished()) }
}

/// A concurrent body that never stored its result.
struct Unfinished: Error {}

/// Facts about a failure notice, read with Python's email package.
struct NoticeFacts: Decodable {
    var contentType: String
    var reportType: String?
    var partTypes: [String]
    var finalRecipients: [String]
    var actions: [String]
    var statuses: [String]
    var originalSubject: String?
    var to: String?
    var autoSubmitted: String?
}

/// Parses `bytes` as an RFC 3464 report with Python's `email` package.
func parseNotice(_ bytes: [UInt8]) throws -> NoticeFacts {
    let scratch = try TemporaryDirectory(prefix: "apus-notice")
    let path = try scratch.write("notice.eml", bytes)
    let script = """
        import email, json, sys
        from email import policy
        m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.compat32)
        facts = {'contentType': m.get_content_type(), 'reportType': m.get_param('report-type'),
                 'partTypes': [], 'finalRecipients': [], 'actions': [], 'statuses': [],
                 'originalSubject': None, 'to': m['To'], 'autoSubmitted': m['Auto-Submitted']}
        for part in (m.get_payload() if m.is_multipart() else []):
            facts['partTypes'].append(part.get_content_type())
            if part.get_content_type() == 'message/delivery-status':
                for block in part.get_payload()[1:]:
                    facts['finalRecipients'].append(block['Final-Recipient'])
                    facts['actions'].append(block['Action'])
                    facts['statuses'].append(block['Status'])
            if part.get_content_type() == 'text/rfc822-headers':
                headers = email.message_from_string(part.get_payload())
                facts['originalSubject'] = headers['Subject']
        print(json.dumps(facts))
        """
    let result = try Subprocess.run("/usr/bin/env", arguments: ["python3", "-c", script, path], timeout: 30)
    try #require(result.status == 0, "python failed: \(result.stderr)")
    return try JSONDecoder().decode(NoticeFacts.self, from: Data(result.standardOutput))
}

/// A version-2 queue file taken apart as apus(8) describes it (QUEUE FILE
/// FORMAT), independently of the code under test: the header, the content,
/// and each whole envelope record's body (CRC-32 checked) in order.
struct QueueFileParts {
    struct Malformed: Error, CustomStringConvertible { var description: String }

    var content: [UInt8]
    var records: [[UInt8]]

    init(_ bytes: [UInt8]) throws {
        guard bytes.count >= 32, bytes[0..<13].elementsEqual("apus-queue 2 ".utf8), bytes[31] == 10,
            let length = Int(String(decoding: bytes[13..<31], as: UTF8.self)), 32 + length <= bytes.count
        else { throw Malformed(description: "bad header") }
        content = Array(bytes[32..<(32 + length)])
        records = []
        var index = 32 + length
        while bytes.count - index >= 29, bytes[index..<(index + 9)].elementsEqual("envelope ".utf8),
            let size = Int(String(decoding: bytes[(index + 9)..<(index + 19)], as: UTF8.self)),
            let crc = UInt32(String(decoding: bytes[(index + 20)..<(index + 28)], as: UTF8.self), radix: 16),
            index + 29 + size <= bytes.count
        {
            let body = Array(bytes[(index + 29)..<(index + 29 + size)])
            guard Self.crc32(body) == crc else { break }
            records.append(body)
            index += 29 + size
        }
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        return ~crc
    }
}

/// Rewrites the one version-2 message in `queueDirectory` as an apus before
/// queue format 2 left it (`<id>.env` and `<id>.data`), its content passed
/// through `change` (a tampered data file, as an older apus could queue).
/// - Returns: the path of the data file.
@discardableResult
func downgradeToVersionOne(queueDirectory: String, change: (inout Data) -> Void = { _ in }) throws -> String {
    let names = try FileManager.default.contentsOfDirectory(atPath: queueDirectory).filter { $0.hasSuffix(".msg") }
    let name = try #require(names.count == 1 ? names[0] : nil, "\(names)")
    let id = String(name.dropLast(4))
    let parts = try QueueFileParts(Array(try Data(contentsOf: URL(fileURLWithPath: queueDirectory + "/" + name))))
    var content = Data(parts.content)
    change(&content)
    let dataPath = queueDirectory + "/\(id).data"
    try content.write(to: URL(fileURLWithPath: dataPath))
    try Data(try #require(parts.records.last)).write(to: URL(fileURLWithPath: queueDirectory + "/\(id).env"))
    try FileManager.default.removeItem(atPath: queueDirectory + "/" + name)
    return dataPath
}
