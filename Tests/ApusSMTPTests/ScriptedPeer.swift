import ApusSMTP
import ApusTransport
import Foundation

/// A small scripted SMTP server over a MemoryStream, run on its own thread.
/// The script reads lines and writes replies; everything the client sent is
/// kept for assertions after the fact.
final class ScriptedPeer: @unchecked Sendable {
    let stream: MemoryStream
    private var buffer: [UInt8] = []
    private(set) var lines: [String] = []
    private(set) var failure: String?
    var saved: [[UInt8]] = []
    private let done = DispatchSemaphore(value: 0)

    init(stream: MemoryStream) { self.stream = stream }

    struct Failure: Error { var text: String }

    func send(_ replies: String...) throws {
        try stream.write(Array(replies.map { $0 + "\r\n" }.joined().utf8))
    }

    func sendRaw(_ text: String) throws { try stream.write(Array(text.utf8)) }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = try chunk.withUnsafeMutableBytes { try stream.read(into: $0) }
        if n == 0 { throw Failure(text: "client closed") }
        buffer.append(contentsOf: chunk[0..<n])
    }

    /// Reads one CRLF line (without CRLF).
    @discardableResult
    func readLine() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<i])
                buffer.removeFirst(i + 1)
                if line.last == 13 { line.removeLast() }
                let text = String(decoding: line, as: UTF8.self)
                lines.append(text)
                return text
            }
            try fill()
        }
    }

    /// Reads and checks one line.
    func expect(_ prefix: String) throws {
        let line = try readLine()
        if !line.hasPrefix(prefix) { throw Failure(text: "expected \(prefix), got \(line)") }
    }

    /// Reads DATA content up to and including CRLF.CRLF; returns it without the dot line.
    func readData() throws -> [UInt8] {
        let end: [UInt8] = Array("\r\n.\r\n".utf8)
        var start = 0
        while true {
            if buffer.count >= 3 && Array(buffer.prefix(3)) == Array(".\r\n".utf8) {
                buffer.removeFirst(3)
                return []
            }
            if buffer.count >= end.count {
                for i in start...(buffer.count - end.count) where Array(buffer[i..<(i + end.count)]) == end {
                    let data = Array(buffer[..<(i + 2)])
                    buffer.removeFirst(i + end.count)
                    return data
                }
                start = max(0, buffer.count - end.count + 1)
            }
            try fill()
        }
    }

    /// Reads exactly `count` raw bytes.
    func readBytes(_ count: Int) throws -> [UInt8] {
        while buffer.count < count { try fill() }
        let bytes = Array(buffer[..<count])
        buffer.removeFirst(count)
        return bytes
    }

    /// Reads a BDAT line and its chunk.
    func readBDAT() throws -> (line: String, chunk: [UInt8]) {
        let line = try readLine()
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0] == "BDAT", let n = Int(parts[1]) else {
            throw Failure(text: "expected BDAT, got \(line)")
        }
        return (line, try readBytes(n))
    }

    /// Waits until the client closes; returns what arrived meanwhile.
    func drainUntilClosed() -> [UInt8] {
        while true {
            do { try fill() } catch { return buffer }
        }
    }

    func start(_ script: @escaping @Sendable (ScriptedPeer) throws -> Void) {
        let thread = Thread { [self] in
            do { try script(self) } catch { failure = "\(error)" }
            done.signal()
        }
        thread.start()
    }

    private var finished = false

    /// Waits for the script to finish; returns its failure, if any.
    func finish(timeout: Double = 10) -> String? {
        if !finished {
            if done.wait(timeout: .now() + timeout) == .timedOut { return "script did not finish" }
            finished = true
        }
        return failure
    }
}

/// Runs `script` as the server and `body` as the client over a memory pair.
/// Returns the client's result (or error) and the peer, once the script ended.
func withPeer<T>(
    timeout: Double = 5, isLoopback: Bool = true,
    _ script: @escaping @Sendable (ScriptedPeer) throws -> Void,
    client body: (MemoryStream) throws -> T
) -> (Result<T, any Error>, ScriptedPeer) {
    let (client, server) = MemoryStream.pair(timeout: timeout, isLoopback: isLoopback)
    let peer = ScriptedPeer(stream: server)
    peer.start(script)
    let result = Result { try body(client) }
    client.close()
    _ = peer.finish()
    server.close()
    return (result, peer)
}

/// The usual opening: greeting, EHLO with these extension lines.
func greet(_ peer: ScriptedPeer, extensions: [String]) throws {
    try peer.send("220 test.example ESMTP")
    try peer.expect("EHLO ")
    let lines = ["test.example hello"] + extensions
    let replies = lines.enumerated().map { i, l in "250\(i == lines.count - 1 ? " " : "-")\(l)" }
    try peer.stream.write(Array(replies.map { $0 + "\r\n" }.joined().utf8))
}

extension ScriptedPeer {
    /// Expects each command in turn and answers it with its reply (lock step).
    func answer(_ exchanges: KeyValuePairs<String, String>) throws {
        for (command, reply) in exchanges {
            try expect(command)
            try send(reply)
        }
    }

    /// Reads and checks several lines (a pipelined group).
    func expectLines(_ prefixes: String...) throws {
        for prefix in prefixes { try expect(prefix) }
    }

    /// Reads `count` pipelined command lines unchecked, then sends `replies` in one write.
    func answerPipelined(_ count: Int, _ replies: [String]) throws {
        for _ in 0..<count { try readLine() }
        try stream.write(Array(replies.map { $0 + "\r\n" }.joined().utf8))
    }

    /// Reads a message up to its dot line and answers `reply`; returns the message.
    @discardableResult
    func receiveMessage(_ reply: String) throws -> [UInt8] {
        let data = try readData()
        try send(reply)
        return data
    }
}

/// A session over `stream` that has been greeted and said `EHLO me`.
func greetedSession(_ stream: any ByteStream, trace: SMTPTrace? = nil) throws -> SMTPSession {
    let session = try SMTPSession.connect(stream: stream, trace: trace)
    try session.ehlo("me")
    return session
}

/// Runs `script` as the server while the client, greeted, sends `message`
/// from a@x to `recipients` with `options`.
func sendThroughPeer(
    to recipients: [SMTPRecipient], message: MessageSource = .string("Subject: t\n\n.leading dot\nbody\n"),
    options: SendOptions = SendOptions(), trace: SMTPTrace? = nil,
    _ script: @escaping @Sendable (ScriptedPeer) throws -> Void
) -> (Result<SMTPSendResult, any Error>, ScriptedPeer) {
    withPeer(script) { stream in
        try greetedSession(stream, trace: trace).send(
            SMTPEnvelope(sender: "a@x", recipients: recipients), message: message, options: options)
    }
}
