import ApusBase

// The envelope file format (version 3; version 2 is the same without the
// `code=` and `status=` rcpt tokens, version 1 also without `config`).
//
//     version: 1                      always the first line: 3 when a `code=` or `status=` token is present,
//                                     else 2 when `config` is present, else 1
//     arrival: 1700000000             Unix seconds                 (required)
//     size: 1532                      data file bytes
//     sender: cron@host.example.com   empty value = null sender <> (required)
//     account: work
//     attempts: 2
//     next-attempt: 1700003600        Unix seconds
//     last-error: connect to smtp.example.com[203.0.113.5]:587: Connection refused
//     ret: FULL                       DSN RET        (only when set)
//     envid: QQ314159                 DSN ENVID      (only when set)
//     body: 8BITMIME                  BODY=          (only when set)
//     config: /etc/apus-other.conf    -C FILE of a root submitter (only when set; version 2)
//     rcpt: pending admin@example.com notify=FAILURE,DELAY orcpt=rfc822;admin@example.com reply=451%204.7.1%20later
//     rcpt: sent bob@example.org reply=250%202.0.0%20Ok
//     rcpt: failed c@example.net reply=550%205.1.1%20unknown code=550 status=5.1.1   (version 3)
//     x-future-key: value             unknown keys: kept in order, written back
//     end                             always the last line; without it the file is incomplete
//
// Every line is `key: value` ended by LF; keys are `[a-z0-9-]+`. Values are
// UTF-8 with `%`, control bytes (below 0x20, 0x7F) percent-encoded as `%XX`, so
// a CR, LF or NUL in a reply or address can never start a new line. A `rcpt`
// line is space-separated tokens: state (pending/sent/failed), address, then
// optional `notify=`, `orcpt=`, `reply=`, `code=` (the reply's code, 3 digits),
// `status=` (its RFC 3463 status) in that order; its tokens also encode
// the space as `%20`. One recipient per line, at least one. The parser treats
// the file as hostile: any deviation is an ``EnvelopeFormatError`` naming the
// file and line, never a crash.
//
// Size: the reader accepts files up to `Envelope.maximumFileSize` (16 MiB), and
// the writer never makes a larger one: `last-error` is cut to 4096 octets, and
// when the whole would still pass the maximum the `reply=` tokens (diagnostics
// only) are cut to an equal share of what is left. An envelope whose other
// fields alone pass it is refused by the store (EFBIG); submission checks this
// before sending (``Envelope/fitsInFile``).

/// A queue envelope file that does not follow the format.
package struct EnvelopeFormatError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The file (or a name for the input when it came from elsewhere).
    package var path: String
    /// The 1-based line, or 0 when the problem concerns the whole file.
    package var line: Int
    /// What is wrong, for example "missing end line".
    package var reason: String

    /// An error at `line` of `path`.
    package init(path: String, line: Int, reason: String) {
        self.path = path
        self.line = line
        self.reason = reason
    }

    /// "queue file /var/spool/apus/X.env: line 3: bad number".
    package var description: String {
        line > 0 ? "queue file \(path): line \(line): \(reason)" : "queue file \(path): \(reason)"
    }
}

extension Envelope {
    /// The largest envelope file the reader accepts (and the writer makes).
    package static let maximumFileSize = 16 << 20
    /// The longest `last-error` kept, in octets (a longer one is cut).
    package static let maximumErrorLength = 4096

    /// The envelope as file bytes, in the format described at the top of
    /// `Envelope+Codec.swift`. Always parses back (with ``decode(_:path:)``) to an
    /// equal value when every recipient address is non-empty, extra keys are valid,
    /// `lastError` is at most ``maximumErrorLength`` octets and the result fits in
    /// ``maximumFileSize`` with every reply whole; otherwise replies are cut so it
    /// fits, as long as the other fields allow (see ``fitsInFile``).
    package func encode() -> [UInt8] {
        let whole = encode(replyLimit: nil)
        if whole.count <= Envelope.maximumFileSize { return whole }
        let withoutReplies = encode(replyLimit: 0)
        let replies = recipients.reduce(0) { $0 + ($1.lastReply.isEmpty ? 0 : 1) }
        let budget = Envelope.maximumFileSize - withoutReplies.count
        guard replies > 0, budget > 0 else { return withoutReplies }
        // Each kept reply costs " reply=" and at most three octets per byte escaped.
        return encode(replyLimit: max(0, (budget / replies - 8) / 3))
    }

    /// Whether the envelope, replies aside, fits in ``maximumFileSize`` with room
    /// for a last error: what a submission checks before it promises to queue.
    package var fitsInFile: Bool {
        encode(replyLimit: 0).count + 3 * Envelope.maximumErrorLength <= Envelope.maximumFileSize
    }

