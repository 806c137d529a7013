import ApusBase

/// The envelope of one transaction: the reverse path, the recipients and the
/// MAIL FROM parameters.
public struct SMTPEnvelope: Sendable {
    /// The sender address without angle brackets; empty for the null sender `<>`.
    public var sender: String
    /// The recipients, at least one, in order.
    public var recipients: [SMTPRecipient]
    /// Parameters for MAIL FROM.
    public var parameters: MailParameters

    /// Creates an envelope.
    public init(sender: String, recipients: [SMTPRecipient], parameters: MailParameters = MailParameters()) {
        self.sender = sender
        self.recipients = recipients
        self.parameters = parameters
    }
}

/// The MAIL FROM parameters apus may send. Each is sent only when the server
/// announced its extension: SIZE silently left out otherwise; BODY=8BITMIME
/// and SMTPUTF8 without the extension are an error (the message would be
/// damaged); DSN parameters silently left out (RFC 3461 §4.1).
public struct MailParameters: Sendable, Hashable {
    /// The message size to declare (RFC 1870); nil uses the source's known size.
    public var size: Int?
    /// The body type (RFC 6152).
    public var body: BodyType?
    /// SMTPUTF8 (RFC 6531): an address or header is UTF-8.
    public var smtpUTF8 = false
    /// DSN RET (RFC 3461): what a notice returns.
    public var dsnReturn: DSNReturn?
    /// DSN ENVID (RFC 3461), sent as xtext.
    public var envelopeID: String?

    /// No parameters.
    public init(
        size: Int? = nil, body: BodyType? = nil, smtpUTF8: Bool = false, dsnReturn: DSNReturn? = nil,
        envelopeID: String? = nil
    ) {
        self.size = size
        self.body = body
        self.smtpUTF8 = smtpUTF8
        self.dsnReturn = dsnReturn
        self.envelopeID = envelopeID
    }

    /// The body type of MAIL FROM's BODY parameter.
    public enum BodyType: String, Sendable, Hashable {
        /// `BODY=7BIT`.
        case sevenBit = "7BIT"
        /// `BODY=8BITMIME`.
        case eightBitMIME = "8BITMIME"
    }

    /// What a DSN returns of the message.
    public enum DSNReturn: String, Sendable, Hashable {
        /// `RET=FULL`.
        case full = "FULL"
        /// `RET=HDRS`.
        case headers = "HDRS"
    }

    /// The parameter words for MAIL FROM given what the server announced.
    ///
    /// - Throws: ``SMTPError/Kind/missingExtension`` for BODY=8BITMIME or
    ///   SMTPUTF8 the server lacks.
    func words(size declaredSize: Int?, extensions: Extensions) throws -> [String] {
        var words: [String] = []
        if let declaredSize, extensions.size { words.append("SIZE=\(declaredSize)") }
        if let body {
            if body == .eightBitMIME && !extensions.eightBitMIME {
                throw SMTPError(
                    .missingExtension, "the server does not offer 8BITMIME", command: "MAIL FROM", stage: .mail)
            }
            if extensions.eightBitMIME { words.append("BODY=\(body.rawValue)") }
        }
        if smtpUTF8 {
            guard extensions.smtpUTF8 else {
                throw SMTPError(
                    .missingExtension, "the server does not offer SMTPUTF8", command: "MAIL FROM", stage: .mail)
            }
            words.append("SMTPUTF8")
        }
        if extensions.dsn {
            if let dsnReturn { words.append("RET=\(dsnReturn.rawValue)") }
            if let envelopeID { words.append("ENVID=\(xtext(envelopeID))") }
        }
        return words
    }
}

/// A recipient and its DSN parameters (RFC 3461), sent only when the server
/// offers DSN.
public struct SMTPRecipient: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The address without angle brackets.
    public var address: String
    /// When to send notices; nil for the server's default, empty for NEVER.
    public var notify: DSNNotify?
    /// The original recipient (ORCPT, `rfc822;` type), sent as xtext.
    public var originalRecipient: String?

    /// Creates a recipient.
    public init(_ address: String, notify: DSNNotify? = nil, originalRecipient: String? = nil) {
        self.address = address
        self.notify = notify
        self.originalRecipient = originalRecipient
    }

    /// A recipient from a string literal: the address.
    public init(stringLiteral value: String) { self.init(value) }

    /// The address.
    public var description: String { address }

    func words(extensions: Extensions) -> [String] {
        guard extensions.dsn else { return [] }
        var words: [String] = []
        if let notify {
            var names: [String] = []
            if notify.contains(.success) { names.append("SUCCESS") }
            if notify.contains(.failure) { names.append("FAILURE") }
            if notify.contains(.delay) { names.append("DELAY") }
            words.append("NOTIFY=" + (names.isEmpty ? "NEVER" : names.joined(separator: ",")))
        }
        if let originalRecipient { words.append("ORCPT=rfc822;" + xtext(originalRecipient)) }
        return words
    }
}

/// DSN NOTIFY conditions (RFC 3461 §4.1); the empty set means NEVER.
public struct DSNNotify: OptionSet, Sendable, Hashable {
    /// The raw bits.
    public let rawValue: Int
    /// Creates a set from raw bits.
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// `SUCCESS`.
    public static let success = DSNNotify(rawValue: 1)
    /// `FAILURE`.
    public static let failure = DSNNotify(rawValue: 2)
    /// `DELAY`.
    public static let delay = DSNNotify(rawValue: 4)
    /// `NEVER`.
    public static let never: DSNNotify = []
}

/// RFC 3461 xtext: `+`, `=`, and octets outside `!`…`~` as `+XX`.
func xtext(_ text: String) -> String {
    var out: [UInt8] = []
    for byte in text.utf8 {
        if byte < 0x21 || byte > 0x7E || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "=") {
            out.append(UInt8(ascii: "+"))
            Hex.append(byte, to: &out)
        } else {
            out.append(byte)
        }
    }
    return String(decoding: out, as: UTF8.self)
}
