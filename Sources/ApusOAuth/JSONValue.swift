/// A JSON value (RFC 8259) as ``JSONReader`` returns it.
///
/// Numbers keep their text (`"3599"`, `"1e3"`): a token response needs only
/// small integers, read with ``integer``.
package enum JSONValue: Equatable, Sendable {
    /// An object: its members in document order (a repeated name keeps every copy).
    case object([(String, JSONValue)])
    /// An array.
    case array([JSONValue])
    /// A string, escapes decoded.
    case string(String)
    /// A number, as written.
    case number(String)
    /// `true` or `false`.
    case bool(Bool)
    /// `null`.
    case null

    /// The first member called `name` of an object, or `nil`.
    package subscript(_ name: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == name }?.1
    }

    /// The string, or `nil` for any other kind.
    package var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// A whole number from a number (`3599`, `3599.0`) or a string of digits
    /// (`"3599"`, as some endpoints send `expires_in`); `nil` otherwise or
    /// beyond ±10^15.
    package var integer: Int64? {
        let text: String
        switch self {
        case .number(let raw): text = raw
        case .string(let raw): text = raw
        default: return nil
        }
        if let value = Int64(text) {
            return value >= -1_000_000_000_000_000 && value <= 1_000_000_000_000_000 ? value : nil
        }
        if case .number = self, let value = Double(text), value.isFinite, abs(value) <= 1e15, value == value.rounded() {
            return Int64(value)
        }
        return nil
    }

    package static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.array(let x), .array(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }
}
