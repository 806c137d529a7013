/// An RFC 5322 address list (`To:`, `Cc:`, …): mailboxes and groups.
///
/// The parser reads the full grammar of RFC 5322 §3.4 and the obsolete forms of
/// §4.4: display names (atoms, quoted strings with escapes, `Joe Q. Public`),
/// nested comments, groups (`undisclosed-recipients:;`), domain literals, source
/// routes (`<@a,@b:user@c>`), dotted local parts made of quoted strings, white
/// space and comments around dots and before colons, empty list elements
/// (`a@x, , b@y`). It also accepts unqualified addresses (`root`, `Name <root>`),
/// which sendmail-style input is full of. It refuses CR, LF, NUL and other
/// control characters, and any `<`, `>` outside an angle address, reporting the
/// offset; nothing it returns can inject a header or an SMTP command.
public struct AddressList: Sendable, Hashable, CustomStringConvertible {
    /// One element of the list.
    public enum Item: Sendable, Hashable {
        /// A single mailbox.
        case mailbox(Mailbox)
        /// A named group and its members (possibly none).
        case group(name: [UInt8], members: [Mailbox])
    }

    /// The elements, in order.
    public var items: [Item]

    /// Creates a list from items.
    public init(_ items: [Item]) { self.items = items }

    /// Every mailbox, group members included, in order.
    public var mailboxes: [Mailbox] {
        items.flatMap { item -> [Mailbox] in
            switch item {
            case .mailbox(let m): return [m]
            case .group(_, let members): return members
            }
        }
    }

    /// Parses an address list (an unfolded header value).
    /// - Throws: `AddressError` with the offset of the problem.
    public static func parse(_ input: some Collection<UInt8>) throws(AddressError) -> AddressList {
        let (tokens, comments) = try AddressScanner.scan(input)
        var parser = AddressParser(tokens: tokens, comments: comments, inputLength: input.count)
        return AddressList(try parser.parseList())
    }

    /// Parses an address list held in a `String`.
    public static func parse(_ input: String) throws(AddressError) -> AddressList { try parse(Array(input.utf8)) }

    /// The list for a header value: `a, Name <b@x>, Group: c@y, d@z;`.
    public var formatted: [UInt8] {
        var out: [UInt8] = []
        for (n, item) in items.enumerated() {
            if n > 0 { out += Array(", ".utf8) }
            switch item {
            case .mailbox(let m): out += m.formatted
            case .group(let name, let members):
                out += Mailbox.formatPhrase(name) + [ASCII.colon]
                for (k, m) in members.enumerated() {
                    out += Array((k == 0 ? " " : ", ").utf8) + m.formatted
                }
                out.append(UInt8(ascii: ";"))
            }
        }
        return out
    }

    /// The formatted list as text.
    public var description: String { String(decoding: formatted, as: UTF8.self) }
}

/// The grammar layer over `AddressScanner`'s tokens; state: token position and
/// whether a group is open (groups do not nest).
struct AddressParser {
    let tokens: [AddressScanner.Token]
    let comments: [AddressScanner.Comment]
    let inputLength: Int
    var index = 0

    init(tokens: [AddressScanner.Token], comments: [AddressScanner.Comment], inputLength: Int) {
        self.tokens = tokens
        self.comments = comments
        self.inputLength = inputLength
    }

    var peek: AddressScanner.Token? { index < tokens.count ? tokens[index] : nil }
    var offset: Int { peek?.offset ?? inputLength }

    func fail(_ reason: AddressError.Reason) -> AddressError { AddressError(offset: offset, reason: reason) }

    func peekIs(_ c: Character) -> Bool { peek?.isSpecial(c) ?? false }

    mutating func expect(_ c: Character, _ reason: AddressError.Reason) throws(AddressError) {
        guard peekIs(c) else { throw fail(reason) }
        index += 1
    }

    /// address-list, with obsolete empty elements.
    mutating func parseList() throws(AddressError) -> [AddressList.Item] {
        var items: [AddressList.Item] = []
        while true {
            while peekIs(",") { index += 1 }
            guard peek != nil else { break }
            items.append(try parseAddress(allowGroup: true))
            guard peek == nil || peekIs(",") else { throw unexpected("',' between addresses") }
        }
        return items
    }

    func unexpected(_ what: String) -> AddressError {
        if let t = peek, t.kind == .special, t.bytes[0] == UInt8(ascii: "<") || t.bytes[0] == UInt8(ascii: ">") {
            return fail(.unexpectedCharacter(t.bytes[0]))
        }
        return fail(.expected(what))
    }

