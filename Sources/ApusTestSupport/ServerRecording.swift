/// One command line the ``ScriptableSMTPServer`` received.
public struct ReceivedCommand: Sendable, Equatable {
    /// The line without CRLF.
    public var line: String
    /// The verb, upper case (`MAIL`).
    public var verb: String
    /// Which `read()` of the connection delivered the line's last byte (0-based
    /// index into ``ConnectionRecord/reads``): commands with the same index
    /// were pending together when the server read them.
    public var readIndex: Int
    /// Whether the connection was in TLS when the command came.
    public var overTLS: Bool
}

/// A message the server received with DATA or BDAT.
public struct ReceivedMessage: Sendable, Equatable {
    /// The MAIL FROM line's arguments after the colon: `<a@example.com> SIZE=120`.
    public var mailFrom: String
    /// The RCPT TO arguments of the accepted recipients, in order.
    public var recipients: [String]
    /// The content: DATA dot-unstuffed without the final `.` line, or the BDAT chunks concatenated.
    public var data: [UInt8]
    /// Whether it came with BDAT.
    public var viaBDAT: Bool
    /// The size of each BDAT chunk (empty for DATA).
    public var chunkSizes: [Int]
    /// Whether the server's final reply was 2xx.
    public var accepted: Bool

    /// The content as text.
    public var text: String { String(decoding: data, as: UTF8.self) }

    /// The envelope address inside the MAIL FROM brackets: `a@example.com`.
    public var sender: String { Self.bracketed(mailFrom) }
    /// The addresses inside the RCPT TO brackets.
    public var recipientAddresses: [String] { recipients.map(Self.bracketed) }

    static func bracketed(_ text: String) -> String {
        guard let open = text.firstIndex(of: "<"), let close = text[open...].firstIndex(of: ">") else {
            return String(text.split(separator: " ").first ?? "")
        }
        return String(text[text.index(after: open)..<close])
    }
}

/// Everything one connection to the ``ScriptableSMTPServer`` brought.
public struct ConnectionRecord: Sendable {
    /// 1-based, in accept order.
    public var number: Int
    /// Every byte received (after TLS decryption once TLS is on), in order.
    public var received: [UInt8] = []
    /// The bytes of each `read()` the server made, in order: how the client's
    /// writes arrived.
    public var reads: [[UInt8]] = []
    /// The command lines, in order (AUTH continuation lines are in ``authLines``).
    public var commands: [ReceivedCommand] = []
    /// The client's lines in answer to 334 challenges.
    public var authLines: [String] = []
    /// The messages received.
    public var messages: [ReceivedMessage] = []
    /// Whether TLS was started (STARTTLS or implicit).
    public var usedTLS = false
    /// Bytes the client sent after STARTTLS and before the handshake (discarded).
    public var bytesBeforeTLS = 0
    /// Whether the session has ended (connection closed).
    public var isClosed = false

    /// Creates an empty record.
    public init(number: Int) { self.number = number }

    /// The command lines as text.
    public var commandLines: [String] { commands.map(\.line) }

    /// The verbs, in order.
    public var verbs: [String] { commands.map(\.verb) }

    /// Command lines grouped by the read that delivered them: each group was
    /// pending together when the server read, so a pipelining client's
    /// `MAIL`, `RCPT`… and `DATA` written at once form one group.
    public var batches: [[String]] {
        var groups: [[String]] = []
        var last: Int?
        for command in commands {
            if command.readIndex == last, !groups.isEmpty {
                groups[groups.count - 1].append(command.line)
            } else {
                groups.append([command.line])
                last = command.readIndex
            }
        }
        return groups
    }

    /// Like ``batches`` with verbs only: `[["EHLO"], ["MAIL", "RCPT", "RCPT", "DATA"], ["QUIT"]]`.
    public var verbBatches: [[String]] {
        batches.map { group in group.map { Self.verb(of: $0) } }
    }

    /// The upper-case verb of a command line.
    static func verb(of line: String) -> String {
        String(line.prefix { $0 != " " && $0 != ":" }).uppercased()
    }
}
