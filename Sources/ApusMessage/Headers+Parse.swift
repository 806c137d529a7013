extension Headers {
    /// Parses a header block given as text: every field up to the first empty
    /// line (or the end), with LF or CRLF line ends and folded lines joined
    /// to their field, as ``MessageReader`` reads a message's header block.
    ///
    /// ```
    /// let headers = try Headers(parsing: "From: Ann <ann@example.org>\nSubject: hi\n")
    /// headers.first(named: "subject")?.valueString   // "hi"
    /// ```
    ///
    /// - Throws: ``MessageError`` for a malformed field or a block larger
    ///   than the reader's limits.
    public init(parsing text: String) throws(MessageError) {
        var reader = MessageReader(dotTerminates: false)
        reader.append(Array(text.utf8))
        reader.finish()
        var fields: [HeaderField] = []
        do {
            reading: while let event = try reader.next() {
                guard case .header(let field) = event else { break reading }
                fields.append(field)
            }
        } catch let error as MessageError {
            throw error
        } catch {
            throw .invalidHeaderField(reason: "\(error)")
        }
        self.init(fields)
    }

    /// The mailboxes of every field named `name` (To, Cc, From…), groups
    /// flattened, in order.
    ///
    /// - Throws: ``MessageError/invalidAddressHeader(name:error:)`` when a
    ///   field's value is not an address list.
    public func addresses(named name: String) throws(MessageError) -> [Mailbox] {
        var result: [Mailbox] = []
        for field in all(named: name) {
            do {
                result += try AddressList.parse(field.value).mailboxes
            } catch {
                throw .invalidAddressHeader(name: field.nameString, error: error)
            }
        }
        return result
    }
}

extension Mailbox {
    /// The local part as text (`ann`, or `a b` for `"a b"@x`: the value, unquoted).
    public var localPartString: String { String(decoding: localPart, as: UTF8.self) }
    /// The domain as text (`example.org`, `[192.0.2.1]`), nil when unqualified.
    public var domainString: String? { domain.map { String(decoding: $0, as: UTF8.self) } }
    /// The display name as text, unquoted, nil when there is none.
    public var displayNameString: String? { displayName.map { String(decoding: $0, as: UTF8.self) } }
    /// The address as written in a path, without angle brackets (`ann@example.org`).
    public var addressString: String { String(decoding: addrSpec, as: UTF8.self) }
}
