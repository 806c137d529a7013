extension Configuration {
    /// Parses apus.conf from its bytes; `file` names it in errors.
    ///
    /// Pure apart from `localDomain` (no file system, no network), so the
    /// fuzz target and tests call it directly.
    ///
    /// - Throws: ``ConfigError`` naming `file`, the line and the key: `.syntax`,
    ///   `.tooLarge`, `.unknownKey`, `.badValue`, `.notAllowedHere`,
    ///   `.duplicateAccount`, `.unknownAccount`, `.inconsistent`.
    package static func parse(
        _ bytes: [UInt8], file: String, localDomain: () -> String = { LocalHost.domain() }
    ) throws -> Configuration {
        var parser = ConfigParser(file: file)
        for text in try splitLines(bytes, file: file) {
            guard let line = try ConfigLine.parse(text, file: file) else { continue }
            try parser.take(line)
        }
        return try parser.finish(localDomain: localDomain)
    }
}

/// The section-by-section state of one parse.
private struct ConfigParser {
    enum Section {
        /// Lines set defaults.
        case defaults
        /// Lines set `accounts[index]`.
        case account(Int)
        /// After `account default : NAME`: a new section must start.
        case closed
    }

    let file: String
    var host = HostSettings()
    var defaults = AccountSettings()
    var accounts: [(name: String, line: Int, settings: AccountSettings)] = []
    var defaultName: (name: String, line: Int)?
    var section = Section.defaults
    var holdsPassword = false

    init(file: String) { self.file = file }

    func error(_ kind: ConfigError.Kind, _ line: ConfigLine, _ message: String) -> ConfigError {
        ConfigError(kind, file: file, line: line.number, key: line.key, message: message)
    }

    mutating func take(_ line: ConfigLine) throws(ConfigError) {
        let key = line.key
        switch key {
        case "defaults":
            if !line.value.isEmpty { throw error(.badValue, line, "'defaults' takes no value") }
            defaults = AccountSettings(inheriting: defaults)
            section = .defaults
        case "account":
            try startAccount(line)
        case _ where HostSettings.isKey(key):
            if !accounts.isEmpty || defaultName != nil {
                throw error(
                    .notAllowedHere, line,
                    "'\(key)' is a host-wide key: it belongs before the first 'account' line")
            }
            do { try host.apply(key: key, value: line.value) } catch {
                throw self.error(.badValue, line, "bad value for '\(key)': \(error.message)")
            }
        case _ where AccountSettings.isKey(key):
            if (key == "password" || key == "oauth2_client_secret") && !line.value.isEmpty { holdsPassword = true }
            do {
                switch section {
                case .defaults: try defaults.apply(key: key, value: line.value, wasQuoted: line.wasQuoted)
                case .account(let index):
                    try accounts[index].settings.apply(key: key, value: line.value, wasQuoted: line.wasQuoted)
                case .closed:
                    throw error(
                        .notAllowedHere, line,
                        "'\(key)' after 'account default': start a 'defaults' or 'account' section first")
                }
            } catch let error as ConfigError {
                throw error
            } catch let error as ValueError {
                let reason = AccountSettings.secretKeys.contains(key) ? "value refused" : error.message
                throw self.error(.badValue, line, "bad value for '\(key)': \(reason)")
            } catch {
                throw self.error(.badValue, line, "bad value for '\(key)'")
            }
        default:
            let known =
                AccountSettings.keys.contains(key.lowercased()) || HostSettings.keys.contains(key.lowercased())
                || ["account", "defaults"].contains(key.lowercased())
            let hint = known ? " (keys are lower case)" : nearestKey(to: key).map { " (did you mean '\($0)'?)" } ?? ""
            throw error(.unknownKey, line, "unknown key \(quoted(key))" + hint)
        }
    }

    mutating func startAccount(_ line: ConfigLine) throws(ConfigError) {
        let value = line.value
        if let colon = value.utf8.firstIndex(of: 0x3A) {
            let left = value[..<colon].trimmingBlanks()
            let right = value[value.utf8.index(after: colon)...].trimmingBlanks()
            guard left == "default" else {
                throw error(
                    .badValue, line, "only 'account default : NAME' may use ':' (account inheritance is not supported)")
            }
            guard isAccountName(right) else {
                throw error(.badValue, line, "'account default :' needs one account name")
            }
            if let earlier = defaultName {
                throw error(.duplicateAccount, line, "the default account was already named on line \(earlier.line)")
            }
            defaultName = (right, line.number)
            section = .closed
            return
        }
        guard isAccountName(value) else {
            throw error(
                .badValue, line, value.isEmpty ? "'account' needs a name" : "an account name is one word without ':'")
        }
        if value == "default" {
            throw error(.badValue, line, "'default' is not an account name; use 'account default : NAME'")
        }
        if let earlier = accounts.first(where: { $0.name == value }) {
            throw error(.duplicateAccount, line, "account \(quoted(value)) already defined on line \(earlier.line)")
        }
        accounts.append((value, line.number, AccountSettings(inheriting: defaults)))
        section = .account(accounts.count - 1)
    }

    func isAccountName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && !name.containsByte(0x3A) && !name.containsByte(0x20)
            && !name.containsByte(0x09)
    }

    func finish(localDomain: () -> String) throws(ConfigError) -> Configuration {
        var cachedDomain: String?
        let domain = {
            if let cachedDomain { return cachedDomain }
            let value = localDomain()
            cachedDomain = value
            return value
        }
        var resolved: [Account] = []
        if accounts.isEmpty {
            do {
                resolved.append(try defaults.resolve(name: "default", line: 0, localDomain: domain))
            } catch {
                throw ConfigError(.inconsistent, file: file, line: 0, message: "the defaults: \(error.message)")
            }
        }
        for account in accounts {
            do {
                resolved.append(
                    try account.settings.resolve(name: account.name, line: account.line, localDomain: domain))
            } catch {
                throw ConfigError(
                    .inconsistent, file: file, line: account.line,
                    message: "account \(quoted(account.name)): \(error.message)")
            }
        }
        var chosen = resolved[0]
        if let defaultName {
            guard let named = resolved.first(where: { $0.name == defaultName.name }), !accounts.isEmpty else {
                throw ConfigError(
                    .unknownAccount, file: file, line: defaultName.line, key: "account",
                    message: "no account called \(quoted(defaultName.name))")
            }
            chosen = named
        }
        return Configuration(
            file: file, host: host, accounts: resolved, defaultAccount: chosen, holdsPassword: holdsPassword,
            fileMode: nil)
    }
}
