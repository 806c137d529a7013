import ApusTestSupport
import Foundation
import Testing

/// Every option of cli.md, run through the built binary against smtp-sink.
@Suite struct CommandOptionsTests {
    @Test func helpAndVersion() throws {
        let sandbox = try ApusSandbox(refusing: "")
        let help = try sandbox.run(["--help"], config: false)
        #expect(help.status == 0, "\(help.summary)")
        #expect(help.stdout.hasPrefix("usage: sendmail"))
        for option in ["-t", "-bs", "-bv", "-qf", "-X FILE", "--version"] {
            #expect(help.stdout.contains(option), "--help does not mention \(option)")
        }
        #expect(help.stderr.isEmpty)
        let version = try sandbox.run(["--version"], config: false)
        #expect(version.status == 0)
        #expect(version.stdout.hasPrefix("apus "))
        #expect(version.stdout.split(separator: "\n").count == 1)
        #expect(version.stderr.isEmpty)
    }

    @Test(arguments: [
        (["-Z", "a@x.example"], "-Z"), (["--bogus"], "--bogus"), (["-bz"], "-bz"), (["-tZ", "a@x.example"], "-Z"),
        (["-i", "-K"], "-K"), (["--json"], "--json"),
    ])
    func unknownOptionIsAUsageErrorNamingIt(arguments: [String], named: String) throws {
        let sandbox = try ApusSandbox(refusing: "")
        let result = try sandbox.run(arguments, input: message(["Subject: x"]))
        #expect(result.status == 64, "\(result.summary)")
        #expect(result.stderrLines.count == 1, "\(result.summary)")
        #expect(result.stderr.hasPrefix("apus: "))
        #expect(result.stderr.contains(named), "\(result.summary)")
        #expect(result.stdout.isEmpty)
        #expect(sandbox.queueFiles().isEmpty)
    }

    @Test(arguments: [["-f"], ["-C"], ["-qI"], ["-N"]])
    func optionWithoutItsValueIsAUsageError(arguments: [String]) throws {
        let sandbox = try ApusSandbox(refusing: "")
        let result = try sandbox.run(arguments, config: false)
        #expect(result.status == 64, "\(result.summary)")
        #expect(result.stderrLines.count == 1)
        #expect(result.stderr.contains(arguments[0]))
    }

    @Test(arguments: [["-N", "sometimes"], ["-R", "body"], ["-B", "9BIT"], ["-q0m"], ["-V", ""]])
    func badOptionValueIsAUsageError(arguments: [String]) throws {
        let sandbox = try ApusSandbox(refusing: "")
        let result = try sandbox.run(arguments + ["a@x.example"])
        #expect(result.status == 64, "\(result.summary)")
        #expect(result.stderrLines.count == 1)
    }

