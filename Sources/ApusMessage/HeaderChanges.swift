/// The header changes apus makes before sending (delivery.md "Headers apus
/// changes"): Bcc and Resent-Bcc removed; From, Date and Message-ID added when
/// missing; unqualified addresses in the address fields qualified (see
/// ``HeaderField/qualifyingAddresses(with:)``); nothing else added, reordered or
/// refolded. Added fields go at the end of the block; an overridden From keeps
/// its place.
public struct HeaderChanges: Sendable {
    /// The `from_header` setting.
    public enum FromHeaderMode: Sendable, Equatable {
        /// Never add or change From.
        case keep
        /// Add From when missing (the default).
        case add
        /// Replace any From with the envelope sender.
        case override
    }

    /// What to do with From.
    public var fromMode: FromHeaderMode
    /// The envelope sender; From is never added or overridden for `<>` or an unqualified sender.
    public var sender: EnvelopeAddress
    /// The full name (`-F`, else GECOS); nil or empty for none.
    public var fullName: String?
    /// The Date value to add when missing, e.g. `MessageDate.now()`.
    public var date: String
    /// The Message-ID value to add when missing, e.g. `try MessageID.generate(domain:)`.
    public var messageID: String
    /// The domain for unqualified addresses in From, Sender, Reply-To and their
    /// Resent- forms (the `domain` setting); empty: leave them.
    public var senderDomain: [UInt8] = []
    /// The domain for unqualified addresses in To, Cc and their Resent- forms
    /// (the `default_domain` setting); empty: leave them.
    public var recipientDomain: [UInt8] = []

    /// Creates the set of changes. The caller computes `date` and `messageID` so
    /// this type stays pure (apus passes `MessageDate.now()` and `MessageID.generate`).
    public init(
        fromMode: FromHeaderMode = .add, sender: EnvelopeAddress, fullName: String?, date: String, messageID: String
    ) {
        self.fromMode = fromMode
        self.sender = sender
        self.fullName = fullName
        self.date = date
        self.messageID = messageID
    }

    /// The From field for the sender: `"Full Name" <sender>` (the name quoted, or
    /// RFC 2047 encoded when it is not ASCII), or `sender` alone without a name.
    /// Nil for `<>` or an unqualified sender.
    public var fromField: HeaderField? {
        guard let m = sender.mailbox, m.isQualified else { return nil }
        var value: [UInt8]
        if let name = fullName, !name.isEmpty, !name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            let bytes = Array(name.utf8)
            let phrase =
                HeaderFormat.isPlainASCII(bytes)
                ? HeaderFormat.quoted(bytes) : HeaderFormat.encodeWords(bytes, forPhrase: true)
            value = phrase + [ASCII.space] + m.smtpPath
        } else {
            value = m.addrSpec
        }
        return try? HeaderField(name: Array("From".utf8), value: value)
    }

    /// Applies the changes to `headers`.
    /// - Throws: `MessageError.invalidHeaderValue` when `date` or `messageID` holds CR, LF or NUL.
    public func apply(to headers: inout Headers) throws {
        headers.removeAll(named: "Bcc")
        headers.removeAll(named: "Resent-Bcc")
        qualifyAddresses(in: &headers)
        switch fromMode {
        case .keep: break
        case .add:
            if !headers.contains(named: "From"), let from = fromField { headers.append(from) }
        case .override:
            if let from = fromField { headers.replace(with: from) }
        }
        if !headers.contains(named: "Date") { headers.append(try HeaderField(name: "Date", value: date)) }
        if !headers.contains(named: "Message-ID") {
            headers.append(try HeaderField(name: "Message-ID", value: messageID))
        }
    }

    /// Adds the domains to the unqualified addresses of the address fields.
    func qualifyAddresses(in headers: inout Headers) {
        for index in headers.fields.indices {
            let field = headers.fields[index]
            let domain: [UInt8]
            if HeaderField.senderAddressFields.contains(where: { field.hasName($0) }) {
                domain = senderDomain
            } else if HeaderField.recipientAddressFields.contains(where: { field.hasName($0) }) {
                domain = recipientDomain
            } else {
                continue
            }
            if let qualified = field.qualifyingAddresses(with: domain) { headers.fields[index] = qualified }
        }
    }
}
