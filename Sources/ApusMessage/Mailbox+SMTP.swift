/// RFC 5321 syntax for the addresses apus sends in MAIL FROM and RCPT TO.
///
/// RFC 5322 (what ``AddressList`` reads) is wider than RFC 5321 (what the wire
/// carries): a quoted local part may hold a TAB, a domain may be any dot-atom,
/// a domain literal any text. apus sends an address exactly as it parsed it or
/// not at all, so before a mailbox becomes an SMTP path it must be valid RFC 5321
/// (RFC 6531 for UTF-8):
///
/// - Local-part: a Dot-string, or a Quoted-string whose characters are printable
///   ASCII or UTF-8 (no TAB or other control character);
/// - Domain: sub-domains of letters, digits and hyphens (not first or last),
///   `_` allowed as Postfix allows it, UTF-8 allowed (U-labels); no empty label,
///   no trailing dot; or an address literal: `[IPv4]`, `[IPv6:…]`, or
///   `[tag:content]` (General-address-literal) with no space;
/// - at most 254 octets for the domain and 998 for the whole address.
extension Mailbox {
    /// The most octets of an address (local part, `@` and domain) apus sends.
    public static let maximumSMTPAddressLength = 998

    /// Checks that the mailbox, qualified, can be sent as it is in an SMTP path.
    ///
    /// - Throws: ``AddressError`` with reason ``AddressError/Reason/invalidForSMTP(_:)``
    ///   and the offset of the problem in ``addrSpec``.
    public func checkSMTPSyntax() throws(AddressError) {
        guard let domain else { throw AddressError(offset: 0, reason: .invalidForSMTP("the address has no domain")) }
        let local = formattedLocalPart
        if !Mailbox.isDotAtom(localPart) {
            for (i, byte) in localPart.enumerated() where byte < 0x20 || byte == 0x7F {
                throw AddressError(offset: i, reason: .invalidForSMTP("a control character in the local part"))
            }
        }
        let domainOffset = local.count + 1
        guard local.count + 1 + domain.count <= Mailbox.maximumSMTPAddressLength else {
            throw AddressError(
                offset: 0, reason: .invalidForSMTP("longer than \(Mailbox.maximumSMTPAddressLength) octets"))
        }
        if domain.first == UInt8(ascii: "[") {
            if let problem = Mailbox.addressLiteralProblem(domain) {
                throw AddressError(offset: domainOffset, reason: .invalidForSMTP(problem))
            }
            return
        }
        if let (offset, problem) = Mailbox.domainNameProblem(domain) {
            throw AddressError(offset: domainOffset + offset, reason: .invalidForSMTP(problem))
        }
    }

    /// Why `domain` is not an RFC 5321 Domain (with U-labels and `_`), or nil.
    static func domainNameProblem(_ domain: [UInt8]) -> (Int, String)? {
        guard domain.count <= 254 else { return (0, "a domain longer than 254 octets") }
        var labelStart = 0
        for i in 0...domain.count {
            if i < domain.count && domain[i] != ASCII.dot {
                let byte = domain[i]
                let ok =
                    byte >= 0x80 || (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
                if !ok { return (i, "'\(String(decoding: [byte], as: UTF8.self))' in the domain") }
                continue
            }
            if i == labelStart { return (i, "an empty label in the domain") }
            if domain[labelStart] == UInt8(ascii: "-") || domain[i - 1] == UInt8(ascii: "-") {
                return (labelStart, "a domain label starting or ending with '-'")
            }
            labelStart = i + 1
        }
        return nil
    }

    /// Why `literal` (with its brackets) is not an RFC 5321 address literal, or nil.
    static func addressLiteralProblem(_ literal: [UInt8]) -> String? {
        guard literal.count >= 3, literal.first == UInt8(ascii: "["), literal.last == UInt8(ascii: "]") else {
            return "an empty address literal"
        }
        let content = Array(literal.dropFirst().dropLast())
        if isIPv4(content[...]) { return nil }
        guard let colon = content.firstIndex(of: ASCII.colon), colon > 0 else {
            return "an address literal that is neither IPv4 nor 'tag:address'"
        }
        let tag = content[..<colon]
        let value = content[(colon + 1)...]
        guard !value.isEmpty else { return "an empty address in the literal" }
        let isLetterDigit = { (b: UInt8) in (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) }
        guard tag.allSatisfy({ isLetterDigit($0) || $0 == UInt8(ascii: "-") }), let last = tag.last, isLetterDigit(last)
        else { return "a bad tag in the address literal" }
        if ASCII.equalsIgnoringCase(Array(tag), Array("IPv6".utf8)) {
            let ok = value.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x66) || b == ASCII.colon || b == ASCII.dot
            }
            return ok && value.contains(ASCII.colon) ? nil : "a bad IPv6 address literal"
        }
        // dcontent: printable ASCII but '[', '\' and ']'; no space.
        for b in value
        where b < 33 || b > 126 || b == UInt8(ascii: "[") || b == ASCII.backslash || b == UInt8(ascii: "]") {
            return "a space or control character in the address literal"
        }
        return nil
    }

    /// Whether `bytes` is a dotted IPv4 address (four numbers 0–255).
    static func isIPv4(_ bytes: ArraySlice<UInt8>) -> Bool {
        let parts = bytes.split(separator: ASCII.dot, omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
            let value = part.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            if value > 255 { return false }
        }
        return true
    }
}
