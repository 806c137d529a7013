/// Byte constants and classes shared by the parsers in this module.
enum ASCII {
    static let tab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22
    static let colon: UInt8 = 0x3A
    static let dot: UInt8 = 0x2E
    static let equals: UInt8 = 0x3D
    static let backslash: UInt8 = 0x5C
    static let crlf: [UInt8] = [0x0D, 0x0A]

    /// Space or horizontal tab (RFC 5322 WSP).
    static func isWhitespace(_ b: UInt8) -> Bool { b == space || b == tab }

    /// A printable US-ASCII character other than space (33–126): the bytes of a field name, minus the colon.
    static func isFieldNameByte(_ b: UInt8) -> Bool { b >= 33 && b <= 126 && b != colon }

    /// RFC 5322 `atext`, extended with every byte ≥ 0x80 (RFC 6532 UTF-8 in headers).
    static func isAtext(_ b: UInt8) -> Bool {
        if b >= 0x80 { return true }
        switch b {
        case 0x41...0x5A, 0x61...0x7A, 0x30...0x39: return true
        default: return Array("!#$%&'*+-/=?^_`{|}~".utf8).contains(b)
        }
    }

    /// Lower-cases one ASCII letter.
    static func lower(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b }

    /// Case-insensitive ASCII comparison.
    static func equalsIgnoringCase(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { lower($0) == lower($1) }
    }

    /// The bytes with leading and trailing WSP (and CR/LF) removed.
    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = bytes
        while let f = s.first, isWhitespace(f) || f == cr || f == lf { s = s.dropFirst() }
        while let l = s.last, isWhitespace(l) || l == cr || l == lf { s = s.dropLast() }
        return s
    }
}
