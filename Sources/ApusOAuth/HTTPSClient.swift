import ApusBase
import ApusConfig
import ApusPOSIX
import ApusTransport

/// A minimal HTTPS client for the token endpoint: one `POST` of a form per
/// connection (`Connection: close`), over ``TCPStream`` and ``TLSStream``
/// with the certificate chain and host name always verified (the system
/// store, or `trustFile`), and the response read by ``HTTPResponseParser``.
///
/// ```
/// POST /oauth2/v2.0/token HTTP/1.1
/// Host: login.example.com
/// Content-Type: application/x-www-form-urlencoded
/// Accept: application/json
/// Content-Length: 123
/// Connection: close
/// ```
///
/// The whole exchange (connect, handshake, request, response) must finish
/// within `timeout` seconds. Nothing of the request or response is traced.
package struct HTTPSClient {
    /// A CA bundle to trust instead of the system store, or `nil`.
    package var trustFile: String?
    /// Seconds for the whole exchange.
    package var timeout: Double
    /// The `User-Agent` value.
    package var userAgent = "apus"

    /// A client trusting `trustFile` (or the system store) with `timeout` seconds per exchange.
    package init(trustFile: String?, timeout: Double) {
        self.trustFile = trustFile
        self.timeout = timeout
    }

    /// The request's bytes (for tests and the fuzz target's seeds).
    package static func request(url: HTTPSURL, form: [UInt8], userAgent: String = "apus") -> [UInt8] {
        let head =
            "POST \(url.path) HTTP/1.1\r\nHost: \(url.hostHeader)\r\nUser-Agent: \(userAgent)\r\n"
            + "Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n"
            + "Content-Length: \(form.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + form
    }

    /// POSTs `form` (already encoded) to `url` and returns the response.
    ///
    /// - Throws: ``TransportError`` (connect, TLS, timeout, I/O) or ``HTTPError``.
    package func post(_ url: HTTPSURL, form: [UInt8]) throws -> HTTPResponse {
        let deadline = Deadline.after(seconds: timeout)
        let tcp = try TCPStream.connect(host: url.host, port: UInt16(url.port), timeout: timeout)
        var configuration = TLSConfiguration(serverName: url.host)
        configuration.verify = true
        configuration.trustFile = trustFile
        tcp.timeout = remaining(deadline)
        let tls: TLSStream
        do {
            tls = try TLSStream(wrapping: tcp, configuration: configuration)
        } catch {
            tcp.close()
            throw error
        }
        defer { tls.close() }
        tls.timeout = remaining(deadline)
        let request = Self.request(url: url, form: form, userAgent: userAgent)
        try request.withUnsafeBytes { try tls.write($0) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            tls.timeout = remaining(deadline)
            if deadline.hasPassed { throw TransportError.timedOut("waiting for the token endpoint's answer") }
            let count = try buffer.withUnsafeMutableBytes { try tls.read(into: $0) }
            received += buffer[0..<count]
            if let response = try HTTPResponseParser.parse(received, atEnd: count == 0) { return response }
        }
    }

    private func remaining(_ deadline: Deadline) -> Double {
        max(0.001, Double(deadline.remainingMilliseconds) / 1000)
    }
}

/// `application/x-www-form-urlencoded` (WHATWG URL §5): each name and value
/// percent-encoded, joined with `=` and `&`.
package enum FormEncoding {
    /// The encoded form.
    package static func encode(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (index, field) in fields.enumerated() {
            if index > 0 { out.append(0x26) }
            escape(field.0, into: &out)
            out.append(0x3D)
            escape(field.1, into: &out)
        }
        return out
    }

    private static func escape(_ text: String, into out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E: out.append(byte)
            default:
                out.append(0x25)
                Hex.append(byte, to: &out)
            }
        }
    }
}
