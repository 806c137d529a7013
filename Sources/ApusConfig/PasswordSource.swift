/// Where an account's password (or OAuth token) comes from.
///
/// Its ``description`` never shows the secret: `password (set)`,
/// `password_file /run/x`, `passwordeval (set)` or `password (none)`. Fetching
/// the secret (reading the file, running the command) is ApusDelivery's
/// `PasswordSource.retrieve(timeout:)`: this module only parses.
package enum PasswordSource: Equatable, Sendable, CustomStringConvertible {
    /// No password configured.
    case none
    /// `password`: the secret as written in the file.
    case literal(String)
    /// `password_file`: the first line of this file.
    case file(String)
    /// `passwordeval`: the first line this shell command prints.
    case command(String)

    /// Whether a password is configured at all.
    package var isConfigured: Bool { self != .none }

    /// A redacted one-line summary, in apus.conf syntax.
    package var description: String {
        switch self {
        case .none: "password (none)"
        case .literal: "password (set)"
        case .file(let path): "password_file \(path)"
        case .command: "passwordeval (set)"
        }
    }
}
