import ApusTransport

/// Why an SMTP operation failed: one public struct around an internal kind, so
/// kinds can be added without breaking callers (swift-nio-ssl `NIOSSLExtraError`).
///
/// It carries the command that failed (AUTH payloads redacted), the whole reply
/// when there is one (code, enhanced code, every line), whether trying again
/// later may help (``isTransient``), and for ``Kind/recipientsRejected`` each
/// refused recipient with its reply (scsh `smtp-recipients-rejected-error`).
///
/// ```
/// catch let error as SMTPError where error.kind == .permanentReply { … error.reply?.code … }
/// ```
public struct SMTPError: Error, CustomStringConvertible, Sendable {
    /// The class of failure. Compare with the static members (`.timeout`).
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        enum Base: String, Hashable, Sendable {
            case connection, protocolViolation, timeout, transientReply, permanentReply
            case missingExtension, authenticationFailed, mechanismTooWeak, authenticationTemporary
            case authenticationRefused, messageTooLarge, recipientsRejected, tls, invalidArgument
        }
        let base: Base

        /// The connection could not be made, broke, or was closed by the server.
        public static let connection = Kind(base: .connection)
        /// The server broke the protocol: a malformed reply, a reply too long,
        /// bytes when none were due, an unexpected reply code class.
        public static let protocolViolation = Kind(base: .protocolViolation)
        /// A read or write took longer than the stream's timeout.
        public static let timeout = Kind(base: .timeout)
        /// The server answered 4xx.
        public static let transientReply = Kind(base: .transientReply)
        /// The server answered 5xx.
        public static let permanentReply = Kind(base: .permanentReply)
        /// The server lacks an extension the caller requires (STARTTLS, AUTH,
        /// a mechanism, SMTPUTF8): nothing more was sent.
        public static let missingExtension = Kind(base: .missingExtension)
        /// AUTH was refused: 535 (bad credentials) or another 5xx.
        public static let authenticationFailed = Kind(base: .authenticationFailed)
        /// AUTH answered 534: the mechanism is too weak for this server.
        public static let mechanismTooWeak = Kind(base: .mechanismTooWeak)
        /// AUTH answered 454 or another 4xx: try again later.
        public static let authenticationTemporary = Kind(base: .authenticationTemporary)
        /// The client refused to authenticate: a mechanism that sends the
        /// secret in clear over an unencrypted, non-loopback connection, or a
        /// SASL error on the client side. Nothing secret was sent.
        public static let authenticationRefused = Kind(base: .authenticationRefused)
        /// The message is larger than the server's SIZE limit; nothing was sent.
        public static let messageTooLarge = Kind(base: .messageTooLarge)
        /// Recipients were refused so that nothing was delivered: none was
        /// accepted, or (policy ``RejectionPolicy/abortIfAnyPermanent``) one got 5xx.
        public static let recipientsRejected = Kind(base: .recipientsRejected)
        /// TLS could not be started or failed.
        public static let tls = Kind(base: .tls)
        /// An argument cannot be sent safely (an address with CR, LF, NUL, `<`
        /// or `>`, a parameter the server did not announce); nothing was sent.
        public static let invalidArgument = Kind(base: .invalidArgument)

