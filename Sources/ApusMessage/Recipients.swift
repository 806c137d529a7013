/// Recipient extraction for `-t` (delivery.md "Envelope").
public enum Recipients {
    /// The header fields `-t` reads: To, Cc and Bcc, or Resent-To, Resent-Cc and
    /// Resent-Bcc when any `Resent-` header exists.
    public static func fieldNames(for headers: Headers) -> [String] {
        headers.contains(namePrefix: "Resent-") ? ["Resent-To", "Resent-Cc", "Resent-Bcc"] : ["To", "Cc", "Bcc"]
    }

    /// Every mailbox in the recipient headers (see `fieldNames(for:)`), in header
    /// order, group members included, duplicates kept. Unqualified addresses are
    /// returned as they are, for the caller to qualify.
    ///
    /// - Throws: `MessageError.invalidAddressHeader` naming the field and the offset
    ///   in its unfolded value (apus exits 65).
    public static func extract(from headers: Headers) throws -> [Mailbox] {
        let names = fieldNames(for: headers)
        var out: [Mailbox] = []
        for field in headers where names.contains(where: { field.hasName($0) }) {
            do {
                out += try AddressList.parse(field.value).mailboxes
            } catch {
                throw MessageError.invalidAddressHeader(name: field.nameString, error: error)
            }
        }
        return out
    }

    /// The mailboxes with duplicates removed, first occurrence kept: two are the
    /// same when their local parts are equal octet for octet and their domains
    /// equal ignoring ASCII case. Qualify addresses before calling this.
    public static func removingDuplicates(_ mailboxes: [Mailbox]) -> [Mailbox] {
        var seen = Set<[UInt8]>()
        var out: [Mailbox] = []
        for m in mailboxes {
            var key = m.localPart
            key.append(0)  // cannot occur in a local part: separates it from the domain
            if let d = m.domain { key += d.map(ASCII.lower) } else { key.append(1) }
            if seen.insert(key).inserted { out.append(m) }
        }
        return out
    }

    /// The envelope recipients: `commandLine` first, then with `readHeaders` (`-t`)
    /// those of `extract(from:)`; each qualified with `qualify` (which may apply
    /// aliases or `default_domain`, and may return several mailboxes); then
    /// duplicates removed.
    ///
    /// - Throws: what `extract(from:)` and `qualify` throw.
    public static func envelope(
        commandLine: [Mailbox], headers: Headers, readHeaders: Bool,
        qualify: (Mailbox) throws -> [Mailbox] = { [$0] }
    ) throws -> [Mailbox] {
        var all = commandLine
        if readHeaders { all += try extract(from: headers) }
        var qualified: [Mailbox] = []
        for m in all { qualified += try qualify(m) }
        return removingDuplicates(qualified)
    }
}
