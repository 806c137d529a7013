/// A parsed and checked `/etc/apus.conf`: the host-wide settings and the
/// accounts, each resolved with every default applied.
///
/// File format (config.md): `KEY VALUE` lines, see ``ConfigLine`` for quoting.
///
/// ```
/// queue_lifetime 3d           # host-wide keys: only before the first account
/// defaults                    # optional: what follows is inherited by later accounts
/// tls starttls
/// account provider            # an account: a copy of the defaults so far, then its lines
/// host smtp.example.com
/// from *@example.com
/// defaults                    # back to the defaults (for accounts defined after this)
/// account default : provider  # the default account (else the first one)
/// ```
///
/// Sections: lines before the first `account`, or after a `defaults` line, set
/// defaults; each `account NAME` starts as a copy of the defaults in force at
/// that line. Within a section a later line for the same key wins; the first
/// `fallback` line of a section replaces the list it inherited, later ones add
/// to it. A quoted empty value (`user ""`) clears an inherited string or path.
/// `account default : NAME` may name an account defined before or after it,
/// may appear once, and must be followed by a `defaults` or `account` line
/// before any other key. An account may not be called `default`.
///
/// Use ``load(path:localDomain:)`` or ``loadIfPresent(path:localDomain:)`` for
/// a file, ``parse(_:file:localDomain:)`` for bytes, ``builtIn(localDomain:)``
/// when there is no file.
package struct Configuration: Equatable, Sendable {
    /// The file it was read from, `nil` for the built-in configuration.
    package var file: String?
    /// The host-wide settings.
    package var host: HostSettings
    /// The accounts in file order; when the file defines none, one account
    /// called `default` made from the defaults alone.
    package var accounts: [Account]
    /// The account used when no `from` pattern chooses one: the one named by
    /// `account default : NAME`, else the first.
    package var defaultAccount: Account
    /// Whether any line sets `password` or `oauth2_client_secret` (a secret
    /// written in the file itself; `password_file`, `passwordeval` and
    /// `oauth2_client_secret_file` do not count).
    package var holdsPassword: Bool
    /// `st_mode` of the file as read (from `fstat` on the descriptor read), or `nil`.
    package var fileMode: UInt32?

    /// Whether the file holds `password` and is readable by "other"
    /// (mode & 0o004). The command refuses such a file with exit 78 when it reads
    /// the system file with the apus group (security.md); see
    /// ``checkPasswordNotExposed()``.
    package var exposesPasswordToOthers: Bool {
        guard holdsPassword, let fileMode else { return false }
        return fileMode & 0o004 != 0
    }

    /// Throws ``ConfigError`` (`.insecurePermissions`) when
    /// ``exposesPasswordToOthers``; the message says how to fix it.
    package func checkPasswordNotExposed() throws {
        if exposesPasswordToOthers {
            throw ConfigError(
                .insecurePermissions, file: file ?? "(built-in)", line: 0,
                message: "holds a password but is readable by every user (chmod o-r it)")
        }
    }

    /// The account for a message: with a sender (`-f`/`-r`), the first account
    /// whose `from` pattern matches it (``Account/matches(sender:)``, ASCII case
    /// ignored), else ``defaultAccount``; without one, ``defaultAccount``.
    package func account(forSender sender: String?) -> Account {
        if let sender, let match = accounts.first(where: { $0.matches(sender: sender) }) { return match }
        return defaultAccount
    }

    /// The account called `name`, or `nil`.
    package func account(named name: String) -> Account? {
        accounts.first { $0.name == name }
    }

    /// The configuration used when there is no file: one account `default`
    /// relaying to localhost port 25 without TLS or AUTH, host-wide defaults.
    package static func builtIn(localDomain: () -> String = { LocalHost.domain() }) -> Configuration {
        // The default settings cannot contradict each other.
        let account = (try? AccountSettings().resolve(name: "default", line: 0, localDomain: localDomain))
        guard let account else { preconditionFailure("the built-in account does not resolve") }
        return Configuration(
            file: nil, host: HostSettings(), accounts: [account], defaultAccount: account, holdsPassword: false,
            fileMode: nil)
    }

    /// Reads and parses the file at `path` (see ``parse(_:file:localDomain:)``).
    ///
    /// The file must be a regular file of at most 1 MiB. Its mode is recorded
    /// from the same descriptor for ``exposesPasswordToOthers``.
    ///
    /// - Parameter localDomain: gives the default `domain`; asked at most once,
    ///   and only when some account does not set `domain`.
    /// - Throws: ``ConfigError`` (`.unreadable` with `strerror`'s words,
    ///   including a missing file, or any parse error).
    package static func load(path: String, localDomain: () -> String = { LocalHost.domain() }) throws -> Configuration {
        let contents = try readConfigFile(path)
        var configuration = try parse(contents.bytes, file: path, localDomain: localDomain)
        configuration.fileMode = UInt32(contents.mode)
        return configuration
    }

    /// Like ``load(path:localDomain:)``, but a missing file (`ENOENT`) gives
    /// ``builtIn(localDomain:)``. For `/etc/apus.conf`; a `-C` file that does
    /// not exist should be an error (use `load`).
    ///
    /// - Throws: ``ConfigError``.
    package static func loadIfPresent(
        path: String, localDomain: () -> String = { LocalHost.domain() }
    ) throws -> Configuration {
        guard let contents = try readConfigFile(path, missingIsNil: true) else {
            return builtIn(localDomain: localDomain)
        }
        var configuration = try parse(contents.bytes, file: path, localDomain: localDomain)
        configuration.fileMode = UInt32(contents.mode)
        return configuration
    }
}
