/// One header field, kept as written: the original bytes are relayed, the unfolded
/// value is computed on request.
///
/// `raw` holds every physical line of the field, each ending in CRLF (input read
/// with LF endings is normalised; nothing else changes, a bare CR inside a line is
/// kept). The name is what precedes the first colon, without the white space the
/// obsolete syntax allows before it (`Subject  : x`).
public struct HeaderField: Sendable, Hashable {
    /// The field's bytes in wire form: its lines as written, each ending in CRLF.
    public let raw: [UInt8]
    /// Index of the colon that ends the name, in `raw`.
    let colonIndex: Int

    /// Creates a field from its wire bytes (one or more lines, each ending in CRLF;
    /// continuation lines start with a space or tab). Used by the reader, which has
    /// already checked the shape, and by library users holding raw header text.
    ///
    /// - Throws: `MessageError.invalidHeaderField` when there is no colon, the name
    ///   is empty or holds a byte outside 33–126, a continuation line does not start
    ///   with white space, or a NUL or bare LF appears.
    public init(raw: [UInt8]) throws {
        var bytes = raw
        if bytes.last != ASCII.lf { bytes += ASCII.crlf }
        guard let colon = HeaderField.nameEnd(bytes[...]) else {
            throw MessageError.invalidHeaderField(reason: "no field name followed by a colon")
        }
        var lineStart = true
        for (i, b) in bytes.enumerated() {
            if b == 0 { throw MessageError.invalidHeaderField(reason: "NUL byte") }
            if b == ASCII.lf && (i == 0 || bytes[i - 1] != ASCII.cr) {
                throw MessageError.invalidHeaderField(reason: "bare LF")
            }
            if lineStart && i > 0 && !ASCII.isWhitespace(b) {
                throw MessageError.invalidHeaderField(reason: "continuation line without leading white space")
            }
            lineStart = b == ASCII.lf
        }
        self.raw = bytes
        self.colonIndex = colon
    }

    /// Creates a field from the reader's already-checked lines.
    init(checkedRaw: [UInt8], colonIndex: Int) {
        self.raw = checkedRaw
        self.colonIndex = colonIndex
    }

    /// Builds `Name: value` from a name and an unfolded value, folding it at white
    /// space to keep lines within 78 octets where possible (see `HeaderFormat.fold`).
    ///
    /// - Throws: `MessageError.invalidHeaderName` for an invalid name,
    ///   `MessageError.invalidHeaderValue` when the value holds CR, LF or NUL (which
    ///   would inject a header or an SMTP command).
    public init(name: String, value: some Collection<UInt8>) throws {
        try self.init(name: Array(name.utf8), value: Array(value))
    }

    /// Builds `Name: value` from a name and a `String` value; see `init(name:value:)`.
    public init(name: String, value: String) throws {
        try self.init(name: Array(name.utf8), value: Array(value.utf8))
    }

    /// Byte form of `init(name:value:)`.
    public init(name: [UInt8], value: [UInt8]) throws {
        try HeaderFormat.validateName(name)
        try HeaderFormat.validateValue(value)
        let folded = HeaderFormat.fold(name: name, value: value)
        self.raw = folded
        self.colonIndex = name.count
    }

    /// The name and the white space after it must end within this many octets
    /// (the line-length limit): a longer run is not a header field.
    static let maximumNameScan = 998

    /// Returns the index of the colon ending a field name at the start of `line`,
    /// allowing white space between name and colon; nil if the line does not start
    /// a header field.
    static func nameEnd(_ line: ArraySlice<UInt8>) -> Int? {
        let limit = min(line.endIndex, line.startIndex + maximumNameScan)
        var i = line.startIndex
        while i < limit, ASCII.isFieldNameByte(line[i]) { i += 1 }
        if i == line.startIndex { return nil }
        while i < limit, ASCII.isWhitespace(line[i]) { i += 1 }
        return i < limit && line[i] == ASCII.colon ? i : nil
    }

    /// The field name as written (without white space before the colon).
    public var name: [UInt8] { Array(nameBytes) }

    /// ``name`` without a copy.
    var nameBytes: ArraySlice<UInt8> {
        var end = colonIndex
        while end > 0, ASCII.isWhitespace(raw[end - 1]) { end -= 1 }
        return raw[..<end]
    }

    /// The field name as a `String`.
    public var nameString: String { String(decoding: name, as: UTF8.self) }

    /// Whether the field is named `name`, compared case-insensitively.
    public func hasName(_ name: String) -> Bool {
        // A plain loop over the name's bytes in place: no copy of the name,
        // and no `zip` (whose iterator over these two types is not
        // specialized: its metadata cost 200,000 instructions to build).
        let own = nameBytes
        guard own.count == name.utf8.count else { return false }
        var index = own.startIndex
        for byte in name.utf8 {
            if ASCII.lower(raw[index]) != ASCII.lower(byte) { return false }
            index += 1
        }
        return true
    }

    /// The value as written: everything after the colon, folding line breaks
    /// included, without the final CRLF.
    public var rawValue: ArraySlice<UInt8> { raw[(colonIndex + 1)..<(raw.count - 2)] }

    /// The unfolded value: line breaks removed (RFC 5322 §2.2.3), leading and
    /// trailing white space trimmed. A bare CR inside a line is kept.
    public var value: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count - colonIndex)
        let v = rawValue
        var i = v.startIndex
        while i < v.endIndex {
            if v[i] == ASCII.cr, i + 1 < v.endIndex, v[i + 1] == ASCII.lf {
                i += 2
                continue
            }
            out.append(v[i])
            i += 1
        }
        return Array(ASCII.trimmed(out[...]))
    }

    /// The unfolded value as a `String` (invalid UTF-8 repaired with U+FFFD).
    public var valueString: String { String(decoding: value, as: UTF8.self) }

    /// The number of physical lines of the field.
    public var lineCount: Int { raw.reduce(0) { $0 + ($1 == ASCII.lf ? 1 : 0) } }
}
