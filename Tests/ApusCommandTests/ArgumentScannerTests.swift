import ApusCommand
import ApusDelivery
import Testing

private func scan(_ args: String...) throws -> Invocation {
    try ArgumentScanner(args).scan()
}

private func usageError(_ args: String...) -> String? {
    do {
        _ = try ArgumentScanner(args).scan()
        return nil
    } catch {
        #expect(ApusCommand.exitStatus(for: ApusCommand.commandFailure(error)) == .usage)
        return error.message
    }
}

@Test(arguments: [
    ("/usr/sbin/sendmail", Invocation.Mode.deliver), ("apus", .deliver), ("mailq", .listQueue(json: false)),
    ("/usr/bin/newaliases", .newAliases), ("send-mail", .deliver),
])
func programNamePicksMode(name: String, mode: Invocation.Mode) throws {
    #expect(try ArgumentScanner([name]).scan().mode == mode)
}

@Test func debianCronArgv() throws {
    let inv = try scan("sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root")
    #expect(inv.fullName == "CronDaemon")
    #expect(inv.ignoreDots)
    #expect(inv.bodyType == "8BITMIME")
    #expect(inv.ignoredOptions == ["-oem"])
    #expect(inv.recipients == ["root"])
    #expect(inv.mode == .deliver)
}

@Test func mailxAndSnailArgv() throws {
    let mailx = try scan("sendmail", "-i", "--", "a@x.org", "-b@y.org")
    #expect(mailx.recipients == ["a@x.org", "-b@y.org"])
    let snail = try scan("sendmail", "-i", "-f", "me@x.org", "--", "you@y.org")
    #expect(snail.sender == "me@x.org")
    #expect(snail.recipients == ["you@y.org"])
}

@Test func gitSendEmailAndPHP() throws {
    let git = try scan("sendmail", "-i", "-f", "dev@x.org", "a@x.org", "b@x.org")
    #expect(git.recipients == ["a@x.org", "b@x.org"])
    let php = try scan("sendmail", "-t", "-i")
    #expect(php.extractRecipients && php.ignoreDots && php.recipients.isEmpty)
}

@Test func groupedFlagsAndAttachedValues() throws {
    let inv = try scan("sendmail", "-tiv", "-fbob@x.org", "-rreal@x.org", "-oi")
    #expect(inv.extractRecipients && inv.ignoreDots && inv.verbose)
    #expect(inv.sender == "real@x.org")
    let separate = try scan("sendmail", "-ti", "-f", "<>", "x@y")
    #expect(separate.sender == "<>")
    let groupedValue = try scan("sendmail", "-tf", "bob@x.org")
    #expect(groupedValue.sender == "bob@x.org" && groupedValue.extractRecipients)
}

@Test func scanningStopsAtFirstNonOption() throws {
    let inv = try scan("sendmail", "a@x.org", "-t")
    #expect(inv.recipients == ["a@x.org", "-t"])
    #expect(!inv.extractRecipients)
}

@Test func commaListsSplitOutsideQuotes() throws {
    let inv = try scan("sendmail", "a@x.org, b@y.org", "\"Doe, John\" <j@z.org>,(c, d) e@w.org", ",")
    #expect(inv.recipients == ["a@x.org", "b@y.org", "\"Doe, John\" <j@z.org>", "(c, d) e@w.org"])
}

@Test(arguments: [
    ("-bm", Invocation.Mode.deliver), ("-bp", .listQueue(json: false)), ("-bs", .smtpSession), ("-bv", .verify),
    ("-bi", .newAliases), ("-I", .newAliases), ("-q", .runQueue(.due, interval: nil)),
    ("-qf", .runQueue(.all, interval: nil)), ("-q30m", .runQueue(.due, interval: 1800)),
    ("-q1h30m", .runQueue(.due, interval: 5400)), ("-qIABC", .runQueue(.id("ABC"), interval: nil)),
    ("-qRexample.com", .runQueue(.recipientDomain("example.com"), interval: nil)),
    ("-qSbob@x", .runQueue(.sender("bob@x"), interval: nil)), ("-bd", .ignored("-bd")),
    ("--help", .help), ("--version", .version),
])
func modeFlags(flag: String, mode: Invocation.Mode) throws {
    #expect(try scan("sendmail", flag).mode == mode)
}

@Test func queueSelectorsTakeSeparateValues() throws {
    #expect(try scan("sendmail", "-qI", "4F2A").mode == .runQueue(.id("4F2A"), interval: nil))
    #expect(try scan("sendmail", "-qR", "x.org").mode == .runQueue(.recipientDomain("x.org"), interval: nil))
    #expect(try scan("sendmail", "-qS", "a@b").mode == .runQueue(.sender("a@b"), interval: nil))
}

@Test func jsonGoesWithListing() throws {
    #expect(try scan("mailq", "--json").mode == .listQueue(json: true))
    #expect(try scan("sendmail", "-bp", "--json").mode == .listQueue(json: true))
    #expect(usageError("sendmail", "--json") != nil)
}

@Test func dsnOptionsAreValidated() throws {
    let inv = try scan("sendmail", "-N", "Success,Delay", "-R", "HDRS", "-V", "env-1", "-B", "7bit", "x@y")
    #expect(inv.dsnNotify == "success,delay")
    #expect(inv.dsnReturn == "hdrs")
    #expect(inv.envelopeID == "env-1")
    #expect(inv.bodyType == "7BIT")
    #expect(try scan("sendmail", "-Nnever", "x@y").dsnNotify == "never")
    #expect(usageError("sendmail", "-N", "sometimes", "x@y")?.contains("-N") == true)
    #expect(usageError("sendmail", "-R", "all", "x@y")?.contains("-R") == true)
    #expect(usageError("sendmail", "-B", "binary", "x@y")?.contains("-B") == true)
    #expect(usageError("sendmail", "-V", "a b", "x@y")?.contains("-V") == true)
}

