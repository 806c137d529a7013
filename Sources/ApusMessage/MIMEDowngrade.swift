/// The 8BITMIME downgrade (RFC 6152, `eight_bit convert`) for a server
/// without 8BITMIME: every leaf part that holds 8-bit bytes and is not
/// already encoded is re-encoded, recursively through multipart and
/// message/rfc822 entities — quoted-printable for text (and `message/*`
/// other than rfc822), base64 for anything else. Composite entities labelled
/// `8bit` or `binary` are relabelled `7bit`. An 8-bit leaf without
/// Content-Type (the top level of a message without MIME headers, or a
/// part) gets `Content-Type: text/plain; charset=utf-8` when its bytes are
/// valid UTF-8, `charset=unknown-8bit` otherwise; the top level gets
/// `MIME-Version: 1.0` when it lacks one. Nothing else changes: 7-bit parts,
/// boundaries, preambles and epilogues go through as written.
///
/// Streaming in two passes over the body, a line at a time (lines without
/// their CRLF; the caller has refused lines over 998 octets, so memory stays
/// bounded whatever the body size):
///
/// ```
/// var scan = MIMEDowngrade(headers: headers)            // pass 1: which parts are 8-bit
/// for line in body { scan.feed(line: line, into: &ignored) }
/// var downgrade = MIMEDowngrade(headers: headers, analysis: scan.finish(into: &ignored))
/// send(downgrade.headers)                                 // pass 2: the new form
/// for line in body { downgrade.feed(line: line, into: &out); send(out) }
/// _ = downgrade.finish(into: &out)
/// ```
///
/// A part header block longer than 64 KiB or 1000 lines, or nesting deeper
/// than 64 multiparts, is passed through as written (its part is not
/// converted).
public struct MIMEDowngrade {
    /// What the first pass found: for each leaf part, in order, whether it
    /// holds 8-bit bytes and whether those are valid UTF-8.
    public struct Analysis: Sendable, Equatable {
        /// Leaf index → its bytes are valid UTF-8; absent for 7-bit leaves.
        public var eightBitLeaves: [Int: Bool] = [:]
        /// The number of leaf parts.
        public var leafCount = 0
    }

    private enum Encoding { case pass, quotedPrintable, base64 }

    private enum Mode {
        /// Collecting a part's header block (raw lines).
        case headers([[UInt8]], digest: Bool)
        /// Between boundaries outside any part: a preamble or epilogue.
        case outside
        /// A leaf part's body.
        case leaf(Encoding)
    }

    private struct Boundary {
        var delimiter: [UInt8]  // "--" + boundary
        var digest: Bool
    }

    static let maximumHeaderBytes = 1 << 16
    static let maximumHeaderLines = 1000
    static let maximumDepth = 64

    /// The top-level header fields to send (changed in the second pass).
    public private(set) var headers: Headers
    private let given: Analysis?
    private var found = Analysis()
    private var mode: Mode = .outside
    private var boundaries: [Boundary] = []
    private var leafIndex = -1
    private var leafIsTop = false
    private var leafHasEightBit = false
    private var leafIsValidUTF8 = true
    private var qp = QuotedPrintableEncoder()
    private var base64Pending: [UInt8] = []
    private var base64NeedsNewline = false
    private var headerBytes = 0

    /// Starts a pass over the body of a message with `headers`: the first
    /// pass (analysis nil) only looks; the second converts, using the first
    /// pass's result.
    public init(headers: Headers, analysis: Analysis? = nil) {
        self.headers = headers
        self.given = analysis
        let top = Self.entity(contentType: headers.first(named: "Content-Type")?.value, digest: false)
        let cte = headers.first(named: "Content-Transfer-Encoding").map { Self.lowered($0.value) }
        switch top {
        case .multipart(let boundary, let digest):
            boundaries = [Boundary(delimiter: Array("--".utf8) + boundary, digest: digest)]
            mode = .outside
            if given != nil { self.headers = Self.relabelComposite(self.headers, cte: cte) }
        case .message:
            mode = .headers([], digest: false)
            if given != nil { self.headers = Self.relabelComposite(self.headers, cte: cte) }
        case .leaf(let isText):
            let encoding = startLeaf(isText: isText, cte: cte, isTop: true)
            if let given, encoding != .pass {
                let valid = given.eightBitLeaves[leafIndex] ?? true
                self.headers = Self.convertedTopHeaders(headers, encoding: encoding, validUTF8: valid)
            }
            mode = .leaf(encoding)
        }
    }

