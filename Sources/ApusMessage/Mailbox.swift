/// One mailbox: an address with an optional display name, as found in an address
/// header or given on the command line.
///
/// The local part is held as its value (quotes removed, escapes resolved,
/// obsolete dotted words joined), the domain as written (`example.com`, or a
/// literal such as `[192.0.2.1]`). A mailbox without a domain is *unqualified*
/// (`root`): the caller qualifies it (aliases, then `default_domain`).
public struct Mailbox: Sendable, Hashable, CustomStringConvertible {
    /// The display name's text: words joined by one space, quoted strings
    /// unquoted; RFC 2047 encoded words are kept as written. Nil when absent.
    public let displayName: [UInt8]?
    /// The local part's value.
    public let localPart: [UInt8]
    /// The domain, or nil for an unqualified address.
    public let domain: [UInt8]?
    /// An obsolete source route (`<@a,@b:user@c>`): the domains, ignored for delivery.
    public let route: [[UInt8]]
    /// The first comment inside the mailbox, such as the name in `root (Cron Daemon)`.
    public let comment: [UInt8]?

    /// Creates a mailbox, checking every part so that formatting it cannot
    /// inject a header or an SMTP command.
    ///
    /// - Parameters:
    ///   - localPart: the local part's value: any bytes but CR, LF and NUL, not empty
    ///     (it is quoted when it is not a dot-atom).
    ///   - domain: a dot-atom (UTF-8 allowed) or a `[literal]`; nil for unqualified.
    ///   - displayName: any text but CR, LF and NUL.
    /// - Throws: `AddressError` naming the offending byte's offset within the part.
    public init(localPart: [UInt8], domain: [UInt8]?, displayName: [UInt8]? = nil) throws(AddressError) {
        guard !localPart.isEmpty else { throw AddressError(offset: 0, reason: .missingAddress) }
        try Mailbox.checkNoControls(localPart)
        if let displayName { try Mailbox.checkNoControls(displayName) }
        if let domain { try Mailbox.checkDomain(domain) }
        self.init(checkedLocalPart: localPart, domain: domain, displayName: displayName, route: [], comment: nil)
    }

    /// Creates a mailbox from `String` parts; see `init(localPart:domain:displayName:)`.
    public init(localPart: String, domain: String?, displayName: String? = nil) throws(AddressError) {
        try self.init(
            localPart: Array(localPart.utf8), domain: domain.map { Array($0.utf8) },
            displayName: displayName.map { Array($0.utf8) })
    }

    init(checkedLocalPart: [UInt8], domain: [UInt8]?, displayName: [UInt8]?, route: [[UInt8]], comment: [UInt8]?) {
        self.localPart = checkedLocalPart
        self.domain = domain
        self.displayName = displayName
        self.route = route
        self.comment = comment
    }

    static func checkNoControls(_ bytes: [UInt8]) throws(AddressError) {
        for (i, b) in bytes.enumerated() where b == 0 || b == ASCII.cr || b == ASCII.lf {
            throw AddressError(offset: i, reason: .forbiddenByte(b))
        }
    }

    static func checkDomain(_ domain: [UInt8]) throws(AddressError) {
        if domain.first == UInt8(ascii: "[") {
            guard domain.count >= 2, domain.last == UInt8(ascii: "]") else {
                throw AddressError(offset: 0, reason: .unterminatedDomainLiteral)
            }
            for (i, b) in domain.enumerated().dropFirst().dropLast()
            where b <= 0x20 || b == 0x7F || b == UInt8(ascii: "[") || b == UInt8(ascii: "]") || b == ASCII.backslash {
                throw AddressError(offset: i, reason: b < 0x20 ? .forbiddenByte(b) : .unexpectedCharacter(b))
            }
            return
        }
        guard Mailbox.isDotAtom(domain) else {
            let bad = domain.firstIndex { !ASCII.isAtext($0) && $0 != ASCII.dot } ?? 0
            if bad < domain.count, domain[bad] < 0x20 {
                throw AddressError(offset: bad, reason: .forbiddenByte(domain[bad]))
            }
            throw AddressError(offset: bad, reason: .expected("a domain"))
        }
    }

    /// Whether `bytes` is RFC 5322 dot-atom-text (UTF-8 allowed).
    static func isDotAtom(_ bytes: [UInt8]) -> Bool {
        guard let f = bytes.first, let l = bytes.last, f != ASCII.dot, l != ASCII.dot else { return false }
        var previousDot = false
        for b in bytes {
            if b == ASCII.dot {
                if previousDot { return false }
                previousDot = true
            } else {
                guard ASCII.isAtext(b) else { return false }
                previousDot = false
            }
        }
        return true
    }

    /// Whether the address has a domain.
    public var isQualified: Bool { domain != nil }

    /// The same mailbox with `domain` added when it has none.
    public func qualified(with domain: [UInt8]) throws(AddressError) -> Mailbox {
        if self.domain != nil { return self }
        try Mailbox.checkDomain(domain)
        return Mailbox(
            checkedLocalPart: localPart, domain: domain, displayName: displayName, route: route, comment: comment)
    }

    /// The local part as written on the wire: as is when a dot-atom, else a quoted string.
    public var formattedLocalPart: [UInt8] {
        Mailbox.isDotAtom(localPart) ? localPart : HeaderFormat.quoted(localPart)
    }

    /// `local@domain` (or just the local part when unqualified), quoted as needed.
    public var addrSpec: [UInt8] {
        guard let domain else { return formattedLocalPart }
        return formattedLocalPart + [UInt8(ascii: "@")] + domain
    }

    /// The SMTP path for MAIL FROM / RCPT TO: `<local@domain>`.
    public var smtpPath: [UInt8] { [UInt8(ascii: "<")] + addrSpec + [UInt8(ascii: ">")] }

    /// Whether the address needs SMTPUTF8 (RFC 6531): a byte ≥ 0x80 in the local part or domain.
    public var needsSMTPUTF8: Bool {
        localPart.contains { $0 >= 0x80 } || (domain?.contains { $0 >= 0x80 } ?? false)
    }

    /// The mailbox for a header: `Name <local@domain>` (the name as atoms, a quoted
    /// string, or RFC 2047 encoded words when it is not ASCII), or `local@domain`.
    public var formatted: [UInt8] {
        guard let name = displayName, !name.isEmpty else { return addrSpec }
        return Mailbox.formatPhrase(name) + [ASCII.space] + smtpPath
    }

    /// A phrase from its text: kept as is when every word is an atom, quoted when ASCII, else encoded words.
    static func formatPhrase(_ name: [UInt8]) -> [UInt8] {
        if HeaderFormat.isPlainASCII(name) {
            let words = name.split(separator: ASCII.space, omittingEmptySubsequences: false)
            if words.allSatisfy({ !$0.isEmpty && $0.allSatisfy(ASCII.isAtext) }) { return name }
            return HeaderFormat.quoted(name)
        }
        return HeaderFormat.encodeWords(name, forPhrase: true)
    }

    /// Whether two mailboxes are the same recipient: the local part compared
    /// exactly, the domain case-insensitively (display names ignored).
    public func isSameRecipient(as other: Mailbox) -> Bool {
        guard localPart == other.localPart else { return false }
        switch (domain, other.domain) {
        case (nil, nil): return true
        case (let a?, let b?): return ASCII.equalsIgnoringCase(a, b)
        default: return false
        }
    }

    /// The formatted mailbox as text.
    public var description: String { String(decoding: formatted, as: UTF8.self) }
}
