import Foundation
import Testing

@testable import ApusConfig

/// Every key: accepted values (checked through the account's description
/// lines) and refused ones (a `.badValue` error naming the line and key).
struct ConfigurationKeyTests {
    @Test(arguments: [
        ("host smtp.example.com", "host smtp.example.com"),
        ("host 192.0.2.7", "host 192.0.2.7"),
        ("host [2001:db8::1]", "host 2001:db8::1"),
        ("host ::1", "host ::1"),
        ("host mail_relay.internal.", "host mail_relay.internal."),
        ("port 2525", "port 2525"),
        ("port 1", "port 1"),
        ("port 65535", "port 65535"),
        ("fallback smtp2.example.com:587", "fallback smtp2.example.com:587"),
        ("fallback [2001:db8::2]:25", "fallback [2001:db8::2]:25"),
        ("fallback backup.example.com", "fallback backup.example.com:25"),
        ("tls off", "tls off"),
        ("tls starttls", "tls starttls"),
        ("tls on", "tls on"),
        ("tls STARTTLS", "tls starttls"),
        ("tls_verify off", "tls_verify off"),
        ("tls_trust_file /etc/ssl/ca.pem", "tls_trust_file /etc/ssl/ca.pem"),
        (
            "tls_fingerprint " + String(repeating: "AB:", count: 31) + "CD",
            "tls_fingerprint " + String(repeating: "ab:", count: 31) + "cd"
        ),
        (
            "tls_fingerprint " + String(repeating: "0f", count: 32),
            "tls_fingerprint " + String(repeating: "0f:", count: 31) + "0f"
        ),
        ("tls_cert_file /etc/apus/client.pem", "tls_key_file /etc/apus/client.pem"),
        ("tls_min_version 1.3", "tls_min_version 1.3"),
        ("auth off", "auth off"),
        ("auth plain\nuser u", "auth plain"),
        ("auth CRAM-MD5\nuser u", "auth cram-md5"),
        ("auth scram-sha-256\nuser u", "auth scram-sha-256"),
        ("auth xoauth2\nuser u", "auth xoauth2"),
        ("auth oauthbearer\nuser u", "auth oauthbearer"),
        ("auth login\nuser u", "auth login"),
        ("user alice@example.com", "user alice@example.com"),
        ("password s3cret", "password (set)"),
        ("passwordeval pass show mail", "passwordeval (set)"),
        ("password_file /run/credentials/apus/pw", "password_file /run/credentials/apus/pw"),
        ("from alice@example.com", "from alice@example.com"),
        ("from *@example.com", "from *@example.com"),
        ("from <bob@example.com>", "from bob@example.com"),
        ("domain mail.example.org", "domain mail.example.org"),
        ("default_domain example.org", "default_domain example.org"),
        ("aliases /etc/aliases", "aliases /etc/aliases"),
        ("from_header keep", "from_header keep"),
        ("from_header override", "from_header override"),
        ("allow_from_override off", "allow_from_override off"),
        ("timeout 30", "timeout 30"),
        ("timeout 2m", "timeout 120"),
        ("dsn_notify never", "dsn_notify never"),
        ("dsn_notify delay,FAILURE", "dsn_notify failure,delay"),
        ("dsn_notify success, failure", "dsn_notify success,failure"),
        ("dsn_return hdrs", "dsn_return hdrs"),
        ("dsn_return full", "dsn_return full"),
        ("eight_bit pass", "eight_bit pass"),
        ("timeout 30", "message_size_limit 268435456"),
        ("timeout 30", "recipient_limit 1000"),
        ("message_size_limit 10485760", "message_size_limit 10485760"),
        ("message_size_limit 10M", "message_size_limit 10485760"),
        ("message_size_limit 64k", "message_size_limit 65536"),
        ("message_size_limit 2G", "message_size_limit 2147483648"),
        ("message_size_limit 0", "message_size_limit 0"),
        ("recipient_limit 50", "recipient_limit 50"),
        ("recipient_limit 0", "recipient_limit 0"),
    ])
    func acceptsValue(line: String, expected: String) throws {
        let configuration = try parseConfig(line + "\n")
        let lines = configuration.defaultAccount.description.split(separator: "\n").map(String.init)
        #expect(lines.contains(expected), "\(lines)")
    }

