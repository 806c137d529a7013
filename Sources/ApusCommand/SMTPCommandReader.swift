/// The `-bs` command reader: SMTP client bytes in, commands, message data and
/// syntax errors out. It does no I/O (``SubmissionServer`` reads and writes),
/// so it can be fed whole, byte by byte or in any chunks and give the same
/// events; it has a fuzz target (Fuzz/Sources/FuzzCommandReader).
///
/// ```
/// bytes ──append──▶ [ buffer ] ──next()──▶ .command(MAIL …) .syntaxError(501 …)
///                                          .data(line) … .endOfData   (after beginData)
///                                          .chunk(bytes) … .endOfChunk (after BDAT)
/// ```
///
/// Bounds (security.md "Hostile input"):
/// - A command line may hold ``maximumLineLength`` octets with its CRLF (RFC 5321
///   §4.5.3.1.4 asks for 512; apus is generous). A longer one is skipped as it
///   comes in, never buffered, and answered `500 5.5.2 Line too long`.
/// - DATA: lines end in CRLF or LF; a line of only `.` ends the data, a leading
///   `.` is removed (RFC 5321 §4.5.2). A lone CR stays in the line (the message
///   reader makes it a line end). Lines of any length come out in pieces of at
///   most ``maximumDataPiece`` octets. Octets past the message size limit are
///   counted and dropped, and ``Event/endOfData(tooLarge:)`` says so.
/// - BDAT: the chunk's octets come out as they arrive, in bounded pieces.
/// - Every MAIL and RCPT parameter is checked (RFC 1870 SIZE, RFC 6152 BODY,
///   RFC 6531 SMTPUTF8, RFC 3461 RET, ENVID, NOTIFY, ORCPT): a bad value is
///   `501 5.5.4`, an unknown parameter `555 5.5.4`; the session goes on.
package struct SMTPCommandReader: Sendable {
    /// The most octets of a command line, CRLF included.
    package static let maximumLineLength = 4096
    /// The largest piece of DATA or BDAT content returned at once.
    package static let maximumDataPiece = 1 << 16

    /// MAIL FROM parameters, checked.
    package struct MailParameters: Sendable, Equatable {
        /// `SIZE=` (RFC 1870).
        package var size: Int?
        /// `BODY=`: `7BIT` or `8BITMIME`, upper case.
        package var body: String?
        /// `SMTPUTF8` was given.
        package var smtpUTF8 = false
        /// `RET=`: `FULL` or `HDRS`, upper case.
        package var dsnReturn: String?
        /// `ENVID=`, xtext decoded.
        package var envelopeID: String?
        /// No parameters.
        package init() {}
    }

    /// RCPT TO parameters, checked.
    package struct RecipientParameters: Sendable, Equatable {
        /// `NOTIFY=`: `NEVER` or a comma list of `SUCCESS`, `FAILURE`, `DELAY`, upper case.
        package var notify: String?
        /// `ORCPT=` as given (`rfc822;addr`, xtext).
        package var originalRecipient: String?
        /// No parameters.
        package init() {}
    }

    /// One client command, its syntax checked.
    package enum Command: Sendable, Equatable {
        case ehlo(String)
        case helo(String)
        /// The reverse path without brackets (empty for `<>`).
        case mail(String, MailParameters)
        /// The forward path without brackets.
        case rcpt(String, RecipientParameters)
        case data
        /// `BDAT size [LAST]`: the chunk's octets follow as ``Event/chunk(_:)`` events.
        case bdat(size: Int, last: Bool)
        case rset
        case noop
        case vrfy
        case help
        case quit
    }

    /// What the reader found.
    package enum Event: Sendable, Equatable {
        /// A well-formed command.
        case command(Command)
        /// A line that is not a valid command: answer with this code and text
        /// (`500 5.5.2 …`, `501 5.5.4 …`, `502 5.5.2 …`, `555 5.5.4 …`).
        case syntaxError(code: Int, text: String)
        /// DATA content: one line (unstuffed, ending in CRLF), or a piece of a long one.
        case data([UInt8])
        /// The lone dot; `tooLarge` when the content passed the limit given to ``beginData(limit:)``.
        case endOfData(tooLarge: Bool)
        /// Octets of a BDAT chunk.
        case chunk([UInt8])
        /// The BDAT chunk is complete.
        case endOfChunk
    }

    private enum Mode: Sendable, Equatable {
        case commands
        /// Skipping the rest of an over-long command line.
        case skippingLine
        case data
        case chunk(remaining: Int)
    }

    private var buffer: [UInt8] = []
    private var position = 0
    private var mode = Mode.commands
    private var scanned = 0
    // DATA state.
    private var dataLimit = 0
    private var dataCount = 0
    private var atLineStart = true

    /// A reader expecting commands.
    package init() {}

    /// Whether the reader is inside DATA or a BDAT chunk.
    package var isReadingContent: Bool { mode != .commands && mode != .skippingLine }

    /// Pushes client bytes.
    package mutating func append(_ bytes: some Sequence<UInt8>) {
        if position > 0 && position >= buffer.count / 2 {
            buffer.removeFirst(position)
            scanned = max(0, scanned - position)
            position = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Switches to DATA content after the server answered 354. `limit` is the
    /// most octets accepted (0 = none); more is counted and dropped.
    /// - Precondition: the reader is reading commands.
    package mutating func beginData(limit: Int) {
        precondition(mode == .commands, "beginData while reading content")
        mode = .data
        dataLimit = limit
        dataCount = 0
        atLineStart = true
    }

    /// The next event, or nil when more bytes are needed.
    package mutating func next() -> Event? {
        while true {
            switch mode {
            case .commands:
                guard let line = takeCommandLine() else { return nil }
                if let line {
                    let event = Self.parse(line)
                    if case .command(.bdat(let size, _)) = event { mode = .chunk(remaining: size) }
                    return event
                }
                return .syntaxError(code: 500, text: "5.5.2 Line too long")
            case .skippingLine:
                guard let newline = buffer[position...].firstIndex(of: 0x0A) else {
                    position = buffer.count
                    return nil
                }
                position = newline + 1
                mode = .commands
                return .syntaxError(code: 500, text: "5.5.2 Line too long")
            case .chunk(let remaining):
                if remaining == 0 {
                    mode = .commands
                    return .endOfChunk
                }
                let available = buffer.count - position
                if available == 0 { return nil }
                let n = min(remaining, available, Self.maximumDataPiece)
                let piece = Array(buffer[position..<position + n])
                position += n
                mode = .chunk(remaining: remaining - n)
                return .chunk(piece)
            case .data:
                return nextData()
            }
        }
    }

    // MARK: - Lines

    /// A command line without its line end (`.some(nil)` when too long: the
    /// reader then skips to its end), or nil when more bytes are needed.
    private mutating func takeCommandLine() -> [UInt8]?? {
        let from = max(position, scanned)
        if let newline = buffer[from...].firstIndex(of: 0x0A) {
            var end = newline
            if end > position && buffer[end - 1] == 0x0D { end -= 1 }
            let length = newline + 1 - position
            let line = Array(buffer[position..<end])
            position = newline + 1
            scanned = position
            return length > Self.maximumLineLength ? .some(nil) : .some(line)
        }
        if buffer.count - position > Self.maximumLineLength {
            position = buffer.count
            scanned = position
            mode = .skippingLine
            return nil
        }
        scanned = buffer.count
        return nil
    }

    /// The next DATA event, or nil when more bytes are needed.
    private mutating func nextData() -> Event? {
        while true {
            let available = buffer.count - position
            if available == 0 { return nil }
            if atLineStart && buffer[position] == UInt8(ascii: ".") {
                // ".\r\n" or ".\n" ends the data; "." then anything else is unstuffed.
                if available < 2 { return nil }
                let second = buffer[position + 1]
                if second == 0x0A {
                    position += 2
                    return endData()
                }
                if second == 0x0D {
                    if available < 3 { return nil }
                    if buffer[position + 2] == 0x0A {
                        position += 3
                        return endData()
                    }
                }
                position += 1  // the stuffed dot
                atLineStart = false
                continue
            }
            let limit = min(buffer.count, position + Self.maximumDataPiece)
            var content: [UInt8]
            if let newline = buffer[position..<limit].firstIndex(of: 0x0A) {
                var end = newline
                if end > position && buffer[end - 1] == 0x0D { end -= 1 }
                content = Array(buffer[position..<end])
                content.append(0x0D)
                content.append(0x0A)
                position = newline + 1
                atLineStart = true
            } else {
                // No line end within a piece's length: wait for more, or hand out a
                // full piece (keeping a final CR back: it may be half of a CRLF).
                guard limit - position >= Self.maximumDataPiece else { return nil }
                var end = limit
                if buffer[end - 1] == 0x0D { end -= 1 }
                content = Array(buffer[position..<end])
                position = end
                atLineStart = false
            }
            dataCount += content.count
            if dataLimit > 0 && dataCount > dataLimit { continue }
            return .data(content)
        }
    }

    private mutating func endData() -> Event {
        mode = .commands
        atLineStart = true
        scanned = position
        return .endOfData(tooLarge: dataLimit > 0 && dataCount > dataLimit)
    }

    // MARK: - Commands

    /// Parses one command line (without its line end).
    static func parse(_ line: [UInt8]) -> Event {
        if line.contains(where: { $0 == 0 || $0 == 0x0D || ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
            return .syntaxError(code: 500, text: "5.5.2 Error: bad character in command")
        }
        let text = String(decoding: line, as: UTF8.self)
        let verbEnd = text.firstIndex(of: " ") ?? text.endIndex
        let verb = text[..<verbEnd].uppercased()
        let argument = text[verbEnd...].drop(while: { $0 == " " })
        switch verb {
        case "EHLO", "HELO":
            let name = argument.trimmingSuffix(" ")
            guard !name.isEmpty, !name.contains(" ") else {
                return .syntaxError(code: 501, text: "5.5.4 Syntax: \(verb) hostname")
            }
            return .command(verb == "EHLO" ? .ehlo(String(name)) : .helo(String(name)))
        case "MAIL":
            guard let (path, words) = pathAndWords(argument, prefix: "FROM:") else {
                return .syntaxError(code: 501, text: "5.5.4 Syntax: MAIL FROM:<address>")
            }
            switch mailParameters(words) {
            case .success(let parameters): return .command(.mail(path, parameters))
            case .failure(let error): return error.event
            }
        case "RCPT":
            guard let (path, words) = pathAndWords(argument, prefix: "TO:"), !path.isEmpty else {
                return .syntaxError(code: 501, text: "5.5.4 Syntax: RCPT TO:<address>")
            }
            switch recipientParameters(words) {
            case .success(let parameters): return .command(.rcpt(path, parameters))
            case .failure(let error): return error.event
            }
        case "BDAT":
            let words = argument.split(separator: " ")
            guard let first = words.first, first.utf8.count <= 18, first.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let size = Int(first), words.count == 1 || (words.count == 2 && words[1].uppercased() == "LAST")
            else {
                return .syntaxError(code: 501, text: "5.5.4 Syntax: BDAT size [LAST]")
            }
            return .command(.bdat(size: size, last: words.count == 2))
        case "DATA", "RSET", "QUIT":
            guard argument.allSatisfy({ $0 == " " }) else {
                return .syntaxError(code: 501, text: "5.5.4 Syntax: \(verb)")
            }
            return .command(verb == "DATA" ? .data : verb == "RSET" ? .rset : .quit)
        case "NOOP": return .command(.noop)
        case "VRFY": return .command(.vrfy)
        case "HELP": return .command(.help)
        default:
            return .syntaxError(code: 502, text: "5.5.2 Error: command not recognized")
        }
    }

    /// A refusal of a parameter.
    struct ParameterError: Error {
        var code: Int
        var text: String
        var event: Event { .syntaxError(code: code, text: text) }
        static func bad(_ word: Substring) -> ParameterError {
            ParameterError(code: 501, text: "5.5.4 Bad parameter: \(word)")
        }
        static func unsupported(_ word: Substring) -> ParameterError {
            ParameterError(code: 555, text: "5.5.4 Unsupported parameter: \(word)")
        }
    }

    /// `FROM:<path> words…` (prefix case-insensitive, blanks after the colon
    /// tolerated, a path without brackets too): the path without brackets and
    /// the parameter words; nil for bad syntax.
    static func pathAndWords(_ argument: Substring, prefix: String) -> (String, [Substring])? {
        guard argument.uppercased().hasPrefix(prefix) else { return nil }
        let rest = argument.dropFirst(prefix.count).drop(while: { $0 == " " })
        let path: Substring
        let tail: Substring
        if rest.first == "<" {
            // The closing '>' outside a quoted string.
            var quoted = false
            var escaped = false
            var close: Substring.Index? = nil
            var index = rest.index(after: rest.startIndex)
            while index < rest.endIndex {
                let c = rest[index]
                if escaped {
                    escaped = false
                } else if c == "\\" && quoted {
                    escaped = true
                } else if c == "\"" {
                    quoted.toggle()
                } else if c == ">" && !quoted {
                    close = index
                    break
                } else if c == "<" && !quoted {
                    return nil
                }
                index = rest.index(after: index)
            }
            guard let close else { return nil }
            path = rest[rest.index(after: rest.startIndex)..<close]
            tail = rest[rest.index(after: close)...]
            if let first = tail.first, first != " " { return nil }
        } else {
            let end = rest.firstIndex(of: " ") ?? rest.endIndex
            path = rest[..<end]
            tail = rest[end...]
            if path.isEmpty || path.contains("<") || path.contains(">") { return nil }
        }
        return (String(path), tail.split(separator: " "))
    }

    /// `KEY=VALUE` or `KEY`: the key upper-cased and the value (nil when no `=`).
    static func keyValue(_ word: Substring) -> (String, Substring?) {
        guard let equals = word.firstIndex(of: "=") else { return (word.uppercased(), nil) }
        return (word[..<equals].uppercased(), word[word.index(after: equals)...])
    }

    /// RFC 5321 esmtp-keyword: a letter or digit, then letters, digits and `-`.
    static func isKeyword(_ key: String) -> Bool {
        guard let first = key.utf8.first, first != UInt8(ascii: "-") else { return false }
        return key.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || $0 == UInt8(ascii: "-")
        }
    }

    /// What a parameter reader made of one `KEY=VALUE`.
    enum ParameterReading {
        /// Taken into the parameters.
        case taken
        /// A keyword this command knows with a value it refuses.
        case badValue
        /// A keyword this command does not know.
        case unknown
    }

    /// The `KEY[=VALUE]` words of a MAIL or RCPT command, each handed to `read`
    /// with the upper-case key; a malformed keyword or one given twice is
    /// `.bad`, as is a value `read` refuses; an unknown keyword is `.unsupported`.
    static func parameters<Parameters>(
        _ words: [Substring], into empty: Parameters,
        _ read: (inout Parameters, String, Substring?) -> ParameterReading
    ) -> Result<Parameters, ParameterError> {
        var parameters = empty
        var seen: Set<String> = []
        for word in words {
            let (key, value) = keyValue(word)
            guard isKeyword(key), seen.insert(key).inserted else { return .failure(.bad(word)) }
            switch read(&parameters, key, value) {
            case .taken: continue
            case .badValue: return .failure(.bad(word))
            case .unknown: return .failure(.unsupported(word))
            }
        }
        return .success(parameters)
    }

    static func mailParameters(_ words: [Substring]) -> Result<MailParameters, ParameterError> {
        parameters(words, into: MailParameters()) { parameters, key, value in
            switch key {
            case "SIZE":
                guard let value, !value.isEmpty, value.utf8.count <= 18,
                    value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let size = Int(value)
                else { return .badValue }
                parameters.size = size
            case "BODY":
                guard let value, ["7BIT", "8BITMIME"].contains(value.uppercased()) else { return .badValue }
                parameters.body = value.uppercased()
            case "SMTPUTF8":
                guard value == nil else { return .badValue }
                parameters.smtpUTF8 = true
            case "RET":
                guard let value, ["FULL", "HDRS"].contains(value.uppercased()) else { return .badValue }
                parameters.dsnReturn = value.uppercased()
            case "ENVID":
                guard let value, (1...100).contains(value.utf8.count), let decoded = decodeXtext(value) else {
                    return .badValue
                }
                parameters.envelopeID = decoded
            default:
                return .unknown
            }
            return .taken
        }
    }

    static func recipientParameters(_ words: [Substring]) -> Result<RecipientParameters, ParameterError> {
        parameters(words, into: RecipientParameters()) { parameters, key, value in
            switch key {
            case "NOTIFY":
                guard let value, !value.isEmpty else { return .badValue }
                let items = value.uppercased().split(separator: ",", omittingEmptySubsequences: false)
                let valid =
                    items == ["NEVER"]
                    || (Set(items).count == items.count
                        && items.allSatisfy { ["SUCCESS", "FAILURE", "DELAY"].contains($0) })
                guard valid else { return .badValue }
                parameters.notify = items.joined(separator: ",")
            case "ORCPT":
                guard let value, let semicolon = value.firstIndex(of: ";"), semicolon > value.startIndex,
                    value.index(after: semicolon) < value.endIndex, value.utf8.count <= 500,
                    value[..<semicolon].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }),
                    decodeXtext(value[value.index(after: semicolon)...]) != nil
                else { return .badValue }
                parameters.originalRecipient = String(value)
            default:
                return .unknown
            }
            return .taken
        }
    }

    /// RFC 3461 xtext: printable ASCII but `+` and `=`, and `+XX` hex escapes
    /// (upper case); nil when malformed.
    static func decodeXtext(_ text: Substring) -> String? {
        var out: [UInt8] = []
        var bytes = text.utf8[...]
        while let byte = bytes.popFirst() {
            if byte == UInt8(ascii: "+") {
                guard let high = bytes.popFirst(), let low = bytes.popFirst(), let h = hexValue(high),
                    let l = hexValue(low)
                else { return nil }
                out.append(h << 4 | l)
            } else {
                guard byte >= 33 && byte <= 126 && byte != UInt8(ascii: "=") else { return nil }
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension Substring {
    /// Without trailing `character`s.
    fileprivate func trimmingSuffix(_ character: Character) -> Substring {
        var result = self
        while result.last == character { result = result.dropLast() }
        return result
    }
}