    /// Each value-taking option, attached and separate, reaches the wire the same way.
    @Test(arguments: [true, false])
    func valuesAttachedAndSeparate(attached: Bool) throws {
        let (sink, sandbox) = try sinkSandbox()
        func option(_ letter: String, _ value: String) -> [String] {
            attached ? ["-\(letter)\(value)"] : ["-\(letter)", value]
        }
        let arguments =
            option("f", "bob@src.example") + option("F", "Bob Builder") + option("N", "success,failure")
            + option("R", "hdrs") + option("V", "env-42") + option("B", "8BITMIME") + ["rcpt@dst.example"]
        let result = try sandbox.run(arguments, input: message(["Subject: options"]))
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderr.isEmpty, "\(result.summary)")
        let saved = try #require(try sink.waitForMessages(1).first)
        #expect(saved.mailArguments == "<bob@src.example> BODY=8BITMIME RET=HDRS ENVID=env-42")
        #expect(saved.recipientArguments == ["<rcpt@dst.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;rcpt@dst.example"])
        #expect(saved.header("From") == ["\"Bob Builder\" <bob@src.example>"])
    }

    @Test func rIsLikeFAndNullSender() throws {
        let (sink, sandbox) = try sinkSandbox()
        #expect(try sandbox.run(["-r", "rita@src.example", "a@x.example"], input: message(["From: r@x"])).status == 0)
        #expect(try sandbox.run(["-f", "<>", "b@x.example"], input: message(["From: r@x"])).status == 0)
        #expect(try sandbox.run(["-f", "", "c@x.example"], input: message(["From: r@x"])).status == 0)
        let saved = try sink.waitForMessages(3)
        #expect(Set(saved.map(\.sender)) == ["rita@src.example", ""])
        #expect(saved.filter { $0.sender.isEmpty }.count == 2)
    }

    /// `--` ends the options; recipient arguments may hold comma lists with display names.
    @Test func doubleDashAndCommaLists() throws {
        let (sink, sandbox) = try sinkSandbox()
        let saved = try sandbox.sendOne(
            ["-i", "--", "a@x.example,\"Last, First\" <b@x.example>", "c@x.example, (c, d) d@x.example"],
            input: message(["Subject: lists"]), to: sink)
        #expect(saved.recipients == ["a@x.example", "b@x.example", "c@x.example", "d@x.example"])
    }

    /// Option parsing stops at the first argument that is not an option: `-i` after it is an address.
    @Test func optionsStopAtTheFirstRecipient() throws {
        let (sink, sandbox) = try sinkSandbox()
        let result = try sandbox.run(["a@x.example", "-v"], input: message(["Subject: stop"]))
        #expect(result.status == 0, "\(result.summary)")
        #expect(!result.stderr.contains("EHLO"), "-v after a recipient must not turn on the trace")
        let saved = try #require(try sink.waitForMessages(1).first)
        #expect(saved.recipients == ["a@x.example", "-v@test.example"])
    }

    /// `-ti` grouped: recipients from the headers, and a lone dot is data.
    @Test func groupedFlags() throws {
        let (sink, sandbox) = try sinkSandbox()
        let input = message(["To: to@x.example", "Cc: cc@x.example", "Subject: grouped"], body: "one\n.\ntwo\n")
        let saved = try sandbox.sendOne(["-ti"], input: input, to: sink)
        #expect(saved.recipients == ["to@x.example", "cc@x.example"])
        #expect(saved.body.hasPrefix("one\n.\ntwo\n"), "\(saved.body)")
    }

    /// Without `-i` a lone dot ends the message; `-oi` is `-i`.
    @Test func dotEndsTheMessageUnlessIgnored() throws {
        let (sink, sandbox) = try sinkSandbox()
        let input = message(["Subject: dots"], body: "one\n.\ntwo\n")
        #expect(try sandbox.run(["a@x.example"], input: input).status == 0)
        #expect(try sandbox.run(["-oi", "b@x.example"], input: input).status == 0)
        let saved = try sink.waitForMessages(2)
        let byRecipient = Dictionary(uniqueKeysWithValues: saved.map { ($0.recipients.first ?? "", $0.body) })
        #expect(byRecipient["a@x.example"]?.contains("two") == false, "\(byRecipient)")
        #expect(byRecipient["b@x.example"]?.contains("one\n.\ntwo") == true, "\(byRecipient)")
    }

    /// The options sendmail callers pass for their own purposes are accepted and ignored.
    @Test func compatibilityOptionsAreIgnored() throws {
        let (sink, sandbox) = try sinkSandbox()
        let arguments = [
            "-odb", "-odi", "-oem", "-oee", "-oep", "-o", "x", "-oXyz", "-O", "DeliveryMode=b", "-Oopt=val",
            "-h", "5", "-h5", "-L", "label", "-U", "-G", "-n", "-m", "-Ac", "-Am", "-ti",
        ]
        let result = try sandbox.run(arguments + ["-e", "m", "a@x.example"], input: message(["To: b@x.example"]))
        #expect(result.status == 0, "\(result.summary)")
        #expect(result.stderr.isEmpty, "\(result.summary)")
        let saved = try #require(try sink.waitForMessages(1).first)
        #expect(Set(saved.recipients) == ["a@x.example", "b@x.example"])
        // -bd (daemon mode) is accepted and does nothing.
        let daemon = try sandbox.run(["-bd"])
        #expect(daemon.status == 0, "\(daemon.summary)")
        #expect(daemon.stdout.isEmpty && daemon.stderr.isEmpty)
    }

    /// `-eq -i` is `-e q` then `-i` (Postfix's getopt): the message is
    /// delivered with its lone-dot line, not dropped by a queue run; `-ep -i`
    /// leaves `-i` in force too, and `-p -i` eats `-i` as -p's value.
    @Test func errorModeOptionTakesItsValue() throws {
        let (sink, sandbox) = try sinkSandbox()
        let input = message(["Subject: e option"], body: "one\n.\ntwo\n")
        let eq = try sandbox.run(["-eq", "-i", "q@x.example"], input: input)
        #expect(eq.status == 0 && eq.stderr.isEmpty, "\(eq.summary)")
        let ep = try sandbox.run(["-ep", "-i", "p@x.example"], input: input)
        #expect(ep.status == 0 && ep.stderr.isEmpty, "\(ep.summary)")
        let pi = try sandbox.run(["-p", "-i", "i@x.example"], input: input)
        #expect(pi.status == 0 && pi.stderr.isEmpty, "\(pi.summary)")
        let saved = try sink.waitForMessages(3)
        let byRecipient = Dictionary(uniqueKeysWithValues: saved.map { ($0.recipients.first ?? "", $0.body) })
        #expect(byRecipient["q@x.example"]?.contains("one\n.\ntwo") == true, "\(byRecipient)")
        #expect(byRecipient["p@x.example"]?.contains("one\n.\ntwo") == true, "\(byRecipient)")
        #expect(byRecipient["i@x.example"]?.contains("two") == false, "\(byRecipient)")
        // Nothing was queued: -eq did not turn into a queue run.
        let mailq = try sandbox.run(["-bp"])
        #expect(mailq.stdout == "Mail queue is empty\n", "\(mailq.summary)")
    }

    /// The program name picks the mode: mailq lists, newaliases checks the aliases.
    @Test func programNamesPickTheMode() throws {
        let sandbox = try ApusSandbox(refusing: "aliases ALIASES\n")
        try sandbox.writeConfig(
            sandbox.settings.replacingOccurrences(of: "ALIASES", with: sandbox.directory.file("aliases")))
        try sandbox.directory.write("aliases", "postmaster: root\nroot: admin@x.example\n")
        let mailq = try sandbox.run([], program: "mailq")
        #expect(mailq.status == 0, "\(mailq.summary)")
        #expect(mailq.stdout == "Mail queue is empty\n")
        let bp = try sandbox.run(["-bp"])
        #expect(bp.stdout == "Mail queue is empty\n")
        let json = try sandbox.run(["--json"], program: "mailq")
        #expect(json.status == 0 && json.stdout.isEmpty, "\(json.summary)")
        let newaliases = try sandbox.run([], program: "newaliases")
        #expect(newaliases.status == 0, "\(newaliases.summary)")
        #expect(newaliases.stdout.contains(": 2 aliases"), "\(newaliases.summary)")
        for flag in ["-bi", "-I"] {
            #expect(try sandbox.run([flag]).stdout == newaliases.stdout)
        }
    }

    /// `-q` by any user runs the queue and exits 0 (an empty or missing queue included).
    @Test func queueRunOnAnEmptyQueue() throws {
        let sandbox = try ApusSandbox(refusing: "")
        for arguments in [["-q"], ["-qf"], ["-qI", "ABC"], ["-qRx.example"], ["-qS", "bob"]] {
            let result = try sandbox.run(arguments)
            #expect(result.status == 0, "\(arguments): \(result.summary)")
            #expect(result.stderr.isEmpty, "\(arguments): \(result.summary)")
        }
    }
}
