import ApusDelivery
import ApusPOSIX

/// `-bs`: an SMTP server on standard input and output, as Postfix's
/// `sendmail -bs` offers, for clients that submit over a pipe (swaks --pipe,
/// some MUAs). Each accepted message goes through the same path as `-bm`;
/// the client hears that path's outcome as the reply to the end of data.
///
/// Supported: EHLO/HELO, MAIL (SIZE, BODY, SMTPUTF8, RET, ENVID), RCPT
/// (NOTIFY, ORCPT ignored), DATA, BDAT (CHUNKING), RSET, NOOP, VRFY (252),
/// HELP, QUIT, with PIPELINING: replies are written together just before the
/// server waits for more input. Lines over 4096 octets get 500; the session
/// ends on QUIT, end of input, or after 20 bad commands.
public struct SubmissionServer {
    /// One message as the client gave it.
    public struct Message {
        /// The MAIL FROM address (empty for `<>`).
        public var sender: String
        /// The RCPT TO addresses, in order.
        public var recipients: [String]
        /// The message as received (dot-unstuffed; CRLF line ends).
        public var content: Spool
        /// `BODY=` from MAIL, if given.
        public var bodyType: String?
        /// `RET=` from MAIL, if given.
        public var dsnReturn: String?
        /// `ENVID=` from MAIL, if given.
        public var envelopeID: String?
        /// `NOTIFY=` of the first RCPT that had one.
        public var dsnNotify: String?
    }

    /// The reply to the end of a message's data.
    public struct Reply: Sendable {
        /// 250, 451, 554 …
        public var code: Int
        /// The text after the code and enhanced code.
        public var text: String
        /// Creates a reply.
        public init(_ code: Int, _ text: String) {
            self.code = code
            self.text = text
        }
    }

    private let input: FileDescriptor
    private let output: FileDescriptor
    private let domain: String
    private let spoolDirectory: String
    private let sizeLimit: Int

    /// A server reading `input` and writing `output`, naming itself `domain`.
    public init(input: FileDescriptor, output: FileDescriptor, domain: String, spoolDirectory: String, sizeLimit: Int) {
        self.input = input
        self.output = output
        self.domain = domain
        self.spoolDirectory = spoolDirectory
        self.sizeLimit = sizeLimit
    }

