import Testing

@testable import ApusConfig

struct AliasesTests {
    func aliases(_ text: String) throws -> Aliases {
        try Aliases.parse(Array(text.utf8), file: "/etc/aliases")
    }

    func aliasesError(_ text: String) -> ConfigError? {
        do {
            _ = try aliases(text)
            return nil
        } catch {
            return error as? ConfigError
        }
    }

    static let debian = """
        # /etc/aliases
        mailer-daemon: postmaster
        postmaster: root
        nobody: root
        hostmaster: root
        usenet: root
        news: root
        webmaster: root
        www: root
        ftp: root
        abuse: root
        noc: root
        security: root
        root: admin@example.com

        """

    @Test func debianDefaultFile() throws {
        let a = try aliases(Self.debian)
        #expect(a.count == 13)
        #expect(a.warnings.isEmpty)
        #expect(a.expand(["mailer-daemon"]) == ["admin@example.com"])
        #expect(a.expand(["MAILER-DAEMON", "www", "x@y"]) == ["admin@example.com", "x@y"])
        #expect(a.expand(["alice"], qualifyingWith: "example.org") == ["alice@example.org"])
        #expect(a.targets(of: "Postmaster") == ["root"])
    }

    @Test(arguments: [
        ("a: b, c\n", ["a"], ["b", "c"]),
        ("a: b,\n  c,\n\td\n", ["a"], ["b", "c", "d"]),
        ("a: b\n  c\n", ["a"], ["b", "c"]),
        ("a: b\n# comment inside\n  c\n", ["a"], ["b", "c"]),
        ("A: x@y\n", ["a"], ["x@y"]),
        ("a: <x@y>, \"q r\"@y,\n", ["a"], ["x@y", "\"q r\"@y"]),
        ("a:b\n", ["a"], ["b"]),
        ("a: b, b, c\n", ["a"], ["b", "c"]),
    ])
    func parsesEntries(text: String, names: [String], targets: [String]) throws {
        let a = try aliases(text)
        #expect(a.entries.keys.sorted() == names)
        #expect(a.targets(of: names[0]) == targets)
    }

    @Test func recursiveExpansion() throws {
        let a = try aliases("a: b, x@one\nb: c, x@two\nc: d@three\n")
        #expect(a.expand(["a"]) == ["d@three", "x@two", "x@one"])
        #expect(a.expand(["b", "a"]) == ["d@three", "x@two", "x@one"])
    }

    @Test(arguments: [
        ("a: b\nb: a\n", ["a"], ["a@d"]),
        ("a: b\nb: a\n", ["b"], ["b@d"]),
        ("root: root, x@y\n", ["root"], ["root@d", "x@y"]),
        ("a: b\nb: c\nc: a, z@y\n", ["a"], ["a@d", "z@y"]),
        ("a: a\n", ["a"], ["a@d"]),
    ])
    func loopsKeepTheName(text: String, input: [String], expected: [String]) throws {
        #expect(try aliases(text).expand(input, qualifyingWith: "d") == expected)
    }

    @Test func deepChainStopsAtTheLimit() throws {
        let text = (0..<30).map { "n\($0): n\($0 + 1)" }.joined(separator: "\n") + "\nn30: end@x\n"
        let a = try aliases(text)
        #expect(a.expand(["n25"]) == ["end@x"])
        #expect(a.expand(["n0"]) == ["n20"])
    }

    @Test func diamondsStayLinear() throws {
        // Each level points twice to the next: naive expansion would be 2^40.
        let text =
            (0..<40).map { "n\($0): n\($0 + 1), n\($0 + 1)x\nn\($0)x: n\($0 + 1)" }.joined(separator: "\n")
            + "\nn40: end@x\nn40x: end@x\n"
        let a = try aliases(text)
        #expect(a.expand(["n0"]).count <= 2)
    }

    @Test func defaultCatchAll() throws {
        let a = try aliases("root: admin\nadmin: ops@example.com\ndefault: catch@example.com\n")
        #expect(a.expand(["root"]) == ["ops@example.com"])
        #expect(a.expand(["www-data", "x@y"]) == ["catch@example.com", "x@y"])
        let b = try aliases("default: admin\n")
        // admin has no entry of its own, so it would use default again: the loop keeps the name.
        #expect(b.expand(["nobody"], qualifyingWith: "ex.com") == ["admin@ex.com"])
        let c = try aliases("default: admin\nadmin: a@b\n")
        #expect(c.expand(["nobody"]) == ["a@b"])
    }

    @Test func unsupportedTargetsAreSkippedWithWarnings() throws {
        let a = try aliases(
            "root: |/usr/bin/procmail, /var/mail/root, admin@x\nlists: :include:/etc/lists\nnull: \"|cat\"\n")
        #expect(a.targets(of: "root") == ["admin@x"])
        #expect(a.targets(of: "lists") == nil)
        #expect(a.count == 1)
        #expect(a.warnings.map(\.line) == [1, 1, 2, 3])
        #expect(a.warnings.allSatisfy { $0.kind == .unsupportedTarget })
        #expect(a.warnings[0].description.hasPrefix("/etc/aliases:1: alias 'root': pipes"))
        #expect(a.expand(["lists"], qualifyingWith: "d") == ["lists@d"])
    }

    @Test(arguments: [
        ("a: b\na: c\n", ConfigError.Kind.duplicateAlias, 2),
        ("a: b\nA: c\n", .duplicateAlias, 2),
        ("  b\n", .syntax, 1),
        ("no colon here\n", .syntax, 1),
        ("a@x: b\n", .syntax, 1),
        (": b\n", .syntax, 1),
        ("a:\n", .badValue, 1),
        ("a: ,\n", .badValue, 1),
        ("a: b c\n", .badValue, 1),
        ("a: <b\n", .badValue, 1),
        ("x: y\na: \"unterminated\n", .syntax, 2),
        ("a: b\n  c d\n", .badValue, 2),
    ])
    func errorsNameTheLine(text: String, kind: ConfigError.Kind, line: Int) throws {
        let error = try #require(aliasesError(text))
        #expect(error.kind == kind)
        #expect(error.line == line)
        #expect(error.description.hasPrefix("/etc/aliases:\(line): "))
    }

    @Test func loadsFromDisk() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("aliases", Self.debian)
        #expect(try Aliases.load(path: path).count == 13)
        #expect {
            _ = try Aliases.load(path: dir.path + "/none")
        } throws: { error in (error as? ConfigError)?.kind == .unreadable }
    }

    @Test func emptyTableExpandsToQualifiedNames() {
        #expect(
            Aliases().expand(["root", "Root", "a@B.com", "a@b.com"], qualifyingWith: "h") == [
                "root@h", "Root@h", "a@B.com",
            ])
    }
}

extension AliasesTests {
    /// U+070F is a "prepend" scalar: as a Character it swallows the `@` after
    /// it, so every `@` and `:` test must be byte-wise (found by FuzzAliases).
    @Test func prependedScalarDoesNotHideTheAtSign() throws {
        let a = try aliases("n:k#\u{70F},m\nx\u{70F}: y@z\n")
        let result = a.expand(["n", "x\u{70F}", "q\u{70F}@r"], qualifyingWith: "fuzz.example")
        #expect(result == ["k#\u{70F}@fuzz.example", "m@fuzz.example", "y@z", "q\u{70F}@r"])
    }
}
