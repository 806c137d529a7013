/// What a server announced in its EHLO reply (RFC 5321 §4.1.1.1), as one value
/// rather than scattered string tests (OpenSMTPD `MTA_EXT_*`).
///
/// Keywords are matched case-insensitively; unknown keywords are kept in
/// ``others`` with their parameters. After HELO (no EHLO) every flag is off.
public struct Extensions: Hashable, Sendable {
    /// SIZE was announced.
    public var size = false
    /// The SIZE limit in octets; nil when SIZE was announced without a number
    /// or with 0 (no fixed limit).
    public var sizeLimit: Int?
    /// PIPELINING (RFC 2920).
    public var pipelining = false
    /// CHUNKING: BDAT (RFC 3030).
    public var chunking = false
    /// 8BITMIME (RFC 6152).
    public var eightBitMIME = false
    /// SMTPUTF8 (RFC 6531).
    public var smtpUTF8 = false
    /// DSN (RFC 3461).
    public var dsn = false
    /// STARTTLS (RFC 3207).
    public var startTLS = false
    /// ENHANCEDSTATUSCODES (RFC 2034).
    public var enhancedStatusCodes = false
    /// The AUTH mechanisms, upper case, in the server's order (RFC 4954);
    /// empty when AUTH was not announced. `AUTH=` lines count too.
    public var authMechanisms: [String] = []
    /// Other keywords, upper case, with their parameters.
    public var others: [String: [String]] = [:]

    /// No extensions (a HELO session).
    public init() {}

    /// Parses the lines of an EHLO reply. The first line is the server's
    /// greeting and is skipped; each further line is `KEYWORD [params…]`.
    public init(ehloLines: [String]) {
        for line in ehloLines.dropFirst() {
            let words = Self.words(line)
            guard let first = words.first else { continue }
            var keyword = first.uppercased()
            var parameters = Array(words.dropFirst())
            if keyword.hasPrefix("AUTH=") {
                parameters.insert(String(keyword.dropFirst(5)), at: 0)
                keyword = "AUTH"
            }
            switch keyword {
            case "SIZE":
                size = true
                if let limit = parameters.first.flatMap({ Int($0) }), limit > 0 { sizeLimit = limit }
            case "PIPELINING": pipelining = true
            case "CHUNKING": chunking = true
            case "8BITMIME": eightBitMIME = true
            case "SMTPUTF8": smtpUTF8 = true
            case "DSN": dsn = true
            case "STARTTLS": startTLS = true
            case "ENHANCEDSTATUSCODES": enhancedStatusCodes = true
            case "AUTH":
                for mechanism in parameters.map({ $0.uppercased() }) where !authMechanisms.contains(mechanism) {
                    authMechanisms.append(mechanism)
                }
            default:
                // Room for every line at once: growing one by one rehashed.
                if others.isEmpty { others = Dictionary(minimumCapacity: ehloLines.count) }
                others[keyword, default: []].append(contentsOf: parameters)
            }
        }
    }

    /// The blank-separated words of one EHLO line. An ASCII line (every real
    /// one) is cut at its space and tab bytes, which is what cutting at the
    /// Characters `" "` and `"\t"` gives for ASCII and costs a tenth of it;
    /// any other line is cut by Characters as before.
    static func words(_ line: String) -> [String] {
        let utf8 = line.utf8
        guard utf8.allSatisfy({ $0 < 0x80 }) else {
            return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        }
        var words: [String] = []
        var start: String.Index?
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte == 0x20 || byte == 0x09 {
                if let first = start { words.append(String(line[first..<index])) }
                start = nil
            } else if start == nil {
                start = index
            }
            index = utf8.index(after: index)
        }
        if let first = start { words.append(String(line[first...])) }
        return words
    }

    /// Whether the server offers the AUTH mechanism `name` (case-insensitive).
    public func offersMechanism(_ name: String) -> Bool {
        authMechanisms.contains(name.uppercased())
    }

    /// The default preference for `auth on`: strongest first. Token
    /// mechanisms (XOAUTH2, OAUTHBEARER) are left out: they need a token,
    /// so they are used only when asked for by name.
    public static let defaultMechanismPreference = ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"]

    /// The first mechanism of `preference` that the server offers ("the
    /// strongest both sides support"), or nil.
    public func strongestMechanism(preference: [String] = Extensions.defaultMechanismPreference) -> String? {
        preference.first { offersMechanism($0) }.map { $0.uppercased() }
    }
}