    /// Runs the session until QUIT or end of input; `deliver` is called once
    /// per complete message.
    public func run(deliver: (Message) -> Reply) throws {
        var io = LineIO(input: input, output: output)
        var current: Message? = nil
        var bdatSpool: Spool? = nil
        var errors = 0
        io.queue("220 \(domain) ESMTP apus")
        while let line = try io.readLine(limit: 4096) {
            guard let text = line else {
                io.queue("500 5.5.0 Line too long")
                errors += 1
                if errors >= 20 { break }
                continue
            }
            let (verb, argument) = Self.split(text)
            switch verb {
            case "EHLO":
                current = nil
                io.queue(
                    "250-\(domain)", "250-PIPELINING", "250-SIZE \(sizeLimit)", "250-8BITMIME", "250-SMTPUTF8",
                    "250-CHUNKING", "250-DSN", "250 ENHANCEDSTATUSCODES")
            case "HELO":
                current = nil
                io.queue("250 \(domain)")
            case "MAIL":
                if current != nil { io.queue("503 5.5.1 Error: nested MAIL command"); break }
                guard let (address, parameters) = Self.pathAndParameters(argument, prefix: "FROM:") else {
                    io.queue("501 5.5.4 Syntax: MAIL FROM:<address>")
                    break
                }
                if let size = parameters["SIZE"].flatMap({ Int($0) }), size > sizeLimit {
                    io.queue("552 5.3.4 Message size exceeds fixed limit")
                    break
                }
                current = Message(
                    sender: address, recipients: [], content: Spool(directory: spoolDirectory),
                    bodyType: parameters["BODY"], dsnReturn: parameters["RET"], envelopeID: parameters["ENVID"],
                    dsnNotify: nil)
                io.queue("250 2.1.0 Ok")
            case "RCPT":
                guard current != nil else { io.queue("503 5.5.1 Error: need MAIL command"); break }
                guard let (address, parameters) = Self.pathAndParameters(argument, prefix: "TO:"), !address.isEmpty
                else {
                    io.queue("501 5.5.4 Syntax: RCPT TO:<address>")
                    break
                }
                current?.recipients.append(address)
                if current?.dsnNotify == nil { current?.dsnNotify = parameters["NOTIFY"] }
                io.queue("250 2.1.5 Ok")
            case "DATA":
                guard let message = current else { io.queue("503 5.5.1 Error: need MAIL command"); break }
                guard !message.recipients.isEmpty else { io.queue("554 5.5.1 Error: no valid recipients"); break }
                io.queue("354 End data with <CR><LF>.<CR><LF>")
                guard let tooBig = try io.readData(into: message.content, limit: sizeLimit) else { return }
                if tooBig {
                    io.queue("552 5.3.4 Message size exceeds fixed limit")
                } else {
                    io.queue(Self.format(deliver(message)))
                }
                current = nil
            case "BDAT":
                let words = argument.split(separator: " ")
                guard let first = words.first, let size = Int(first), size >= 0,
                    words.count == 1 || (words.count == 2 && words[1].uppercased() == "LAST")
                else {
                    io.queue("501 5.5.4 Syntax: BDAT size [LAST]")
                    break
                }
                let spool = bdatSpool ?? current?.content ?? Spool(directory: spoolDirectory)
                guard try io.readChunk(size, into: spool) else { return }
                guard let message = current, !message.recipients.isEmpty else {
                    bdatSpool = words.count == 2 ? nil : spool
                    io.queue(current == nil ? "503 5.5.1 Error: need MAIL command" : "554 5.5.1 Error: no valid recipients")
                    break
                }
                if words.count == 2 {
                    if spool.count > sizeLimit {
                        io.queue("552 5.3.4 Message size exceeds fixed limit")
                    } else {
                        io.queue(Self.format(deliver(message)))
                    }
                    current = nil
                    bdatSpool = nil
                } else {
                    io.queue("250 2.0.0 \(size) octets received")
                }
            case "RSET":
                current = nil
                bdatSpool = nil
                io.queue("250 2.0.0 Ok")
            case "NOOP": io.queue("250 2.0.0 Ok")
            case "VRFY": io.queue("252 2.0.0 Send some mail, I'll try my best")
            case "HELP": io.queue("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT")
            case "QUIT":
                io.queue("221 2.0.0 Bye")
                try io.flush()
                return
            default:
                io.queue("502 5.5.2 Error: command not recognized")
                errors += 1
            }
            if errors >= 20 {
                io.queue("421 4.7.0 \(domain) Error: too many errors")
                break
            }
        }
        try io.flush()
    }

    static func format(_ reply: Reply) -> String {
        let enhanced = reply.code < 300 ? "2.0.0" : (reply.code < 500 ? "4.0.0" : "5.0.0")
        let text = reply.text.hasPrefix(String(reply.code / 100) + ".") ? reply.text : "\(enhanced) \(reply.text)"
        return "\(reply.code) \(text)"
    }

    /// "MAIL FROM:<a@b> SIZE=10" → ("MAIL", "FROM:<a@b> SIZE=10").
    static func split(_ line: String) -> (String, String) {
        guard let space = line.firstIndex(of: " ") else { return (line.uppercased(), "") }
        return (line[..<space].uppercased(), String(line[line.index(after: space)...]).trimmingBlanks())
    }

    /// Parses `FROM:<addr> KEY=VALUE…` (the prefix case-insensitive, blanks
    /// after the colon tolerated); returns the address without brackets.
    static func pathAndParameters(_ argument: String, prefix: String) -> (String, [String: String])? {
        guard argument.uppercased().hasPrefix(prefix) else { return nil }
        let rest = argument.dropFirst(prefix.count).drop(while: { $0 == " " })
        let address: Substring
        let tail: Substring
        if rest.first == "<" {
            guard let close = rest.firstIndex(of: ">") else { return nil }
            address = rest[rest.index(after: rest.startIndex)..<close]
            tail = rest[rest.index(after: close)...]
        } else {
            let end = rest.firstIndex(of: " ") ?? rest.endIndex
            address = rest[..<end]
            tail = rest[end...]
        }
        var parameters: [String: String] = [:]
        for word in tail.split(separator: " ") {
            let parts = word.split(separator: "=", maxSplits: 1)
            parameters[parts[0].uppercased()] = parts.count == 2 ? String(parts[1]) : ""
        }
        return (String(address), parameters)
    }
}