        /// The kind's name: "timeout".
        public var description: String { base.rawValue }
    }

    /// Where in the conversation an SMTP operation failed: the step whose
    /// command (or the greeting) got the reply or lost the connection.
    public enum Stage: String, Hashable, Sendable, CustomStringConvertible {
        /// Opening the connection (resolving, connecting, TLS on connect).
        case connect
        /// Waiting for the server's greeting.
        case greeting
        /// EHLO or HELO.
        case ehlo
        /// STARTTLS and its handshake.
        case startTLS
        /// AUTH and its exchange.
        case auth
        /// MAIL FROM (also SEND, SOML, SAML).
        case mail
        /// RCPT TO.
        case rcpt
        /// DATA up to its 354 reply, and the message body written after it.
        case data
        /// A BDAT chunk that is not the last one.
        case bdat
        /// The end of the message: the final dot, or BDAT … LAST.
        case endOfData
        /// Any other command (RSET, VRFY, EXPN, HELP, NOOP, QUIT, TURN).
        case other

        /// The stage's name ("endOfData").
        public var description: String { rawValue }
    }

    /// What failed.
    public var kind: Kind
    /// Where it failed; nil when no command was under way (an argument
    /// refused before anything was sent).
    public var stage: Stage?
    /// One line in plain words, without secrets.
    public var message: String
    /// The command whose reply failed ("RCPT TO:<a@b>", "AUTH PLAIN"), if any.
    public var command: String?
    /// The server's reply, if the failure is a reply.
    public var reply: SMTPReply?
    /// For ``Kind/recipientsRejected``: each refused recipient and its reply.
    public var rejectedRecipients: [RecipientReply]
    /// The transport error underneath, if any.
    public var underlying: TransportError?

    /// Creates an error.
    public init(
        _ kind: Kind, _ message: String, command: String? = nil, stage: Stage? = nil, reply: SMTPReply? = nil,
        rejectedRecipients: [RecipientReply] = [], underlying: TransportError? = nil
    ) {
        self.kind = kind
        self.stage = stage
        self.message = message
        self.command = command
        self.reply = reply
        self.rejectedRecipients = rejectedRecipients
        self.underlying = underlying
    }

    /// Whether trying again later may succeed: 4xx replies, timeouts, lost
    /// connections, TLS failures, protocol violations and missing extensions
    /// are transient; 5xx replies, failed authentication and a message too large
    /// are not; refused recipients are transient only if every refusal was 4xx.
    public var isTransient: Bool {
        switch kind.base {
        case .connection, .protocolViolation, .timeout, .transientReply, .authenticationTemporary, .tls,
            .missingExtension:
            return true
        case .permanentReply, .authenticationFailed, .mechanismTooWeak, .authenticationRefused, .messageTooLarge,
            .invalidArgument:
            return false
        case .recipientsRejected:
            return rejectedRecipients.allSatisfy { $0.reply.isTransient }
        }
    }

    /// "RCPT TO:<a@b>: 550 5.1.1 no such user" or the message alone.
    public var description: String {
        var text = message
        if let command { text = "\(command): " + text }
        if let reply, !message.contains("\(reply.code)") { text += " (\(reply.description))" }
        return text
    }

    static func protocolViolation(_ message: String, command: String? = nil, stage: Stage? = nil) -> SMTPError {
        SMTPError(.protocolViolation, message, command: command, stage: stage)
    }

    /// The error for a reply that was not the one expected.
    static func unexpected(_ reply: SMTPReply, command: String?, stage: Stage?) -> SMTPError {
        if reply.isTransient {
            return SMTPError(.transientReply, reply.description, command: command, stage: stage, reply: reply)
        } else if reply.isPermanent {
            return SMTPError(.permanentReply, reply.description, command: command, stage: stage, reply: reply)
        }
        return SMTPError(
            .protocolViolation, "unexpected reply \(reply.description)", command: command, stage: stage, reply: reply)
    }

    /// Maps a transport failure to an SMTP error.
    static func transport(_ error: TransportError, command: String? = nil, stage: Stage?) -> SMTPError {
        switch error {
        case .timedOut:
            return SMTPError(.timeout, error.description, command: command, stage: stage, underlying: error)
        case .tls, .tlsUnavailable:
            return SMTPError(.tls, error.description, command: command, stage: stage, underlying: error)
        default:
            return SMTPError(.connection, error.description, command: command, stage: stage, underlying: error)
        }
    }
}

/// A recipient and the server's reply to its RCPT command.
public struct RecipientReply: Hashable, Sendable, CustomStringConvertible {
    /// The address as given to RCPT TO (without angle brackets).
    public var recipient: String
    /// The reply.
    public var reply: SMTPReply

    /// Creates a pair.
    public init(recipient: String, reply: SMTPReply) {
        self.recipient = recipient
        self.reply = reply
    }

    /// "<a@b>: 550 5.1.1 no such user".
    public var description: String { "<\(recipient)>: \(reply.description)" }
}