    /// The file bytes with each reply cut to `replyLimit` octets (nil = whole; 0 = none).
    private func encode(replyLimit: Int?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + recipients.count * 96)
        func line(_ key: String, _ value: String) {
            out.append(contentsOf: key.utf8)
            out.append(contentsOf: ": ".utf8)
            EnvelopeEscaping.escape(value, encodeSpace: false, into: &out)
            out.append(0x0A)
        }
        let typedReplies = recipients.contains { $0.replyCode != nil || $0.status != nil }
        line("version", typedReplies ? "3" : configurationFile == nil ? "1" : "2")
        line("arrival", String(arrivalTime))
        line("size", String(size))
        line("sender", sender)
        line("account", account)
        line("attempts", String(attempts))
        line("next-attempt", String(nextAttempt))
        line("last-error", EnvelopeEscaping.prefix(lastError, maximum: Envelope.maximumErrorLength))
        if let dsnReturn { line("ret", dsnReturn) }
        if let dsnEnvelopeID { line("envid", dsnEnvelopeID) }
        if let bodyType { line("body", bodyType) }
        if let configurationFile { line("config", configurationFile) }
        for recipient in recipients {
            out.append(contentsOf: "rcpt: ".utf8)
            out.append(contentsOf: recipient.state.rawValue.utf8)
            out.append(0x20)
            EnvelopeEscaping.escape(recipient.address, encodeSpace: true, into: &out)
            func token(_ name: String, _ value: String?) {
                guard let value else { return }
                out.append(0x20)
                out.append(contentsOf: name.utf8)
                out.append(UInt8(ascii: "="))
                EnvelopeEscaping.escape(value, encodeSpace: true, into: &out)
            }
            token("notify", recipient.notify)
            token("orcpt", recipient.originalRecipient)
            var reply = recipient.lastReply
            if let replyLimit { reply = EnvelopeEscaping.prefix(reply, maximum: replyLimit) }
            token("reply", reply.isEmpty ? nil : reply)
            token("code", recipient.replyCode.map { String($0) })
            token("status", recipient.status)
            out.append(0x0A)
        }
        for field in extraFields {
            precondition(EnvelopeParser.isValidExtraKey(field.key), "envelope extra key \(field.key)")
            line(field.key, field.value)
        }
        out.append(contentsOf: "end\n".utf8)
        return out
    }

    /// Parses envelope file bytes.
    /// - Parameters:
    ///   - bytes: the whole file.
    ///   - path: names the file in errors.
    /// - Throws: ``EnvelopeFormatError`` for anything but a complete, well-formed
    ///   version-1 or version-2 envelope (a file without its `end` line is incomplete).
    package static func decode(_ bytes: [UInt8], path: String) throws(EnvelopeFormatError) -> Envelope {
        var parser = EnvelopeParser(path: path)
        return try parser.parse(bytes)
    }
}

/// Percent-encoding of envelope values.
enum EnvelopeEscaping {
    /// `text` cut to at most `maximum` UTF-8 octets, at a character boundary.
    static func prefix(_ text: String, maximum: Int) -> String {
        let utf8 = text.utf8
        guard utf8.count > maximum else { return text }
        var end = utf8.index(utf8.startIndex, offsetBy: maximum)
        while end > utf8.startIndex, UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
        return String(decoding: utf8[..<end], as: UTF8.self)
    }

    /// Appends `value`, with `%`, control bytes (and spaces when asked) as `%XX`.
    static func escape(_ value: String, encodeSpace: Bool, into out: inout [UInt8]) {
        for byte in value.utf8 {
            if byte < 0x20 || byte == 0x7F || byte == UInt8(ascii: "%") || (encodeSpace && byte == 0x20) {
                out.append(UInt8(ascii: "%"))
                Hex.append(byte, to: &out)
            } else {
                out.append(byte)
            }
        }
    }

