import ApusConfig
import ApusDelivery
import ApusPOSIX
import ApusQueue
import ApusSMTP
import Glibc

/// The `apus` / `sendmail` / `mailq` / `newaliases` front end: parse, validate,
/// run; one function turns every failure into the single `apus: what: why`
/// line and its sysexits status (cli.md).
package enum ApusCommand {
    /// The version `--version` prints.
    package static let version = "apus 0.1.0"
    /// The system configuration file.
    package static let systemConfiguration = "/etc/apus.conf"

    /// The program's argv as the process entry received it (works without
    /// `/proc`, unlike `CommandLine.arguments` on Linux); see
    /// ``ProcessIdentity/arguments()``.
    package static func processArguments() -> [String] { ProcessIdentity.arguments() }

    /// Runs the program for `arguments` (argv, program name first) and returns the exit status.
    package static func main(_ arguments: [String]) -> Int32 {
        Privileges.harden()
        signal(SIGPIPE, SIG_IGN)
        do {
            let invocation = try ArgumentScanner(arguments).scan()
            return try run(invocation).rawValue
        } catch {
            let failure = commandFailure(error)
            report(failure)
            return exitStatus(for: failure).rawValue
        }
    }

    /// Any error as the failure it ends the command with: a bad command line
    /// is a usage failure, an error nobody turned into a failure an internal one.
    package static func commandFailure(_ error: any Error) -> CommandFailure {
        switch error {
        case let failure as CommandFailure: return failure
        case let usage as UsageError: return CommandFailure(.usage, usage.message)
        default: return CommandFailure(.internal, "\(error)")
        }
    }

    /// The one place a failure becomes the process's exit status (cli.md
    /// "Exit status"); queue runs (`-q…`) end through it too.
    package static func exitStatus(for failure: CommandFailure) -> ExitStatus {
        exitStatus(for: failure.kind)
    }

    /// The exit status for what happened (cli.md "Exit status").
    package static func exitStatus(for kind: CommandFailure.Kind) -> ExitStatus {
        switch kind {
        case .usage, .noRecipients, .tooManyRecipients: return .usage
        case .badAddress, .messageRefusedLocally: return .dataError
        case .recipientsRefused: return .noUser
        case .messageRefused, .relayUnusable: return .unavailable
        case .internal: return .software
        case .systemFailure: return .osError
        case .inputUnreadable, .queueUnreadable, .traceUnwritable: return .ioError
        case .spoolFailed, .couldNotQueue: return .tempFail
        case .relayProtocol: return .protocolError
        case .notPermitted: return .noPermission
        case .configuration: return .config
        }
    }

    /// The one place a failure of a message submitted with `-bs` becomes the
    /// reply to its end of data: 451 when apus or the relay may do better
    /// later (the client keeps the message), 554 when the message itself was
    /// refused or cannot be sent (with the refused recipients).
    static func smtpReply(for failure: CommandFailure) -> SubmissionServer.Reply {
        switch failure.kind {
        case .spoolFailed, .couldNotQueue, .relayProtocol, .inputUnreadable, .queueUnreadable, .traceUnwritable,
            .systemFailure, .internal, .configuration:
            return .init(451, "4.3.0 \(failure.summary)")
        case .usage, .noRecipients, .tooManyRecipients, .badAddress, .messageRefusedLocally, .recipientsRefused,
            .messageRefused, .relayUnusable, .notPermitted:
            let detail = failure.details.isEmpty ? "" : " (" + failure.details.joined(separator: "; ") + ")"
            return .init(554, "5.0.0 \(failure.summary)\(detail)")
        }
    }

    /// The reply to the end of data of a message `-bs` handed on.
    static func smtpReply(for report: SubmissionReport) -> SubmissionServer.Reply {
        switch report.outcome {
        case .sent: return .init(250, "2.0.0 Ok: sent as \(report.id)")
        case .queued: return .init(250, "2.0.0 Ok: \(report.notices.first ?? "queued as \(report.id)")")
        }
    }

    /// Prints a failure: the summary line, then the detail lines, on stderr.
    static func report(_ failure: CommandFailure) {
        var text = "apus: \(failure.summary)\n"
        for line in failure.details { text += "  \(line)\n" }
        try? FileDescriptor.standardError.writeAll(Array(text.utf8))
    }

    static func printOut(_ text: String) {
        try? FileDescriptor.standardOutput.writeAll(Array(text.utf8))
    }

    static func printError(_ text: String) {
        try? FileDescriptor.standardError.writeAll(Array(text.utf8))
    }

    /// Runs a scanned invocation.
    static func run(_ invocation: Invocation) throws -> ExitStatus {
        switch invocation.mode {
        case .help:
            printOut(usage)
            return .ok
        case .version:
            printOut(version + "\n")
            return .ok
        case .ignored:
            return .ok
        case .listQueue(let json):
            // mailq reads only queue_dir: the host's fully qualified name (an
            // NSS and resolver lookup: nsswitch.conf, host.conf, resolv.conf,
            // hosts, ~25 system calls) is not looked up for accounts it never uses.
            let configuration = try loadConfiguration(invocation, localDomain: { "localhost" })
            return try listQueue(configuration, json: json)
        case .newAliases:
            let configuration = try loadConfiguration(invocation)
            return try newAliases(configuration)
        case .deliver:
            if invocation.recipients.isEmpty && !invocation.extractRecipients {
                throw CommandFailure(
                    .noRecipients, "no recipients (give addresses, or -t to read them from the headers)")
            }
            let configuration = try loadConfiguration(invocation)
            let report = try submission(configuration, invocation).run(
                request(invocation), input: .standardInput)
            for notice in report.notices { printError("apus: \(notice)\n") }
            return .ok
        case .smtpSession:
            let configuration = try loadConfiguration(invocation)
            return try smtpSession(configuration, invocation)
        case .verify:
            let configuration = try loadConfiguration(invocation)
            return try Verification(
                configuration: configuration, invocation: invocation, trace: try trace(invocation, configuration)
            ).run()
        case .runQueue(let selection, let interval):
            if selection.needsRoot && !Privileges.callerIsRoot {
                throw CommandFailure(.notPermitted, "only root may run the queue with -qf, -qI, -qR or -qS")
            }
            let configuration = try loadConfiguration(invocation)
            return try runQueue(configuration, invocation, selection: selection, interval: interval)
        }
    }

    // MARK: - Configuration

    /// Loads the configuration: `-C FILE` (read without the apus group unless
    /// the caller is root), else /etc/apus.conf, or the built-in defaults when
    /// it does not exist. The system file is refused when it holds a password
    /// that every user could read.
    /// `localDomain` gives the domain of accounts without `domain` (default:
    /// the host's, from /etc/mailname or its fully qualified name).
    static func loadConfiguration(
        _ invocation: Invocation, localDomain: () -> String = { LocalHost.domain() }
    ) throws(CommandFailure) -> Configuration {
        do {
            if let file = invocation.configFile {
                if !Privileges.callerIsRoot { try Privileges.dropGroupForGood() }
                return try Configuration.load(path: file, localDomain: localDomain)
            }
            let configuration = try Configuration.loadIfPresent(path: systemConfiguration, localDomain: localDomain)
            if Privileges.isSetgid { try configuration.checkPasswordNotExposed() }
            return configuration
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure(.configuration, "\(error)")
        }
    }

    /// The trace sink for `-v` (stderr) and `-X FILE` (appended, opened as
    /// the caller), or nil.
    static func trace(_ invocation: Invocation, _ configuration: Configuration) throws(CommandFailure) -> SMTPTrace? {
        var sinks: [SMTPTrace] = []
        if invocation.verbose {
            sinks.append(.standardError)
            if configuration.accounts.contains(where: { !$0.tlsVerify }) || !configuration.defaultAccount.tlsVerify {
                printError("apus: warning: tls_verify is off: the relay's certificate is not checked\n")
            }
        }
        if let path = invocation.traceFile {
            do {
                let fd = try Privileges.openCallerFileForAppend(path)
                sinks.append(.fileDescriptor(fd))
            } catch let failure as CommandFailure {
                throw failure
            } catch {
                throw CommandFailure(.traceUnwritable, "cannot open the trace file \(path): \(error)")
            }
        }
        if sinks.isEmpty { return nil }
        if sinks.count == 1 { return sinks[0] }
        let all = sinks
        return SMTPTrace { direction, line in
            for sink in all { sink.record(direction, line) }
        }
    }

    static func request(_ invocation: Invocation) -> SubmissionRequest {
        var request = SubmissionRequest()
        request.sender = invocation.sender
        request.recipients = invocation.recipients
        request.extractRecipients = invocation.extractRecipients
        request.ignoreDots = invocation.ignoreDots
        request.fullName = invocation.fullName
        request.dsnNotify = invocation.dsnNotify
        request.dsnReturn = invocation.dsnReturn
        request.envelopeID = invocation.envelopeID
        request.bodyType = invocation.bodyType
        return request
    }

    static func submission(_ configuration: Configuration, _ invocation: Invocation) throws(CommandFailure)
        -> Submission
    {
        // The caller's names are looked up only if the message needs them.
        let submitter = Submitter {
            let caller = Caller.current()
            return (caller.login, caller.fullName)
        }
        return Submission(
            configuration: configuration, submitter: submitter,
            trace: try trace(invocation, configuration), queueGroup: queueGroup,
            recordedConfigurationFile: recordedConfigurationFile(invocation),
            verbose: invocation.verbose ? { printError($0) } : nil)
    }

    /// The `-C FILE` a queued message records (delivery.md "Queue"): root's
    /// only (for others `-C` drops the group, so they cannot queue), made
    /// absolute, and not when it is the system file.
    static func recordedConfigurationFile(_ invocation: Invocation) -> String? {
        guard let file = invocation.configFile, Privileges.callerIsRoot else { return nil }
        var path = file
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            guard getcwd(&buffer, buffer.count) != nil else { return nil }
            let directory = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            path = directory + "/" + path
        }
        return path == systemConfiguration ? nil : path
    }

    /// The group queue files get: the apus group when running setgid.
    static var queueGroup: gid_t? { Privileges.isSetgid ? getegid() : nil }

    // MARK: - Modes

    /// `mailq`, `-bp`: the queue in Postfix's format, or JSON lines.
    static func listQueue(_ configuration: Configuration, json: Bool) throws -> ExitStatus {
        let directory = configuration.host.queueDirectory
        let listing: QueueListing
        let corrupt: Int
        do {
            guard try FileSystem.exists(directory) else {
                printOut(json ? "" : "Mail queue is empty\n")
                return .ok
            }
            let store = try QueueStore(directory: directory, groupID: nil, faults: .none)
            listing = try store.list()
            corrupt = try store.corruptCount()
        } catch {
            throw CommandFailure(.queueUnreadable, "cannot read the queue \(directory): \(error.reason)")
        }
        let now = Int64(time(nil))
        printOut(json ? MailqListing.json(listing.entries) : MailqListing.text(listing.entries, now: now))
        // On stderr, so scripts that read the listing keep working; mailq still exits 0.
        for problem in listing.problems { printError("apus: \(problem.description)\n") }
        if let line = MailqListing.corruptLine(corrupt, directory: directory + "/" + QueueStore.corruptDirectoryName) {
            printError(line)
        }
        return .ok
    }

    /// `newaliases`, `-bi`: checks the aliases file and says how many aliases it holds.
    static func newAliases(_ configuration: Configuration) throws -> ExitStatus {
        guard let path = configuration.defaultAccount.aliasesFile, !path.isEmpty else {
            printOut("apus: no aliases file is configured (the aliases key); nothing to do\n")
            return .ok
        }
        let aliases: Aliases
        do {
            aliases = try Aliases.load(path: path)
        } catch {
            throw CommandFailure(.configuration, "\(error)")
        }
        for warning in aliases.warnings { printError("apus: warning: \(warning)\n") }
        printOut("\(path): \(aliases.count) aliases\n")
        return .ok
    }

    /// `-bs`: SMTP on stdin/stdout, each message through the `-bm` path.
    static func smtpSession(_ configuration: Configuration, _ invocation: Invocation) throws -> ExitStatus {
        let submission = try submission(configuration, invocation)
        let domain = configuration.defaultAccount.domain
        let server = SubmissionServer(
            input: .standardInput, output: .standardOutput, domain: domain, spoolDirectory: submission.spoolDirectory
        ) { sender in
            let account = sender.isEmpty ? configuration.defaultAccount : configuration.account(forSender: sender)
            return .init(messageSize: account.messageSizeLimit, recipients: account.recipientLimit)
        }
        try server.run { message in
            var request = request(invocation)
            request.sender = message.sender.isEmpty ? "<>" : message.sender
            request.recipients = message.recipients
            request.extractRecipients = false
            request.ignoreDots = true
            if let body = message.bodyType { request.bodyType = body.uppercased() }
            if let ret = message.dsnReturn { request.dsnReturn = ret.lowercased() }
            if let envid = message.envelopeID { request.envelopeID = envid }
            if let notify = message.dsnNotify { request.dsnNotify = notify.lowercased() }
            do {
                return smtpReply(for: try submission.run(request, received: message.content))
            } catch {
                return smtpReply(for: commandFailure(error))
            }
        }
        return .ok
    }

    /// `-q…`: one queue run, or one every `interval` seconds until SIGTERM.
    static func runQueue(
        _ configuration: Configuration, _ invocation: Invocation, selection: Invocation.QueueSelection, interval: Int?
    ) throws -> ExitStatus {
        let runner = QueueRunner(
            configuration: configuration, trace: try trace(invocation, configuration), queueGroup: queueGroup,
            usesRecordedConfigurations: invocation.configFile == nil,
            verbose: invocation.verbose ? { printError($0) } : nil)
        let choice: QueueRunner.Choice
        switch selection {
        case .due: choice = .due
        case .all: choice = .all
        case .id(let text): choice = .matching(QueueFilter(idContains: text))
        case .recipientDomain(let text): choice = .matching(QueueFilter(recipientDomainContains: text))
        case .sender(let text): choice = .matching(QueueFilter(senderContains: text))
        }
        guard let interval else {
            try runner.run(choice)
            return .ok
        }
        StopSignal.install()
        while !StopSignal.received {
            do {
                try runner.run(choice)
            } catch {
                report(commandFailure(error))
            }
            var left = interval
            while left > 0 && !StopSignal.received {
                sleep(1)
                left -= 1
            }
        }
        return .ok
    }

    /// `--help`.
    static let usage = """
        usage: sendmail [options] [--] [recipient ...]    (also: apus, mailq, newaliases)
          -t            also take recipients from To:, Cc:, Bcc: (or the Resent- set)
          -i, -oi       a line holding a single . does not end the message
          -f, -r ADDR   envelope sender (-f '<>' for the null sender)
          -F NAME       full name for an added From:
          -N DSN        never, or a list of success,failure,delay
          -R full|hdrs  DSN RET;  -V ENVID  DSN envelope id;  -B 7BIT|8BITMIME  body type
          -C FILE       configuration file instead of /etc/apus.conf
          -v            print the SMTP dialogue on stderr;  -X FILE  append it to FILE
          -bm           deliver (default);  -bp  list the queue (mailq; --json for JSON lines)
          -bs           speak SMTP on stdin/stdout;  -bv  check the relay and print what it offers
          -bi, -I       check the aliases file (newaliases)
          -q            run the queue once;  -q30m  every 30 minutes;  -qf  every message now
          -qI ID, -qR DOMAIN, -qS ADDR   run matching messages now (root only)
          --help, --version
        Exit statuses follow sysexits.h: 0 sent or queued, 64 usage, 65 bad data, 67 recipient
        refused, 69 message refused, 75 temporary failure not queued, 78 configuration.
        See apus(8) and apus.conf(5).

        """
}

/// SIGTERM / SIGINT for `-q INTERVAL`: finish the current run, then exit 0.
enum StopSignal {
    nonisolated(unsafe) static var flag: sig_atomic_t = 0
    static var received: Bool { flag != 0 }

    static func install() {
        signal(SIGTERM) { _ in StopSignal.flag = 1 }
        signal(SIGINT) { _ in StopSignal.flag = 1 }
    }
}
