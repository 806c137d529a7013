import ApusBase
import ApusPOSIX

/// A server to connect to: a host name or address literal and a TCP port.
///
/// Parses the forms users write (Allegro's mail-server forms):
///
/// | text                  | host            | port          |
/// |-----------------------|-----------------|---------------|
/// | `mail.example.com`    | mail.example.com| default       |
/// | `mail.example.com:587`| mail.example.com| 587           |
/// | `192.0.2.1` / `:25`   | 192.0.2.1       | default / 25  |
/// | `[2001:db8::1]:587`   | 2001:db8::1     | 587           |
/// | `[2001:db8::1]`       | 2001:db8::1     | default       |
/// | `::1`, `2001:db8::1`  | the literal     | default (a bare IPv6 literal has no port) |
///
/// The host is kept without brackets. Host names are checked for the
/// characters DNS names use (letters, digits, `-`, `.`, `_`); nothing is
/// resolved here.
public struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
    /// The host name or numeric address, without brackets.
    public var host: String
    /// The TCP port.
    public var port: UInt16

    /// The SMTP port, 25.
    public static let smtpPort: UInt16 = 25
    /// The submission port, 587 (RFC 6409).
    public static let submissionPort: UInt16 = 587
    /// The submission-over-TLS port, 465 (RFC 8314).
    public static let submissionsPort: UInt16 = 465

    /// A host and a separate port, checked like the parsed forms (a
    /// bracketed IPv6 literal is accepted and unbracketed).
    ///
    /// - Throws: ``ServerAddressError`` for an empty or malformed host.
    public init(host: String, port: UInt16) throws {
        var name = Substring(host)
        if name.hasPrefix("[") && name.hasSuffix("]") && name.count >= 2 {
            name = name.dropFirst().dropLast()
            guard Self.isIPv6Literal(name) else { throw ServerAddressError(host, "not an IPv6 address in brackets") }
        }
        try Self.checkHost(name, original: host)
        self.host = String(name)
        self.port = port
    }

    /// Parses `text` in one of the forms above.
    ///
    /// - Parameters:
    ///   - text: what the user wrote.
    ///   - defaultPort: the port when `text` names none (25 for SMTP).
    /// - Throws: ``ServerAddressError`` naming what is wrong: empty host,
    ///   bad or out-of-range port, unbalanced brackets, bad characters.
    public init(parsing text: String, defaultPort: UInt16) throws {
        if text.isEmpty { throw ServerAddressError(text, "empty server name") }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ServerAddressError(text, "missing ']'") }
            let inside = text[text.index(after: text.startIndex)..<close]
            guard Self.isIPv6Literal(inside) else {
                throw ServerAddressError(text, "not an IPv6 address in brackets")
            }
            let rest = text[text.index(after: close)...]
            host = String(inside)
            if rest.isEmpty {
                port = defaultPort
            } else if rest.hasPrefix(":") {
                port = try Self.parsePort(rest.dropFirst(), in: text)
            } else {
                throw ServerAddressError(text, "unexpected text after ']'")
            }
            return
        }
        let colons = text.count { $0 == ":" }
        if colons > 1 {
            guard Self.isIPv6Literal(Substring(text)) else {
                throw ServerAddressError(text, "too many ':' (write an IPv6 address with a port as [address]:port)")
            }
            host = text
            port = defaultPort
            return
        }
        if colons == 1, let colon = text.firstIndex(of: ":") {
            let name = text[..<colon]
            try Self.checkHost(name, original: text)
            host = String(name)
            port = try Self.parsePort(text[text.index(after: colon)...], in: text)
            return
        }
        try Self.checkHost(Substring(text), original: text)
        host = text
        port = defaultPort
    }

    /// Whether ``host`` is an IPv4 or IPv6 literal rather than a name.
    public var isAddressLiteral: Bool {
        Self.isIPv6Literal(Substring(host)) || Self.isIPv4Literal(Substring(host))
    }

    /// `host:port`, with brackets around an IPv6 literal: `[::1]:25`.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    private static func parsePort(_ text: Substring, in original: String) throws -> UInt16 {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = UInt16(text), value > 0
        else {
            throw ServerAddressError(original, "bad port '\(text)' (expected 1-65535)")
        }
        return value
    }

    private static func checkHost(_ name: Substring, original: String) throws {
        if name.isEmpty { throw ServerAddressError(original, "empty host name") }
        if name.utf8.count > 253 { throw ServerAddressError(original, "host name longer than 253 characters") }
        if isIPv4Literal(name) || isIPv6Literal(name) { return }
        for byte in name.utf8 {
            let ok =
                (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2d || byte == 0x2e || byte == 0x5f
            if !ok {
                throw ServerAddressError(original, "bad character in host name")
            }
        }
        if name.hasPrefix(".") || name.contains("..") {
            throw ServerAddressError(original, "empty label in host name")
        }
    }

    private static func isIPv4Literal(_ text: Substring) -> Bool { IPAddressText.isIPv4(text) }

    private static func isIPv6Literal(_ text: Substring) -> Bool { IPAddressText.isIPv6(text) }
}

/// A server name that cannot be parsed: the text and what is wrong with it.
public struct ServerAddressError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The text as given.
    public var text: String
    /// What is wrong, in plain words.
    public var reason: String

    /// Creates an error.
    public init(_ text: String, _ reason: String) {
        self.text = text
        self.reason = reason
    }

    /// "bad server name 'a:b:c': too many ':' …".
    public var description: String { "bad server name '\(text)': \(reason)" }
}
