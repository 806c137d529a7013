import Foundation
import Testing

@testable import ApusConfig

struct ConfigurationTests {
    static let example = """
        # relay everything through the provider, with a fallback
        defaults
        tls       starttls
        auth      on
        aliases   /etc/aliases
        default_domain example.com

        account provider
        host      smtp.example.com
        user      host42@example.com
        passwordeval cat /run/credentials/apus/password
        from      *@example.com
        fallback  smtp2.example.com:587

        account default : provider

        """

    @Test func exampleFromConfigMD() throws {
        let configuration = try parseConfig(Self.example)
        let account = configuration.defaultAccount
        #expect(configuration.accounts.map(\.name) == ["provider"])
        #expect(account.name == "provider")
        #expect(account.line == 8)
        #expect(account.relay == Relay(host: "smtp.example.com", port: 587))
        #expect(account.fallbacks == [Relay(host: "smtp2.example.com", port: 587)])
        #expect(account.tls == .startTLS)
        #expect(account.authentication == .automatic)
        #expect(account.user == "host42@example.com")
        #expect(account.password == .command("cat /run/credentials/apus/password"))
        #expect(account.from == "*@example.com")
        #expect(account.fromIsPattern)
        #expect(account.senderAddress == nil)
        #expect(account.aliasesFile == "/etc/aliases")
        #expect(account.defaultDomain == "example.com")
        #expect(account.domain == "host.example.net")
        #expect(configuration.host == HostSettings())
        #expect(!configuration.holdsPassword)
    }

    @Test func defaultsOfEveryKey() throws {
        let account = try parseConfig("").defaultAccount
        #expect(account.name == "default")
        #expect(account.relay == Relay(host: "localhost", port: 25))
        #expect(account.fallbacks.isEmpty)
        #expect(account.tls == .off)
        #expect(account.tlsVerify)
        #expect(account.tlsTrustFile == nil)
        #expect(account.tlsFingerprint == nil)
        #expect(account.tlsCertificateFile == nil && account.tlsKeyFile == nil)
        #expect(account.tlsMinimumVersion == .tls12)
        #expect(account.authentication == .off)
        #expect(account.user == nil)
        #expect(account.password == .none)
        #expect(account.from == nil)
        #expect(account.domain == "host.example.net")
        #expect(account.defaultDomain == "host.example.net")
        #expect(account.aliasesFile == nil)
        #expect(account.fromHeader == .add)
        #expect(account.allowFromOverride)
        #expect(account.timeout == 60)
        #expect(account.dsnNotify == nil && account.dsnReturn == nil)
        #expect(account.eightBit == .convert)
        let host = try parseConfig("").host
        #expect(host.queue && host.bounce)
        #expect(host.queueDirectory == "/var/spool/apus")
        #expect(host.queueLifetime == 5 * 86400)
        #expect(host.retryIntervals == [300, 900, 3600, 14400])
        #expect(host.log == .syslog)
    }

    @Test(arguments: [
        ("host localhost", TLSSetting.off, 25),
        ("host 127.0.0.1", .off, 25),
        ("host 127.1.2.3", .off, 25),
        ("host [::1]", .off, 25),
        ("host mail.localhost", .off, 25),
        ("host smtp.example.com", .startTLS, 587),
        ("host 192.0.2.1", .startTLS, 587),
        ("host smtp.example.com\ntls on", .implicit, 465),
        ("host smtp.example.com\ntls off", .off, 25),
        ("host localhost\ntls starttls", .startTLS, 587),
        ("host smtp.example.com\nport 2525", .startTLS, 2525),
        ("host smtp.example.com\ntls on\nport 10465", .implicit, 10465),
    ])
    func conditionalTLSAndPortDefaults(text: String, tls: TLSSetting, port: Int) throws {
        let account = try parseConfig(text).defaultAccount
        #expect(account.tls == tls)
        #expect(account.relay.port == port)
    }

    @Test func authDefaultsFollowUser() throws {
        #expect(try parseConfig("user u").defaultAccount.authentication == .automatic)
        #expect(try parseConfig("user u\nauth off").defaultAccount.authentication == .off)
        #expect(try parseConfig("").defaultAccount.authentication == .off)
        let error = try #require(configError("auth on"))
        #expect(error.kind == .inconsistent)
        #expect(error.message.contains("no 'user'"))
        let inAccount = try #require(configError("auth on\naccount a\nhost x.example"))
        #expect(inAccount.line == 2)
        #expect(inAccount.description == "/etc/apus.conf:2: account 'a': 'auth' is on but no 'user' is set")
    }

    @Test func domainAndDefaultDomain() throws {
        let a = try parseConfig("domain mx.example.org").defaultAccount
        #expect(a.domain == "mx.example.org" && a.defaultDomain == "mx.example.org")
        let b = try parseConfig("domain mx.example.org\ndefault_domain example.org").defaultAccount
        #expect(b.domain == "mx.example.org" && b.defaultDomain == "example.org")
    }

