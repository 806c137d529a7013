/// The keys an account section may set, as written: every field `nil` until a
/// line sets it. A section starts as a copy of the defaults in force, so an
/// account's lines override what it inherited.
///
/// An empty quoted value (`user ""`) clears an inherited string or path
/// setting; it is kept here as `""` and read as "none" when resolved.
struct AccountSettings: Sendable {
    var host: String?
    var port: Int?
    /// `fallback` lines: host and optional port (filled in from the account's port).
    var fallbacks: [(host: String, port: Int?)] = []
    /// Whether this section has had a `fallback` line yet (the first one
    /// replaces the inherited list rather than adding to it).
    var fallbacksSetHere = false
    var tls: TLSSetting?
    var tlsVerify: Bool?
    var tlsTrustFile: String?
    var tlsFingerprint: [UInt8]?
    var tlsCertificateFile: String?
    var tlsKeyFile: String?
    var tlsMinimumVersion: TLSMinimumVersion?
    var authentication: Authentication?
    var user: String?
    var password: PasswordSource?
    var from: String?
    var domain: String?
    var defaultDomain: String?
    var aliases: String?
    var fromHeader: FromHeaderPolicy?
    var allowFromOverride: Bool?
    var timeout: Int?
    var relayOwner: RelayOwner?
    var dsnNotify: DSNNotifySetting??
    var dsnReturn: DSNReturnSetting??
    var eightBit: EightBitPolicy?
    var messageSizeLimit: Int?
    var recipientLimit: Int?
    /// The `oauth2_*` lines.
    var oauth2 = OAuth2Lines()

    /// Every key an account (or the defaults) may set, for error messages and tests.
    static let keys: Set<String> = Set(names).union(OAuth2Lines.names)

    /// The keys of ``keys`` but the `oauth2_*` ones, as a list: what
    /// ``isKey(_:)`` searches, so that parsing a configuration hashes no key
    /// and builds no set (``keys`` is for the error path).
    static let names = [
        "host", "port", "fallback", "tls", "tls_verify", "tls_trust_file", "tls_fingerprint", "tls_cert_file",
        "tls_key_file", "tls_min_version", "auth", "user", "password", "passwordeval", "password_file", "from",
        "domain", "default_domain", "aliases", "from_header", "allow_from_override", "timeout", "relay_owner",
        "dsn_notify",
        "dsn_return", "eight_bit", "message_size_limit", "recipient_limit",
    ]

    /// Whether an account (or the defaults) may set `key`.
    static func isKey(_ key: String) -> Bool { names.contains(key) || OAuth2Lines.isKey(key) }

    /// The keys whose values are secret and never quoted back.
    static let secretKeys = ["password", "passwordeval", "oauth2_client_secret"]

    /// A section starting afresh from `inherited`.
    init(inheriting inherited: AccountSettings) {
        self = inherited
        fallbacksSetHere = false
    }

    /// No settings at all.
    init() {}

