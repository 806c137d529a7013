import ApusBase
import ApusPOSIX

/// Why a value was refused; the parser adds the file, line and key.
struct ValueError: Error {
    /// The reason, never quoting a secret.
    var message: String
    init(_ message: String) { self.message = message }
}

/// The value checks behind every key of apus.conf, one function per value type.
///
/// Each returns the typed value or throws ``ValueError`` with a short reason.
enum ValueParsing {
    /// `on` or `off` (any case).
    static func onOff(_ value: String) throws(ValueError) -> Bool {
        switch value.lowercased() {
        case "on": return true
        case "off": return false
        default: throw ValueError("expected 'on' or 'off'")
        }
    }

    /// One of the raw values of `T` (any case).
    static func choice<T: RawRepresentable & CaseIterable>(_ value: String, _ type: T.Type) throws(ValueError) -> T
    where T.RawValue == String {
        if let result = T(rawValue: value.lowercased()) { return result }
        let names = T.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        throw ValueError("expected one of \(names)")
    }

    /// A decimal port number, 1–65535.
    static func port(_ value: String) throws(ValueError) -> Int {
        guard !value.isEmpty, value.utf8.count <= 5, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let number = Int(value), (1...65535).contains(number)
        else { throw ValueError("\(quoted(value)) is not a port number (1-65535)") }
        return number
    }

