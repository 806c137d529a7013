import ApusTransport
import Foundation

/// A private Postfix instance on loopback, run entirely from a temporary
/// directory: for interoperability tests of TLS, STARTTLS and AUTH against a
/// real server, and for end-to-end tests of the command.
///
/// ```
/// let postfix = try PostfixServer.start()
/// // submit to 127.0.0.1:postfix.submissionPort (STARTTLS + AUTH) or
/// // 127.0.0.1:postfix.implicitTLSPort (TLS from the first byte), as
/// // postfix.users[0] to anything@example.com
/// let messages = try postfix.waitForMessages(count: 1)
/// postfix.stop()
/// ```
///
/// The directory holds `etc/` (main.cf, master.cf, `sasl/smtpd.conf`, the
/// sasldb), `queue/`, `data/`, `log/maillog` and `mail/inbox/` — one Maildir
/// into which every recipient of ``Options/domains`` is delivered (Postfix's
/// virtual agent as `nobody`); every other destination bounces at once
/// (`error:` transports), so nothing leaves the machine. TLS uses
/// ``TestCertificates``' server certificate (names `localhost`, `127.0.0.1`);
/// Cyrus SASL authenticates ``Options/users`` from a sasldb. `master` runs in
/// the foreground (`-d`) as a child of the test and is stopped by its PID.
///
/// Needs root (Postfix's master binds and changes user), and the Debian
/// packages `postfix`, `sasl2-bin`, `libsasl2-modules`, `libsasl2-modules-db`;
/// ``start(_:)`` fails with a message naming what is missing — never a skip.
package final class PostfixServer: @unchecked Sendable {
    /// How the instance is set up.
    package struct Options: Sendable {
        /// SASL users as (name, password); the first is the conventional test account.
        package var users: [(name: String, password: String)] = [("alice", "correct horse battery")]
        /// The SASL mechanisms Cyrus offers (its `mech_list`).
        package var mechanisms: [String] = ["PLAIN", "LOGIN", "CRAM-MD5"]
        /// Whether the submission port offers STARTTLS (`smtpd_tls_security_level = may`);
        /// false gives a plain-text-only port, to test that `tls starttls` fails closed.
        package var offerSTARTTLS = true
        /// Whether AUTH is offered only after STARTTLS (`smtpd_tls_auth_only`).
        package var authOnlyAfterTLS = false
        /// The domains delivered into the Maildir.
        package var domains: [String] = ["example.com", "example.net"]
        /// The certificate and key served; nil uses ``TestCertificates``' server identity.
        package var identity: TestCertificates.Identity? = nil
        /// The highest TLS version offered, or nil for TLS 1.3.
        package var maximumTLSVersion: TLSVersion? = nil
        /// Lines appended to main.cf (`name = value`), to try other settings.
        package var extraMainSettings: [String] = []
        /// The certificate set whose CA signs the served certificate; nil uses ``TestCertificates/shared()``.
        package var certificates: TestCertificates? = nil

        /// The defaults: STARTTLS and AUTH (PLAIN LOGIN CRAM-MD5) for `alice`.
        package init() {}
    }

    /// Why Postfix could not be set up or started.
    package struct StartError: Error, CustomStringConvertible, Sendable {
        /// One sentence naming the cause, with the tool's output or the log's end.
        package var description: String
    }

    /// The host both ports listen on, `127.0.0.1`.
    package let host = "127.0.0.1"
    /// The plain-text port that offers STARTTLS (unless ``Options/offerSTARTTLS`` is false) and AUTH.
    package let submissionPort: UInt16
    /// The implicit-TLS port (`smtpd_tls_wrappermode = yes`, RFC 8314) with AUTH.
    package let implicitTLSPort: UInt16
    /// The instance's directory (removed on release).
    package let directory: TemporaryDirectory
    /// The SASL users.
    package let users: [(name: String, password: String)]
    /// The certificates the instance was given (the CA file verifies its certificate).
    package let certificates: TestCertificates
    /// The name Postfix greets with (`myhostname`), also the SASL realm.
    package let hostname = "postfix.test"

    private let masterProcess: ChildProcess
    private let lock = NSLock()
    private var stopped = false

    /// Where each Postfix program is expected.
    static let postfixCommand = "/usr/sbin/postfix"
    static let masterCommand = "/usr/lib/postfix/sbin/master"
    static let saslpasswdCommand = "/usr/sbin/saslpasswd2"

    /// Sets up and starts an instance, waiting (up to 10 s) until both ports accept connections.
    ///
    /// - Throws: ``StartError`` when a package is missing, a step fails, or
    ///   master does not come up (the message ends with the mail log).
    package static func start(_ options: Options = Options()) throws -> PostfixServer {
        try checkInstalled()
        let certificates = try options.certificates ?? TestCertificates.shared()
        var lastError: (any Error)?
        for _ in 0..<3 {  // a free port may be taken between asking and binding
            do {
                return try PostfixServer(options: options, certificates: certificates)
            } catch let error as StartError {
                lastError = error
            }
        }
        throw lastError ?? StartError(description: "postfix did not start")
    }

    private static func checkInstalled() throws {
        let required: [(String, String)] = [
            (postfixCommand, "postfix"), (masterCommand, "postfix"), (saslpasswdCommand, "sasl2-bin"),
        ]
        for (path, package) in required where !FileManager.default.isExecutableFile(atPath: path) {
            throw StartError(
                description: "\(path) not found: install the Debian package \(package) "
                    + "(for postfix first: echo 'postfix postfix/main_mailer_type select No configuration' "
                    + "| debconf-set-selections)")
        }
        let pluginDirectories = [
            "/usr/lib/x86_64-linux-gnu/sasl2", "/usr/lib/aarch64-linux-gnu/sasl2", "/usr/lib/sasl2",
        ]
        let plugins = pluginDirectories.flatMap { (try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? [] }
        if !plugins.contains(where: { $0.hasPrefix("libsasldb.so") }) {
            throw StartError(description: "Cyrus SASL's sasldb plugin not found: install libsasl2-modules-db")
        }
        if !plugins.contains(where: { $0.hasPrefix("libplain.so") }) {
            throw StartError(description: "Cyrus SASL's PLAIN plugin not found: install libsasl2-modules")
        }
        if getuid() != 0 {
            throw StartError(description: "a private Postfix instance needs root (its master changes user)")
        }
    }

    private init(options: Options, certificates: TestCertificates) throws {
        self.certificates = certificates
        self.users = options.users
        let directory = try TemporaryDirectory(prefix: "apus-postfix")
        self.directory = directory
        // Postfix's daemons run as `postfix` and `nobody`: they must reach the tree.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        submissionPort = try freeLoopbackPort()
        var second = try freeLoopbackPort()
        while second == submissionPort { second = try freeLoopbackPort() }
        implicitTLSPort = second

        let etc = try directory.makeDirectory("etc", mode: 0o755)
        _ = try directory.makeDirectory("etc/sasl", mode: 0o755)
        _ = try directory.makeDirectory("log", mode: 0o755)
        _ = try directory.makeDirectory("queue", mode: 0o755)
        let data = try directory.makeDirectory("data", mode: 0o700)
        guard let postfixUser = getpwnam("postfix") else {
            throw StartError(description: "there is no postfix user: install the postfix package")
        }
        chown(data, postfixUser.pointee.pw_uid, postfixUser.pointee.pw_gid)
        let mail = try directory.makeDirectory("mail", mode: 0o777)
        let identity = options.identity ?? certificates.server
        // Postfix wants the key readable by root only, or it warns; it reads it as root before dropping privileges.
        let certificateFile = try directory.write(
            "etc/server.pem", String(contentsOfFile: identity.certificateFile, encoding: .utf8))
        let keyFile = try directory.write(
            "etc/server.key", String(contentsOfFile: identity.keyFile, encoding: .utf8), mode: 0o600)
        let sasldb = directory.file("etc/sasldb2")

        var main = [
            "compatibility_level = 3.6",
            "queue_directory = \(directory.file("queue"))",
            "data_directory = \(directory.file("data"))",
            "meta_directory = /etc/postfix",
            "mail_owner = postfix",
            "setgid_group = postdrop",
            "myhostname = \(hostname)",
            "mydomain = test",
            "myorigin = $myhostname",
            "mydestination =",
            "inet_interfaces = 127.0.0.1",
            "inet_protocols = ipv4",
            "mynetworks = 127.0.0.0/8",
            "smtp_dns_support_level = disabled",
            "smtpd_peername_lookup = no",
            "biff = no",
            "alias_maps =",
            "alias_database =",
            "local_recipient_maps =",
            "default_transport = error:apus test instance delivers nothing remotely",
            "relay_transport = error:apus test instance delivers nothing remotely",
            "local_transport = error:apus test instance has no local users",
            "virtual_mailbox_domains = \(options.domains.joined(separator: " "))",
            "virtual_mailbox_base = \(mail)",
            "virtual_mailbox_maps = static:inbox/",
            "virtual_uid_maps = static:65534",
            "virtual_gid_maps = static:65534",
            "virtual_minimum_uid = 1",
            "maillog_file = \(directory.file("log/maillog"))",
            "maillog_file_prefixes = \(directory.path)",
            "smtpd_tls_cert_file = \(certificateFile)",
            "smtpd_tls_key_file = \(keyFile)",
            "smtpd_tls_security_level = \(options.offerSTARTTLS ? "may" : "none")",
            "smtpd_tls_received_header = yes",
            "smtpd_tls_auth_only = \(options.authOnlyAfterTLS ? "yes" : "no")",
            "smtpd_sasl_auth_enable = yes",
            "smtpd_sasl_type = cyrus",
            "smtpd_sasl_path = smtpd",
            "smtpd_sasl_local_domain = \(hostname)",
            "smtpd_sasl_security_options = noanonymous",
            "smtpd_sasl_authenticated_header = yes",
            "smtpd_relay_restrictions = permit_sasl_authenticated, permit_mynetworks, defer_unauth_destination",
            "smtpd_recipient_restrictions =",
            "smtputf8_enable = yes",
            "message_size_limit = 0",
            "virtual_mailbox_limit = 0",
        ]
        if let maximum = options.maximumTLSVersion {
            main.append("smtpd_tls_protocols = >=TLSv1.2, <=TLSv\(maximum.rawValue)")
            main.append("smtpd_tls_mandatory_protocols = >=TLSv1.2, <=TLSv\(maximum.rawValue)")
        }
        main += options.extraMainSettings
        _ = try directory.write("etc/main.cf", main.joined(separator: "\n") + "\n")

        let master = """
            # service type  private unpriv  chroot  wakeup  maxproc command
            127.0.0.1:\(submissionPort) inet n - n - - smtpd
            127.0.0.1:\(implicitTLSPort) inet n - n - - smtpd
              -o smtpd_tls_wrappermode=yes
              -o smtpd_tls_security_level=encrypt
            pickup    unix  n       -       n       60      1       pickup
            cleanup   unix  n       -       n       -       0       cleanup
            qmgr      unix  n       -       n       300     1       qmgr
            tlsmgr    unix  -       -       n       1000?   1       tlsmgr
            rewrite   unix  -       -       n       -       -       trivial-rewrite
            bounce    unix  -       -       n       -       0       bounce
            defer     unix  -       -       n       -       0       bounce
            trace     unix  -       -       n       -       0       bounce
            verify    unix  -       -       n       -       1       verify
            flush     unix  n       -       n       1000?   0       flush
            proxymap  unix  -       -       n       -       -       proxymap
            proxywrite unix -       -       n       -       1       proxymap
            smtp      unix  -       -       n       -       -       smtp
            relay     unix  -       -       n       -       -       smtp
            showq     unix  n       -       n       -       -       showq
            error     unix  -       -       n       -       -       error
            retry     unix  -       -       n       -       -       error
            discard   unix  -       -       n       -       -       discard
            local     unix  -       n       n       -       -       local
            virtual   unix  -       n       n       -       -       virtual
            lmtp      unix  -       -       n       -       -       lmtp
            anvil     unix  -       -       n       -       1       anvil
            scache    unix  -       -       n       -       1       scache
            postlog   unix-dgram n  -       n       -       1       postlogd

            """
        _ = try directory.write("etc/master.cf", master)

        let sasl = """
            pwcheck_method: auxprop
            auxprop_plugin: sasldb
            mech_list: \(options.mechanisms.joined(separator: " "))
            sasldb_path: \(sasldb)

            """
        _ = try directory.write("etc/sasl/smtpd.conf", sasl)
        for user in options.users {
            let result = try Subprocess.run(
                Self.saslpasswdCommand, arguments: ["-p", "-c", "-f", sasldb, "-u", hostname, user.name],
                standardInput: Array(user.password.utf8), timeout: 20)
            guard result.succeeded else {
                throw StartError(description: "saslpasswd2 failed for \(user.name): \(result.stderr)")
            }
        }
        chmod(sasldb, 0o644)  // read by smtpd running as postfix

        let check = try Subprocess.run(Self.postfixCommand, arguments: ["-c", etc, "check"], timeout: 60)
        guard check.succeeded else {
            throw StartError(description: "postfix -c \(etc) check failed: \(check.stderr)\(check.stdout)")
        }

        var environment = ProcessInfo.processInfo.environment
        environment["MAIL_CONFIG"] = etc
        masterProcess = try Self.spawn(
            Self.masterCommand, ["-c", etc, "-d"], environment: environment, output: directory.file("log/master.out"))

        let deadline = Date(timeIntervalSinceNow: 10)
        var up = false
        while Date() < deadline && masterIsRunning() {
            if Self.accepts(port: submissionPort) && Self.accepts(port: implicitTLSPort) {
                up = true
                break
            }
            usleep(50_000)
        }
        if !up {
            let log = self.log()
            stop()
            throw StartError(
                description: "postfix master did not listen on 127.0.0.1:\(submissionPort) and :\(implicitTLSPort) "
                    + "within 10 s; mail log:\n\(log.suffix(3000))")
        }
    }

    deinit { stop() }

    private static func accepts(port: UInt16) -> Bool {
        guard let stream = try? TCPStream.connect(host: "127.0.0.1", port: port, timeout: 1) else { return false }
        stream.close()
        return true
    }

    /// The PID of the running master, or nil after ``stop()``.
    package var masterPID: Int32? {
        lock.withLock { stopped ? nil : masterProcess.pid }
    }

    /// Stops master with SIGTERM (it stops its children) and waits up to 10 s
    /// for it to exit, then SIGKILLs it. Idempotent.
    package func stop() {
        let alreadyStopped = lock.withLock {
            defer { stopped = true }
            return stopped
        }
        if alreadyStopped { return }
        masterProcess.signal(SIGTERM)
        if masterProcess.wait(seconds: 10) == nil {
            masterProcess.signal(SIGKILL)
            _ = masterProcess.wait()
        }
    }

    /// Reaps master if it has exited; false once it has.
    private func masterIsRunning() -> Bool {
        masterProcess.poll() == nil
    }

    /// Starts `path` with a clean signal state (``ChildProcess``: a test
    /// thread's blocked SIGTERM/SIGCHLD or ignored SIGPIPE must not reach
    /// master), stdin from /dev/null, stdout and stderr appended to `output`,
    /// and no other inherited descriptors.
    private static func spawn(
        _ path: String, _ arguments: [String], environment: [String: String], output: String
    ) throws -> ChildProcess {
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let log = open(output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        defer {
            if null >= 0 { close(null) }
            if log >= 0 { close(log) }
        }
        guard null >= 0, log >= 0 else {
            throw StartError(description: "cannot open /dev/null or \(output): \(String(cString: strerror(errno)))")
        }
        do {
            return try ChildProcess.spawn(
                path, arguments: arguments, environment: environment, workingDirectory: nil, input: null, output: log,
                error: log, closing: [], closingAllOthers: true)
        } catch let error as SpawnError {
            throw StartError(description: error.description)
        }
    }

    /// One delivered message: its Maildir file name and bytes.
    package struct DeliveredMessage: Sendable {
        /// The file's path in the Maildir.
        package var path: String
        /// The message as stored: `Return-Path:`, `Delivered-To:`, `Received:` lines first.
        package var bytes: [UInt8]
        /// The message as text (UTF-8, invalid bytes replaced).
        package var text: String { String(decoding: bytes, as: UTF8.self) }

        /// Whether the header section has a field `name:` whose value contains `needle`
        /// (folded lines joined, case-sensitive on the value).
        package func header(_ name: String, contains needle: String) -> Bool {
            headerValues(name).contains { $0.contains(needle) }
        }

        /// The unfolded values of every header field called `name` (case-insensitive).
        package func headerValues(_ name: String) -> [String] {
            let head = text.components(separatedBy: "\n\n").first ?? text
            var fields: [String] = []
            for line in head.components(separatedBy: "\n") {
                if line.first == " " || line.first == "\t", !fields.isEmpty {
                    fields[fields.count - 1] += " " + line.trimmingCharacters(in: .whitespaces)
                } else {
                    fields.append(line)
                }
            }
            let prefix = name.lowercased() + ":"
            return fields.filter { $0.lowercased().hasPrefix(prefix) }.map {
                String($0.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
            }
        }
    }

    /// The messages delivered so far to the test Maildir, oldest first.
    package func deliveredMessages() throws -> [DeliveredMessage] {
        var found: [(Date, DeliveredMessage)] = []
        for sub in ["new", "cur"] {
            let folder = directory.file("mail/inbox/\(sub)")
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { continue }
            for name in names {
                let path = folder + "/" + name
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                let date =
                    (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
                found.append((date, DeliveredMessage(path: path, bytes: Array(data))))
            }
        }
        return found.sorted { $0.0 == $1.0 ? $0.1.path < $1.1.path : $0.0 < $1.0 }.map(\.1)
    }

    /// Waits until at least `count` messages were delivered (Postfix delivers
    /// a moment after it accepted them), polling every 50 ms.
    ///
    /// - Throws: ``StartError`` with the mail log's end after `timeout` seconds.
    package func waitForMessages(count: Int, timeout: Double = 15) throws -> [DeliveredMessage] {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while true {
            let messages = try deliveredMessages()
            if messages.count >= count { return messages }
            if Date() > deadline {
                throw StartError(
                    description: "\(messages.count) of \(count) messages delivered after \(timeout) s; mail log:\n"
                        + String(log().suffix(3000)))
            }
            usleep(50_000)
        }
    }

    /// Waits until the mail log has a line for which `matches` holds (Postfix
    /// logs through postlogd, a moment after the event), polling every 20 ms;
    /// returns that line. Postfix's smtpd ends every session with a line
    /// `disconnect from … ehlo=1 auth=0/1 quit=1 commands=2/3`: the positive
    /// sign that a session is over and what it did.
    ///
    /// - Throws: ``StartError`` with the mail log's end after `timeout` seconds.
    package func waitForLogLine(timeout: Double = 15, where matches: (Substring) -> Bool) throws -> String {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while true {
            let text = (try? String(contentsOfFile: directory.file("log/maillog"), encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: matches) { return String(line) }
            if Date() > deadline {
                throw StartError(
                    description: "no such line in the mail log after \(timeout) s; mail log:\n"
                        + String(log().suffix(3000)))
            }
            usleep(20_000)
        }
    }

    /// The instance's mail log (`maillog_file`) so far, for diagnostics.
    package func log() -> String {
        let maillog = (try? String(contentsOfFile: directory.file("log/maillog"), encoding: .utf8)) ?? ""
        let master = (try? String(contentsOfFile: directory.file("log/master.out"), encoding: .utf8)) ?? ""
        return master.isEmpty ? maillog : maillog + master
    }
}
