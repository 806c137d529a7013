/// The header block of a message: its fields in order, looked up by name
/// case-insensitively. Changing it never reorders or refolds the other fields.
public struct Headers: Sendable, Hashable, RandomAccessCollection {
    /// The fields, in the order they were read or added.
    public var fields: [HeaderField]

    /// Creates a header block from fields.
    public init(_ fields: [HeaderField] = []) { self.fields = fields }

    /// Start index (the collection is `fields`).
    public var startIndex: Int { fields.startIndex }
    /// End index.
    public var endIndex: Int { fields.endIndex }
    /// The field at `position`.
    public subscript(position: Int) -> HeaderField { fields[position] }

    /// The first field named `name` (case-insensitive), or nil.
    public func first(named name: String) -> HeaderField? { fields.first { $0.hasName(name) } }

    /// Every field named `name`, in order.
    public func all(named name: String) -> [HeaderField] { fields.filter { $0.hasName(name) } }

    /// Whether a field named `name` exists.
    public func contains(named name: String) -> Bool { fields.contains { $0.hasName(name) } }

    /// Whether any field's name starts with `prefix` (case-insensitive), e.g. `Resent-`.
    public func contains(namePrefix prefix: String) -> Bool {
        let p = Array(prefix.utf8)
        return fields.contains { f in
            let n = f.name
            return n.count >= p.count && ASCII.equalsIgnoringCase(n[..<p.count], p)
        }
    }

    /// Removes every field named `name`; returns how many were removed.
    @discardableResult
    public mutating func removeAll(named name: String) -> Int {
        let before = fields.count
        fields.removeAll { $0.hasName(name) }
        return before - fields.count
    }

    /// Appends a field at the end of the block.
    public mutating func append(_ field: HeaderField) { fields.append(field) }

    /// Replaces the first field named like `field` in place (keeping its
    /// position) and removes any others of that name; appends when there is none.
    public mutating func replace(with field: HeaderField) {
        let name = field.nameString
        if let i = fields.firstIndex(where: { $0.hasName(name) }) {
            fields[i] = field
            var j = i + 1
            while j < fields.count {
                if fields[j].hasName(name) { fields.remove(at: j) } else { j += 1 }
            }
        } else {
            fields.append(field)
        }
    }

    /// The block in wire form: every field's raw bytes (each line ending in
    /// CRLF), without the empty line that ends the block.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(fields.reduce(0) { $0 + $1.raw.count })
        for f in fields { out += f.raw }
        return out
    }
}