    @Test func localDomainIsAskedOnlyWhenNeeded() throws {
        var asked = 0
        _ = try Configuration.parse(Array("domain a.example\naccount x\naccount y".utf8), file: "f") {
            asked += 1
            return "z.example"
        }
        #expect(asked == 0)
        let c = try Configuration.parse(Array("account x\naccount y".utf8), file: "f") {
            asked += 1
            return "z.example"
        }
        #expect(asked == 1)
        #expect(c.accounts.map(\.domain) == ["z.example", "z.example"])
    }

    @Test func sectionsAndInheritance() throws {
        let text = """
            port 2525
            from *@one.example
            fallback f1.example
            account one
            host one.example
            fallback f2.example
            fallback f3.example:26
            defaults
            port 26
            user shared
            account two
            host two.example
            user ""
            account three
            host three.example
            port 27
            from ""
            """
        let c = try parseConfig(text)
        #expect(c.accounts.map(\.name) == ["one", "two", "three"])
        let one = try #require(c.account(named: "one"))
        #expect(one.relay == Relay(host: "one.example", port: 2525))
        #expect(one.fallbacks == [Relay(host: "f2.example", port: 2525), Relay(host: "f3.example", port: 26)])
        #expect(one.user == nil)
        #expect(one.from == "*@one.example")
        let two = try #require(c.account(named: "two"))
        #expect(two.relay == Relay(host: "two.example", port: 26))
        #expect(two.fallbacks == [Relay(host: "f1.example", port: 26)])
        #expect(two.user == nil)
        #expect(two.authentication == .off)
        let three = try #require(c.account(named: "three"))
        #expect(three.relay.port == 27)
        #expect(three.user == "shared")
        #expect(three.authentication == .automatic)
        #expect(three.from == nil)
        #expect(c.defaultAccount.name == "one")
    }

    @Test func laterLineWinsAndPasswordSourcesShareOneSlot() throws {
        let c = try parseConfig("port 1\nport 2\npassword a\npasswordeval echo b\naccount x\npassword_file /p")
        #expect(c.defaultAccount.relay.port == 2)
        #expect(c.defaultAccount.password == .file("/p"))
        #expect(c.holdsPassword)
        let d = try parseConfig("password a\naccount x\npassword \"\"")
        #expect(d.defaultAccount.password == .none)
    }

    @Test(arguments: [
        ("account a\nqueue off", 2, "queue"),
        ("account a\ndefaults\nretry 5m", 3, "retry"),
        ("account a\nlog off", 2, "log"),
        ("account a\nbounce off", 2, "bounce"),
        ("account a\nqueue_dir /q", 2, "queue_dir"),
        ("account a\nqueue_lifetime 1d", 2, "queue_lifetime"),
        ("account default : a\naccount a\nqueue off", 3, "queue"),
    ])
    func hostWideKeysInsideAccountAreErrors(text: String, line: Int, key: String) throws {
        let error = try #require(configError(text))
        #expect(error.kind == .notAllowedHere)
        #expect(error.line == line)
        #expect(error.key == key)
        #expect(error.message.contains("host-wide"))
    }

    @Test func hostWideKeysBeforeFirstAccount() throws {
        let c = try parseConfig("queue off\ndefaults\nbounce off\nlog off\naccount a")
        #expect(!c.host.queue && !c.host.bounce && c.host.log == .off)
    }

    @Test(arguments: [
        ("account a\naccount a", ConfigError.Kind.duplicateAccount, 2),
        ("account a\naccount default : b", .unknownAccount, 2),
        ("account default : b", .unknownAccount, 1),
        ("account a\naccount default : a\naccount default : a", .duplicateAccount, 3),
        ("account a\naccount default : a\nhost x", .notAllowedHere, 3),
        ("account", .badValue, 1),
        ("account two words", .badValue, 1),
        ("account default", .badValue, 1),
        ("account a : b", .badValue, 1),
        ("account default :", .badValue, 1),
    ])
    func accountSectionErrors(text: String, kind: ConfigError.Kind, line: Int) throws {
        let error = try #require(configError(text))
        #expect(error.kind == kind)
        #expect(error.line == line)
    }

    @Test func defaultAccountMayBeNamedBeforeItIsDefined() throws {
        let c = try parseConfig("account default : b\naccount a\naccount b\nhost b.example")
        #expect(c.defaultAccount.name == "b")
        #expect(c.defaultAccount.relay.host == "b.example")
    }

    @Test(arguments: [
        ("alice@example.com", "work"),
        ("ALICE@Example.COM", "work"),
        ("<bob@example.com>", "work"),
        ("bob@home.example.org", "home"),
        ("x@mail.example.org", "home"),
        ("a@example.org", "exact"),
        ("someone@elsewhere.net", "fallback"),
        ("", "fallback"),
        ("<>", "fallback"),
        ("nobody", "fallback"),
    ])
    func accountChoiceBySender(sender: String, expected: String) throws {
        let c = try parseConfig(
            """
            account fallback
            host relay.example
            account work
            from *@example.com
            account home
            from *@?*.example.org
            account exact
            from a@example.org
            account default : fallback
            """)
        #expect(c.account(forSender: sender).name == expected)
        #expect(c.account(forSender: nil).name == "fallback")
    }