    @Test(arguments: [
        ("host", "host"),
        ("host smtp example", "host"),
        ("host -bad-.example.com", "host"),
        ("host [2001:db8::1", "host"),
        ("host [not:v6:::]", "host"),
        ("host \"\"", "host"),
        ("port 0", "port"),
        ("port 65536", "port"),
        ("port 25x", "port"),
        ("port -1", "port"),
        ("fallback smtp2.example.com:99999", "fallback"),
        ("fallback 2001:db8::2", "fallback"),
        ("fallback host:", "fallback"),
        ("tls yes", "tls"),
        ("tls_verify maybe", "tls_verify"),
        ("tls_trust_file relative/ca.pem", "tls_trust_file"),
        ("tls_fingerprint abcd", "tls_fingerprint"),
        ("tls_fingerprint " + String(repeating: "zz", count: 32), "tls_fingerprint"),
        ("tls_fingerprint " + String(repeating: "ab", count: 20), "tls_fingerprint"),
        ("tls_fingerprint a:bc" + String(repeating: ":ab", count: 30), "tls_fingerprint"),
        ("tls_cert_file cert.pem", "tls_cert_file"),
        ("tls_key_file key.pem", "tls_key_file"),
        ("tls_min_version 1.1", "tls_min_version"),
        ("auth digest-md5", "auth"),
        ("auth", "auth"),
        ("user", "user"),
        ("password", "password"),
        ("passwordeval", "passwordeval"),
        ("password_file pw.txt", "password_file"),
        ("from a b@example.com", "from"),
        ("from a@b@c", "from"),
        ("from x\"y@example.com", "from"),
        ("from (c)x@example.com", "from"),
        ("domain [192.0.2.1]", "domain"),
        ("domain bad_ domain", "domain"),
        ("default_domain -x.example", "default_domain"),
        ("aliases aliases.txt", "aliases"),
        ("from_header replace", "from_header"),
        ("allow_from_override yes", "allow_from_override"),
        ("timeout 0", "timeout"),
        ("timeout 2w", "timeout"),
        ("timeout 90000", "timeout"),
        ("dsn_notify never,success", "dsn_notify"),
        ("dsn_notify always", "dsn_notify"),
        ("dsn_return headers", "dsn_return"),
        ("eight_bit 7bit", "eight_bit"),
        ("message_size_limit", "message_size_limit"),
        ("message_size_limit 10T", "message_size_limit"),
        ("message_size_limit -1", "message_size_limit"),
        ("message_size_limit 1.5M", "message_size_limit"),
        ("message_size_limit M", "message_size_limit"),
        ("message_size_limit 2048G", "message_size_limit"),
        ("recipient_limit many", "recipient_limit"),
        ("recipient_limit -5", "recipient_limit"),
        ("recipient_limit 10k", "recipient_limit"),
        ("queue maybe", "queue"),
        ("queue_dir spool", "queue_dir"),
        ("queue_lifetime 5", "queue_lifetime"),
        ("queue_lifetime 0d", "queue_lifetime"),
        ("queue_lifetime 5y", "queue_lifetime"),
        ("queue_lifetime 9999999999d", "queue_lifetime"),
        ("retry", "retry"),
        ("retry 5m x", "retry"),
        ("bounce no", "bounce"),
        ("log stderr", "log"),
        ("defaults now", "defaults"),
    ])
    func refusesValue(line: String, key: String) throws {
        let error = try #require(configError("# header\n" + line + "\n"))
        #expect(error.kind == .badValue)
        #expect(error.line == 2)
        #expect(error.key == key)
        #expect(error.file == "/etc/apus.conf")
        #expect(error.description.hasPrefix("/etc/apus.conf:2: "))
    }

    @Test func secretsAreNeverQuotedInErrors() throws {
        // A value refused for a secret key is not echoed.
        let error = try #require(configError("password \"unterminated-hunter2"))
        #expect(!error.description.contains("hunter2"))
    }

    static func host(_ change: (inout HostSettings) -> Void) -> HostSettings {
        var settings = HostSettings()
        change(&settings)
        return settings
    }