    /// Feeds one body line (without its line ending); the converted form
    /// (lines ending in CRLF) is appended to `out` in the second pass.
    public mutating func feed(line: some Collection<UInt8>, into out: inout [UInt8]) {
        let line = Array(line)
        if let level = boundaryLevel(line) {
            endLeaf(into: &out)
            if case .headers(let lines, _) = mode { emit(lines, into: &out) }
            let isClose = Self.isClose(line, delimiter: boundaries[level].delimiter)
            let digest = boundaries[level].digest
            boundaries.removeSubrange((level + 1)...)
            if isClose {
                boundaries.removeLast()
                mode = .outside
            } else {
                mode = .headers([], digest: digest)
                headerBytes = 0
            }
            emit([line], into: &out)
            return
        }
        switch mode {
        case .outside:
            emit([line], into: &out)
        case .headers(var lines, let digest):
            if line.isEmpty {
                startPart(lines, digest: digest, into: &out)
                return
            }
            headerBytes += line.count + 2
            lines.append(line)
            if headerBytes > Self.maximumHeaderBytes || lines.count > Self.maximumHeaderLines {
                // Not a header block apus will parse: the rest of the part goes as written.
                emit(lines, into: &out)
                mode = .outside
                return
            }
            mode = .headers(lines, digest: digest)
        case .leaf(let encoding):
            if given == nil {
                if line.contains(where: { $0 >= 0x80 }) {
                    leafHasEightBit = true
                    if leafIsValidUTF8 && !UTF8Validation.isValid(line) { leafIsValidUTF8 = false }
                }
                return
            }
            switch encoding {
            case .pass: emit([line], into: &out)
            case .quotedPrintable: qp.encode(line: line, into: &out)
            case .base64:
                if base64NeedsNewline { base64Pending += [ASCII.cr, ASCII.lf] }
                base64Pending += line
                base64NeedsNewline = true
                flushBase64(final: false, into: &out)
            }
        }
    }

    /// Ends the body: flushes an open encoding. Returns what the pass found
    /// (meaningful after the first pass).
    @discardableResult
    public mutating func finish(into out: inout [UInt8]) -> Analysis {
        if case .headers(let lines, _) = mode {
            emit(lines, into: &out)
            mode = .outside
        }
        endLeaf(into: &out)
        return found
    }

    // MARK: - Parts

    private enum Entity {
        case multipart(boundary: [UInt8], digest: Bool)
        case message
        case leaf(isText: Bool)
    }

    /// What a Content-Type value makes of an entity (`digest`: the default
    /// inside multipart/digest is message/rfc822).
    private static func entity(contentType: [UInt8]?, digest: Bool) -> Entity {
        guard let contentType else { return digest ? .message : .leaf(isText: true) }
        let value = lowered(contentType)
        let type = Array(ASCII.trimmed(value.split(separator: UInt8(ascii: ";"), maxSplits: 1).first ?? []))
        let text = String(decoding: type, as: UTF8.self)
        if text.hasPrefix("multipart/") {
            guard let boundary = parameter("boundary", in: contentType), !boundary.isEmpty else {
                return .leaf(isText: false)
            }
            return .multipart(boundary: boundary, digest: text == "multipart/digest")
        }
        if text == "message/rfc822" { return .message }
        return .leaf(isText: text.hasPrefix("text/") || text.hasPrefix("message/") || type.isEmpty)
    }

    /// Starts a leaf: decides its encoding (second pass) or starts counting (first).
    private mutating func startLeaf(isText: Bool, cte: [UInt8]?, isTop: Bool) -> Encoding {
        leafIndex += 1
        found.leafCount = leafIndex + 1
        leafIsTop = isTop
        leafHasEightBit = false
        leafIsValidUTF8 = true
        qp = QuotedPrintableEncoder()
        base64Pending = []
        base64NeedsNewline = false
        guard let given, given.eightBitLeaves[leafIndex] != nil else { return .pass }
        let encodable =
            cte.map {
                ["7bit", "8bit", "binary", ""].contains(String(decoding: ASCII.trimmed($0[...]), as: UTF8.self))
            } ?? true
        guard encodable else { return .pass }
        return isText ? .quotedPrintable : .base64
    }

    /// The end of a leaf (a boundary or the end of the body).
    private mutating func endLeaf(into out: inout [UInt8]) {
        guard case .leaf(let encoding) = mode else { return }
        if given == nil {
            if leafHasEightBit { found.eightBitLeaves[leafIndex] = leafIsValidUTF8 }
        } else if encoding == .base64 {
            if leafIsTop && base64NeedsNewline { base64Pending += [ASCII.cr, ASCII.lf] }
            flushBase64(final: true, into: &out)
        }
        mode = .outside
    }

