import ApusTestSupport
import Foundation
import Testing

/// The `aliases` file: continuation lines, recursion, loops, `default:`,
/// newaliases, and a bad file.
@Suite struct CommandAliasesTests {
    static let aliases = """
        # system aliases
        postmaster: root
        root:   admin@y.example,
            ops@y.example
        team: alice, bob@y.example, backend
        backend: carol,
          dave
        loopa: loopb
        loopb: loopa, looped@y.example

        """

    func sandbox(port: UInt16, aliases: String = Self.aliases) throws -> ApusSandbox {
        let sandbox = try ApusSandbox(port: port, settings: "default_domain dd.example")
        let path = try sandbox.directory.write("aliases", aliases)
        try sandbox.writeConfig(sandbox.settings + "aliases \(path)\n")
        return sandbox
    }

    func recipients(_ arguments: [String], aliases: String = Self.aliases) throws -> [String] {
        let sink = try SMTPSink()
        let sandbox = try sandbox(port: sink.port, aliases: aliases)
        let result = try sandbox.run(arguments, input: message(["Subject: aliases"]))
        #expect(result.status == 0, "\(result.summary)")
        return try sink.waitForMessages(1).first?.recipients ?? []
    }

    @Test func recursionAndContinuationLines() throws {
        #expect(try recipients(["postmaster"]) == ["admin@y.example", "ops@y.example"])
        #expect(
            try recipients(["team"])
                == ["alice@dd.example", "bob@y.example", "carol@dd.example", "dave@dd.example"])
    }

    @Test func loopEnds() throws {
        #expect(try recipients(["loopa"]) == ["loopa@dd.example", "looped@y.example"])
    }

    @Test func qualifiedAddressesAndUnknownNamesPassThrough() throws {
        #expect(
            try recipients(["root@elsewhere.example", "nobody"]) == ["root@elsewhere.example", "nobody@dd.example"])
    }

    /// With -t, names in the headers go through the aliases too; duplicates are sent once.
    @Test func headerRecipientsAreExpanded() throws {
        let sink = try SMTPSink()
        let sandbox = try sandbox(port: sink.port)
        let result = try sandbox.run(["-t", "admin@y.example"], input: message(["To: root", "Cc: postmaster"]))
        #expect(result.status == 0, "\(result.summary)")
        let saved = try #require(try sink.waitForMessages(1).first)
        #expect(saved.recipients == ["admin@y.example", "ops@y.example"])
        #expect(saved.header("To") == ["root@dd.example"], "headers are qualified, not alias-expanded")
        #expect(saved.header("Cc") == ["postmaster@dd.example"])
    }

    @Test func defaultCatchesUnknownNames() throws {
        let aliases = Self.aliases + "default: catchall@y.example\n"
        #expect(
            try recipients(["nobody", "postmaster"], aliases: aliases) == [
                "catchall@y.example", "admin@y.example", "ops@y.example",
            ])
    }

    @Test func newaliasesPrintsTheCount() throws {
        let sandbox = try sandbox(port: try freeLoopbackPort())
        let result = try sandbox.run([], program: "newaliases")
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stdout == "\(sandbox.directory.file("aliases")): 6 aliases\n", "\(result.summary)")
        #expect(result.stderr.isEmpty)
    }

    @Test(arguments: [
        "postmaster root\n", "root: a@y.example\nroot: b@y.example\n", ": nobody\n", "  indented: first line\n",
        "root: not an address\n", "root:\n",
    ])
    func badAliasesFileIsConfigError(text: String) throws {
        let server = try scriptedServer()
        defer { server.stop() }
        let sandbox = try sandbox(port: server.port, aliases: text)
        let newaliases = try sandbox.run(["-bi"])
        #expect(newaliases.status == 78, "\(text): \(newaliases.summary)")
        #expect(newaliases.stderrLines.count == 1, "\(newaliases.summary)")
        #expect(newaliases.stderr.contains(sandbox.directory.file("aliases")), "\(newaliases.summary)")
        let send = try sandbox.run(["root"], input: message(["Subject: x"]))
        #expect(send.status == 78, "\(text): \(send.summary)")
        #expect(server.messages.isEmpty)
    }

    @Test func missingAliasesFileIsConfigError() throws {
        let sandbox = try ApusSandbox(refusing: "aliases /nonexistent/apus-aliases")
        let result = try sandbox.run(["-bi"])
        #expect(result.status == 78, "\(result.summary)")
        #expect(result.stderr.contains("/nonexistent/apus-aliases"))
    }
}
