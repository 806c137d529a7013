import ApusBase
import ApusConfig

/// Turns argv into an ``Invocation`` the way sendmail's getopt does.
///
/// - The program name picks the mode before any option is read: `mailq` lists
///   the queue, `newaliases` checks the aliases, anything else delivers.
/// - Flags may be grouped (`-ti`); an option's value may be attached (`-fbob@x`)
///   or the next argument (`-f bob@x`).
/// - Scanning stops at `--` or at the first argument that does not start with
///   `-`; everything after is a recipient, and each may be a comma list.
/// - `-q` takes its value only attached (`-q30m`, `-qf`), except that `-qI`,
///   `-qR` and `-qS` may take theirs from the next argument, as sendmail does.
/// - The options sendmail programs pass for their own purposes sit in one
///   visible list, ``ignoredWithValue`` and ``ignoredFlags``, and are accepted
///   and ignored.
package struct ArgumentScanner {
    /// Postfix's sendmail getopt string. Every option apus accepts takes a
    /// value exactly when it takes one here, so `-eq` is `-e` with the value
    /// `q` and `-ep -i` is `-e p` then `-i`, never `-e -q` or `-e -p -i`.
    package static let postfixOptions = "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx"
    /// Options that take a value and are ignored: `-A c|m`, `-e X`, `-h N`, `-L LABEL`, `-O opt=val`, `-p proto`.
    package static let ignoredWithValue: Set<Character> = ["A", "e", "h", "L", "O", "p"]
    /// Flags that are ignored: `-c`, `-G`, `-m`, `-n`, `-U`, `-x`.
    package static let ignoredFlags: Set<Character> = ["c", "G", "m", "n", "U", "x"]
    /// `-b` modes accepted and ignored (they do nothing and exit 0).
    package static let ignoredModes: Set<String> = ["d", "D", "h", "H"]

    private let arguments: [String]

    /// A scanner for `arguments` (argv, program name first).
    package init(_ arguments: [String]) { self.arguments = arguments }

    /// The mode the program name selects: `mailq`, `newaliases`, or deliver.
    package static func mode(forProgramName name: String) -> Invocation.Mode {
        // The last non-empty component, cut at "/" bytes (a generic split
        // by Characters cost 17,000 instructions a start).
        let utf8 = name.utf8
        var end = utf8.endIndex
        while end != utf8.startIndex, utf8[utf8.index(before: end)] == 0x2F { end = utf8.index(before: end) }
        let start = utf8[..<end].lastIndex(of: 0x2F).map { utf8.index(after: $0) } ?? utf8.startIndex
        let base = end == utf8.startIndex ? Substring(name) : name[start..<end]
        switch base {
        case "mailq": return .listQueue(json: false)
        case "newaliases": return .newAliases
        default: return .deliver
        }
    }

    /// Scans the arguments. Throws a ``UsageError`` (exit 64) naming
    /// the offending option.
    package func scan() throws(UsageError) -> Invocation {
        var invocation = Invocation()
        invocation.mode = Self.mode(forProgramName: arguments.first ?? "apus")
        var json = false
        var index = 1
        scanning: while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" {
                index += 1
                break scanning
            }
            if argument.hasPrefix("--") {
                switch argument {
                case "--help": invocation.mode = .help
                case "--version": invocation.mode = .version
                case "--json": json = true
                default: throw UsageError("unknown option \(argument) (apus --help lists them)")
                }
                index += 1
                continue
            }
            guard argument.hasPrefix("-"), argument.count > 1 else { break scanning }

            var letters = Substring(argument.dropFirst())
            while let letter = letters.first {
                letters = letters.dropFirst()
                // The value of an option that takes one: the rest of this argument, or the next.
                func value() throws(UsageError) -> String {
                    if !letters.isEmpty {
                        defer { letters = "" }
                        return String(letters)
                    }
                    index += 1
                    guard index < arguments.count else { throw UsageError("option -\(letter) needs a value") }
                    return arguments[index]
                }
                switch letter {
                case "t": invocation.extractRecipients = true
                case "i": invocation.ignoreDots = true
                case "v": invocation.verbose = true
                case "I": invocation.mode = .newAliases
                case "f", "r": invocation.sender = try value()
                case "F": invocation.fullName = try value()
                case "C": invocation.configFile = try value()
                case "X": invocation.traceFile = try value()
                case "N": invocation.dsnNotify = try Self.checkNotify(try value())
                case "R": invocation.dsnReturn = try Self.checkChoice("R", try value(), ["full", "hdrs"])
                case "B": invocation.bodyType = try Self.checkChoice("B", try value(), ["7BIT", "8BITMIME"])
                case "V": invocation.envelopeID = try Self.checkEnvelopeID(try value())
                case "o":
                    let option = try value()
                    if option == "i" {
                        invocation.ignoreDots = true
                    } else {
                        invocation.ignoredOptions.append("-o" + option)
                    }
                case "b":
                    invocation.mode = try Self.mode(forB: try value())
                case "q":
                    let rest = String(letters)
                    letters = ""
                    invocation.mode = try queueMode(rest, index: &index)
                default:
                    if Self.ignoredWithValue.contains(letter) {
                        invocation.ignoredOptions.append("-\(letter)" + (try value()))
                    } else if Self.ignoredFlags.contains(letter) {
                        invocation.ignoredOptions.append("-\(letter)")
                    } else {
                        throw UsageError("unknown option -\(letter) (apus --help lists them)")
                    }
                }
            }
            index += 1
        }
        for argument in arguments[min(index, arguments.count)...] {
            invocation.recipients += Self.splitRecipients(argument)
        }
        if json {
            guard case .listQueue = invocation.mode else {
                throw UsageError("--json goes with mailq or -bp")
            }
            invocation.mode = .listQueue(json: true)
        }
        return invocation
    }

    private static func mode(forB value: String) throws(UsageError) -> Invocation.Mode {
        switch value {
        case "m": return .deliver
        case "p": return .listQueue(json: false)
        case "s": return .smtpSession
        case "v": return .verify
        case "i": return .newAliases
        default:
            if ignoredModes.contains(value) { return .ignored("-b" + value) }
            throw UsageError("unknown option -b\(value) (apus --help lists them)")
        }
    }

    private func queueMode(_ rest: String, index: inout Int) throws(UsageError) -> Invocation.Mode {
        if rest.isEmpty { return .runQueue(.due, interval: nil) }
        if rest == "f" { return .runQueue(.all, interval: nil) }
        if let kind = rest.first, "IRS".contains(kind) {
            var text = String(rest.dropFirst())
            if text.isEmpty {
                index += 1
                guard index < arguments.count else { throw UsageError("option -q\(kind) needs a value") }
                text = arguments[index]
            }
            switch kind {
            case "I": return .runQueue(.id(text), interval: nil)
            case "R": return .runQueue(.recipientDomain(text), interval: nil)
            default: return .runQueue(.sender(text), interval: nil)
            }
        }
        guard let seconds = Self.parseInterval(rest), seconds > 0 else {
            throw UsageError("bad queue interval -q\(rest) (use -q30m, -q1h)")
        }
        return .runQueue(.due, interval: seconds)
    }

    /// Parses a sendmail interval (``DurationGrammar``): units concatenated
    /// (`1h30m`), and a bare number is minutes, as in sendmail.
    package static func parseInterval(_ text: String) -> Int? {
        DurationGrammar.seconds(text, bareNumberUnit: 60).map { Int($0) }
    }

    private static func checkNotify(_ value: String) throws(UsageError) -> String {
        let words = value.lowercased().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if words == ["never"] { return "never" }
        for word in words where !["success", "failure", "delay"].contains(word) {
            throw UsageError("bad -N value '\(value)': use never, or a list of success, failure, delay")
        }
        return words.joined(separator: ",")
    }

    private static func checkChoice(_ option: String, _ value: String, _ choices: [String]) throws(UsageError) -> String
    {
        for choice in choices where choice.lowercased() == value.lowercased() { return choice }
        throw UsageError("bad -\(option) value '\(value)': use \(choices.joined(separator: " or "))")
    }

    private static func checkEnvelopeID(_ value: String) throws(UsageError) -> String {
        guard !value.isEmpty, value.utf8.count <= 100, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw UsageError("bad -V value: an envelope id is 1 to 100 printable ASCII characters")
        }
        return value
    }

    /// Splits a recipient argument at commas that are outside quotes, angle
    /// brackets and comments, dropping empty pieces.
    package static func splitRecipients(_ argument: String) -> [String] {
        var pieces: [String] = []
        var current: [UInt8] = []
        var quoted = false
        var escaped = false
        var angle = 0
        var comment = 0
        for byte in argument.utf8 {
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") && (quoted || comment > 0) {
                escaped = true
            } else if byte == UInt8(ascii: "\"") && comment == 0 {
                quoted.toggle()
            } else if !quoted {
                switch byte {
                case UInt8(ascii: "("): comment += 1
                case UInt8(ascii: ")"): comment = max(0, comment - 1)
                case UInt8(ascii: "<") where comment == 0: angle += 1
                case UInt8(ascii: ">") where comment == 0: angle = max(0, angle - 1)
                case UInt8(ascii: ",") where angle == 0 && comment == 0:
                    pieces.append(String(decoding: current, as: UTF8.self))
                    current = []
                    continue
                default: break
                }
            }
            current.append(byte)
        }
        pieces.append(String(decoding: current, as: UTF8.self))
        // Only spaces and tabs are trimmed: a CR or LF stays, so the address is
        // refused (exit 65) as an -f address holding one is.
        return pieces.map { $0.trimmingSpacesAndTabs() }.filter { !$0.isEmpty }
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    func trimmingSpacesAndTabs() -> String {
        let bytes = Array(utf8)
        let blank = { (b: UInt8) in b == 0x20 || b == 0x09 }
        guard let first = bytes.firstIndex(where: { !blank($0) }), let last = bytes.lastIndex(where: { !blank($0) })
        else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }

    /// The string without leading and trailing blanks (space, tab, CR, LF).
    func trimmingBlanks() -> String {
        let blanks: Set<UInt8> = [0x20, 0x09, 0x0D, 0x0A]
        let bytes = Array(utf8)
        guard let first = bytes.firstIndex(where: { !blanks.contains($0) }),
            let last = bytes.lastIndex(where: { !blanks.contains($0) })
        else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}

/// A bad command line: the one line naming what is wrong. ``ApusCommand``
/// turns it into exit status 64 (EX_USAGE, cli.md "Exit status").
package struct UsageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong, printed after `apus: `.
    package var message: String

    /// A usage error saying `message`.
    package init(_ message: String) {
        self.message = message
    }

    package var description: String { message }
}