/// Line-oriented buffered I/O for ``SubmissionServer``: replies are queued and
/// written in one go whenever the server is about to wait for input.
struct LineIO {
    let input: FileDescriptor
    let output: FileDescriptor
    private var buffer: [UInt8] = []
    private var start = 0
    private var pending: [UInt8] = []
    private var atEnd = false

    init(input: FileDescriptor, output: FileDescriptor) {
        self.input = input
        self.output = output
    }

    mutating func queue(_ lines: String...) {
        for line in lines {
            pending += Array(line.utf8)
            pending += [13, 10]
        }
    }

    mutating func flush() throws {
        guard !pending.isEmpty else { return }
        try output.writeAll(pending)
        pending = []
    }

    /// Reads more input, flushing queued replies first when the buffer is empty.
    private mutating func fill() throws -> Bool {
        if atEnd { return false }
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        try flush()
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
        defer { chunk.deallocate() }
        let n = try input.read(into: chunk)
        if n == 0 {
            atEnd = true
            return false
        }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// The next line without its CRLF or LF; `.some(nil)` for a line over
    /// `limit` (skipped); nil at end of input.
    mutating func readLine(limit: Int) throws -> String?? {
        var scanned = start
        while true {
            if let nl = buffer[scanned...].firstIndex(of: 10) {
                var end = nl
                if end > start && buffer[end - 1] == 13 { end -= 1 }
                let line = buffer[start..<end]
                start = nl + 1
                if line.count > limit { return .some(nil) }
                return .some(String(decoding: line, as: UTF8.self))
            }
            // How far past `start` was searched: fill() moves `start` to 0.
            let searched = buffer.count - start
            if buffer.count - start > limit {
                // Discard the overlong line up to its end.
                start = buffer.count
                while true {
                    guard try fill() else { return nil }
                    if let nl = buffer[start...].firstIndex(of: 10) {
                        start = nl + 1
                        return .some(nil)
                    }
                    start = buffer.count
                }
            }
            guard try fill() else { return nil }
            scanned = min(start + searched, buffer.count)
        }
    }

    /// Reads DATA up to the lone dot, unstuffing, into `spool` (CRLF line
    /// ends). Returns whether it exceeded `limit` (the rest is read and
    /// dropped), or nil when the input ended first.
    mutating func readData(into spool: Spool, limit: Int) throws -> Bool? {
        var tooBig = false
        while true {
            guard let nl = buffer[start...].firstIndex(of: 10) else {
                guard try fill() else { return nil }
                continue
            }
            var end = nl
            if end > start && buffer[end - 1] == 13 { end -= 1 }
            var lineStart = start
            start = nl + 1
            if end - lineStart == 1 && buffer[lineStart] == UInt8(ascii: ".") { return tooBig }
            if end > lineStart && buffer[lineStart] == UInt8(ascii: ".") { lineStart += 1 }
            if tooBig || spool.count + (end - lineStart) + 2 > limit {
                tooBig = true
                continue
            }
            let slice = buffer[lineStart..<end] + [13, 10]
            try spool.append(Array(slice))
        }
    }

    /// Reads exactly `size` bytes of a BDAT chunk into `spool`; false when the
    /// input ended first.
    mutating func readChunk(_ size: Int, into spool: Spool) throws -> Bool {
        var left = size
        while left > 0 {
            if start == buffer.count { guard try fill() else { return false } }
            let n = min(left, buffer.count - start)
            try spool.append(Array(buffer[start..<start + n]))
            start += n
            left -= n
        }
        return true
    }
}
