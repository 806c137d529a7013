/// The `-qI`, `-qR`, `-qS` filters: a message matches when it passes every one that is set.
package struct QueueFilter: Equatable, Sendable {
    /// `-qI`: the queue id contains this (case-sensitive).
    package var idContains: String?
    /// `-qR`: a pending recipient's domain contains this (ASCII case-insensitive).
    package var recipientDomainContains: String?
    /// `-qS`: the sender contains this (case-sensitive, as sendmail).
    package var senderContains: String?

    /// A filter; nil parts match everything.
    package init(idContains: String? = nil, recipientDomainContains: String? = nil, senderContains: String? = nil) {
        self.idContains = idContains
        self.recipientDomainContains = recipientDomainContains
        self.senderContains = senderContains
    }

    /// Whether the message passes every filter that is set.
    package func matches(_ entry: QueueEntry) -> Bool {
        if let idContains, !contains(entry.id.rawValue.utf8, idContains.utf8, ignoringCase: false) { return false }
        if let senderContains, !contains(entry.envelope.sender.utf8, senderContains.utf8, ignoringCase: false) {
            return false
        }
        if let recipientDomainContains {
            let found = entry.envelope.pendingRecipients.contains { recipient in
                let utf8 = Array(recipient.address.utf8)
                let domain = utf8.lastIndex(of: UInt8(ascii: "@")).map { utf8[($0 + 1)...] } ?? []
                return contains(domain, recipientDomainContains.utf8, ignoringCase: true)
            }
            if !found { return false }
        }
        return true
    }

    private func contains(
        _ haystack: some Collection<UInt8>, _ needle: some Collection<UInt8>, ignoringCase: Bool
    ) -> Bool {
        let hay = ignoringCase ? haystack.map(lower) : Array(haystack)
        let pin = ignoringCase ? needle.map(lower) : Array(needle)
        if pin.isEmpty { return true }
        guard pin.count <= hay.count else { return false }
        for start in 0...(hay.count - pin.count) where hay[start..<(start + pin.count)].elementsEqual(pin) {
            return true
        }
        return false
    }

    private func lower(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }
}

/// Which messages a queue run takes.
package enum QueueSelection: Equatable, Sendable {
    /// `-q`: messages with a pending recipient whose next attempt is at or before `now`.
    case due(now: Int64)
    /// `-qf`: every message with a pending recipient.
    case all
    /// `-qI`/`-qR`/`-qS`: every message with a pending recipient that passes the filter, due or not.
    case matching(QueueFilter)

    /// Whether `entry` is selected.
    package func includes(_ entry: QueueEntry) -> Bool {
        guard !entry.envelope.isFinished else { return false }
        switch self {
        case .due(let now): return entry.envelope.nextAttempt <= now
        case .all: return true
        case .matching(let filter): return filter.matches(entry)
        }
    }
}

extension QueueListing {
    /// The entries `selection` takes, in listing order (oldest first).
    package func select(_ selection: QueueSelection) -> [QueueEntry] {
        entries.filter(selection.includes)
    }
}

extension Sequence where Element == QueueEntry {
    /// Groups entries by a key the caller computes (the account or relay), so a
    /// run can send each group over one connection. Groups come in the order
    /// their first entry appears; entries keep their order within a group.
    package func grouped<Key: Hashable>(by key: (QueueEntry) throws -> Key) rethrows -> [(
        key: Key, entries: [QueueEntry]
    )] {
        var index: [Key: Int] = [:]
        var groups: [(key: Key, entries: [QueueEntry])] = []
        for entry in self {
            let k = try key(entry)
            if let i = index[k] {
                groups[i].entries.append(entry)
            } else {
                index[k] = groups.count
                groups.append((key: k, entries: [entry]))
            }
        }
        return groups
    }
}
