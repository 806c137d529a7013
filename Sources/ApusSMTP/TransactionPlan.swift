/// What to do when recipients are refused.
public enum RejectionPolicy: Sendable, Hashable {
    /// Library behaviour: the accepted recipients get the message; refused and
    /// deferred ones are reported in the result. If none was accepted, the
    /// send throws ``SMTPError/Kind/recipientsRejected``.
    case deliverToAccepted
    /// All or nothing for permanent refusals (apus `-bm`): if any RCPT got 5xx,
    /// nothing is delivered and the send throws
    /// ``SMTPError/Kind/recipientsRejected``. 4xx refusals are not a reason to
    /// abort: the result names the deferred recipients.
    case abortIfAnyPermanent
}

/// The pure decisions of a transaction, apart from any I/O: how the
/// transaction is carried (from the server's extensions) and whether it goes
/// on once the recipients' replies are in.
public enum TransactionPlan {
    /// How commands and message travel.
    public enum Mode: Sendable, Hashable {
        /// One command, one reply; DATA after the recipients are known.
        case lockStep
        /// MAIL, every RCPT and DATA in one write (PIPELINING).
        case pipelinedData
        /// BDAT chunks (CHUNKING). `pipelined`: MAIL, RCPTs and the first chunk
        /// in one flight and every chunk written without waiting for its reply;
        /// `lastInFlight`: the final chunk carries LAST (otherwise the message
        /// goes in chunks without LAST and `BDAT 0 LAST` follows only once the
        /// recipients' replies allow it).
        case chunked(pipelined: Bool, lastInFlight: Bool)
    }

    /// The mode for a transaction to `recipientCount` recipients.
    ///
    /// CHUNKING is used when offered (and `useChunking`); under
    /// ``RejectionPolicy/abortIfAnyPermanent`` with more than one recipient a
    /// pipelined flight may not carry LAST, since a later RCPT could be
    /// refused after the message is committed to the others. With one
    /// recipient it is always safe: if that RCPT is refused, the server
    /// refuses BDAT too.
    public static func mode(
        extensions: Extensions, recipientCount: Int, policy: RejectionPolicy, useChunking: Bool = true
    ) -> Mode {
        if extensions.chunking && useChunking {
            if !extensions.pipelining { return .chunked(pipelined: false, lastInFlight: true) }
            let safe = policy == .deliverToAccepted || recipientCount <= 1
            return .chunked(pipelined: true, lastInFlight: safe)
        }
        return extensions.pipelining ? .pipelinedData : .lockStep
    }

    /// Whether the transaction goes on after the recipients' replies.
    public enum Decision: Sendable, Hashable {
        /// Send the message to the accepted recipients.
        case proceed
        /// Deliver nothing: none accepted, or a 5xx under
        /// ``RejectionPolicy/abortIfAnyPermanent``.
        case abort
    }

    /// Decides from the recipients' outcomes under `policy`.
    public static func decide(_ outcomes: [RecipientOutcome], policy: RejectionPolicy) -> Decision {
        if !outcomes.contains(where: \.isAccepted) { return .abort }
        if policy == .abortIfAnyPermanent && outcomes.contains(where: \.isRefused) { return .abort }
        return .proceed
    }
}
