/// An HTTP/1.x response as ``HTTPResponseParser`` reads it: status, header
/// fields and the body (chunked transfer coding already removed).
package struct HTTPResponse: Equatable, Sendable {
    /// The status code, 200–599 (interim 1xx responses are skipped).
    package var status: Int
    /// The reason phrase (printable ASCII only).
    package var reason: String
    /// The header fields in order; names lower-cased.
    package var headers: [(name: String, value: String)]
    /// The body.
    package var body: [UInt8]

    /// A response with these parts.
    package init(status: Int, reason: String, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
    }

    /// The value of the first field called `name` (lower case), or `nil`.
    package func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }

    package static func == (a: HTTPResponse, b: HTTPResponse) -> Bool {
        a.status == b.status && a.reason == b.reason && a.body == b.body && a.headers.count == b.headers.count
            && zip(a.headers, b.headers).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

/// Reads one HTTP/1.0 or 1.1 response from the bytes received so far
/// (RFC 9112), for a request sent with `Connection: close`.
///
/// Call ``parse(_:atEnd:)`` with everything received; it returns `nil` while
/// the response is incomplete. The body is delimited by `Transfer-Encoding:
/// chunked`, else `Content-Length`, else the end of the connection. Bounds:
/// ``maximumSize`` bytes in all (headers, chunk framing and body), 100 header
/// fields, header lines of 8 KiB; other transfer codings, conflicting
/// lengths, malformed framing or bytes after a delimited body are errors.
package enum HTTPResponseParser {
    /// The most bytes a response may have: 64 KiB.
    package static let maximumSize = 64 * 1024
    /// The most header fields.
    package static let maximumFields = 100

    /// Parses the response in `bytes`.
    ///
    /// - Parameters:
    ///   - bytes: every byte received so far.
    ///   - atEnd: whether the server has closed the connection (no more bytes come).
    /// - Returns: the response, or `nil` when more bytes are needed.
    /// - Throws: ``HTTPError`` for a malformed or oversized response, or one
    ///   cut short by the end of the connection.
    package static func parse(_ bytes: [UInt8], atEnd: Bool) throws(HTTPError) -> HTTPResponse? {
        guard bytes.count <= maximumSize else {
            throw HTTPError("the response is larger than \(maximumSize / 1024) KiB")
        }
        var start = 0
        while true {
            guard let head = try header(bytes, from: start) else {
                if atEnd { throw HTTPError("the connection closed inside the response header") }
                return nil
            }
            if (100..<200).contains(head.status) {
                guard head.status != 101 else { throw HTTPError("unexpected 101 Switching Protocols") }
                start = head.bodyStart
                continue
            }
            return try body(bytes, head: head, atEnd: atEnd)
        }
    }

    private struct Head {
        var status: Int
        var reason: String
        var headers: [(name: String, value: String)]
        var bodyStart: Int
    }

    /// The status line and fields starting at `start`, or nil while incomplete.
    private static func header(_ bytes: [UInt8], from start: Int) throws(HTTPError) -> Head? {
        var lines: [ArraySlice<UInt8>] = []
        var index = start
        var lineStart = start
        while true {
            guard let newline = bytes[index...].firstIndex(of: 0x0A) else {
                if bytes.count - lineStart > 8192 { throw HTTPError("a header line is longer than 8 KiB") }
                return nil
            }
            var line = bytes[lineStart..<newline]
            if line.last == 0x0D { line = line.dropLast() }
            if line.count > 8192 { throw HTTPError("a header line is longer than 8 KiB") }
            index = newline + 1
            lineStart = index
            if line.isEmpty {
                if lines.isEmpty { continue }  // RFC 9112 §2.2: tolerate empty lines before the status line
                break
            }
            lines.append(line)
            if lines.count > maximumFields + 1 { throw HTTPError("more than \(maximumFields) header fields") }
        }
        let (status, reason) = try statusLine(lines[0])
        var fields: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: 0x3A), colon > line.startIndex else {
                throw HTTPError("a header line without a field name")
            }
            let name = line[..<colon]
            guard name.allSatisfy({ isTokenByte($0) }) else { throw HTTPError("a bad header field name") }
            var value = line[(colon + 1)...]
            while let first = value.first, first == 0x20 || first == 0x09 { value = value.dropFirst() }
            while let last = value.last, last == 0x20 || last == 0x09 { value = value.dropLast() }
            guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                throw HTTPError("a control character in a header field")
            }
            fields.append(
                (String(decoding: name, as: UTF8.self).lowercased(), String(decoding: value, as: UTF8.self)))
        }
        return Head(status: status, reason: reason, headers: fields, bodyStart: index)
    }

    private static func statusLine(_ line: ArraySlice<UInt8>) throws(HTTPError) -> (Int, String) {
        let prefix = Array("HTTP/1.".utf8)
        guard line.count >= 12, Array(line.prefix(7)) == prefix else { throw HTTPError("not an HTTP/1.x response") }
        let bytes = Array(line)
        guard bytes[7] == 0x30 || bytes[7] == 0x31, bytes[8] == 0x20,
            bytes[9...11].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), bytes.count == 12 || bytes[12] == 0x20
        else { throw HTTPError("a malformed status line") }
        let status = Int(bytes[9] - 0x30) * 100 + Int(bytes[10] - 0x30) * 10 + Int(bytes[11] - 0x30)
        guard (100...599).contains(status) else { throw HTTPError("status \(status) out of range") }
        let reasonBytes = bytes.count > 13 ? bytes[13...].prefix(100) : []
        let reason = String(decoding: reasonBytes.map { $0 >= 0x20 && $0 < 0x7F ? $0 : 0x3F }, as: UTF8.self)
        return (status, reason)
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }

    private static func body(_ bytes: [UInt8], head: Head, atEnd: Bool) throws(HTTPError) -> HTTPResponse? {
        var response = HTTPResponse(status: head.status, reason: head.reason, headers: head.headers, body: [])
        let rest = bytes[head.bodyStart...]
        let codings = head.headers.filter { $0.name == "transfer-encoding" }.map { $0.value.lowercased() }
        if !codings.isEmpty {
            guard codings == ["chunked"] else {
                throw HTTPError("unsupported transfer coding \(codings.joined(separator: ", "))")
            }
            guard let body = try dechunk(rest, atEnd: atEnd) else { return nil }
            response.body = body
            return response
        }
        let lengths = Set(head.headers.filter { $0.name == "content-length" }.map(\.value))
        if lengths.count > 1 { throw HTTPError("conflicting Content-Length fields") }
        if head.status == 204 || head.status == 304 {
            if !rest.isEmpty { throw HTTPError("bytes after a response without a body") }
            return response
        }
        if let text = lengths.first {
            guard !text.isEmpty, text.utf8.count <= 9, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let length = Int(text)
            else { throw HTTPError("a bad Content-Length") }
            guard length <= maximumSize else {
                throw HTTPError("the response is larger than \(maximumSize / 1024) KiB")
            }
            if rest.count < length {
                if atEnd { throw HTTPError("the connection closed \(length - rest.count) bytes before the body's end") }
                return nil
            }
            if rest.count > length { throw HTTPError("bytes after the response body") }
            response.body = Array(rest)
            return response
        }
        if !atEnd { return nil }
        response.body = Array(rest)
        return response
    }

    /// The body of a chunked message, or nil while incomplete.
    private static func dechunk(_ bytes: ArraySlice<UInt8>, atEnd: Bool) throws(HTTPError) -> [UInt8]? {
        var body: [UInt8] = []
        var index = bytes.startIndex
        func incomplete() throws(HTTPError) -> [UInt8]? {
            if atEnd { throw HTTPError("the connection closed inside the chunked body") }
            return nil
        }
        while true {
            guard let newline = bytes[index...].firstIndex(of: 0x0A) else {
                if bytes.endIndex - index > 1024 { throw HTTPError("a chunk size line is longer than 1 KiB") }
                return try incomplete()
            }
            var line = bytes[index..<newline]
            if line.last == 0x0D { line = line.dropLast() }
            guard line.count <= 1024 else { throw HTTPError("a chunk size line is longer than 1 KiB") }
            let sizeText = line.prefix { $0 != 0x3B && $0 != 0x20 && $0 != 0x09 }
            guard !sizeText.isEmpty, sizeText.count <= 8,
                sizeText.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }),
                let size = Int(String(decoding: sizeText, as: UTF8.self), radix: 16)
            else { throw HTTPError("a bad chunk size") }
            index = newline + 1
            if size == 0 {
                // Trailer fields, then an empty line.
                while true {
                    guard let end = bytes[index...].firstIndex(of: 0x0A) else { return try incomplete() }
                    var trailer = bytes[index..<end]
                    if trailer.last == 0x0D { trailer = trailer.dropLast() }
                    index = end + 1
                    if trailer.isEmpty { break }
                }
                if index != bytes.endIndex { throw HTTPError("bytes after the chunked body") }
                return body
            }
            guard size <= maximumSize, body.count + size <= maximumSize else {
                throw HTTPError("the response is larger than \(maximumSize / 1024) KiB")
            }
            if bytes.endIndex - index < size { return try incomplete() }
            body.append(contentsOf: bytes[index..<index + size])
            index += size
            if bytes.endIndex - index < 1 { return try incomplete() }
            if bytes[index] == 0x0D {
                if bytes.endIndex - index < 2 { return try incomplete() }
                index += 1
            }
            guard bytes[index] == 0x0A else { throw HTTPError("a chunk not followed by CRLF") }
            index += 1
        }
    }
}

/// Why an HTTP exchange failed: a malformed, oversized or truncated response.
package struct HTTPError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong.
    package var message: String
    /// Creates an error.
    package init(_ message: String) { self.message = message }
    /// ``message``.
    package var description: String { message }
}