    /// Applies one line whose key is in ``keys``.
    ///
    /// Throws ``ValueError`` for a missing or refused value.
    mutating func apply(key: String, value: String, wasQuoted: Bool) throws(ValueError) {
        let clears = value.isEmpty && wasQuoted
        if value.isEmpty && !wasQuoted { throw ValueError("missing value for '\(key)'") }
        switch key {
        case "host":
            if clears { throw ValueError("missing value for 'host'") }
            host = try ValueParsing.host(value)
        case "port": port = try ValueParsing.port(value)
        case "fallback":
            if !fallbacksSetHere { fallbacks = [] }
            fallbacksSetHere = true
            if !clears {
                if fallbacks.count >= 32 { throw ValueError("more than 32 fallback relays") }
                fallbacks.append(try ValueParsing.relay(value))
            }
        case "tls": tls = try ValueParsing.choice(value, TLSSetting.self)
        case "tls_verify": tlsVerify = try ValueParsing.onOff(value)
        case "tls_trust_file": tlsTrustFile = clears ? "" : try ValueParsing.path(value)
        case "tls_fingerprint": tlsFingerprint = clears ? [] : try ValueParsing.fingerprint(value)
        case "tls_cert_file": tlsCertificateFile = clears ? "" : try ValueParsing.path(value)
        case "tls_key_file": tlsKeyFile = clears ? "" : try ValueParsing.path(value)
        case "tls_min_version": tlsMinimumVersion = try ValueParsing.choice(value, TLSMinimumVersion.self)
        case "auth": authentication = try ValueParsing.authentication(value)
        case "user": user = value
        case "password": password = clears ? PasswordSource.none : .literal(value)
        case "passwordeval": password = clears ? PasswordSource.none : .command(value)
        case "password_file": password = clears ? PasswordSource.none : .file(try ValueParsing.path(value))
        case "from": from = clears ? "" : try ValueParsing.fromAddress(value)
        case "domain": domain = try ValueParsing.domain(value)
        case "default_domain": defaultDomain = try ValueParsing.domain(value)
        case "aliases": aliases = clears ? "" : try ValueParsing.path(value)
        case "from_header": fromHeader = try ValueParsing.choice(value, FromHeaderPolicy.self)
        case "allow_from_override": allowFromOverride = try ValueParsing.onOff(value)
        case "timeout": timeout = try ValueParsing.timeout(value)
        case "relay_owner": relayOwner = clears ? nil : try ValueParsing.relayOwner(value)
        case "dsn_notify": dsnNotify = .some(clears ? nil : try ValueParsing.dsnNotify(value))
        case "dsn_return": dsnReturn = .some(clears ? nil : try ValueParsing.choice(value, DSNReturnSetting.self))
        case "eight_bit": eightBit = try ValueParsing.choice(value, EightBitPolicy.self)
        case "message_size_limit": messageSizeLimit = try ValueParsing.byteSize(value)
        case "recipient_limit": recipientLimit = try ValueParsing.count(value)
        case _ where OAuth2Lines.isKey(key): try oauth2.apply(key: key, value: value, clears: clears)
        default: preconditionFailure("apply called with a key not in AccountSettings.keys: \(key)")
        }
    }

    /// The effective account: every unset key takes its default (config.md), the
    /// conditional ones from the settings they depend on.
    ///
    /// `localDomain` is asked only when `domain` is not set. Throws ``ValueError``
    /// for settings that contradict each other.
    func resolve(name: String, line: Int, localDomain: () -> String) throws(ValueError) -> Account {
        let host = self.host ?? "localhost"
        let tls = self.tls ?? (isLoopbackHost(host) ? .off : .startTLS)
        let port = self.port ?? tls.defaultPort
        let user = self.user.flatMap { $0.isEmpty ? nil : $0 }
        let oauth2 = try self.oauth2.resolve(authentication: self.authentication, password: password)
        let authentication = oauth2?.1 ?? self.authentication ?? (user == nil ? .off : .automatic)
        if authentication != .off && user == nil {
            throw ValueError("'auth' is on but no 'user' is set")
        }
        let keyFile = tlsKeyFile.flatMap { $0.isEmpty ? nil : $0 }
        let certificateFile = tlsCertificateFile.flatMap { $0.isEmpty ? nil : $0 }
        if keyFile != nil && certificateFile == nil {
            throw ValueError("'tls_key_file' is set without 'tls_cert_file'")
        }
        let domain = self.domain ?? localDomain()
        return Account(
            name: name,
            line: line,
            relay: Relay(host: host, port: port),
            fallbacks: fallbacks.map { Relay(host: $0.host, port: $0.port ?? port) },
            tls: tls,
            tlsVerify: tlsVerify ?? true,
            tlsTrustFile: tlsTrustFile.flatMap { $0.isEmpty ? nil : $0 },
            tlsFingerprint: tlsFingerprint.flatMap { $0.isEmpty ? nil : $0 },
            tlsCertificateFile: certificateFile,
            tlsKeyFile: keyFile ?? certificateFile,
            tlsMinimumVersion: tlsMinimumVersion ?? .tls12,
            authentication: authentication,
            user: user,
            password: password ?? PasswordSource.none,
            from: from.flatMap { $0.isEmpty ? nil : $0 },
            domain: domain,
            defaultDomain: defaultDomain ?? domain,
            aliasesFile: aliases.flatMap { $0.isEmpty ? nil : $0 },
            fromHeader: fromHeader ?? .add,
            allowFromOverride: allowFromOverride ?? true,
            timeout: timeout ?? 60,
            relayOwner: relayOwner ?? .root,
            dsnNotify: dsnNotify ?? nil,
            dsnReturn: dsnReturn ?? nil,
            eightBit: eightBit ?? .convert,
            messageSizeLimit: messageSizeLimit ?? Account.defaultMessageSizeLimit,
            recipientLimit: recipientLimit ?? Account.defaultRecipientLimit,
            oauth2: oauth2?.0)
    }
}