    /// Decodes `%XX`; nil when a `%` is not followed by two hex digits, when a raw
    /// control byte appears, or when the result is not UTF-8.
    static func unescape(_ bytes: ArraySlice<UInt8>) -> String? {
        // Most values (addresses, numbers) have nothing escaped: no copy.
        if !bytes.contains(where: { $0 == UInt8(ascii: "%") || $0 < 0x20 || $0 == 0x7F }) {
            return String(validating: bytes, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex, let high = hexValue(bytes[index + 1]),
                    let low = hexValue(bytes[index + 2])
                else { return nil }
                out.append(high << 4 | low)
                index += 3
            } else {
                if byte < 0x20 || byte == 0x7F { return nil }
                out.append(byte)
                index += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

/// The line-by-line reader behind ``Envelope/decode(_:path:)``.
struct EnvelopeParser {
    let path: String
    var lineNumber = 0

    init(path: String) { self.path = path }

    func fail(_ reason: String, wholeFile: Bool = false) -> EnvelopeFormatError {
        EnvelopeFormatError(path: path, line: wholeFile ? 0 : lineNumber, reason: reason)
    }

    mutating func parse(_ bytes: [UInt8]) throws(EnvelopeFormatError) -> Envelope {
        guard !bytes.isEmpty else { throw fail("empty file", wholeFile: true) }
        guard bytes.last == 0x0A else { throw fail("incomplete: no end line", wholeFile: true) }
        var lines = Self.pieces(bytes.dropLast(), separatedBy: 0x0A)
        guard lines.last.map({ $0.elementsEqual("end".utf8) }) == true else {
            throw fail("incomplete: no end line", wholeFile: true)
        }
        lines.removeLast()

        var seen: UInt16 = 0
        var fileVersion: Int64 = 0
        var envelope = Envelope(sender: "", recipients: [], arrivalTime: 0)
        for line in lines {
            lineNumber += 1
            let (key, value) = try split(line)
            if lineNumber == 1 {
                guard key == "version" else { throw fail("first line is not version") }
                guard let version = number(value), version >= 1 else { throw fail("bad version") }
                guard version >= Int64(Envelope.oldestVersion), version <= Int64(Envelope.currentVersion) else {
                    throw fail("unsupported envelope version \(version)")
                }
                fileVersion = version
                seen |= KnownKeys.bit("version")
                continue
            }
            let bit = KnownKeys.bit(key)
            if bit != 0 {
                guard seen & bit == 0 else { throw fail("duplicate \(key)") }
                seen |= bit
            }
            switch key {
            case "version": throw fail("duplicate version")
            case "arrival": envelope.arrivalTime = try parseNumber(value)
            case "size": envelope.size = try parseNumber(value)
            case "sender": envelope.sender = try text(value)
            case "account": envelope.account = try text(value)
            case "attempts":
                let n = try parseNumber(value)
                guard n <= Int64(Int32.max) else { throw fail("bad attempts") }
                envelope.attempts = Int(n)
            case "next-attempt": envelope.nextAttempt = try parseNumber(value)
            case "last-error": envelope.lastError = try text(value)
            case "ret": envelope.dsnReturn = try text(value)
            case "envid": envelope.dsnEnvelopeID = try text(value)
            case "body": envelope.bodyType = try text(value)
            case "config":
                let path = try text(value)
                guard path.hasPrefix("/") else { throw fail("config is not an absolute path") }
                envelope.configurationFile = path
            case "rcpt": envelope.recipients.append(try recipient(value))
            default: envelope.extraFields.append(EnvelopeExtraField(key: key, value: try text(value)))
            }
        }
        lineNumber = 0
        guard seen & KnownKeys.bit("version") != 0 else { throw fail("no version line", wholeFile: true) }
        guard seen & KnownKeys.bit("arrival") != 0 else { throw fail("no arrival line", wholeFile: true) }
        guard seen & KnownKeys.bit("sender") != 0 else { throw fail("no sender line", wholeFile: true) }
        guard !envelope.recipients.isEmpty else { throw fail("no recipients", wholeFile: true) }
        if seen & KnownKeys.bit("next-attempt") == 0 { envelope.nextAttempt = envelope.arrivalTime }
        if fileVersion < 3 {
            for index in envelope.recipients.indices { Self.migrateReply(&envelope.recipients[index]) }
        }
        return envelope
    }

    /// Whether `key` may be written as an extra field: the key syntax, not a known key.
    static func isValidExtraKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= 64 && key.utf8.allSatisfy(isKeyByte) && !KnownKeys.all.contains(key)
            && key != "rcpt"
    }

    static func isKeyByte(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || byte == UInt8(ascii: "-")
    }

    enum KnownKeys {
        /// A bit per known key (0 for any other key), so parsing checks
        /// duplicates without hashing strings.
        static func bit(_ key: String) -> UInt16 {
            switch key {
            case "version": return 1 << 0
            case "arrival": return 1 << 1
            case "size": return 1 << 2
            case "sender": return 1 << 3
            case "account": return 1 << 4
            case "attempts": return 1 << 5
            case "next-attempt": return 1 << 6
            case "last-error": return 1 << 7
            case "ret": return 1 << 8
            case "envid": return 1 << 9
            case "body": return 1 << 10
            case "config": return 1 << 11
            default: return 0
            }
        }

        static let all: Set<String> = [
            "version", "arrival", "size", "sender", "account", "attempts", "next-attempt", "last-error", "ret",
            "envid", "body", "config",
        ]
    }

    func split(_ line: ArraySlice<UInt8>) throws(EnvelopeFormatError) -> (String, ArraySlice<UInt8>) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
            throw fail("not a key: value line")
        }
        let keyBytes = line[line.startIndex..<colon]
        guard keyBytes.count <= 64, keyBytes.allSatisfy(EnvelopeParser.isKeyByte) else { throw fail("bad key") }
        var value = line[(colon + 1)...]
        if value.first == 0x20 {
            value = value.dropFirst()
        } else if !value.isEmpty {
            throw fail("no space after colon")
        }
        return (String(decoding: keyBytes, as: UTF8.self), value)
    }

    func text(_ value: ArraySlice<UInt8>) throws(EnvelopeFormatError) -> String {
        guard let decoded = EnvelopeEscaping.unescape(value) else { throw fail("bad value encoding") }
        return decoded
    }

    func number(_ value: ArraySlice<UInt8>) -> Int64? {
        guard !value.isEmpty, value.count <= 18,
            value.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else { return nil }
        var n: Int64 = 0
        for digit in value { n = n * 10 + Int64(digit - UInt8(ascii: "0")) }
        return n
    }

    func parseNumber(_ value: ArraySlice<UInt8>) throws(EnvelopeFormatError) -> Int64 {
        guard let n = number(value) else { throw fail("bad number") }
        return n
    }

    /// `bytes` cut at every `separator`, empty pieces kept: what
    /// `split(separator:omittingEmptySubsequences: false)` gives, without its
    /// closure calls (this parser runs for every queued message, twice per run).
    static func pieces(_ bytes: ArraySlice<UInt8>, separatedBy separator: UInt8) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        result.reserveCapacity(16)
        var start = bytes.startIndex
        var index = start
        while index < bytes.endIndex {
            if bytes[index] == separator {
                result.append(bytes[start..<index])
                start = index + 1
            }
            index += 1
        }
        result.append(bytes[start..<bytes.endIndex])
        return result
    }