    @Test(arguments: [
        ("queue off", host { $0.queue = false }),
        ("queue_dir /var/spool/other", host { $0.queueDirectory = "/var/spool/other" }),
        ("queue_lifetime 12h", host { $0.queueLifetime = 43200 }),
        ("queue_lifetime 30m", host { $0.queueLifetime = 1800 }),
        ("queue_lifetime 10s", host { $0.queueLifetime = 10 }),
        ("retry 1m\t10m 2h 1d", host { $0.retryIntervals = [60, 600, 7200, 86400] }),
        ("retry 30s", host { $0.retryIntervals = [30] }),
        ("bounce off", host { $0.bounce = false }),
        ("log off", host { $0.log = .off }),
        ("log syslog", host { $0.log = .syslog }),
        ("log /var/log/apus.log", host { $0.log = .file("/var/log/apus.log") }),
    ])
    func acceptsHostWideValue(line: String, expected: HostSettings) throws {
        #expect(try parseConfig(line).host == expected)
    }

    @Test func fingerprintBytes() throws {
        let hex = (0..<32).map { String(format: "%02X", $0 * 7 % 256) }
        let withColons = try parseConfig("tls_fingerprint " + hex.joined(separator: ":")).defaultAccount
        let plain = try parseConfig("tls_fingerprint " + hex.joined()).defaultAccount
        #expect(withColons.tlsFingerprint == (0..<32).map { UInt8($0 * 7 % 256) })
        #expect(plain.tlsFingerprint == withColons.tlsFingerprint)
    }

    @Test(arguments: [
        ("Host smtp.example.com", "unknown key 'Host' (keys are lower case)"),
        ("hots smtp.example.com", "unknown key 'hots' (did you mean 'host'?)"),
        ("timout 30", "unknown key 'timout' (did you mean 'timeout'?)"),
        ("tls_verfy off", "unknown key 'tls_verfy' (did you mean 'tls_verify'?)"),
        ("passwordevl cat f", "unknown key 'passwordevl' (did you mean 'passwordeval'?)"),
        ("acount work", "unknown key 'acount' (did you mean 'account'?)"),
        ("Timout 30", "unknown key 'Timout' (did you mean 'timeout'?)"),
        ("smtp_host x", "unknown key 'smtp_host'"),
        ("to x", "unknown key 'to'"),
        ("hostname x", "unknown key 'hostname'"),
    ])
    func unknownKeyNamesFileLineAndKey(line: String, message: String) throws {
        let error = try #require(configError("tls on\n\n# c\n" + line))
        #expect(error.kind == .unknownKey)
        #expect(error.description == "/etc/apus.conf:4: " + message)
        #expect(error.line == 4)
        #expect(error.key == String(line.split(separator: " ")[0]))
    }

    @Test func editDistanceCountsSwapsAsOneEdit() {
        func distance(_ a: String, _ b: String) -> Int { editDistance(Array(a.utf8), Array(b.utf8)) }
        #expect(distance("hots", "host") == 1)
        #expect(distance("timout", "timeout") == 1)
        #expect(distance("", "tls") == 3)
        #expect(distance("kitten", "sitting") == 3)
        #expect(distance("port", "port") == 0)
    }
}

/// The `oauth2_*` keys (config.md "OAuth2"): accepted combinations and the
/// load-time errors, each naming the file and line.
struct OAuth2ConfigurationTests {
    func parse(_ text: String) throws -> Configuration {
        try Configuration.parse(Array(text.utf8), file: "/etc/apus.conf", localDomain: { "host.example" })
    }

    let clientCredentials = """
        account m365
        host smtp.office365.com
        user host42@example.com
        oauth2_token_url https://login.microsoftonline.com/TENANT/oauth2/v2.0/token
        oauth2_client_id 0000-1111
        oauth2_client_secret Sh0uld-n0t-leak
        oauth2_scope https://outlook.office365.com/.default

        """

