/// A failure that ends the command: what happened (its ``Kind``), the one
/// summary line (`apus: <what failed>: <why>` without the `apus: ` prefix)
/// and detail lines. It names no exit status and no `-bs` reply: ApusCommand
/// alone decides those from the kind (`ApusCommand.exitStatus(for:)`,
/// `ApusCommand.smtpReply(for:)`, cli.md "Exit status").
package struct CommandFailure: Error, Sendable {
    /// What happened.
    package enum Kind: Sendable, Hashable, CaseIterable {
        /// A bad command line.
        case usage
        /// No recipient at all (none given, or none left after the aliases).
        case noRecipients
        /// More recipients than `recipient_limit` allows, or than one queue file holds.
        case tooManyRecipients
        /// An address that does not parse or cannot go into SMTP: the sender,
        /// a recipient (argument, `-t` header or alias target).
        case badAddress
        /// The message cannot be sent as it is, decided locally: its input
        /// (NUL, bare CR, over `message_size_limit`…), a header line over 998
        /// octets or one that cannot be fixed, 8-bit or UTF-8 content the
        /// relay cannot take, or a size over the relay's SIZE.
        case messageRefusedLocally
        /// The relay refused one or more recipients permanently; nothing was sent.
        case recipientsRefused
        /// The relay refused the message permanently (5xx to MAIL FROM or to the data).
        case messageRefused
        /// `-bv`: the relay cannot be used (no greeting, connection, TLS or AUTH failed).
        case relayUnusable
        /// The message could not be stored in the local spool while it was read.
        case spoolFailed
        /// A temporary failure, and the message could not be queued (the queue
        /// is off, or the queue write failed); nothing is left in the queue.
        case couldNotQueue
        /// The relay broke the protocol, and the message could not be queued.
        case relayProtocol
        /// The configuration (file, aliases file) is wrong or cannot be read.
        case configuration
        /// The caller may not do this.
        case notPermitted
        /// The local system failed: fork, exec, `passwordeval`, a group switch.
        case systemFailure
        /// Reading the message (standard input) failed.
        case inputUnreadable
        /// The queue cannot be read, or storage failed during a queue run.
        case queueUnreadable
        /// The trace file (`-X`) cannot be opened.
        case traceUnwritable
        /// An internal error: an error nobody turned into a failure, or a check
        /// apus relies on that did not hold.
        case `internal`
    }

    /// What happened.
    package var kind: Kind
    /// The summary, printed after `apus: `.
    package var summary: String
    /// Further lines (one per refused recipient), printed after the summary.
    package var details: [String]

    /// Creates a failure.
    package init(_ kind: Kind, _ summary: String, details: [String] = []) {
        self.kind = kind
        self.summary = summary
        self.details = details
    }

    /// A bad command line.
    package static func usage(_ summary: String) -> CommandFailure { CommandFailure(.usage, summary) }
}
