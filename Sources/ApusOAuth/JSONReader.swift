/// A bounded JSON reader (RFC 8259) for OAuth2 token responses: hostile input
/// in, a ``JSONValue`` or a ``JSONError`` out, never a crash or unbounded work.
///
/// Limits: ``maximumBytes`` of input, ``maximumDepth`` of nested objects and
/// arrays, ``maximumValues`` values in all. Strings must be valid UTF-8 with
/// no raw control characters; escapes include `\uXXXX` with surrogate pairs
/// (a lone surrogate is an error). Numbers follow the JSON grammar. White
/// space may surround the document; anything else after it is an error.
package enum JSONReader {
    /// The most input accepted: 64 KiB.
    package static let maximumBytes = 64 * 1024
    /// The deepest nesting accepted.
    package static let maximumDepth = 16
    /// The most values (of any kind) in one document.
    package static let maximumValues = 4096

    /// Parses one JSON document.
    ///
    /// - Throws: ``JSONError`` with the byte offset of the fault.
    package static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        guard bytes.count <= maximumBytes else { throw JSONError("more than \(maximumBytes) bytes", offset: 0) }
        var scanner = Scanner(bytes: bytes)
        scanner.skipBlanks()
        let value = try scanner.value(depth: 0)
        scanner.skipBlanks()
        guard scanner.index == bytes.count else { throw JSONError("text after the JSON value", offset: scanner.index) }
        return value
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        var values = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        func fail(_ message: String) -> JSONError { JSONError(message, offset: index) }

        mutating func skipBlanks() {
            while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ byte: UInt8) throws(JSONError) {
            guard peek == byte else { throw fail("expected '\(Character(Unicode.Scalar(byte)))'") }
            index += 1
        }

        mutating func value(depth: Int) throws(JSONError) -> JSONValue {
            values += 1
            guard values <= JSONReader.maximumValues else { throw fail("more than \(JSONReader.maximumValues) values") }
            guard let byte = peek else { throw fail("unexpected end of input") }
            switch byte {
            case 0x7B: return try object(depth: depth + 1)
            case 0x5B: return try array(depth: depth + 1)
            case 0x22: return .string(try string())
            case 0x74:
                try literal("true")
                return .bool(true)
            case 0x66:
                try literal("false")
                return .bool(false)
            case 0x6E:
                try literal("null")
                return .null
            case 0x2D, 0x30...0x39: return .number(try number())
            default: throw fail("unexpected byte 0x\(String(byte, radix: 16))")
            }
        }

        mutating func literal(_ word: StaticString) throws(JSONError) {
            let expected = word.withUTF8Buffer { Array($0) }
            guard index + expected.count <= bytes.count, Array(bytes[index..<index + expected.count]) == expected else {
                throw fail("bad literal")
            }
            index += expected.count
        }

        mutating func object(depth: Int) throws(JSONError) -> JSONValue {
            var members: [(String, JSONValue)] = []
            try container(depth: depth, closing: 0x7D, named: "an object") { (reader) throws(JSONError) in
                guard reader.peek == 0x22 else { throw reader.fail("expected a member name") }
                let name = try reader.string()
                reader.skipBlanks()
                try reader.expect(0x3A)
                reader.skipBlanks()
                members.append((name, try reader.value(depth: depth)))
            }
            return .object(members)
        }

        mutating func array(depth: Int) throws(JSONError) -> JSONValue {
            var elements: [JSONValue] = []
            try container(depth: depth, closing: 0x5D, named: "an array") { (reader) throws(JSONError) in
                elements.append(try reader.value(depth: depth))
            }
            return .array(elements)
        }

        /// Reads an object's or array's items, from its opening byte to
        /// `close`: `item` reads one (blanks before it skipped), then a comma
        /// or `close` must follow.
        mutating func container(
            depth: Int, closing close: UInt8, named name: String, _ item: (inout Scanner) throws(JSONError) -> Void
        ) throws(JSONError) {
            guard depth <= JSONReader.maximumDepth else { throw fail("nested deeper than \(JSONReader.maximumDepth)") }
            index += 1
            skipBlanks()
            if peek == close {
                index += 1
                return
            }
            while true {
                skipBlanks()
                try item(&self)
                skipBlanks()
                guard let next = peek else { throw fail("unexpected end of input in \(name)") }
                index += 1
                if next == close { return }
                guard next == 0x2C else {
                    throw JSONError("expected ',' or '\(Character(Unicode.Scalar(close)))'", offset: index - 1)
                }
            }
        }

        mutating func number() throws(JSONError) -> String {
            let start = index
            if peek == 0x2D { index += 1 }
            guard let first = peek, first >= 0x30 && first <= 0x39 else { throw fail("bad number") }
            index += 1
            if first != 0x30 { digits() }
            if peek == 0x2E {
                index += 1
                guard digits() > 0 else { throw fail("bad number: no digits after '.'") }
            }
            if peek == 0x65 || peek == 0x45 {
                index += 1
                if peek == 0x2B || peek == 0x2D { index += 1 }
                guard digits() > 0 else { throw fail("bad number: no digits in the exponent") }
            }
            guard index - start <= 64 else { throw JSONError("number longer than 64 characters", offset: start) }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        @discardableResult
        mutating func digits() -> Int {
            var count = 0
            while let byte = peek, byte >= 0x30 && byte <= 0x39 {
                index += 1
                count += 1
            }
            return count
        }

        mutating func hex4() throws(JSONError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw fail("short \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                guard byte.isHexDigitForJSON else { throw fail("bad \\u escape") }
                value = value << 4 | UInt32(byte.hexDigitValueForJSON)
                index += 1
            }
            return value
        }

        mutating func string() throws(JSONError) -> String {
            let start = index
            index += 1
            var out: [UInt8] = []
            while true {
                guard let byte = peek else { throw JSONError("unterminated string", offset: start) }
                switch byte {
                case 0x22:
                    index += 1
                    guard let text = String(validating: out, as: UTF8.self) else {
                        throw JSONError("string is not valid UTF-8", offset: start)
                    }
                    return text
                case 0x5C:
                    index += 1
                    guard let escape = peek else { throw fail("unterminated escape") }
                    index += 1
                    switch escape {
                    case 0x22, 0x5C, 0x2F: out.append(escape)
                    case 0x62: out.append(0x08)
                    case 0x66: out.append(0x0C)
                    case 0x6E: out.append(0x0A)
                    case 0x72: out.append(0x0D)
                    case 0x74: out.append(0x09)
                    case 0x75:
                        var scalar = try hex4()
                        if scalar >= 0xD800 && scalar <= 0xDBFF {
                            guard index + 2 <= bytes.count, bytes[index] == 0x5C, bytes[index + 1] == 0x75 else {
                                throw fail("lone high surrogate")
                            }
                            index += 2
                            let low = try hex4()
                            guard low >= 0xDC00 && low <= 0xDFFF else { throw fail("bad low surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                            throw fail("lone low surrogate")
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw fail("bad \\u escape") }
                        out.append(contentsOf: String(Character(unicode)).utf8)
                    default:
                        throw JSONError("unknown escape", offset: index - 1)
                    }
                case 0x00..<0x20:
                    throw fail("control character in a string")
                default:
                    out.append(byte)
                    index += 1
                }
            }
        }
    }
}

/// Why a JSON document was refused, with the byte offset where it went wrong.
package struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong.
    package var message: String
    /// The byte offset.
    package var offset: Int
    /// Creates an error.
    package init(_ message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }
    /// "bad JSON at byte 12: expected ':'".
    package var description: String { "bad JSON at byte \(offset): \(message)" }
}

extension UInt8 {
    fileprivate var isHexDigitForJSON: Bool {
        (self >= 0x30 && self <= 0x39) || (self | 0x20 >= 0x61 && self | 0x20 <= 0x66)
    }
    fileprivate var hexDigitValueForJSON: UInt8 {
        self <= 0x39 ? self - 0x30 : (self | 0x20) - 0x61 + 10
    }
}
