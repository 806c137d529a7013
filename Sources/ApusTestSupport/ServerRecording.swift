/// One command line the ``ScriptableSMTPServer`` received.
package struct ReceivedCommand: Sendable, Equatable {
    /// The line without CRLF.
    package var line: String
    /// The verb, upper case (`MAIL`).
    package var verb: String
    /// Which `read()` of the connection delivered the line's last byte (0-based
    /// index into ``ConnectionRecord/reads``): commands with the same index
    /// were pending together when the server read them.
    package var readIndex: Int
    /// Whether the connection was in TLS when the command came.
    package var overTLS: Bool
}

/// A message the server received with DATA or BDAT.
package struct ReceivedMessage: Sendable, Equatable {
    /// The MAIL FROM line's arguments after the colon: `<a@example.com> SIZE=120`.
    package var mailFrom: String
    /// The RCPT TO arguments of the accepted recipients, in order.
    package var recipients: [String]
    /// The content: DATA dot-unstuffed without the final `.` line, or the BDAT chunks concatenated.
    package var data: [UInt8]
    /// Whether it came with BDAT.
    package var viaBDAT: Bool
    /// The size of each BDAT chunk (empty for DATA).
    package var chunkSizes: [Int]
    /// Whether the server's final reply was 2xx.
    package var accepted: Bool

    /// The content as text.
    package var text: String { String(decoding: data, as: UTF8.self) }

    /// The envelope address inside the MAIL FROM brackets: `a@example.com`.
    package var sender: String { Self.bracketed(mailFrom) }
    /// The addresses inside the RCPT TO brackets.
    package var recipientAddresses: [String] { recipients.map(Self.bracketed) }

    static func bracketed(_ text: String) -> String {
        guard let open = text.firstIndex(of: "<"), let close = text[open...].firstIndex(of: ">") else {
            return String(text.split(separator: " ").first ?? "")
        }
        return String(text[text.index(after: open)..<close])
    }
}

/// Everything one connection to the ``ScriptableSMTPServer`` brought.
package struct ConnectionRecord: Sendable {
    /// 1-based, in accept order.
    package var number: Int
    /// Every byte received (after TLS decryption once TLS is on), in order.
    package var received: [UInt8] = []
    /// The bytes of each `read()` the server made, in order: how the client's
    /// writes arrived.
    package var reads: [[UInt8]] = []
    /// The command lines, in order (AUTH continuation lines are in ``authLines``).
    package var commands: [ReceivedCommand] = []
    /// The client's lines in answer to 334 challenges.
    package var authLines: [String] = []
    /// The messages received.
    package var messages: [ReceivedMessage] = []
    /// Whether TLS was started (STARTTLS or implicit).
    package var usedTLS = false
    /// Bytes the client sent after STARTTLS and before the handshake (discarded).
    package var bytesBeforeTLS = 0
    /// Whether the session has ended (connection closed).
    package var isClosed = false

    /// Creates an empty record.
    package init(number: Int) { self.number = number }

    /// The command lines as text.
    package var commandLines: [String] { commands.map(\.line) }

    /// The verbs, in order.
    package var verbs: [String] { commands.map(\.verb) }

    /// Command lines grouped by the read that delivered them: each group was
    /// pending together when the server read, so a pipelining client's
    /// `MAIL`, `RCPT`… and `DATA` written at once form one group.
    package var batches: [[String]] {
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
    package var verbBatches: [[String]] {
        batches.map { group in group.map { Self.verb(of: $0) } }
    }

    /// The upper-case verb of a command line.
    static func verb(of line: String) -> String {
        String(line.prefix { $0 != " " && $0 != ":" }).uppercased()
    }
}
