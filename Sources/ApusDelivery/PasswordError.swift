/// Why the password could not be fetched. The command maps it to exit 71
/// (`EX_OSERR`): the configuration is fine, the system failed.
///
/// ``description`` is one line such as `passwordeval: command exited with
/// status 1`; it never holds the secret or the command's output.
package struct PasswordError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What failed.
    package enum Kind: Equatable, Sendable {
        /// `password_file` could not be opened or read.
        case unreadable
        /// The command could not be started.
        case spawnFailed
        /// The command exited with a non-zero status or was killed by a signal.
        case commandFailed
        /// The command did not finish within the timeout (it was killed).
        case timedOut
        /// The command printed more than ``PasswordCommand/outputLimit`` bytes.
        case outputTooLong
        /// The first line was empty (or not UTF-8).
        case empty
    }

    /// What failed.
    package var kind: Kind
    /// One line saying so; never the secret.
    package var message: String

    /// Creates an error.
    package init(_ kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    /// ``message``.
    package var description: String { message }
}
