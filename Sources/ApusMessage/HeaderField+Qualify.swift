/// Qualifying the unqualified addresses of an address header, as Postfix's
/// cleanup does for a locally submitted message (delivery.md "Headers apus
/// changes"): `From: root (Cron Daemon)` becomes
/// `From: root@DOMAIN (Cron Daemon)`, `To: Ops <ops>` becomes
/// `To: Ops <ops@DOMAIN>`.
///
/// Only `@DOMAIN` is inserted, right after each unqualified local part; display
/// names, comments, groups, qualified addresses, white space and folding stay
/// byte for byte as written (Postfix rewrites the whole field; apus does not
/// refold). A value that is not an address list (it does not scan, or an item
/// is not `word *("." word)` / `phrase <word *("." word)>`) is left alone, as
/// is the null path `<>`.
extension HeaderField {
    /// The sender fields Postfix qualifies with `domain` (`$myorigin`).
    public static let senderAddressFields = [
        "From", "Sender", "Reply-To", "Resent-From", "Resent-Sender", "Resent-Reply-To",
    ]
    /// The recipient fields qualified with `default_domain`.
    public static let recipientAddressFields = ["To", "Cc", "Resent-To", "Resent-Cc"]

    /// This field with `@domain` added to each unqualified address, or nil when
    /// no address needs it (or the value is not an address list, or the result
    /// would not be a valid field).
    public func qualifyingAddresses(with domain: [UInt8]) -> HeaderField? {
        guard !domain.isEmpty else { return nil }
        let base = colonIndex + 1
        // Folding line ends become blanks so that the scanner's offsets are
        // offsets into `raw`.
        let value = raw[base..<(raw.count - 2)].map { $0 == ASCII.cr || $0 == ASCII.lf ? ASCII.space : $0 }
        guard let scanned = try? AddressScanner.scan(value) else { return nil }
        let insertions = Self.insertionPoints(scanned.tokens, in: value)
        guard !insertions.isEmpty else { return nil }
        var bytes = raw
        for offset in insertions.reversed() {
            bytes.insert(contentsOf: [UInt8(ascii: "@")] + domain, at: base + offset)
        }
        return try? HeaderField(raw: bytes)
    }

    /// Offsets in `value` where `@domain` goes: after each unqualified local part.
    static func insertionPoints(_ tokens: [AddressScanner.Token], in value: [UInt8]) -> [Int] {
        var points: [Int] = []
        var item: [AddressScanner.Token] = []
        var inAngle = false

        func finish() {
            defer { item = [] }
            guard !item.isEmpty else { return }
            if let open = item.firstIndex(where: { $0.isSpecial("<") }) {
                guard let close = item.lastIndex(where: { $0.isSpecial(">") }), close > open else { return }
                var inner = item[(open + 1)..<close]
                // An obsolete route (`<@a,@b:user@c>`) ends at its colon.
                if let colon = inner.lastIndex(where: { $0.isSpecial(":") }) { inner = inner[(colon + 1)...] }
                guard !inner.isEmpty, !inner.contains(where: { $0.isSpecial("@") }), isLocalPart(inner) else { return }
                points.append(item[close].offset)
            } else {
                guard !item.contains(where: { $0.isSpecial("@") }), isLocalPart(item[...]),
                    let last = item.last, let end = rawEnd(last, in: value)
                else { return }
                points.append(end)
            }
        }

        for token in tokens {
            if token.isSpecial("<") { inAngle = true }
            if token.isSpecial(">") { inAngle = false }
            if !inAngle && (token.isSpecial(",") || token.isSpecial(";")) {
                finish()
                continue
            }
            if !inAngle && token.isSpecial(":") {
                // A group's display name: its members follow.
                item = []
                continue
            }
            item.append(token)
        }
        finish()
        return points
    }

    /// True for `word *("." word)`.
    private static func isLocalPart(_ tokens: ArraySlice<AddressScanner.Token>) -> Bool {
        guard !tokens.isEmpty else { return false }
        for (n, token) in tokens.enumerated() {
            if n % 2 == 0 {
                guard token.isWord else { return false }
            } else {
                guard token.isSpecial(".") else { return false }
            }
        }
        return tokens.count % 2 == 1
    }

    /// The offset just past `token` as written in `value` (a quoted string's
    /// closing quote included).
    private static func rawEnd(_ token: AddressScanner.Token, in value: [UInt8]) -> Int? {
        switch token.kind {
        case .atom: return token.offset + token.bytes.count
        case .quoted:
            var i = token.offset + 1
            while i < value.count {
                if value[i] == ASCII.backslash {
                    i += 2
                    continue
                }
                if value[i] == ASCII.quote { return i + 1 }
                i += 1
            }
            return nil
        case .literal, .special: return nil
        }
    }
}