@Test func ignoredCompatibilityOptions() throws {
    let inv = try scan(
        "sendmail", "-odb", "-odi", "-oee", "-oep", "-O", "DeliveryMode=b", "-h", "17", "-L", "label", "-U", "-G",
        "-n", "-m", "-Ac", "-Am", "-o", "x", "a@b")
    #expect(inv.ignoredOptions.count == 14)
    #expect(inv.recipients == ["a@b"])
    #expect(!inv.ignoreDots)
    #expect(try scan("sendmail", "-o", "i", "a@b").ignoreDots)
}

@Test func unknownOptionsAreUsageErrors() {
    #expect(usageError("sendmail", "-k") == "unknown option -k (apus --help lists them)")
    #expect(usageError("sendmail", "-tk")?.contains("-k") == true)
    #expect(usageError("sendmail", "--frobnicate")?.contains("--frobnicate") == true)
    #expect(usageError("sendmail", "-bz")?.contains("-bz") == true)
    #expect(usageError("sendmail", "-f") == "option -f needs a value")
    #expect(usageError("sendmail", "-qI") == "option -qI needs a value")
    #expect(usageError("sendmail", "-q5x")?.contains("interval") == true)
}

@Test(arguments: [("30m", 1800), ("1h", 3600), ("90s", 90), ("2d", 172800), ("15", 900), ("1h30m", 5400)])
func intervals(text: String, seconds: Int) {
    #expect(ArgumentScanner.parseInterval(text) == seconds)
}

/// Every option in Postfix's getopt string, with `-i` and a recipient after
/// it: an option that takes a value in Postfix eats the next argument (so
/// `-i` is its value, never a flag) and an option that does not take one
/// leaves `-i` a flag. A value option with its value attached leaves `-i`
/// alone too.
@Test(
    arguments: Array(ArgumentScanner.postfixOptions.enumerated()).compactMap { offset, letter -> (Character, Bool)? in
        guard letter != ":" else { return nil }
        let characters = Array(ArgumentScanner.postfixOptions)
        return (letter, offset + 1 < characters.count && characters[offset + 1] == ":")
    })
func everyPostfixOptionTakesAValueExactlyWhenPostfixsDoes(letter: Character, takesValue: Bool) throws {
    // Values that every option accepts (modes, DSN keywords, queue selectors).
    let attached: [Character: String] = [
        "b": "m", "B": "7BIT", "N": "never", "R": "full", "V": "env1", "q": "f", "o": "x",
    ]
    let value = attached[letter] ?? "value"
    if takesValue {
        if letter == "q" {
            // -q takes its value attached only (-q alone runs the queue).
            #expect(try scan("sendmail", "-qf").mode == .runQueue(.all, interval: nil))
            return
        }
        if "bBNR".contains(letter) {
            // Checked values: -i is taken as the value and refused as one.
            #expect(usageError("sendmail", "-\(letter)", "-i", "rcpt@example.com")?.contains("-i") == true)
        } else {
            let separate = try scan("sendmail", "-\(letter)", "-i", "rcpt@example.com")
            #expect(!separate.ignoreDots, "-\(letter) must take -i as its value")
            #expect(separate.recipients == ["rcpt@example.com"])
        }
        let joined = try scan("sendmail", "-\(letter)\(value)", "-i", "rcpt@example.com")
        #expect(joined.ignoreDots, "-\(letter)\(value) must leave -i a flag")
        #expect(joined.recipients == ["rcpt@example.com"])
    } else {
        let inv = try scan("sendmail", "-\(letter)", "-i", "rcpt@example.com")
        if letter != "I" {
            #expect(inv.ignoreDots, "-\(letter) is a flag: -i stays a flag")
            #expect(inv.recipients == ["rcpt@example.com"])
        }
        // Grouped with -i: still a flag.
        #expect(try scan("sendmail", "-\(letter)i", "rcpt@example.com").ignoreDots)
    }
}

/// `-eq` is `-e` with the value `q` (never `-e -q`: a queue run that throws
/// the message away), and `-ep -i` is `-e p` then `-i`.
@Test func errorModeTakesAValue() throws {
    let eq = try scan("sendmail", "-eq", "-i", "rcpt@example.com")
    #expect(eq.mode == .deliver)
    #expect(eq.ignoreDots)
    #expect(eq.recipients == ["rcpt@example.com"])
    #expect(eq.ignoredOptions == ["-eq"])
    let ep = try scan("sendmail", "-ep", "-i", "rcpt@example.com")
    #expect(ep.ignoreDots && ep.ignoredOptions == ["-ep"])
    let separate = try scan("sendmail", "-e", "m", "rcpt@example.com")
    #expect(separate.recipients == ["rcpt@example.com"] && separate.ignoredOptions == ["-em"])
    #expect(usageError("sendmail", "-e") == "option -e needs a value")
    let px = try scan("sendmail", "-p", "-i", "rcpt@example.com")
    #expect(!px.ignoreDots && px.ignoredOptions == ["-p-i"])
}

/// Options that are not in Postfix's getopt string are usage errors, as in Postfix.
@Test(arguments: ["-d0.1", "-s", "-a", "-D", "-E", "-k", "-w", "-y", "-z"])
func optionsPostfixDoesNotKnowAreUsageErrors(option: String) {
    #expect(usageError("sendmail", option, "rcpt@example.com")?.hasPrefix("unknown option -") == true)
}