    /// A part's header block is complete (`lines`, then the empty line).
    private mutating func startPart(_ lines: [[UInt8]], digest: Bool, into out: inout [UInt8]) {
        var fields: [HeaderField] = []
        var current: [UInt8] = []
        for line in lines {
            if let first = line.first, ASCII.isWhitespace(first), !current.isEmpty {
                current += ASCII.crlf + line
            } else {
                if !current.isEmpty, let field = try? HeaderField(raw: current + ASCII.crlf) { fields.append(field) }
                current = line
            }
        }
        if !current.isEmpty, let field = try? HeaderField(raw: current + ASCII.crlf) { fields.append(field) }
        let part = Headers(fields)
        let contentType = part.first(named: "Content-Type")?.value
        let cte = part.first(named: "Content-Transfer-Encoding").map { Self.lowered($0.value) }
        let entity = Self.entity(contentType: contentType, digest: digest)
        var header = lines
        switch entity {
        case .multipart(let boundary, let isDigest):
            if boundaries.count < Self.maximumDepth {
                boundaries.append(Boundary(delimiter: Array("--".utf8) + boundary, digest: isDigest))
                mode = .outside
                if given != nil { header = Self.relabelComposite(lines, cte: cte) }
            } else {
                mode = .outside  // too deep: passed through as written
            }
        case .message:
            mode = .headers([], digest: false)
            headerBytes = 0
            if given != nil { header = Self.relabelComposite(lines, cte: cte) }
        case .leaf(let isText):
            let encoding = startLeaf(isText: isText, cte: cte, isTop: false)
            if let given, encoding != .pass {
                header = Self.convertedPartHeader(
                    lines, encoding: encoding, addContentType: contentType == nil,
                    validUTF8: given.eightBitLeaves[leafIndex] ?? true)
            }
            mode = .leaf(encoding)
        }
        emit(header + [[]], into: &out)
    }

    // MARK: - Header changes

    private static func encodingName(_ encoding: Encoding) -> String {
        encoding == .base64 ? "base64" : "quoted-printable"
    }

    private static func charsetType(validUTF8: Bool) -> String {
        "text/plain; charset=" + (validUTF8 ? "utf-8" : "unknown-8bit")
    }

    private static func convertedTopHeaders(_ headers: Headers, encoding: Encoding, validUTF8: Bool) -> Headers {
        var h = headers
        // The values are constants that pass validation.
        if let cte = try? HeaderField(name: "Content-Transfer-Encoding", value: encodingName(encoding)) {
            h.replace(with: cte)
        }
        if !h.contains(named: "MIME-Version"), let mv = try? HeaderField(name: "MIME-Version", value: "1.0") {
            h.append(mv)
        }
        if !h.contains(named: "Content-Type"),
            let ct = try? HeaderField(name: "Content-Type", value: charsetType(validUTF8: validUTF8))
        {
            h.append(ct)
        }
        return h
    }

    private static func convertedPartHeader(
        _ lines: [[UInt8]], encoding: Encoding, addContentType: Bool, validUTF8: Bool
    ) -> [[UInt8]] {
        var kept = removingField("Content-Transfer-Encoding", from: lines)
        if addContentType { kept.append(Array("Content-Type: \(charsetType(validUTF8: validUTF8))".utf8)) }
        kept.append(Array("Content-Transfer-Encoding: \(encodingName(encoding))".utf8))
        return kept
    }

    /// A composite entity labelled 8bit or binary is 7-bit once its parts are converted.
    private static func relabelComposite(_ lines: [[UInt8]], cte: [UInt8]?) -> [[UInt8]] {
        guard let cte, isEightBitLabel(cte) else { return lines }
        return removingField("Content-Transfer-Encoding", from: lines) + [Array("Content-Transfer-Encoding: 7bit".utf8)]
    }

    private static func relabelComposite(_ headers: Headers, cte: [UInt8]?) -> Headers {
        guard let cte, isEightBitLabel(cte) else { return headers }
        var h = headers
        if let field = try? HeaderField(name: "Content-Transfer-Encoding", value: "7bit") { h.replace(with: field) }
        return h
    }

    private static func isEightBitLabel(_ cte: [UInt8]) -> Bool {
        let text = String(decoding: ASCII.trimmed(cte[...]), as: UTF8.self)
        return text == "8bit" || text == "binary"
    }

    /// `lines` without the field `name` (and its continuation lines).
    private static func removingField(_ name: String, from lines: [[UInt8]]) -> [[UInt8]] {
        var kept: [[UInt8]] = []
        var skipping = false
        for line in lines {
            if let first = line.first, ASCII.isWhitespace(first) {
                if !skipping { kept.append(line) }
                continue
            }
            let fieldName = line.prefix { $0 != ASCII.colon }
            skipping = ASCII.equalsIgnoringCase(ASCII.trimmed(fieldName[...]), name.utf8)
            if !skipping { kept.append(line) }
        }
        return kept
    }

    // MARK: - Helpers

