import ApusDelivery
import Testing

@testable import ApusCommand

/// The two functions that turn what happened into the exit status and the
/// `-bs` reply: every kind, as cli.md's "Exit status" table says.
@Suite struct FailureMappingTests {
    /// cli.md "Exit status", one row per kind.
    static let table: [CommandFailure.Kind: Int32] = [
        .usage: 64,  // bad command line
        .noRecipients: 64,  // no recipients at all
        .tooManyRecipients: 64,
        .badAddress: 65,  // an address that does not parse
        .messageRefusedLocally: 65,  // a header that cannot be fixed, over the relay's SIZE …
        .recipientsRefused: 67,  // the relay refused one or more recipients permanently
        .messageRefused: 69,  // the relay refused the message permanently
        .relayUnusable: 69,  // -bv
        .internal: 70,  // an internal error
        .systemFailure: 71,  // cannot fork or run passwordeval
        .inputUnreadable: 74,  // cannot read stdin
        .queueUnreadable: 74,  // a queue file that cannot be read during a run
        .traceUnwritable: 74,
        .spoolFailed: 75,  // a temporary failure and the message could not be queued
        .couldNotQueue: 75,
        .relayProtocol: 76,  // the relay broke the protocol and the message could not be queued
        .notPermitted: 77,  // -qf, -qI, -qR, -qS by a user other than root
        .configuration: 78,  // the configuration file
    ]

    /// The kinds whose `-bs` reply is 451 (the client keeps the message and
    /// may try again); every other kind is refused with 554.
    static let temporary: Set<CommandFailure.Kind> = [
        .spoolFailed, .couldNotQueue, .relayProtocol, .inputUnreadable, .queueUnreadable, .traceUnwritable,
        .systemFailure, .internal, .configuration,
    ]

    @Test func everyKindHasTheStatusOfTheTable() {
        #expect(Set(CommandFailure.Kind.allCases) == Set(Self.table.keys))
        for kind in CommandFailure.Kind.allCases {
            #expect(ApusCommand.exitStatus(for: kind).rawValue == Self.table[kind], "\(kind)")
            #expect(ApusCommand.exitStatus(for: CommandFailure(kind, "x")) == ApusCommand.exitStatus(for: kind))
        }
    }

    @Test func everyKindHasItsSMTPReply() {
        for kind in CommandFailure.Kind.allCases {
            let failure = CommandFailure(kind, "what: why", details: ["<a@example.com>: 550 5.1.1 no"])
            let reply = ApusCommand.smtpReply(for: failure)
            if Self.temporary.contains(kind) {
                #expect(reply.code == 451, "\(kind)")
                #expect(reply.text == "4.3.0 what: why", "\(kind)")
            } else {
                #expect(reply.code == 554, "\(kind)")
                #expect(reply.text == "5.0.0 what: why (<a@example.com>: 550 5.1.1 no)", "\(kind)")
            }
        }
        let bare = ApusCommand.smtpReply(for: CommandFailure(.messageRefused, "relay refused the message: 554 no"))
        #expect(bare.text == "5.0.0 relay refused the message: 554 no")
    }

    @Test func errorsBecomeFailures() {
        struct Odd: Error {}
        #expect(ApusCommand.commandFailure(Odd()).kind == .internal)
        #expect(ApusCommand.commandFailure(UsageError("bad")).kind == .usage)
        let failure = CommandFailure(.recipientsRefused, "s", details: ["d"])
        #expect(ApusCommand.commandFailure(failure).kind == .recipientsRefused)
        #expect(ApusCommand.commandFailure(failure).details == ["d"])
    }
}
