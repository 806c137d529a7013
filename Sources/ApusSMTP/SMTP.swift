import ApusTransport
import Glibc

/// One-call sending (scsh `smtp-send-mail`, Racket `send-smtp-message`,
/// Allegro `send-smtp`) and the protocol's constants.
///
/// ```
/// try SMTP.sendMail(
///     from: "me@example.org", to: ["you@example.net"],
///     headers: .fields([("Subject", "Hello")]), body: .lines(["Hi there."]),
///     server: "smtp.example.org:587", tls: .startTLS(TLSConfiguration(serverName: "smtp.example.org")))
/// ```
public enum SMTP {
    /// The SMTP port, 25 (OCamlnet `tcp_port`).
    public static let defaultPort: UInt16 = 25

    /// A message's header section for ``sendMail(from:to:headers:body:server:port:tls:authentication:clientName:timeout:trace:options:)``.
    public enum Headers {
        /// Name/value pairs, written `Name: value` in order.
        case fields([(name: String, value: String)])
        /// The header section as text (Racket's header string), with or
        /// without its ending empty line.
        case raw(String)
        /// No header section: the body is the whole message.
        case none
    }

    /// How the connection is encrypted.
    public enum TLSMode {
        /// Plain text.
        case none
        /// STARTTLS, required: a server without it fails with
        /// ``SMTPError/Kind/missingExtension`` before anything else is sent.
        case startTLS(TLSConfiguration)
        /// STARTTLS when the server offers it, plain text otherwise.
        case startTLSIfOffered(TLSConfiguration)
        /// TLS from the first byte (port 465).
        case implicit(TLSConfiguration)
    }

    /// The message formed by `headers`, an empty line, and `body`.
    public static func message(headers: Headers, body: MessageSource) -> MessageSource {
        switch headers {
        case .none:
            return body
        case .fields(let fields):
            var text = ""
            for (name, value) in fields { text += "\(name): \(value)\n" }
            return .string(text + "\n") + body
        case .raw(var text):
            while let last = text.unicodeScalars.last, last == "\n" || last == "\r" {
                text.unicodeScalars.removeLast()
            }
            return .string(text + "\n\n") + body
        }
    }