    /// address = mailbox / group.
    mutating func parseAddress(allowGroup: Bool) throws(AddressError) -> AddressList.Item {
        let start = index
        let phrase = parsePhrase()
        if peekIs(":") {
            guard allowGroup else { throw fail(.nestedGroup) }
            guard !phrase.isEmpty else { throw fail(.expected("a group name before ':'")) }
            index += 1
            var members: [Mailbox] = []
            while true {
                while peekIs(",") { index += 1 }
                if peekIs(";") {
                    index += 1
                    break
                }
                guard peek != nil else { throw fail(.unterminatedGroup) }
                guard case .mailbox(let m) = try parseAddress(allowGroup: false) else { throw fail(.nestedGroup) }
                members.append(m)
                guard peekIs(",") || peekIs(";") else {
                    throw peek == nil ? fail(.unterminatedGroup) : unexpected("',' or ';' in the group")
                }
            }
            return .group(name: phraseText(phrase), members: members)
        }
        if peekIs("<") {
            return .mailbox(try parseAngle(displayName: phrase.isEmpty ? nil : phraseText(phrase), start: start))
        }
        guard !phrase.isEmpty else { throw unexpected("an address") }
        let local = try localPart(phrase)
        var domain: [UInt8]? = nil
        if peekIs("@") {
            index += 1
            domain = try parseDomain()
        } else if let t = peek, !t.isSpecial(","), !t.isSpecial(";") {
            throw unexpected("'@', '<' or ','")
        }
        return .mailbox(
            Mailbox(
                checkedLocalPart: local, domain: domain, displayName: nil, route: [],
                comment: comment(from: start)))
    }

    /// phrase / obs-phrase: words, and dots after the first word; may be empty.
    mutating func parsePhrase() -> [AddressScanner.Token] {
        var words: [AddressScanner.Token] = []
        while let t = peek, t.isWord || (t.isSpecial(".") && !words.isEmpty) {
            words.append(t)
            index += 1
        }
        return words
    }

    /// A phrase's text: words joined by single spaces; an obsolete dot sticks to the word before it.
    func phraseText(_ words: [AddressScanner.Token]) -> [UInt8] {
        var out: [UInt8] = []
        for w in words {
            if w.kind == .special {
                out.append(ASCII.dot)
            } else {
                if !out.isEmpty { out.append(ASCII.space) }
                out += w.bytes
            }
        }
        return out
    }

    /// local-part / obs-local-part: word *("." word), joined into the local part's value.
    func localPart(_ words: [AddressScanner.Token]) throws(AddressError) -> [UInt8] {
        var out: [UInt8] = []
        for (n, w) in words.enumerated() {
            let wantWord = n % 2 == 0
            if wantWord != w.isWord || (!wantWord && !w.isSpecial(".")) {
                throw AddressError(
                    offset: w.offset, reason: .expected(wantWord ? "a word in the local part" : "'.' or '@'"))
            }
            out += w.bytes
        }
        guard words.count % 2 == 1 else {
            throw AddressError(offset: words.last?.offset ?? offset, reason: .expected("a word after '.'"))
        }
        guard !out.isEmpty else { throw AddressError(offset: words[0].offset, reason: .missingAddress) }
        return out
    }

    /// domain / obs-domain: atom *("." atom), or a domain literal.
    mutating func parseDomain() throws(AddressError) -> [UInt8] {
        guard let first = peek else { throw fail(.expected("a domain")) }
        if first.kind == .literal {
            index += 1
            return first.bytes
        }
        var out: [UInt8] = []
        while true {
            guard let t = peek, t.kind == .atom else { throw unexpected("a domain") }
            out += t.bytes
            index += 1
            guard peekIs(".") else { break }
            out.append(ASCII.dot)
            index += 1
        }
        return out
    }

    /// angle-addr / obs-angle-addr: "<" [obs-route] addr-spec ">", where the
    /// addr-spec may lack a domain.
    mutating func parseAngle(displayName: [UInt8]?, start: Int) throws(AddressError) -> Mailbox {
        let open = offset
        index += 1  // <
        var route: [[UInt8]] = []
        if peekIs("@") || peekIs(",") {
            while peekIs(",") { index += 1 }
            while true {
                try expect("@", .expected("'@' in the route"))
                route.append(try parseDomain())
                var sawComma = false
                while peekIs(",") {
                    index += 1
                    sawComma = true
                }
                if peekIs(":") {
                    index += 1
                    break
                }
                guard sawComma, peekIs("@") else { throw unexpected("':' after the route") }
            }
        }
        if peekIs(">") { throw fail(.emptyAddress) }
        let words = parsePhrase()
        guard !words.isEmpty else {
            throw peek == nil ? AddressError(offset: open, reason: .unterminatedAngleAddress) : unexpected("an address")
        }
        let local = try localPart(words)
        var domain: [UInt8]? = nil
        if peekIs("@") {
            index += 1
            domain = try parseDomain()
        }
        guard peekIs(">") else {
            throw peek == nil ? AddressError(offset: open, reason: .unterminatedAngleAddress) : unexpected("'>'")
        }
        index += 1
        return Mailbox(
            checkedLocalPart: local, domain: domain, displayName: displayName, route: route,
            comment: comment(from: start))
    }

    /// The first comment between token `start` and the current position (inclusive of trailing ones).
    func comment(from start: Int) -> [UInt8]? {
        comments.first { $0.tokenIndex >= start && $0.tokenIndex <= index }?.text
    }
}
