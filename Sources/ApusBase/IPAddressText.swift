import Glibc

/// The one test of whether a text is an IP address literal, used for relay
/// names, configuration values and the certificate check.
///
/// The C function is `inet_pton`: IPv4 is four dotted decimal numbers (no
/// leading zeros), IPv6 is RFC 4291's text forms, including a trailing dotted
/// IPv4. An IPv6 address may carry a zone id after `%` (`fe80::1%eth0`: letters,
/// digits, `.`, `-`, `_`, at most 15 bytes, as an interface name), which a
/// link-local relay needs.
package enum IPAddressText {
    /// Whether `text` is an IPv4 address (`192.0.2.1`).
    package static func isIPv4(_ text: some StringProtocol) -> Bool {
        guard text.utf8.count <= 15 else { return false }
        var address = in_addr()
        return String(text).withCString { inet_pton(AF_INET, $0, &address) } == 1
    }

    /// Whether `text` is an IPv6 address (`2001:db8::1`, `::ffff:192.0.2.1`,
    /// `fe80::1%eth0`).
    package static func isIPv6(_ text: some StringProtocol) -> Bool {
        var body = Substring(text)
        if let percent = body.firstIndex(of: "%") {
            let zone = body[body.index(after: percent)...]
            guard !zone.isEmpty, zone.utf8.count <= 15,
                zone.utf8.allSatisfy({ byte in
                    (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                        || byte == 0x2E || byte == 0x2D || byte == 0x5F
                })
            else { return false }
            body = body[..<percent]
        }
        guard body.utf8.count <= 45 else { return false }
        var address = in6_addr()
        return String(body).withCString { inet_pton(AF_INET6, $0, &address) } == 1
    }

    /// Whether `text` is either.
    package static func isAddress(_ text: some StringProtocol) -> Bool {
        isIPv4(text) || isIPv6(text)
    }
}
