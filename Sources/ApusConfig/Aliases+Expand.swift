extension Aliases {
    /// Most levels of alias expansion followed before a name is kept as it is.
    package static let maximumDepth = 20

    /// Expands `recipients` through the aliases.
    ///
    /// - A qualified address (with `@`) is passed through as it is.
    /// - An unqualified name (`root`) is replaced by its targets, each expanded
    ///   again when it is unqualified; a name without an entry uses the
    ///   `default` entry when there is one, else stays as it is.
    /// - Loops: a name met again while it is being expanded (`a: b`, `b: a`;
    ///   `root: root, x@y`) is kept as itself, not expanded again, so
    ///   expansion always ends; so is a name more than ``maximumDepth`` levels deep.
    /// - Each entry is expanded once per call, and the result holds each address
    ///   once (first occurrence kept; the domain compared ignoring case, the
    ///   local part exactly, unqualified names ignoring case).
    /// - With `domain`, every unqualified name left is given `@domain`
    ///   (`default_domain`).
    ///
    /// Time and output are linear in the size of the table and the input.
    package func expand(_ recipients: [String], qualifyingWith domain: String? = nil) -> [String] {
        var expansion = Expansion(aliases: self, domain: domain)
        for recipient in recipients {
            if recipient.containsByte(0x40) {
                expansion.emit(recipient)
            } else {
                expansion.visit(recipient, path: [], depth: 0)
            }
        }
        return expansion.output
    }
}

/// The state of one ``Aliases/expand(_:qualifyingWith:)`` call.
private struct Expansion {
    let aliases: Aliases
    let domain: String?
    var output: [String] = []
    var seen: Set<String> = []
    var expandedEntries: Set<String> = []

    init(aliases: Aliases, domain: String?) {
        self.aliases = aliases
        self.domain = domain
    }

    mutating func emit(_ address: String) {
        var address = address
        if !address.containsByte(0x40), let domain { address += "@" + domain }
        let key: String
        let bytes = Array(address.utf8)
        if let at = bytes.lastIndex(of: 0x40) {
            key =
                String(decoding: bytes[...at], as: UTF8.self)
                + String(decoding: bytes[(at + 1)...], as: UTF8.self).lowercased()
        } else {
            key = address.lowercased()
        }
        if seen.insert(key).inserted { output.append(address) }
    }

    mutating func visit(_ name: String, path: [String], depth: Int) {
        let key = name.lowercased()
        let entryKey: String
        if aliases.entries[key] != nil {
            entryKey = key
        } else if aliases.entries["default"] != nil {
            entryKey = "default"
        } else {
            emit(name)
            return
        }
        if path.contains(entryKey) || depth >= Aliases.maximumDepth {
            emit(name)
            return
        }
        guard expandedEntries.insert(entryKey).inserted, let entry = aliases.entries[entryKey] else { return }
        for target in entry.targets {
            if target.containsByte(0x40) {
                emit(target)
            } else {
                visit(target, path: path + [entryKey], depth: depth + 1)
            }
        }
    }
}
