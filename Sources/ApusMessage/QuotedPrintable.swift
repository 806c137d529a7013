import ApusBase

/// Quoted-printable (RFC 2045 §6.7): a streaming encoder for bodies and a decoder.
///
/// The encoder takes a body line by line (or piece by piece for long lines, as
/// `MessageReader` hands them out) and writes wire lines ending in CRLF, none
/// longer than 76 characters: bytes ≥ 0x80, `=`, control characters (a bare CR
/// too) and white space at the end of a line are escaped; soft line breaks (`=`
/// CRLF) split long lines. Its state is the current column and one held-back
/// space or tab, so memory does not grow with the input.
public struct QuotedPrintableEncoder: Sendable {
    private var column = 0
    private var heldWhitespace: UInt8? = nil

    /// Creates an encoder at the start of a line.
    public init() {}

    /// Encodes part of a line (no line ending) into `out`.
    public mutating func encode(part: some Sequence<UInt8>, into out: inout [UInt8]) {
        for b in part {
            if let w = heldWhitespace {
                put([w], into: &out)
                heldWhitespace = nil
            }
            switch b {
            case ASCII.space, ASCII.tab: heldWhitespace = b
            case 0x21...0x7E where b != ASCII.equals: put([b], into: &out)
            default: put([ASCII.equals, Hex.upperDigits[Int(b >> 4)], Hex.upperDigits[Int(b & 15)]], into: &out)
            }
        }
    }

    /// Ends the current line: a held-back trailing space or tab is escaped, then CRLF.
    public mutating func endLine(into out: inout [UInt8]) {
        if let w = heldWhitespace {
            put([ASCII.equals, Hex.upperDigits[Int(w >> 4)], Hex.upperDigits[Int(w & 15)]], into: &out)
            heldWhitespace = nil
        }
        out += ASCII.crlf
        column = 0
    }

    /// Encodes a whole line (content without its ending) and ends it.
    public mutating func encode(line: some Sequence<UInt8>, into out: inout [UInt8]) {
        encode(part: line, into: &out)
        endLine(into: &out)
    }

    /// Encodes a whole text whose lines end in LF or CRLF; the result ends in
    /// CRLF. For bodies already in memory (the MIME builder).
    public static func encode(text: [UInt8]) -> [UInt8] {
        var encoder = QuotedPrintableEncoder()
        var out: [UInt8] = []
        var lines = text.split(separator: ASCII.lf, omittingEmptySubsequences: false)
        if text.last == ASCII.lf { lines.removeLast() }
        for var line in lines {
            if line.last == ASCII.cr { line = line.dropLast() }
            encoder.encode(line: line, into: &out)
        }
        return out
    }

    private mutating func put(_ token: [UInt8], into out: inout [UInt8]) {
        if column + token.count > 75 {
            out += [ASCII.equals, ASCII.cr, ASCII.lf]
            column = 0
        }
        out += token
        column += token.count
    }

    /// Decodes quoted-printable text: soft line breaks removed, `=XX` decoded,
    /// hard line breaks kept as CRLF; malformed escapes are kept as written (RFC 2045 §6.7 note).
    public static func decode(_ text: some Collection<UInt8>) -> [UInt8] {
        let t = Array(text)
        var out: [UInt8] = []
        var i = 0
        func hexValue(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: return b - 0x30
            case 0x41...0x46: return b - 0x41 + 10
            case 0x61...0x66: return b - 0x61 + 10
            default: return nil
            }
        }
        while i < t.count {
            let b = t[i]
            if b == ASCII.equals {
                if i + 1 < t.count, t[i + 1] == ASCII.lf {
                    i += 2
                    continue
                }
                if i + 2 < t.count, t[i + 1] == ASCII.cr, t[i + 2] == ASCII.lf {
                    i += 3
                    continue
                }
                if i + 2 < t.count, let h = hexValue(t[i + 1]), let l = hexValue(t[i + 2]) {
                    out.append(h << 4 | l)
                    i += 3
                    continue
                }
            }
            out.append(b)
            i += 1
        }
        return out
    }
}

/// How a body must be sent, decided from its headers and `MessageReader.Stats`
/// (delivery.md "Reading the message" and "SMTP" on 8BITMIME).
public enum BodyTransfer: Sendable, Equatable {
    /// Send as it is; `needs8BITMIME` says whether to declare BODY=8BITMIME.
    case asIs(needs8BITMIME: Bool)
    /// Re-encode the body as quoted-printable (`QuotedPrintableEncoder`) and the
    /// headers with `convertingHeadersToQuotedPrintable`.
    case quotedPrintable
    /// Re-encode each 8-bit part (`MIMEDowngrade`): a message that is not
    /// single-part text, for a server without 8BITMIME.
    case downgrade
    /// Refuse the message (exit 65): lines over 998 octets in a message that is
    /// not single-part text.
    case refuse(MessageError)