    @Test func firstMatchingAccountWins() throws {
        let c = try parseConfig("account a\nfrom *\naccount b\nfrom b@x\naccount default : b")
        #expect(c.account(forSender: "b@x").name == "a")
        #expect(c.account(forSender: nil).name == "b")
        #expect(c.defaultAccount.senderAddress == "b@x")
    }

    @Test func builtInConfiguration() {
        let c = Configuration.builtIn(localDomain: { "h.example" })
        #expect(c.file == nil)
        #expect(c.accounts.count == 1)
        #expect(c.defaultAccount.relay == Relay(host: "localhost", port: 25))
        #expect(c.defaultAccount.tls == .off)
        #expect(c.defaultAccount.authentication == .off)
        #expect(c.host == HostSettings())
    }

    @Test func loadsFilesAndReportsErrno() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("apus.conf", "host smtp.example.com\n", mode: 0o640)
        let c = try Configuration.load(path: path, localDomain: { "h.example" })
        #expect(c.file == path)
        #expect(c.defaultAccount.relay.host == "smtp.example.com")
        #expect(c.fileMode.map { $0 & 0o777 } == 0o640)

        let missing = dir.path + "/none.conf"
        #expect(try Configuration.loadIfPresent(path: missing, localDomain: { "h.example" }).file == nil)
        #expect {
            _ = try Configuration.load(path: missing, localDomain: { "h.example" })
        } throws: { error in
            (error as? ConfigError)?.description == "\(missing): No such file or directory"
        }
        #expect {
            _ = try Configuration.load(path: dir.path, localDomain: { "h.example" })
        } throws: { error in
            (error as? ConfigError)?.description == "\(dir.path): not a regular file"
        }
        let big = try dir.write("big.conf", String(repeating: "# filler line\n", count: 80_000))
        #expect {
            _ = try Configuration.load(path: big, localDomain: { "h.example" })
        } throws: { error in
            (error as? ConfigError)?.kind == .tooLarge
        }
        let bad = try dir.write("bad.conf", "host ok.example\nhots x\n")
        #expect {
            _ = try Configuration.loadIfPresent(path: bad, localDomain: { "h.example" })
        } throws: { error in
            (error as? ConfigError)?.description == "\(bad):2: unknown key 'hots' (did you mean 'host'?)"
        }
    }

    @Test(arguments: [
        ("password secret\n", 0o644, true),
        ("password secret\n", 0o640, false),
        ("password secret\n", 0o604, true),
        ("passwordeval echo x\n", 0o644, false),
        ("password_file /run/pw\n", 0o644, false),
        ("host a.example\n", 0o644, false),
    ])
    func otherReadablePasswordCheck(text: String, mode: Int, exposed: Bool) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("apus.conf", text, mode: mode)
        let c = try Configuration.load(path: path, localDomain: { "h.example" })
        #expect(c.exposesPasswordToOthers == exposed)
        if exposed {
            #expect {
                try c.checkPasswordNotExposed()
            } throws: { error in
                (error as? ConfigError)?.kind == .insecurePermissions
                    && !(error as? ConfigError)!.description.contains("secret")
            }
        } else {
            #expect(throws: Never.self) { try c.checkPasswordNotExposed() }
        }
    }

    @Test func descriptionRedactsPassword() throws {
        let c = try parseConfig("user u\npassword hunter2-secret\naccount b\npasswordeval echo evalsecret")
        for account in c.accounts {
            #expect(!account.description.contains("hunter2"))
            #expect(!account.description.contains("evalsecret"))
            #expect(!"\(account)".contains("hunter2"))
        }
        #expect(c.defaultAccount.description.contains("passwordeval (set)"))
        #expect(try parseConfig("password hunter2").defaultAccount.description.contains("password (set)"))
    }

    @Test func wholeParseAgreesByteByByteForCRLF() throws {
        let lf = try parseConfig(Self.example)
        let crlf = try parseConfig(Self.example.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(lf.accounts == crlf.accounts)
        #expect(lf.defaultAccount == crlf.defaultAccount)
    }
}

extension ConfigurationTests {
    @Test func prependedScalarDoesNotHideTheAtSignInPatterns() throws {
        let c = try parseConfig("account a\nfrom \u{70F}*@example.com\naccount b\nfrom *\u{70F}@x")
        #expect(c.accounts.allSatisfy { $0.fromIsPattern })
        #expect(c.account(forSender: "\u{70F}me@example.com").name == "a")
        #expect(c.account(forSender: "me\u{70F}@x").name == "b")
        #expect(configError("from a\u{70F}@b@c")?.kind == .badValue)
    }
}