    func recipient(_ value: ArraySlice<UInt8>) throws(EnvelopeFormatError) -> QueueRecipient {
        let tokens = Self.pieces(value, separatedBy: 0x20)
        guard tokens.count >= 2, tokens.count <= 7 else { throw fail("bad rcpt line") }
        guard let state = RecipientState(rawValue: String(decoding: tokens[0], as: UTF8.self)) else {
            throw fail("bad recipient state")
        }
        let address = try text(tokens[1])
        guard !address.isEmpty else { throw fail("empty recipient address") }
        var result = QueueRecipient(address: address, state: state)
        var order = 0
        for token in tokens.dropFirst(2) {
            guard let equals = token.firstIndex(of: UInt8(ascii: "=")) else { throw fail("bad rcpt parameter") }
            let name = String(decoding: token[token.startIndex..<equals], as: UTF8.self)
            let parameter = try text(token[(equals + 1)...])
            switch name {
            case "notify" where order < 1:
                result.notify = parameter
                order = 1
            case "orcpt" where order < 2:
                result.originalRecipient = parameter
                order = 2
            case "reply" where order < 3:
                guard !parameter.isEmpty else { throw fail("empty reply") }
                result.lastReply = parameter
                order = 3
            case "code" where order < 4:
                guard let code = Int(parameter), (200...599).contains(code), parameter.utf8.count == 3 else {
                    throw fail("bad reply code")
                }
                result.replyCode = code
                order = 4
            case "status" where order < 5:
                guard Self.isStatus(parameter) else { throw fail("bad status") }
                result.status = parameter
                order = 5
            default: throw fail("bad rcpt parameter")
            }
        }
        return result
    }

    /// Whether `text` is an RFC 3463 status: `class.subject.detail` with
    /// class 2, 4 or 5 and one to three digits in each other part.
    static func isStatus(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, ["2", "4", "5"].contains(parts[0]) else { return false }
        return parts.dropFirst().allSatisfy {
            $0.count >= 1 && $0.count <= 3 && $0.allSatisfy { $0 >= "0" && $0 <= "9" }
        }
    }

    /// For a file older than version 3, which kept a failed recipient's bare
    /// reply (`550 5.1.1 unknown`) as text only: its code and status, read
    /// once here so the rest of apus decides on typed fields alone.
    static func migrateReply(_ recipient: inout QueueRecipient) {
        guard recipient.state == .failed, recipient.replyCode == nil else { return }
        let words = recipient.lastReply.split(separator: " ", maxSplits: 2)
        guard let first = words.first, first.count == 3, let code = Int(first), (200...599).contains(code) else {
            return
        }
        recipient.replyCode = code
        if words.count > 1, isStatus(String(words[1])), words[1].first == first.first {
            recipient.status = String(words[1])
        }
    }
}
