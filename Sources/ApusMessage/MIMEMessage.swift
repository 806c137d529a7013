/// A MIME message builder for library users: a text body, an HTML alternative
/// (multipart/alternative), attachments (base64, multipart/mixed), non-ASCII
/// subjects and names as RFC 2047 encoded words, non-ASCII file names as RFC 2231
/// parameters.
///
/// Text parts are always UTF-8 quoted-printable and attachments base64, so the
/// boundaries (`=_apus_…`) cannot occur in any part: neither encoding ever
/// produces `=_`. Every output line ends in CRLF and is at most 78 octets
/// (76 in bodies), except a header holding an unbreakable word longer than that.
///
/// ```swift
/// var m = MIMEMessage()
/// m.from = try Mailbox(localPart: "ann", domain: "example.org", displayName: "Ann")
/// m.to = [try Mailbox(localPart: "bob", domain: "example.net")]
/// m.subject = "Grüße"
/// m.text = "Hello\n"
/// m.html = "<p>Hello</p>\n"
/// m.attachments = [.init(fileName: "report.pdf", contentType: "application/pdf", data: pdfBytes)]
/// let bytes = try m.build()
/// ```
public struct MIMEMessage: Sendable {
    /// A file attached to the message.
    public struct Attachment: Sendable, Equatable {
        /// The file name shown to the reader (any Unicode; RFC 2231 encoded when needed).
        public var fileName: String
        /// The MIME type, `type/subtype` (e.g. `application/pdf`).
        public var contentType: String
        /// The file's bytes.
        public var data: [UInt8]

        /// Creates an attachment.
        public init(fileName: String, contentType: String = "application/octet-stream", data: [UInt8]) {
            self.fileName = fileName
            self.contentType = contentType
            self.data = data
        }
    }

    /// The From mailbox.
    public var from: Mailbox?
    /// The To mailboxes.
    public var to: [Mailbox] = []
    /// The Cc mailboxes.
    public var cc: [Mailbox] = []
    /// The subject (any Unicode).
    public var subject: String?
    /// Further header fields, written after the ones above (Date, Message-ID, Reply-To…).
    public var extraHeaders: [HeaderField] = []
    /// The plain-text body.
    public var text: String?
    /// The HTML body (with `text`, the two become multipart/alternative).
    public var html: String?
    /// Attachments (with any, the message is multipart/mixed).
    public var attachments: [Attachment] = []

    /// Creates an empty message.
    public init() {}

    /// Builds the message in wire form (CRLF lines), headers then body.
    /// - Throws: `MessageError.invalidHeaderValue` for an attachment whose content
    ///   type is not `token/token`; errors from `extraHeaders` were caught when they were made.
    public func build() throws -> [UInt8] {
        var headers = Headers()
        if let from { headers.append(try HeaderField(name: Array("From".utf8), value: from.formatted)) }
        if !to.isEmpty {
            headers.append(
                try HeaderField(name: Array("To".utf8), value: AddressList(to.map { .mailbox($0) }).formatted))
        }
        if !cc.isEmpty {
            headers.append(
                try HeaderField(name: Array("Cc".utf8), value: AddressList(cc.map { .mailbox($0) }).formatted))
        }
        if let subject {
            headers.append(
                try HeaderField(name: Array("Subject".utf8), value: HeaderFormat.encodeUnstructured(subject)))
        }
        for f in extraHeaders { headers.append(f) }
        headers.append(try HeaderField(name: "MIME-Version", value: "1.0"))

        let body = try bodyPart()
        var out = headers.bytes
        out += body
        return out
    }

    /// The top-level entity: its content headers, an empty line, and its body.
    private func bodyPart() throws -> [UInt8] {
        var alternatives: [[UInt8]] = []
        if let text { alternatives.append(Self.textPart(text, subtype: "plain")) }
        if let html { alternatives.append(Self.textPart(html, subtype: "html")) }
        if alternatives.isEmpty { alternatives.append(Self.textPart("", subtype: "plain")) }
        let main =
            alternatives.count == 1
            ? alternatives[0] : Self.multipart("alternative", boundary: "=_apus_alt", parts: alternatives)
        if attachments.isEmpty { return main }
        var parts = [main]
        for a in attachments { parts.append(try Self.attachmentPart(a)) }
        return Self.multipart("mixed", boundary: "=_apus_mixed", parts: parts)
    }

    static func textPart(_ text: String, subtype: String) -> [UInt8] {
        Array(
            "Content-Type: text/\(subtype); charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n".utf8)
            + QuotedPrintableEncoder.encode(text: Array(text.utf8))
    }

    static func attachmentPart(_ a: Attachment) throws -> [UInt8] {
        let type = a.contentType.split(separator: "/", omittingEmptySubsequences: false)
        guard type.count == 2, MIMEParameter.isToken(Array(type[0].utf8)), MIMEParameter.isToken(Array(type[1].utf8))
        else {
            throw MessageError.invalidHeaderValue(reason: "content type \"\(a.contentType)\" is not type/subtype")
        }
        var out = HeaderFormat.fold(
            name: Array("Content-Type".utf8),
            value: Array(a.contentType.utf8) + MIMEParameter.format(name: "name", value: a.fileName))
        out += HeaderFormat.fold(
            name: Array("Content-Disposition".utf8),
            value: Array("attachment".utf8) + MIMEParameter.format(name: "filename", value: a.fileName))
        out += Array("Content-Transfer-Encoding: base64\r\n\r\n".utf8)
        let encoded = Base64.encode(a.data)
        var i = 0
        while i < encoded.count {
            out += encoded[i..<min(i + 76, encoded.count)]
            out += ASCII.crlf
            i += 76
        }
        return out
    }

    static func multipart(_ subtype: String, boundary: String, parts: [[UInt8]]) -> [UInt8] {
        var out = Array("Content-Type: multipart/\(subtype);\r\n boundary=\"\(boundary)\"\r\n\r\n".utf8)
        out += Array("This is a multi-part message in MIME format.\r\n".utf8)
        for p in parts {
            out += Array("\r\n--\(boundary)\r\n".utf8)
            out += p
        }
        out += Array("\r\n--\(boundary)--\r\n".utf8)
        return out
    }
}
