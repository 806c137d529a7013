import ApusDelivery
import ApusMessage
import ApusPOSIX

/// `-bs`: an SMTP server on standard input and output, as Postfix's
/// `sendmail -bs` offers, for clients that submit over a pipe (swaks --pipe,
/// some MUAs). Each accepted message goes through the same path as `-bm`;
/// the client hears that path's outcome as the reply to the end of data.
///
/// Supported: EHLO/HELO, MAIL (SIZE, BODY, SMTPUTF8, RET, ENVID), RCPT
/// (NOTIFY, ORCPT ignored), DATA, BDAT (CHUNKING), RSET, NOOP, VRFY (252),
/// HELP, QUIT, with PIPELINING: replies are written together just before the
/// server waits for more input. The bytes are parsed by ``SMTPCommandReader``
/// (bounded lines, every parameter checked); this type adds the transaction
/// rules: `552 5.3.4` for a SIZE or a message over `message_size_limit`,
/// `452 4.5.3` for a RCPT past `recipient_limit`, `501` for an address that
/// does not parse. The session ends on QUIT, end of input, or after 20 bad
/// commands.
package struct SubmissionServer {
    /// One message as the client gave it.
    package struct Message {
        /// The MAIL FROM address (empty for `<>`).
        package var sender: String
        /// The RCPT TO addresses, in order.
        package var recipients: [String]
        /// The message as received (dot-unstuffed; CRLF line ends), read into
        /// its header fields and body spool as it arrives.
        package var content: MessageIntake.Builder
        /// `BODY=` from MAIL, if given.
        package var bodyType: String?
        /// `RET=` from MAIL, if given.
        package var dsnReturn: String?
        /// `ENVID=` from MAIL, if given.
        package var envelopeID: String?
        /// `NOTIFY=` of the first RCPT that had one.
        package var dsnNotify: String?
    }

    /// The reply to the end of a message's data.
    package struct Reply: Sendable {
        /// 250, 451, 554 …
        package var code: Int
        /// The text after the code and enhanced code.
        package var text: String
        /// Creates a reply.
        package init(_ code: Int, _ text: String) {
            self.code = code
            self.text = text
        }
    }

    private let input: FileDescriptor
    private let output: FileDescriptor
    private let domain: String
    private let spoolDirectory: String
    private let limits: (String) -> Limits

    /// The bounds of one transaction: `message_size_limit` and `recipient_limit`
    /// of the account the sender chooses (0 = none).
    package struct Limits: Sendable {
        /// The most octets of a message (0 = none).
        package var messageSize: Int
        /// The most recipients of a message (0 = none).
        package var recipients: Int
        /// Creates limits.
        package init(messageSize: Int, recipients: Int) {
            self.messageSize = messageSize
            self.recipients = recipients
        }
    }

    /// A server reading `input` and writing `output`, naming itself `domain`;
    /// `limits` gives the bounds for a MAIL FROM address (`""` for the EHLO reply).
    package init(
        input: FileDescriptor, output: FileDescriptor, domain: String, spoolDirectory: String,
        limits: @escaping (String) -> Limits
    ) {
        self.input = input
        self.output = output
        self.domain = domain
        self.spoolDirectory = spoolDirectory
        self.limits = limits
    }

    /// Runs the session until QUIT or end of input; `deliver` is called once
    /// per complete message.
    package func run(deliver: (Message) -> Reply) throws {
        var io = ReplyWriter(output: output)
        var reader = SMTPCommandReader()
        var current: Message? = nil
        var currentLimits = limits("")
        var bdatTooLarge = false
        var errors = 0
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
        defer { chunk.deallocate() }
        io.queue("220 \(domain) ESMTP apus")
        session: while true {
            guard let event = reader.next() else {
                try io.flush()
                let n = try input.read(into: chunk)
                if n == 0 { break session }
                reader.append(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
                continue
            }
            switch event {
            case .syntaxError(let code, let text):
                io.queue("\(code) \(text)")
                errors += 1
            case .data(let bytes):
                try current?.content.append(bytes)
            case .endOfData(let tooLarge):
                if let message = current {
                    io.queue(tooLarge ? Self.tooLarge : Self.format(deliver(message)))
                }
                current = nil
            case .chunk, .endOfChunk:
                break  // BDAT content is read by drainChunk right after its command
            case .command(let command):
                switch command {
                case .ehlo:
                    current = nil
                    let size = currentLimits.messageSize > 0 ? "250-SIZE \(currentLimits.messageSize)" : "250-SIZE"
                    io.queue(
                        "250-\(domain)", "250-PIPELINING", size, "250-8BITMIME", "250-SMTPUTF8", "250-CHUNKING",
                        "250-DSN", "250 ENHANCEDSTATUSCODES")
                case .helo:
                    current = nil
                    io.queue("250 \(domain)")
                case .mail(let address, let parameters):
                    if current != nil {
                        io.queue("503 5.5.1 Error: nested MAIL command")
                        break
                    }
                    if !address.isEmpty && !Self.isSendable(address) {
                        io.queue("501 5.1.7 Bad sender address syntax")
                        break
                    }
                    let limits = self.limits(address)
                    if let size = parameters.size, limits.messageSize > 0, size > limits.messageSize {
                        io.queue(Self.tooLarge)
                        break
                    }
                    currentLimits = limits
                    current = Message(
                        sender: address, recipients: [],
                        content: MessageIntake.Builder(dotTerminates: false, spoolDirectory: spoolDirectory),
                        bodyType: parameters.body, dsnReturn: parameters.dsnReturn,
                        envelopeID: parameters.envelopeID, dsnNotify: nil)
                    bdatTooLarge = false
                    io.queue("250 2.1.0 Ok")
                case .rcpt(let address, let parameters):
                    guard let message = current else {
                        io.queue("503 5.5.1 Error: need MAIL command")
                        break
                    }
                    guard Self.isSendable(address) else {
                        io.queue("501 5.1.3 Bad recipient address syntax")
                        break
                    }
                    if currentLimits.recipients > 0 && message.recipients.count >= currentLimits.recipients {
                        io.queue("452 4.5.3 Error: too many recipients")
                        break
                    }
                    current?.recipients.append(address)
                    if message.dsnNotify == nil { current?.dsnNotify = parameters.notify }
                    io.queue("250 2.1.5 Ok")
                case .data:
                    guard let message = current else {
                        io.queue("503 5.5.1 Error: need MAIL command")
                        break
                    }
                    guard !message.recipients.isEmpty else {
                        io.queue("554 5.5.1 Error: no valid recipients")
                        break
                    }
                    io.queue("354 End data with <CR><LF>.<CR><LF>")
                    reader.beginData(limit: currentLimits.messageSize)
                case .bdat(_, let last):
                    // The chunk's octets follow whatever the answer; outside a
                    // transaction they are read and dropped.
                    let accepting = current.map { !$0.recipients.isEmpty } ?? false
                    try drainChunk(
                        &reader, into: accepting ? current?.content : nil, limit: currentLimits.messageSize,
                        tooLarge: &bdatTooLarge, input: chunk)
                    guard accepting, let message = current else {
                        io.queue(
                            current == nil
                                ? "503 5.5.1 Error: need MAIL command" : "554 5.5.1 Error: no valid recipients")
                        break
                    }
                    if last {
                        io.queue(bdatTooLarge ? Self.tooLarge : Self.format(deliver(message)))
                        current = nil
                        bdatTooLarge = false
                    } else {
                        io.queue("250 2.0.0 Ok")
                    }
                case .rset:
                    current = nil
                    bdatTooLarge = false
                    io.queue("250 2.0.0 Ok")
                case .noop: io.queue("250 2.0.0 Ok")
                case .vrfy: io.queue("252 2.0.0 Send some mail, I'll try my best")
                case .help: io.queue("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT")
                case .quit:
                    io.queue("221 2.0.0 Bye")
                    try io.flush()
                    return
                }
            }
            if errors >= 20 {
                io.queue("421 4.7.0 \(domain) Error: too many errors")
                break session
            }
        }
        try io.flush()
    }

    static let tooLarge = "552 5.3.4 Message size exceeds fixed limit"

    /// Whether `address` parses as one mailbox and, when it has a domain, is valid
    /// RFC 5321 (an unqualified one is checked once qualified, when the message goes).
    static func isSendable(_ address: String) -> Bool {
        guard case .mailbox(let mailbox) = try? EnvelopeAddress.parse(address) else { return false }
        return !mailbox.isQualified || (try? mailbox.checkSMTPSyntax()) != nil
    }

    /// Reads the rest of a BDAT chunk (its octets are due now, whatever the
    /// reply) into `spool`, counting it against the size limit. Returns at the
    /// end of the chunk, or at end of input.
    private func drainChunk(
        _ reader: inout SMTPCommandReader, into spool: MessageIntake.Builder?, limit: Int, tooLarge: inout Bool,
        input buffer: UnsafeMutableRawBufferPointer
    ) throws {
        while true {
            guard let event = reader.next() else {
                let n = try input.read(into: buffer)
                if n == 0 { return }
                reader.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                continue
            }
            switch event {
            case .chunk(let bytes):
                guard let spool, !tooLarge else { continue }
                if limit > 0 && spool.count + bytes.count > limit { tooLarge = true } else { try spool.append(bytes) }
            case .endOfChunk: return
            default: preconditionFailure("SMTPCommandReader gave \(event) inside a BDAT chunk")
            }
        }
    }

    static func format(_ reply: Reply) -> String {
        let enhanced = reply.code < 300 ? "2.0.0" : (reply.code < 500 ? "4.0.0" : "5.0.0")
        let text = reply.text.hasPrefix(String(reply.code / 100) + ".") ? reply.text : "\(enhanced) \(reply.text)"
        return "\(reply.code) \(text)"
    }
}

/// Replies for ``SubmissionServer``: queued, and written in one go whenever
/// the server is about to wait for input (PIPELINING).
struct ReplyWriter {
    let output: FileDescriptor
    private var pending: [UInt8] = []

    init(output: FileDescriptor) { self.output = output }

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
}