    @Test func clientCredentialsDefaults() throws {
        let configuration = try parse(clientCredentials)
        let account = configuration.defaultAccount
        let oauth2 = try #require(account.oauth2)
        #expect(oauth2.grant == .clientCredentials)
        #expect(oauth2.tokenURL.host == "login.microsoftonline.com")
        #expect(oauth2.tokenURL.port == 443)
        #expect(oauth2.tokenURL.path == "/TENANT/oauth2/v2.0/token")
        #expect(account.authentication == .mechanism(.xoauth2))
        #expect(configuration.holdsPassword)
        #expect(account.description.contains("oauth2_client_secret (set)"))
        #expect(!account.description.contains("Sh0uld-n0t-leak"))
        #expect(
            account.description.contains("oauth2_token_url https://login.microsoftonline.com/TENANT/oauth2/v2.0/token"))
    }

    @Test func oauthBearerAndPortAndFile() throws {
        let account = try parse(
            """
            user u@example.com
            auth oauthbearer
            oauth2_token_url https://[::1]:8443
            oauth2_grant refresh_token
            oauth2_client_id desktop
            oauth2_client_secret_file /etc/apus/secret
            oauth2_refresh_token_file /etc/apus/refresh

            """
        ).defaultAccount
        #expect(account.authentication == .mechanism(.oauthBearer))
        #expect(account.oauth2?.tokenURL.description == "https://[::1]:8443/")
        #expect(account.oauth2?.clientSecret == .file("/etc/apus/secret"))
        #expect(account.oauth2?.refreshTokenFile == "/etc/apus/refresh")
    }

    @Test(arguments: [
        ("oauth2_token_url http://login.example.com/token", 4, "https://"),
        ("oauth2_token_url https://user:pw@login.example.com/token", 4, "'@'"),
        ("oauth2_token_url https:///token", 4, "no host"),
        ("oauth2_token_url ftp://x/y", 4, "not an https://"),
        ("oauth2_grant password", 4, "expected one of"),
        ("oauth2_client_secret_file relative/path", 4, "absolute path"),
        ("oauth2_scope \"\\\"\"", 4, "scopes"),
    ])
    func badValues(line: String, number: Int, fragment: String) {
        let text = "user u@example.com\nauth xoauth2\noauth2_client_id c\n\(line)\n"
        #expect {
            try parse(text)
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.kind == .badValue && error.line == number && error.message.contains(fragment)
                && error.description.hasPrefix("/etc/apus.conf:\(number): ")
        }
    }

    @Test(arguments: [
        ("oauth2_grant refresh_token\noauth2_client_id c", "needs 'oauth2_refresh_token_file'"),
        ("oauth2_grant jwt_bearer\noauth2_client_id c", "needs 'oauth2_private_key_file'"),
        ("oauth2_grant jwt_bearer\noauth2_private_key_file /k.pem", "needs 'oauth2_client_id'"),
        ("oauth2_client_id c", "needs 'oauth2_client_secret'"),
        ("oauth2_client_secret s", "needs 'oauth2_client_id'"),
        ("oauth2_client_id c\noauth2_client_secret s\nauth plain", "auth xoauth2 or oauthbearer"),
        ("oauth2_client_id c\noauth2_client_secret s\nauth off", "'auth' is off"),
        ("oauth2_client_id c\noauth2_client_secret s\npassword pw", "replaces the password"),
        ("oauth2_client_id c\noauth2_client_secret s\noauth2_subject a@b.example", "only for oauth2_grant jwt_bearer"),
    ])
    func inconsistent(lines: String, fragment: String) {
        let text = "account a\nuser u@example.com\noauth2_token_url https://login.example.com/token\n\(lines)\n"
        #expect {
            try parse(text)
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.kind == .inconsistent && error.line == 1 && error.message.contains(fragment)
        }
    }

    @Test func keysWithoutTokenURLAreRefused() {
        #expect {
            try parse("user u@example.com\noauth2_client_id c\n")
        } throws: { error in
            (error as? ConfigError)?.message.contains("'oauth2_client_id' is set without 'oauth2_token_url'") == true
        }
    }

    @Test func secretIsNeverQuotedBack() {
        #expect {
            try parse("oauth2_client_secret \"\n")
        } throws: { error in
            !"\(error)".contains("\"")
        }
        let exposed = try? parse(clientCredentials)
        var withMode = exposed
        withMode?.fileMode = 0o100644
        #expect(withMode?.exposesPasswordToOthers == true)
    }
}
