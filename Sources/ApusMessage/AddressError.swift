/// Why an address or address list was refused, and where.
public struct AddressError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The kinds of failure.
    public enum Reason: Equatable, Sendable {
        /// CR, LF, NUL or another control character (tab aside): could inject a header or SMTP command.
        case forbiddenByte(UInt8)
        /// A quoted string has no closing quote.
        case unterminatedQuotedString
        /// A comment has no closing parenthesis.
        case unterminatedComment
        /// A domain literal has no closing bracket.
        case unterminatedDomainLiteral
        /// `<` without `>`.
        case unterminatedAngleAddress
        /// A group has no closing `;`.
        case unterminatedGroup
        /// A `)`, `]`, `>` or `\` where none may be, or `<` inside an angle address.
        case unexpectedCharacter(UInt8)
        /// Something other than what the grammar allows here; the text says what was expected.
        case expected(String)
        /// A group inside a group.
        case nestedGroup
        /// `<>` where an address is required.
        case emptyAddress
        /// Nothing at all where an address is required.
        case missingAddress
        /// More than one address where one is required.
        case multipleAddresses
        /// Valid RFC 5322 but not sendable in RFC 5321 syntax; the text says why.
        case invalidForSMTP(String)
    }

    /// The octet offset in the input where the problem was found.
    public let offset: Int
    /// What went wrong.
    public let reason: Reason

    /// Creates an error.
    public init(offset: Int, reason: Reason) {
        self.offset = offset
        self.reason = reason
    }

    /// A short description with the offset.
    public var description: String {
        let what: String
        switch reason {
        case .forbiddenByte(let b): what = "forbidden control character 0x\(String(b, radix: 16))"
        case .unterminatedQuotedString: what = "unterminated quoted string"
        case .unterminatedComment: what = "unterminated comment"
        case .unterminatedDomainLiteral: what = "unterminated domain literal"
        case .unterminatedAngleAddress: what = "missing '>'"
        case .unterminatedGroup: what = "missing ';' at the end of the group"
        case .unexpectedCharacter(let b): what = "unexpected '\(String(decoding: [b], as: UTF8.self))'"
        case .expected(let s): what = "expected \(s)"
        case .nestedGroup: what = "group inside a group"
        case .emptyAddress: what = "empty address <>"
        case .missingAddress: what = "no address"
        case .multipleAddresses: what = "more than one address"
        case .invalidForSMTP(let s): what = "not a valid SMTP address: \(s)"
        }
        return "\(what) at offset \(offset)"
    }
}
