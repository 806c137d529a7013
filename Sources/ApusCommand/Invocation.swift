/// What the command line asked for: the mode and every option, before anything
/// is read or sent. Produced by ``ArgumentScanner``; plain data.
package struct Invocation: Equatable, Sendable {
    /// What apus does.
    package enum Mode: Equatable, Sendable {
        /// `-bm` (and `sendmail`/`apus`): read a message, deliver it.
        case deliver
        /// `-bp` (and `mailq`): list the queue; `json` with `--json`.
        case listQueue(json: Bool)
        /// `-bi`, `-I` (and `newaliases`): check the aliases file.
        case newAliases
        /// `-bv`: check the configuration and the relay, send nothing.
        case verify
        /// `-bs`: speak SMTP on stdin/stdout.
        case smtpSession
        /// `-q…`: run the queue once, or every `interval` seconds.
        case runQueue(QueueSelection, interval: Int?)
        /// `-bd`, `-bD`, `-bh`, `-bH`: accepted for compatibility; does nothing.
        case ignored(String)
        /// `--help`.
        case help
        /// `--version`.
        case version
    }

    /// Which queued messages a queue run tries.
    package enum QueueSelection: Equatable, Sendable {
        /// `-q`: the messages that are due.
        case due
        /// `-qf`: every message, due or not.
        case all
        /// `-qI ID`: queue ids containing the text.
        case id(String)
        /// `-qR DOMAIN`: a recipient in the domain (substring, case-insensitive).
        case recipientDomain(String)
        /// `-qS ADDR`: the sender (substring).
        case sender(String)

        /// Whether only root may ask for this run (everything but `-q`).
        package var needsRoot: Bool { self != .due }
    }

    /// The mode.
    package var mode: Mode = .deliver
    /// `-t`: take recipients from the headers too.
    package var extractRecipients = false
    /// `-i`, `-oi`: a lone `.` line does not end the message.
    package var ignoreDots = false
    /// `-f`/`-r`: the envelope sender as given (`""` or `<>` is the null sender).
    package var sender: String? = nil
    /// `-F`: full name for an added From:.
    package var fullName: String? = nil
    /// `-N`: DSN NOTIFY as given (`never` or a comma list), validated.
    package var dsnNotify: String? = nil
    /// `-R`: DSN RET (`full` or `hdrs`).
    package var dsnReturn: String? = nil
    /// `-V`: DSN ENVID.
    package var envelopeID: String? = nil
    /// `-B`: body type (`7BIT` or `8BITMIME`).
    package var bodyType: String? = nil
    /// `-C`: configuration file instead of /etc/apus.conf.
    package var configFile: String? = nil
    /// `-v`: print the SMTP dialogue on stderr.
    package var verbose = false
    /// `-X`: append the SMTP dialogue to this file.
    package var traceFile: String? = nil
    /// Recipients from the command line, comma lists split.
    package var recipients: [String] = []
    /// Options accepted and ignored, as written (for `-v`).
    package var ignoredOptions: [String] = []

    /// A default invocation (deliver, no options).
    package init() {}
}
