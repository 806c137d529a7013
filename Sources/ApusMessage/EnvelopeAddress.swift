/// An envelope address (MAIL FROM / RCPT TO) as given on the command line or in
/// configuration: `user`, `user@domain`, `<user@domain>`, `Name <user@domain>`,
/// `user@domain (Name)`, or `<>` (the null sender).
public enum EnvelopeAddress: Sendable, Hashable, CustomStringConvertible {
    /// The null reverse path `<>` (bounces, failure notices).
    case null
    /// A mailbox; it may be unqualified (`isQualified == false`).
    case mailbox(Mailbox)

    /// Parses exactly one address.
    ///
    /// - Throws: `AddressError`: `.missingAddress` for empty input,
    ///   `.multipleAddresses` for a list, `.nestedGroup`/`.expected` for a group,
    ///   and every parser error (CR, LF, NUL, stray angle brackets…) with its offset.
    public static func parse(_ input: some Collection<UInt8>) throws(AddressError) -> EnvelopeAddress {
        let bytes = Array(input)
        let (tokens, comments) = try AddressScanner.scan(bytes)
        if tokens.isEmpty { throw AddressError(offset: 0, reason: .missingAddress) }
        if tokens.count == 2, tokens[0].isSpecial("<"), tokens[1].isSpecial(">") { return .null }
        var parser = AddressParser(tokens: tokens, comments: comments, inputLength: bytes.count)
        let item = try parser.parseAddress(allowGroup: false)
        guard case .mailbox(let m) = item else { throw AddressError(offset: 0, reason: .expected("a mailbox")) }
        if let extra = parser.peek {
            if extra.isSpecial(",") { throw AddressError(offset: extra.offset, reason: .multipleAddresses) }
            throw parser.unexpected("the end of the address")
        }
        return .mailbox(m)
    }

    /// Parses a `String`; see `parse(_:)`.
    public static func parse(_ input: String) throws(AddressError) -> EnvelopeAddress { try parse(Array(input.utf8)) }

    /// The mailbox, or nil for `<>`.
    public var mailbox: Mailbox? {
        if case .mailbox(let m) = self { return m }
        return nil
    }

    /// Whether the address needs qualifying (a mailbox without `@domain`); `<>` does not.
    public var isUnqualified: Bool { mailbox.map { !$0.isQualified } ?? false }

    /// The SMTP path: `<>` or `<local@domain>`.
    public var smtpPath: [UInt8] { mailbox?.smtpPath ?? Array("<>".utf8) }

    /// Whether the address needs SMTPUTF8.
    public var needsSMTPUTF8: Bool { mailbox?.needsSMTPUTF8 ?? false }

    /// The SMTP path as text.
    public var description: String { String(decoding: smtpPath, as: UTF8.self) }
}
