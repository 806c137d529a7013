import ApusTransport
import Foundation

/// One connection of a ``ScriptableSMTPServer``: reads commands, answers them
/// from the script or the defaults, records everything.
final class ServerSession {
    private let core: ServerCore
    private let number: Int
    private var stream: any ByteStream
    private var buffer: [UInt8] = []
    private var readCount = 0
    private var counts: [String: Int] = [:]
    private var inTLS = false
    private var hostname: String { core.configuration.hostname }

    // The transaction in progress.
    private var mailFrom: String?
    private var recipients: [String] = []
    private var chunks: [[UInt8]] = []
    private var queuedCount = 0

    /// Stop the session (client gone, dropped, or server stopping).
    private struct Ended: Error {}

    init(core: ServerCore, number: Int, stream: any ByteStream) {
        self.core = core
        self.number = number
        self.stream = stream
    }

    func run() {
        do {
            if core.configuration.implicitTLS { try startTLS() }
            try respond(verb: "CONNECT", default: "220 \(hostname) ESMTP apus test server")
            while true {
                guard let (line, readIndex) = try readLine() else { return }
                let verb = ConnectionRecord.verb(of: line)
                let overTLS = inTLS
                core.record(number) {
                    $0.commands.append(ReceivedCommand(line: line, verb: verb, readIndex: readIndex, overTLS: overTLS))
                }
                try handle(verb: verb, line: line)
            }
        } catch {
            return
        }
    }

    // MARK: - Commands

    private func handle(verb: String, line: String) throws {
        let arguments = Self.arguments(of: line)
        switch verb {
        case "EHLO":
            resetTransaction()
            var keywords = core.configuration.extensions
            if inTLS { keywords.removeAll { $0.uppercased() == "STARTTLS" } }
            let lines = [hostname] + keywords
            let text = lines.enumerated().map { i, word in (i == lines.count - 1 ? "250 " : "250-") + word }
            try respond(verb: verb, default: .reply(text.joined(separator: "\n")))
        case "HELO":
            resetTransaction()
            try respond(verb: verb, default: "250 \(hostname)")
        case "MAIL", "SEND", "SOML", "SAML":
            let code = try respond(verb: verb, default: "250 2.1.0 Ok")
            if code / 100 == 2 {
                mailFrom = Self.afterColon(arguments)
                recipients = []
                chunks = []
            }
        case "RCPT":
            let code = try respond(verb: verb, default: "250 2.1.5 Ok")
            if code / 100 == 2 { recipients.append(Self.afterColon(arguments)) }
        case "DATA":
            let code = try respond(verb: verb, default: "354 End data with <CR><LF>.<CR><LF>")
            if code / 100 == 3 {
                let data = try readData()
                try finishMessage(data: data, viaBDAT: false, chunkSizes: [], verb: ".")
            }
        case "BDAT":
            try handleBDAT(arguments)
        case "RSET":
            resetTransaction()
            try respond(verb: verb, default: "250 2.0.0 Ok")
        case "NOOP":
            try respond(verb: verb, default: "250 2.0.0 Ok")
        case "QUIT":
            try respond(verb: verb, default: "221 2.0.0 Bye")
            throw Ended()
        case "VRFY":
            try respond(verb: verb, default: "252 2.0.0 \(arguments)")
        case "EXPN":
            try respond(verb: verb, default: "502 5.5.1 EXPN not available")
        case "HELP":
            try respond(verb: verb, default: "214 2.0.0 See RFC 5321")
        case "TURN":
            try respond(verb: verb, default: "502 5.5.1 TURN not implemented")
        case "STARTTLS":
            if let response = scripted(verb: verb) {
                try perform(response)
            } else if core.configuration.startTLS == nil || inTLS {
                try perform("454 4.7.0 TLS not available")
            } else {
                try perform("220 2.0.0 Ready to start TLS")
                try startTLS()
            }
        case "AUTH":
            if let response = scripted(verb: verb) {
                try perform(response)
            } else if let authenticate = core.configuration.authenticate {
                let exchange = AuthExchange(line: line, connection: number) { [self] text in
                    try perform(.reply("334 \(text)"))
                    guard let (answer, _) = try readLine() else { return nil }
                    core.record(number) { $0.authLines.append(answer) }
                    return answer
                }
                let response: ScriptedResponse
                do {
                    response = try authenticate(exchange)
                } catch {
                    throw Ended()
                }
                try perform(response)
            } else {
                try perform("502 5.5.1 AUTH not available")
            }
        default:
            try respond(verb: verb, default: "500 5.5.2 Error: command not recognized")
        }
    }

    private func handleBDAT(_ arguments: String) throws {
        let words = arguments.split(separator: " ")
        guard let first = words.first, let size = Int(first), size >= 0 else {
            try respond(verb: "BDAT", default: "501 5.5.4 Syntax: BDAT size [LAST]")
            return
        }
        let last = words.count > 1 && words[1].uppercased() == "LAST"
        let chunk = try readExactly(size)
        chunks.append(chunk)
        if last {
            let all = chunks
            try finishMessage(data: all.flatMap { $0 }, viaBDAT: true, chunkSizes: all.map(\.count), verb: "BDAT")
        } else {
            try respond(verb: "BDAT", default: "250 2.0.0 \(size) octets received")
        }
    }

    private func finishMessage(data: [UInt8], viaBDAT: Bool, chunkSizes: [Int], verb: String) throws {
        queuedCount += 1
        let response = scripted(verb: verb) ?? "250 2.0.0 Ok: queued as TEST\(number)X\(queuedCount)"
        let code = Self.firstCode(response)
        let message = ReceivedMessage(
            mailFrom: mailFrom ?? "", recipients: recipients, data: data, viaBDAT: viaBDAT, chunkSizes: chunkSizes,
            accepted: code / 100 == 2)
        core.record(number) { $0.messages.append(message) }
        resetTransaction()
        try perform(response)
    }