    /// Whether the message is single-part text whose body may be re-encoded: no
    /// Content-Type or a `text/*` one, and a Content-Transfer-Encoding that is
    /// absent, `7bit`, `8bit` or `binary`.
    public static func isConvertibleText(_ headers: Headers) -> Bool {
        if let ct = headers.first(named: "Content-Type") {
            let v = ct.value.map(ASCII.lower)
            guard v.starts(with: Array("text/".utf8)) else { return false }
        }
        if let cte = headers.first(named: "Content-Transfer-Encoding") {
            let v = Array(ASCII.trimmed(cte.value.map(ASCII.lower)[...]))
            guard ["7bit", "8bit", "binary"].contains(where: { Array($0.utf8) == v }) else { return false }
        }
        return true
    }

    /// Decides the transfer.
    /// - Parameters:
    ///   - headers: the message's headers.
    ///   - stats: the reader's stats after the whole message was read.
    ///   - serverHas8BITMIME: whether the server offered 8BITMIME (or `-B 8BITMIME` forced it).
    ///   - convertEightBit: the `eight_bit convert` setting.
    /// - Returns: lines over 998 octets: `.quotedPrintable` for convertible text,
    ///   else `.refuse`. 8-bit body to a server without 8BITMIME with `convert`:
    ///   `.quotedPrintable` for convertible text, `.downgrade` for any other
    ///   message; with `pass` 8-bit messages are sent as they are, declaring
    ///   BODY=8BITMIME only when the server has it.
    public static func decide(
        headers: Headers, stats: MessageReader.Stats, serverHas8BITMIME: Bool, convertEightBit: Bool
    ) -> BodyTransfer {
        let text = isConvertibleText(headers)
        if stats.bodyHasLongLines {
            return text ? .quotedPrintable : .refuse(.lineTooLong)
        }
        if stats.bodyHasEightBit {
            if !serverHas8BITMIME && convertEightBit { return text ? .quotedPrintable : .downgrade }
            return .asIs(needs8BITMIME: serverHas8BITMIME)
        }
        return .asIs(needs8BITMIME: false)
    }

    /// Why no relay can take the message, whatever it offers (a line over
    /// 998 octets in a body that is not convertible text), or nil. The
    /// transfer itself is decided once per transaction, with the relay's
    /// extensions (``decide(headers:stats:serverHas8BITMIME:convertEightBit:)``).
    public static func refusal(headers: Headers, stats: MessageReader.Stats) -> MessageError? {
        stats.bodyHasLongLines && !isConvertibleText(headers) ? .lineTooLong : nil
    }

    /// The headers for a body re-encoded as quoted-printable: the first
    /// Content-Transfer-Encoding replaced in place (others removed) or appended,
    /// and `MIME-Version: 1.0` appended when missing. Nothing else changes.
    public static func convertingHeadersToQuotedPrintable(_ headers: Headers) -> Headers {
        convertingHeadersToQuotedPrintable(headers, eightBitValidUTF8: nil)
    }

    /// Like ``convertingHeadersToQuotedPrintable(_:)``; for a body with 8-bit
    /// bytes (`eightBitValidUTF8` not nil) and no Content-Type, also adds
    /// `Content-Type: text/plain; charset=utf-8` (valid UTF-8) or
    /// `charset=unknown-8bit`, so readers know what the bytes are.
    public static func convertingHeadersToQuotedPrintable(_ headers: Headers, eightBitValidUTF8: Bool?) -> Headers {
        var h = headers
        if let valid = eightBitValidUTF8, !h.contains(named: "Content-Type"),
            let ct = try? HeaderField(
                name: "Content-Type", value: "text/plain; charset=" + (valid ? "utf-8" : "unknown-8bit"))
        {
            h.append(ct)
        }
        // Both values are constants that pass validation.
        if let cte = try? HeaderField(name: "Content-Transfer-Encoding", value: "quoted-printable") {
            h.replace(with: cte)
        }
        if !h.contains(named: "MIME-Version"), let mv = try? HeaderField(name: "MIME-Version", value: "1.0") {
            h.append(mv)
        }
        return h
    }
}
