/// The lexical layer of the RFC 5322 address parser: an explicit-state scanner
/// (normal, quoted string, escape, comment depth, domain literal) that turns the
/// bytes of an address list into tokens, drops folding white space, keeps
/// comments aside, and refuses control characters with their offset.
struct AddressScanner {
    /// A lexical token.
    struct Token: Equatable {
        enum Kind: Equatable { case atom, quoted, literal, special }
        var kind: Kind
        /// Atom text; quoted-string content with escapes resolved; a domain
        /// literal with its brackets and without white space; or the special byte.
        var bytes: [UInt8]
        /// Offset of the token's first byte in the input.
        var offset: Int

        func isSpecial(_ c: Character) -> Bool { kind == .special && bytes.first == c.asciiValue }
        var isWord: Bool { kind == .atom || kind == .quoted }
    }

    /// A comment's text (escapes resolved, nested parentheses kept) and how many
    /// tokens came before it.
    struct Comment: Equatable {
        var text: [UInt8]
        var tokenIndex: Int
    }

    /// Where the scanner is; `escaped` is just after a backslash in a quoted
    /// string or comment (the next byte is taken as it is).
    private enum State {
        case normal, quoted, comment, literal
        case escaped(inComment: Bool)
    }

    /// Scans `input` into tokens and comments.
    static func scan(_ input: some Collection<UInt8>) throws(AddressError) -> (tokens: [Token], comments: [Comment]) {
        var tokens: [Token] = []
        var comments: [Comment] = []
        var state = State.normal
        var depth = 0
        var current: [UInt8] = []
        var start = 0
        var atomStart = -1
        var atom: [UInt8] = []

        func endAtom() {
            if atomStart >= 0 {
                tokens.append(Token(kind: .atom, bytes: atom, offset: atomStart))
                atom = []
                atomStart = -1
            }
        }

        for (i, b) in input.enumerated() {
            if b == 0 || b == ASCII.cr || b == ASCII.lf || (b < 0x20 && b != ASCII.tab) || b == 0x7F {
                throw AddressError(offset: i, reason: .forbiddenByte(b))
            }
            switch state {
            case .normal:
                if ASCII.isAtext(b) {
                    if atomStart < 0 { atomStart = i }
                    atom.append(b)
                    continue
                }
                endAtom()
                switch b {
                case ASCII.space, ASCII.tab: break
                case ASCII.quote:
                    state = .quoted
                    start = i
                    current = []
                case UInt8(ascii: "("):
                    state = .comment
                    depth = 1
                    start = i
                    current = []
                case UInt8(ascii: "["):
                    state = .literal
                    start = i
                    current = [b]
                case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "@"), UInt8(ascii: ","), UInt8(ascii: ";"),
                    UInt8(ascii: ":"), UInt8(ascii: "."):
                    tokens.append(Token(kind: .special, bytes: [b], offset: i))
                default:  // ) ] \ — nothing else is left outside atext
                    throw AddressError(offset: i, reason: .unexpectedCharacter(b))
                }
            case .quoted:
                switch b {
                case ASCII.backslash: state = .escaped(inComment: false)
                case ASCII.quote:
                    tokens.append(Token(kind: .quoted, bytes: current, offset: start))
                    state = .normal
                default: current.append(b)
                }
            case .escaped(let inComment):
                current.append(b)
                state = inComment ? .comment : .quoted
            case .comment:
                switch b {
                case ASCII.backslash: state = .escaped(inComment: true)
                case UInt8(ascii: "("):
                    depth += 1
                    current.append(b)
                case UInt8(ascii: ")"):
                    depth -= 1
                    if depth == 0 {
                        comments.append(Comment(text: current, tokenIndex: tokens.count))
                        state = .normal
                    } else {
                        current.append(b)
                    }
                default: current.append(b)
                }
            case .literal:
                switch b {
                case UInt8(ascii: "]"):
                    current.append(b)
                    tokens.append(Token(kind: .literal, bytes: current, offset: start))
                    state = .normal
                // An escape or white space inside a literal would change the address on
                // the way (`[a\ b]` is not `[a b]` nor `[ab]`), and RFC 5321 allows
                // neither: refused, so what is sent is what was written.
                case UInt8(ascii: "["), ASCII.backslash, ASCII.space, ASCII.tab:
                    throw AddressError(offset: i, reason: .unexpectedCharacter(b))
                default: current.append(b)
                }
            }
        }
        switch state {
        case .normal: endAtom()
        case .quoted, .escaped(inComment: false): throw AddressError(offset: start, reason: .unterminatedQuotedString)
        case .comment, .escaped(inComment: true): throw AddressError(offset: start, reason: .unterminatedComment)
        case .literal: throw AddressError(offset: start, reason: .unterminatedDomainLiteral)
        }
        return (tokens, comments)
    }
}