    /// This host's name for EHLO (`gethostname`), or "localhost".
    public static func localHostName() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let ok = buffer.withUnsafeMutableBufferPointer { pointer in
            pointer.baseAddress?.withMemoryRebound(to: CChar.self, capacity: 256) { gethostname($0, 255) == 0 } ?? false
        }
        guard ok, let end = buffer.firstIndex(of: 0), end > 0 else { return "localhost" }
        let name = String(decoding: buffer[..<end], as: UTF8.self)
        let allowed = name.unicodeScalars.allSatisfy {
            $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "."
        }
        return allowed && name.unicodeScalars.allSatisfy(\.isASCII) ? name : "localhost"
    }

    /// Connects to `server`, sends one message, and quits.
    ///
    /// - Parameters:
    ///   - sender: the envelope sender (empty for `<>`).
    ///   - recipients: every recipient (To, Cc and Bcc).
    ///   - headers: the header section.
    ///   - body: the body: lines, bytes, a stream, or a concatenation.
    ///   - server: `"host"`, `"host:port"`, `"[v6addr]:port"`, or a literal
    ///     address; default the local host.
    ///   - port: the port when `server` names none (default ``defaultPort``).
    ///   - tls: plain, STARTTLS or implicit TLS.
    ///   - user: with `password`, AUTH with the strongest mechanism both sides
    ///     support (as `auth on` in apus.conf), after TLS.
    ///   - password: the password for `user`.
    ///   - authentication: a SASL mechanism to AUTH with after TLS, if any
    ///     (for example `SASLMechanism.plain.client(user:secret:)`); it wins
    ///     over `user` and `password`.
    ///   - clientName: the EHLO name.
    ///   - timeout: seconds for the connect and for each read and write.
    ///   - trace: where to trace the protocol (credentials redacted).
    ///   - options: the transaction's options (rejection policy, hook …);
    ///     ``SendOptions/quitAfter`` is always set.
    /// - Returns: each recipient's reply and the final reply.
    /// - Throws: ``SMTPError``; a bad server name is
    ///   ``SMTPError/Kind/invalidArgument``; connection failures are
    ///   ``SMTPError/Kind/connection`` or ``SMTPError/Kind/timeout``.
    @discardableResult
    public static func sendMail(
        from sender: String, to recipients: [String], headers: Headers, body: MessageSource,
        server: String = "localhost", port: UInt16 = SMTP.defaultPort, tls: TLSMode = .none,
        user: String? = nil, password: String? = nil,
        authentication: (any SASLClient)? = nil, clientName: String = SMTP.localHostName(), timeout: Double = 60,
        trace: SMTPTrace? = nil, options: SendOptions = SendOptions()
    ) throws -> SMTPSendResult {
        let stream = try connect(server: server, port: port, tls: tls, timeout: timeout)
        return try sendMail(
            from: sender, to: recipients, headers: headers, body: body, over: stream, tls: tls, user: user,
            password: password, authentication: authentication, clientName: clientName, trace: trace, options: options)
    }

    /// The stream to `server` (`"host"`, `"host:port"`, `"[v6]:port"`), TLS
    /// from the first byte for ``TLSMode/implicit(_:)``.
    static func connect(server: String, port: UInt16, tls: TLSMode, timeout: Double) throws -> any ByteStream {
        let address: ServerAddress
        do {
            address = try ServerAddress(parsing: server, defaultPort: port)
        } catch {
            throw SMTPError(.invalidArgument, "\(error)", stage: .connect)
        }
        var stream: any ByteStream
        do {
            stream = try TCPStream.connect(to: address, timeout: timeout)
        } catch let error as TransportError {
            throw SMTPError.transport(error, stage: .connect)
        }
        if case .implicit(let configuration) = tls {
            do {
                stream = try TLSStream(wrapping: stream, configuration: configuration)
            } catch let error as TransportError {
                stream.close()
                throw SMTPError(.tls, error.description, stage: .connect, underlying: error)
            }
        }
        return stream
    }

    /// EHLO, then STARTTLS as `tls` says.
    static func greet(_ session: SMTPSession, clientName: String, tls: TLSMode) throws {
        try session.ehlo(clientName)
        switch tls {
        case .startTLS(let configuration):
            try session.startTLS(configuration: configuration)
        case .startTLSIfOffered(let configuration) where session.extensions.startTLS:
            try session.startTLS(configuration: configuration)
        default:
            break
        }
    }

    /// Whether the server is still talking after `error`, so QUIT is polite.
    static func serverStillTalking(after error: SMTPError) -> Bool {
        error.reply != nil
            || [.missingExtension, .messageTooLarge, .invalidArgument, .authenticationRefused].contains(error.kind)
    }

    /// Sends one message over an already connected stream (Racket
    /// `#:tcp-connect`, OCamlnet channels): greeting, EHLO, STARTTLS per
    /// `tls` (``TLSMode/implicit(_:)`` means the stream is already TLS),
    /// AUTH, the transaction, QUIT. The stream is closed in every case.
    @discardableResult
    public static func sendMail(
        from sender: String, to recipients: [String], headers: Headers, body: MessageSource,
        over stream: any ByteStream, tls: TLSMode = .none, user: String? = nil, password: String? = nil,
        authentication: (any SASLClient)? = nil, clientName: String = SMTP.localHostName(), trace: SMTPTrace? = nil,
        options: SendOptions = SendOptions()
    ) throws -> SMTPSendResult {
        let session = try SMTPSession.connect(stream: stream, trace: trace)
        defer { session.close() }
        do {
            try greet(session, clientName: clientName, tls: tls)
            if let authentication {
                try session.authenticate(authentication)
            } else if let user, let password {
                try session.authenticate(user: user, password: password)
            }
            var options = options
            options.quitAfter = true
            let envelope = SMTPEnvelope(sender: sender, recipients: recipients.map { SMTPRecipient($0) })
            return try session.send(envelope, message: message(headers: headers, body: body), options: options)
        } catch let error as SMTPError where serverStillTalking(after: error) {
            // The server is still talking: say goodbye politely.
            session.quit()
            throw error
        }
    }
}