    private func resetTransaction() {
        mailFrom = nil
        recipients = []
        chunks = []
    }

    // MARK: - Responses

    /// Counts the verb and returns the scripted response for this occurrence, if any.
    private func scripted(verb: String) -> ScriptedResponse? {
        let occurrence = (counts[verb] ?? 0) + 1
        counts[verb] = occurrence
        return core.configuration.rule(verb: verb, occurrence: occurrence, connection: number)
    }

    /// Performs the scripted or default response; returns its reply code (0 if none).
    @discardableResult
    private func respond(verb: String, default fallback: ScriptedResponse) throws -> Int {
        let response = scripted(verb: verb) ?? fallback
        try perform(response)
        return Self.firstCode(response)
    }

    private func perform(_ response: ScriptedResponse) throws {
        switch response {
        case .reply(let text):
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
                $0.hasSuffix("\r") ? $0.dropLast() : $0
            }
            try send(Array(lines.map { $0 + "\r\n" }.joined().utf8))
        case .raw(let bytes):
            try send(bytes)
        case .delayed(let seconds, let then):
            if !core.sleep(seconds) { throw Ended() }
            try perform(then)
        case .sequence(let responses):
            for response in responses { try perform(response) }
        case .disconnect:
            throw Ended()
        case .hang:
            stream.timeout = 0.05
            while !core.isStopping {
                do {
                    if try readMore() == 0 { break }
                } catch TransportError.timedOut {
                    continue
                }
            }
            throw Ended()
        }
    }

    private func send(_ bytes: [UInt8]) throws {
        do {
            try stream.write(bytes)
        } catch {
            throw Ended()
        }
    }

    /// The reply code a response starts with (the one that counts for the
    /// transaction: the first reply of a sequence), or 0.
    static func firstCode(_ response: ScriptedResponse) -> Int {
        switch response {
        case .reply(let text): return Int(text.prefix(3)) ?? 0
        case .raw(let bytes): return Int(String(decoding: bytes.prefix(3), as: UTF8.self)) ?? 0
        case .delayed(_, let then): return firstCode(then)
        case .sequence(let responses): return responses.first.map(firstCode) ?? 0
        case .disconnect, .hang: return 0
        }
    }

    // MARK: - TLS

    private func startTLS() throws {
        guard let wrap = core.configuration.startTLS else { throw Ended() }
        if !buffer.isEmpty {
            let count = buffer.count
            core.record(number) { $0.bytesBeforeTLS += count }
            buffer.removeAll()
        }
        do {
            stream = try wrap(stream)
        } catch {
            throw Ended()
        }
        inTLS = true
        core.record(number) { $0.usedTLS = true }
        resetTransaction()
    }

    // MARK: - Reading

    /// Reads once from the stream into the buffer, recording the bytes; 0 at end.
    private func readMore() throws -> Int {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = try chunk.withUnsafeMutableBytes { try stream.read(into: $0) }
        if n > 0 {
            let bytes = Array(chunk[0..<n])
            buffer.append(contentsOf: bytes)
            readCount += 1
            core.record(number) {
                $0.received.append(contentsOf: bytes)
                $0.reads.append(bytes)
            }
        }
        return n
    }

    private func readMoreOrEnd() throws {
        do {
            if try readMore() == 0 { throw Ended() }
        } catch let error as Ended {
            throw error
        } catch {
            throw Ended()
        }
    }

    /// The next line without CRLF (or bare LF), with the index of the read
    /// that completed it; nil at end of stream.
    private func readLine() throws -> (String, Int)? {
        while true {
            if let newline = buffer.firstIndex(of: 10) {
                var line = buffer[..<newline]
                if line.last == 13 { line = line.dropLast() }
                let text = String(decoding: line, as: UTF8.self)
                // Lines are consumed as soon as they are complete, so the
                // last read is the one that completed this line.
                let index = readCount - 1
                buffer.removeFirst(newline + 1)
                return (text, index)
            }
            if buffer.count > 1 << 20 { throw Ended() }
            do {
                if try readMore() == 0 { return nil }
            } catch {
                return nil
            }
        }
    }

    /// Exactly `count` bytes (a BDAT chunk).
    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count { try readMoreOrEnd() }
        let chunk = Array(buffer[..<count])
        buffer.removeFirst(count)
        return chunk
    }

    /// DATA content up to the `.` line, dot-unstuffed, CRLF kept on each line.
    private func readData() throws -> [UInt8] {
        var data: [UInt8] = []
        while true {
            guard let newline = buffer.firstIndex(of: 10) else {
                if buffer.count > 64 << 20 { throw Ended() }
                try readMoreOrEnd()
                continue
            }
            var line = Array(buffer[...newline])
            buffer.removeFirst(newline + 1)
            if line == [46, 13, 10] || line == [46, 10] { return data }
            if line.first == 46 { line.removeFirst() }
            data.append(contentsOf: line)
        }
    }

    // MARK: - Parsing

    /// The text after the verb: `FROM:<a@b> SIZE=10` for `MAIL FROM:<a@b> SIZE=10`.
    static func arguments(of line: String) -> String {
        guard let space = line.firstIndex(of: " ") else { return "" }
        return String(line[line.index(after: space)...])
    }

    /// `<a@b> SIZE=10` from `FROM:<a@b> SIZE=10`.
    static func afterColon(_ arguments: String) -> String {
        guard let colon = arguments.firstIndex(of: ":") else { return arguments }
        return String(arguments[arguments.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
    }
}
