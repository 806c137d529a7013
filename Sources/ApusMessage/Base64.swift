/// Base64 (RFC 4648 §4), used by MIME bodies, SMTP AUTH and encoded words.
public enum Base64 {
    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let decodeTable: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = Int8(i) }
        return table
    }()

    /// Encodes `bytes` with padding, in one line.
    public static func encode(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var it = bytes.makeIterator()
        while let a = it.next() {
            let b = it.next()
            let c = it.next()
            out.append(alphabet[Int(a >> 2)])
            out.append(alphabet[Int((a & 0x03) << 4 | (b ?? 0) >> 4)])
            out.append(b == nil ? UInt8(ascii: "=") : alphabet[Int(((b ?? 0) & 0x0F) << 2 | (c ?? 0) >> 6)])
            out.append(c == nil ? UInt8(ascii: "=") : alphabet[Int((c ?? 0) & 0x3F)])
        }
        return out
    }

    /// Encodes `bytes` into a `String`.
    public static func encodeString(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: encode(bytes), as: UTF8.self)
    }

    /// Decodes base64 text; white space (CR, LF, blanks) is skipped, padding is
    /// optional. Returns nil for any other byte outside the alphabet or a
    /// dangling single character.
    public static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        var accumulator: UInt32 = 0
        var bits = 0
        var padding = 0
        for c in text {
            switch c {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                continue
            case UInt8(ascii: "="):
                padding += 1
                continue
            default:
                if padding > 0 { return nil }
                let v = decodeTable[Int(c)]
                if v < 0 { return nil }
                accumulator = accumulator << 6 | UInt32(v)
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                }
            }
        }
        if bits >= 6 { return nil }
        return out
    }

    /// Decodes base64 held in a `String`.
    public static func decode(_ text: String) -> [UInt8]? { decode(Array(text.utf8)) }
}