    /// A size in octets: decimal digits with an optional `K`, `M` or `G` suffix
    /// (any case; powers of 1024), up to 1 TiB; `0` means no limit.
    static func byteSize(_ value: String) throws(ValueError) -> Int {
        var digits = Substring(value)
        var unit = 1
        switch value.utf8.last {
        case UInt8(ascii: "k"), UInt8(ascii: "K"): unit = 1 << 10
        case UInt8(ascii: "m"), UInt8(ascii: "M"): unit = 1 << 20
        case UInt8(ascii: "g"), UInt8(ascii: "G"): unit = 1 << 30
        default: break
        }
        if unit > 1 { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.utf8.count <= 13, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let number = Int(digits), number <= (1 << 40) / unit
        else { throw ValueError("\(quoted(value)) is not a size in bytes (a number with K, M or G allowed, up to 1T)") }
        return number * unit
    }

    /// A count: decimal digits, 0 to 100,000,000; `0` means no limit.
    static func count(_ value: String) throws(ValueError) -> Int {
        guard !value.isEmpty, value.utf8.count <= 9, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let number = Int(value)
        else { throw ValueError("\(quoted(value)) is not a count (0 to 999999999)") }
        return number
    }

    /// A host name, an IPv4 address, or an IPv6 address (bare or in brackets).
    /// Returns it without brackets.
    static func host(_ value: String) throws(ValueError) -> String {
        if value.utf8.first == 0x5B {
            guard value.utf8.last == 0x5D, value.utf8.count > 2 else {
                throw ValueError("\(quoted(value)) lacks its ']'")
            }
            let inner = String(String.UnicodeScalarView(value.unicodeScalars.dropFirst().dropLast()))
            guard isIPv6(inner) else { throw ValueError("\(quoted(value)) is not an IPv6 address") }
            return inner
        }
        if value.containsByte(0x3A) {
            guard isIPv6(value) else { throw ValueError("\(quoted(value)) is not a host name or address") }
            return value
        }
        guard isHostName(value) else { throw ValueError("\(quoted(value)) is not a host name or address") }
        return value
    }

    /// `host[:port]`, `[IPv6]` or `[IPv6]:port`; the port is `nil` when absent.
    static func relay(_ value: String) throws(ValueError) -> (host: String, port: Int?) {
        let bytes = Array(value.utf8)
        if bytes.first == 0x5B {
            guard let close = bytes.firstIndex(of: 0x5D) else { throw ValueError("\(quoted(value)) lacks its ']'") }
            let host = try self.host(String(decoding: bytes[...close], as: UTF8.self))
            let rest = bytes[(close + 1)...]
            if rest.isEmpty { return (host, nil) }
            guard rest.first == 0x3A else { throw ValueError("\(quoted(value)) is not host[:port]") }
            return (host, try port(String(decoding: rest.dropFirst(), as: UTF8.self)))
        }
        let colons = value.count(ofByte: 0x3A)
        if colons > 1 { throw ValueError("write an IPv6 address in brackets: [\(value)]") }
        if colons == 1, let colon = bytes.firstIndex(of: 0x3A) {
            let host = try self.host(String(decoding: bytes[..<colon], as: UTF8.self))
            return (host, try port(String(decoding: bytes[(colon + 1)...], as: UTF8.self)))
        }
        return (try self.host(value), nil)
    }

    /// A DNS name: dot-separated labels of letters, digits, `-` and `_`, each
    /// 1–63 characters, not starting or ending with `-`, 253 characters at most;
    /// a final dot is allowed. IPv4 dotted quads pass too.
    static func isHostName(_ value: String) -> Bool {
        // One pass over the bytes (a split into labels cost 9,000
        // instructions a call). Any byte outside the label alphabet, which
        // includes every non-ASCII one, refuses the name.
        var bytes = value.utf8[...]
        if bytes.last == 0x2E { bytes = bytes.dropLast() }
        guard !bytes.isEmpty, bytes.count <= 253 else { return false }
        var labelLength = 0
        var previous: UInt8 = 0x2E
        for byte in bytes {
            if byte == 0x2E {
                guard labelLength > 0, previous != 0x2D else { return false }
                labelLength = 0
            } else {
                let ok =
                    (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                    || byte == 0x2D || byte == 0x5F
                guard ok, labelLength > 0 || byte != 0x2D, labelLength < 63 else { return false }
                labelLength += 1
            }
            previous = byte
        }
        return labelLength > 0 && previous != 0x2D
    }

    /// An IPv6 address text (``IPAddressText``: a zone id is allowed).
    static func isIPv6(_ value: String) -> Bool { IPAddressText.isIPv6(value) }

    /// A duration in ``DurationGrammar``'s words (`30m`, `5d`, `1h30m`), more
    /// than zero. Returns seconds.
    static func duration(_ value: String) throws(ValueError) -> Int64 {
        guard let seconds = DurationGrammar.seconds(value) else {
            throw ValueError("\(quoted(value)) is not a duration (a number with s, m, h, d or w: 30m, 5d)")
        }
        guard seconds > 0 else { throw ValueError("a duration must be more than zero") }
        return seconds
    }

    /// Durations separated by blanks (at least one, at most 100). Returns seconds.
    static func durationList(_ value: String) throws(ValueError) -> [Int64] {
        let words = value.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard !words.isEmpty else { throw ValueError("expected one or more durations (5m 15m 1h 4h)") }
        guard words.count <= 100 else { throw ValueError("more than 100 durations") }
        var result: [Int64] = []
        for word in words { result.append(try duration(String(word))) }
        return result
    }

    /// A timeout in seconds: a plain number of seconds or a duration, 1 s to 1 d.
    static func timeout(_ value: String) throws(ValueError) -> Int {
        let seconds: Int64
        if let plain = Int64(value), value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), value.count <= 9 {
            seconds = plain
        } else {
            do { seconds = try duration(value) } catch {
                throw ValueError("\(quoted(value)) is not a number of seconds")
            }
        }
        guard (1...86400).contains(seconds) else { throw ValueError("the timeout must be 1 to 86400 seconds") }
        return Int(seconds)
    }

    /// A SHA-256 fingerprint: 64 hex digits, with or without a colon between
    /// each pair. Returns the 32 bytes.
    static func fingerprint(_ value: String) throws(ValueError) -> [UInt8] {
        let hex: [UInt8]
        if value.containsByte(0x3A) {
            let pairs = value.split(separator: ":", omittingEmptySubsequences: false)
            guard pairs.allSatisfy({ $0.utf8.count == 2 }) else {
                throw ValueError("expected hex digit pairs separated by colons")
            }
            hex = pairs.flatMap { Array($0.utf8) }
        } else {
            hex = Array(value.utf8)
        }
        guard hex.allSatisfy({ $0.isHexDigit }) else { throw ValueError("expected hexadecimal digits") }
        guard hex.count == 64 else {
            throw ValueError("expected the SHA-256 fingerprint (32 bytes), got \(hex.count / 2) bytes")
        }
        var bytes: [UInt8] = []
        var index = 0
        while index < hex.count {
            bytes.append(hex[index].hexValue << 4 | hex[index + 1].hexValue)
            index += 2
        }
        return bytes
    }

    /// An absolute path.
    static func path(_ value: String) throws(ValueError) -> String {
        guard value.utf8.first == 0x2F else { throw ValueError("\(quoted(value)) is not an absolute path") }
        return value
    }

    /// A domain: a host name, not an address.
    static func domain(_ value: String) throws(ValueError) -> String {
        guard isHostName(value), !value.containsByte(0x3A) else {
            throw ValueError("\(quoted(value)) is not a domain name")
        }
        return value
    }

    /// An address or a pattern for `from`: no blanks, no `<`, `>`, `,`, `;` or
    /// quotes, at most one `@`, 254 characters at most.
    static func fromAddress(_ value: String) throws(ValueError) -> String {
        let bare = value.strippingAngleBrackets()
        guard !bare.isEmpty, bare.utf8.count <= 254 else { throw ValueError("\(quoted(value)) is not an address") }
        for byte in bare.utf8
        where byte <= 0x20 || byte == 0x3C || byte == 0x3E || byte == 0x2C || byte == 0x3B
            || byte == 0x22 || byte == 0x5C || byte == 0x28 || byte == 0x29
        {
            throw ValueError("\(quoted(value)) is not an address or pattern")
        }
        guard bare.count(ofByte: 0x40) <= 1, bare.utf8.first != 0x40, bare.utf8.last != 0x40 else {
            throw ValueError("\(quoted(value)) is not an address or pattern")
        }
        return bare
    }

    /// `auth`: `on`, `off`, or a mechanism name (any case).
    static func authentication(_ value: String) throws(ValueError) -> Authentication {
        switch value.lowercased() {
        case "on": return .automatic
        case "off": return .off
        default:
            if let mechanism = AuthMechanism(rawValue: value.lowercased()) { return .mechanism(mechanism) }
            let names = AuthMechanism.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValueError("expected 'on', 'off' or a mechanism (\(names))")
        }
    }

    /// `dsn_notify`: `never`, or a comma-separated list of `success`, `failure`, `delay`.
    static func dsnNotify(_ value: String) throws(ValueError) -> DSNNotifySetting {
        let words = value.lowercased().split(separator: ",", omittingEmptySubsequences: false)
        if words == ["never"] { return .never }
        var result: DSNNotifySetting = []
        for word in words {
            switch word.trimmingBlanks() {
            case "success": result.insert(.success)
            case "failure": result.insert(.failure)
            case "delay": result.insert(.delay)
            default: throw ValueError("expected 'never' or a list of 'success', 'failure', 'delay'")
            }
        }
        return result
    }

    /// `log`: `syslog`, `off`, or an absolute path.
    static func log(_ value: String) throws(ValueError) -> LogTarget {
        switch value {
        case "syslog": return .syslog
        case "off": return .off
        default:
            guard value.utf8.first == 0x2F else { throw ValueError("expected 'syslog', 'off' or an absolute path") }
            return .file(value)
        }
    }
}

extension UInt8 {
    /// Whether the byte is an ASCII hex digit.
    var isHexDigit: Bool {
        (self >= 0x30 && self <= 0x39) || (self | 0x20 >= 0x61 && self | 0x20 <= 0x66)
    }
    /// The value of an ASCII hex digit (the byte must be one).
    var hexValue: UInt8 {
        self <= 0x39 ? self - 0x30 : (self | 0x20) - 0x61 + 10
    }
}

extension StringProtocol {
    /// Whether the UTF-8 form holds `byte`. Used instead of `contains(Character)`
    /// for ASCII punctuation: a combining or prepended scalar next to `@` or `:`
    /// would hide it from a `Character` search.
    func containsByte(_ byte: UInt8) -> Bool { utf8.contains(byte) }

    /// How many times `byte` occurs in the UTF-8 form.
    func count(ofByte byte: UInt8) -> Int { utf8.reduce(0) { $0 + ($1 == byte ? 1 : 0) } }

    /// Whether the UTF-8 form starts with `prefix` (byte-wise, see ``containsByte(_:)``).
    func hasBytePrefix(_ prefix: String) -> Bool { utf8.starts(with: prefix.utf8) }

    /// The text without one pair of enclosing `<` `>`, if it has them.
    func strippingAngleBrackets() -> String {
        let bytes = Array(utf8)
        guard bytes.count >= 2, bytes.first == 0x3C, bytes.last == 0x3E else { return String(self) }
        return String(String.UnicodeScalarView(unicodeScalars.dropFirst().dropLast()))
    }

    /// The text without leading and trailing spaces and tabs.
    func trimmingBlanks() -> String {
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, first == " " || first == "\t" { scalars = scalars.dropFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