    private func boundaryLevel(_ line: [UInt8]) -> Int? {
        guard line.count >= 2, line[0] == UInt8(ascii: "-"), line[1] == UInt8(ascii: "-") else { return nil }
        for level in boundaries.indices.reversed() {
            let delimiter = boundaries[level].delimiter
            guard line.starts(with: delimiter) else { continue }
            var rest = line[delimiter.count...]
            if rest.starts(with: [UInt8(ascii: "-"), UInt8(ascii: "-")]) { rest = rest.dropFirst(2) }
            if rest.allSatisfy(ASCII.isWhitespace) { return level }
        }
        return nil
    }

    private static func isClose(_ line: [UInt8], delimiter: [UInt8]) -> Bool {
        line.dropFirst(delimiter.count).starts(with: [UInt8(ascii: "-"), UInt8(ascii: "-")])
    }

    private func emit(_ lines: [[UInt8]], into out: inout [UInt8]) {
        guard given != nil else { return }
        for line in lines {
            out += line
            out += ASCII.crlf
        }
    }

    private mutating func flushBase64(final: Bool, into out: inout [UInt8]) {
        var start = 0
        while base64Pending.count - start >= 57 {
            out += Base64.encode(base64Pending[start..<(start + 57)])
            out += ASCII.crlf
            start += 57
        }
        if final && start < base64Pending.count {
            out += Base64.encode(base64Pending[start...])
            out += ASCII.crlf
            start = base64Pending.count
        }
        base64Pending.removeFirst(start)
    }

    static func lowered(_ bytes: some Collection<UInt8>) -> [UInt8] { bytes.map(ASCII.lower) }

    /// A parameter's value in a header value (`boundary="x"` or `boundary=x`), as written.
    static func parameter(_ name: String, in value: [UInt8]) -> [UInt8]? {
        var i = 0
        var quoted = false
        let wanted = Array(name.utf8)
        while i < value.count {
            let b = value[i]
            if b == ASCII.quote { quoted.toggle() }
            if b == UInt8(ascii: ";") && !quoted {
                var j = i + 1
                while j < value.count && ASCII.isWhitespace(value[j]) { j += 1 }
                let nameStart = j
                while j < value.count && value[j] != UInt8(ascii: "=") && value[j] != UInt8(ascii: ";") { j += 1 }
                let found = Array(ASCII.trimmed(value[nameStart..<j]))
                if j < value.count && value[j] == UInt8(ascii: "=") && ASCII.equalsIgnoringCase(found, wanted) {
                    j += 1
                    while j < value.count && ASCII.isWhitespace(value[j]) { j += 1 }
                    if j < value.count && value[j] == ASCII.quote {
                        var result: [UInt8] = []
                        j += 1
                        while j < value.count && value[j] != ASCII.quote {
                            if value[j] == ASCII.backslash && j + 1 < value.count { j += 1 }
                            result.append(value[j])
                            j += 1
                        }
                        return result
                    }
                    let start = j
                    while j < value.count && value[j] != UInt8(ascii: ";") && !ASCII.isWhitespace(value[j]) { j += 1 }
                    return Array(value[start..<j])
                }
            }
            i += 1
        }
        return nil
    }
}

/// UTF-8 validity (RFC 3629: no overlong forms, no surrogates, nothing past
/// U+10FFFF), for choosing a charset label. Streaming: feed any pieces.
public struct UTF8Validation: Sendable {
    private var remaining = 0
    private var low: UInt8 = 0x80
    private var high: UInt8 = 0xBF
    /// False once an invalid sequence was seen.
    public private(set) var isValid = true

    /// A validator at the start of the text.
    public init() {}

    /// Whether `bytes` alone are valid UTF-8.
    public static func isValid(_ bytes: some Sequence<UInt8>) -> Bool {
        var v = UTF8Validation()
        v.feed(bytes)
        return v.isComplete
    }

    /// True when everything fed is valid and no sequence is left open.
    public var isComplete: Bool { isValid && remaining == 0 }

    /// Feeds more bytes.
    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        guard isValid else { return }
        for b in bytes {
            if remaining > 0 {
                guard b >= low && b <= high else {
                    isValid = false
                    return
                }
                remaining -= 1
                low = 0x80
                high = 0xBF
                continue
            }
            switch b {
            case 0x00...0x7F: continue
            case 0xC2...0xDF: remaining = 1
            case 0xE0:
                remaining = 2
                low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: remaining = 2
            case 0xED:
                remaining = 2
                high = 0x9F
            case 0xF0:
                remaining = 3
                low = 0x90
            case 0xF1...0xF3: remaining = 3
            case 0xF4:
                remaining = 3
                high = 0x8F
            default:
                isValid = false
                return
            }
        }
    }
}
