extension Aliases {
    /// Parses an aliases file from its bytes (see ``Aliases`` for the format);
    /// `file` names it in errors. Pure: no file system.
    ///
    /// - Throws: ``ConfigError`` (`.tooLarge`, `.syntax`, `.badValue`,
    ///   `.duplicateAlias`), naming `file`, the line and the alias.
    package static func parse(_ bytes: [UInt8], file: String) throws -> Aliases {
        var aliases = Aliases(file: file)
        var pending: (name: String, line: Int, items: [(text: String, line: Int)])?
        func finish() throws(ConfigError) {
            guard let entry = pending else { return }
            pending = nil
            try aliases.add(name: entry.name, line: entry.line, items: entry.items)
        }
        for line in try splitLines(bytes, file: file) {
            let text = line.text
            let trimmed = text.trimmingBlanks()
            if trimmed.isEmpty || trimmed.utf8.first == 0x23 { continue }
            if text.utf8.first == 0x20 || text.utf8.first == 0x09 {
                guard pending != nil else {
                    throw ConfigError(
                        .syntax, file: file, line: line.number, message: "continuation line without an alias above it")
                }
                pending?.items.append(contentsOf: try splitTargets(trimmed, line: line.number, file: file))
                continue
            }
            try finish()
            guard let colon = trimmed.utf8.firstIndex(of: 0x3A) else {
                throw ConfigError(.syntax, file: file, line: line.number, message: "expected 'name: address, ...'")
            }
            let name = trimmed[..<colon].trimmingBlanks()
            guard isAliasName(name) else {
                throw ConfigError(
                    .syntax, file: file, line: line.number, key: name,
                    message: name.containsByte(0x40)
                        ? "alias name \(quoted(name)) is qualified; only unqualified names can be aliases"
                        : "bad alias name \(quoted(name))")
            }
            let rest = String(trimmed[trimmed.utf8.index(after: colon)...])
            pending = (name.lowercased(), line.number, try splitTargets(rest, line: line.number, file: file))
        }
        try finish()
        return aliases
    }

    /// Adds one entry after checking and classifying its targets.
    private mutating func add(name: String, line: Int, items: [(text: String, line: Int)]) throws(ConfigError) {
        if let earlier = entries[name] {
            throw ConfigError(
                .duplicateAlias, file: file, line: line, key: name,
                message: "alias \(quoted(name)) already defined on line \(earlier.line)")
        }
        if items.isEmpty {
            throw ConfigError(
                .badValue, file: file, line: line, key: name, message: "alias \(quoted(name)) has no address")
        }
        var targets: [String] = []
        for item in items {
            let text = item.text.strippingAngleBrackets()
            let bytes = Array(item.text.utf8)
            let unquoted = bytes.first == 0x22 ? bytes.dropFirst() : bytes[...]
            let unsupported: String? =
                unquoted.starts(with: ":include:".utf8)
                ? "':include:' lists are not supported"
                : unquoted.first == 0x7C
                    ? "pipes to commands are not supported"
                    : unquoted.first == 0x2F ? "delivery to files is not supported" : nil
            if let unsupported {
                warnings.append(
                    ConfigError(
                        .unsupportedTarget, file: file, line: item.line, key: name,
                        message: "alias \(quoted(name)): \(unsupported) by a relay-only MTA; target skipped"))
                continue
            }
            guard isPlainAddress(text) else {
                throw ConfigError(
                    .badValue, file: file, line: item.line, key: name,
                    message: "alias \(quoted(name)): \(quoted(text)) is not an address")
            }
            if !targets.contains(text) { targets.append(text) }
        }
        if !targets.isEmpty { entries[name] = Entry(name: name, targets: targets, line: line) }
    }
}

/// An alias name: 1–64 bytes, none of blank, `@`, `,`, `"`, `<`, `>`, `:`.
private func isAliasName(_ name: String) -> Bool {
    guard !name.isEmpty, name.utf8.count <= 64 else { return false }
    return !name.utf8.contains { [0x20, 0x09, 0x40, 0x2C, 0x22, 0x3C, 0x3E, 0x3A].contains($0) }
}

/// Whether `text` is one address as a relay can pass it on: not empty, at most
/// 254 bytes, no blank, `<`, `>`, `,` or `;` outside double quotes, quotes
/// balanced, not starting or ending with `@`, no `@` inside `@...@` runs.
func isPlainAddress(_ text: String) -> Bool {
    guard !text.isEmpty, text.utf8.count <= 254, text.utf8.first != 0x40, text.utf8.last != 0x40 else { return false }
    var inQuotes = false
    var escaped = false
    for byte in text.utf8 {
        if escaped {
            escaped = false
            continue
        }
        if inQuotes {
            if byte == 0x5C { escaped = true } else if byte == 0x22 { inQuotes = false }
            continue
        }
        switch byte {
        case 0x22: inQuotes = true
        case 0x20, 0x09, 0x3C, 0x3E, 0x2C, 0x3B, 0x28, 0x29, 0x5C: return false
        default: break
        }
    }
    return !inQuotes && !escaped
}

/// Splits a target list at commas outside double quotes; items trimmed, empty ones dropped.
private func splitTargets(_ text: String, line: Int, file: String) throws(ConfigError) -> [(text: String, line: Int)] {
    var items: [(text: String, line: Int)] = []
    var current = String.UnicodeScalarView()
    var inQuotes = false
    var escaped = false
    func flush() {
        let item = String(current).trimmingBlanks()
        if !item.isEmpty { items.append((item, line)) }
        current = String.UnicodeScalarView()
    }
    for scalar in text.unicodeScalars {
        if escaped {
            escaped = false
        } else if inQuotes && scalar == "\\" {
            escaped = true
        } else if scalar == "\"" {
            inQuotes.toggle()
        } else if scalar == "," && !inQuotes {
            flush()
            continue
        }
        current.append(scalar)
    }
    if inQuotes {
        throw ConfigError(.syntax, file: file, line: line, message: "missing closing quote")
    }
    flush()
    return items
}
