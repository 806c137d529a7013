/// Hexadecimal digits, written and read in one place (queue ids, Message-IDs,
/// quoted-printable, RFC 2047 and 2231 encodings, xtext, fingerprints, the
/// kernel's socket tables).
package enum Hex {
    /// `0123456789ABCDEF`.
    package static let upperDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
    /// `0123456789abcdef`.
    package static let lowerDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends the two digits of `byte`, high nibble first.
    @inlinable
    package static func append(_ byte: UInt8, to out: inout [UInt8], uppercase: Bool = true) {
        let digits = uppercase ? upperDigits : lowerDigits
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }

    /// Appends `value`'s lowest `digits` nibbles, most significant first.
    package static func append(_ value: UInt64, digits: Int, to out: inout [UInt8], uppercase: Bool = true) {
        let table = uppercase ? upperDigits : lowerDigits
        for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
            out.append(table[Int((value >> UInt64(shift)) & 0xF)])
        }
    }

    /// The bytes as hex text, with `separator` between bytes when given
    /// (`AB:CD:…` as `openssl x509 -fingerprint` prints). Inlinable, so each
    /// caller gets it specialized: unspecialized, the iteration builds generic
    /// metadata at run time (150,000 instructions: 6% of a short submission).
    @inlinable
    package static func string(
        _ bytes: some Sequence<UInt8>, uppercase: Bool = true, separator: UInt8? = nil
    ) -> String {
        var out: [UInt8] = []
        for (index, byte) in bytes.enumerated() {
            if index > 0, let separator { out.append(separator) }
            append(byte, to: &out, uppercase: uppercase)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of one hex digit (either case), or nil.
    @inlinable
    package static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
