/// An aliases file (`/etc/aliases` format) and the expansion of recipients through it.
///
/// Format:
///
/// ```
/// # comment (a line whose first non-blank character is '#')
/// postmaster: root
/// root:       alice@example.com, "bob smith"@example.com,
///             carol                # continued: the line starts with a blank
/// default:    admin@example.com    # catch-all for unqualified names
/// ```
///
/// - A name runs to the first `:`; names are unqualified (no `@`) and compared
///   ignoring ASCII case. A name defined twice is an error.
/// - Targets are separated by commas (outside double quotes) and line ends; an
///   empty item (a trailing comma) is ignored. `<addr>` is read as `addr`.
/// - A line starting with a space or tab continues the entry above it.
/// - apus only relays, so it cannot deliver to a pipe (`|cmd`), a file
///   (`/path`) or an `:include:` list. Such a target is skipped and reported in
///   ``warnings`` (`newaliases` prints them). An alias left with no target it
///   can deliver to is not an alias: the name passes through unchanged (then
///   gets `default_domain`), so mail is never dropped in silence.
///
/// Expansion (``expand(_:qualifyingWith:)``) is recursive through unqualified
/// targets; see there for loops.
package struct Aliases: Equatable, Sendable {
    /// One `name: targets` entry.
    package struct Entry: Equatable, Sendable {
        /// The name, lower case.
        package var name: String
        /// The addresses, as written (without `<>`); unqualified ones expand further.
        package var targets: [String]
        /// The line the entry starts on.
        package var line: Int
    }

    /// The file it was read from (as named to the loader).
    package var file: String
    /// The usable entries, by lower-case name.
    package var entries: [String: Entry]
    /// Targets that were skipped (pipes, files, `:include:`), one
    /// ``ConfigError`` of kind `.unsupportedTarget` each, in file order.
    package var warnings: [ConfigError]

    /// How many aliases the file defines (usable entries): what `newaliases`
    /// prints as `N aliases`.
    package var count: Int { entries.count }

    /// An empty table, for when no `aliases` file is configured.
    package init(file: String = "") {
        self.file = file
        entries = [:]
        warnings = []
    }

    /// The targets of `name` (ASCII case ignored), without expanding them
    /// further or applying `default`; `nil` when it is not an alias.
    package func targets(of name: String) -> [String]? {
        entries[name.lowercased()]?.targets
    }

    /// Reads and parses the aliases file at `path` (a regular file of at most 1 MiB).
    ///
    /// - Throws: ``ConfigError`` (`.unreadable`, `.tooLarge`, `.syntax`,
    ///   `.badValue`, `.duplicateAlias`), naming the file and line.
    package static func load(path: String) throws -> Aliases {
        try parse(readConfigFile(path).bytes, file: path)
    }
}
