import ApusTransport

/// An SMTP client session over any ``ByteStream`` (TCP, TLS, an in-memory
/// pair, a pre-connected socket): single commands (OCamlnet `client`, scsh
/// transactions) and whole transactions (``send(_:message:options:)``).
///
/// Blocking: each read and write is bounded by the stream's `timeout`; a
/// silent server becomes an ``SMTPError`` of kind ``SMTPError/Kind/timeout``.
/// Commands are buffered and written in groups; a reply is only awaited after
/// everything before it has been flushed.
///
/// ```
/// let session = try SMTPSession(stream: stream)
/// try session.readGreeting()
/// try session.ehlo("client.example")
/// let result = try session.send(SMTPEnvelope(sender: "a@x", recipients: ["b@y"]), message: .string(text))
/// session.quit()
/// ```
///
/// A session is used by one thread at a time.
public final class SMTPSession {
    /// The buffered connection underneath (its `stream` is TLS after STARTTLS).
    public let connection: BufferedConnection
    /// Where protocol lines go, redacted; nil for none.
    public var trace: SMTPTrace?
    /// The server's greeting, once read.
    public private(set) var greeting: SMTPReply?
    /// What the last EHLO announced (empty after HELO or before EHLO).
    public private(set) var extensions = Extensions()
    /// The lines of the last EHLO (or HELO) reply.
    public private(set) var ehloLines: [String] = []
    /// The name given in the last EHLO/HELO, reused after STARTTLS.
    public private(set) var clientName: String?
    /// Whether AUTH succeeded in this session.
    public internal(set) var isAuthenticated = false
    /// Whether the session was closed (after QUIT, an abort, or ``close()``).
    public private(set) var isClosed = false

    var parser = ReplyParser()

    /// An RSET was written ahead of a pipelined batch (``SendOptions/resetFirst``)
    /// and its reply is the next one to read.
    var pendingResetReply = false
    /// Set during the follow-up transaction for 551 forward paths, which
    /// follows no further forward paths.
    var isFollowingForwards = false
    /// A transaction announced behind the last message's final dot
    /// (``SendOptions/next``): its MAIL, RCPTs and DATA are on the wire and
    /// its replies are the next to read. The next ``send(_:message:options:)``
    /// for its envelope goes on with it; any other command first settles it
    /// (``settleAnnounced()``).
    var announced: SMTPTransaction?
    /// The envelope ``announced`` was made for (with its SIZE).
    var announcedEnvelope: SMTPEnvelope?

    /// A session over `stream`. Nothing is read yet: call ``readGreeting()``
    /// (or use ``connect(stream:trace:)``).
    public init(stream: any ByteStream, trace: SMTPTrace? = nil) {
        self.connection = BufferedConnection(stream: stream)
        self.trace = trace
    }

    /// A session over `stream` whose greeting has been read and accepted.
    /// Closes the stream when the greeting is not 220.
    public static func connect(stream: any ByteStream, trace: SMTPTrace? = nil) throws -> SMTPSession {
        let session = SMTPSession(stream: stream, trace: trace)
        do {
            try session.readGreeting()
        } catch {
            session.close()
            throw error
        }
        return session
    }

    /// Opens a session in one call: connects to `server` (`"host"`,
    /// `"host:port"`, `"[v6]:port"`, or an address literal), reads the
    /// greeting, sends EHLO (HELO when refused) and starts TLS as `tls` says.
    /// The session is ready for ``authenticate(user:password:)`` or a
    /// transaction.
    ///
    /// ```
    /// let session = try SMTPSession.open(
    ///     server: "smtp.example.org:587", tls: .startTLS(TLSConfiguration(serverName: "smtp.example.org")))
    /// ```
    ///
    /// - Parameters:
    ///   - server: where to connect.
    ///   - port: the port when `server` names none (default 25).
    ///   - tls: plain, STARTTLS (required or if offered) or implicit TLS.
    ///   - clientName: the EHLO name.
    ///   - timeout: seconds for the connect and for each read and write.
    ///   - trace: where to trace the protocol (credentials redacted).
    /// - Throws: ``SMTPError`` (stage ``SMTPError/Stage/connect`` for a bad
    ///   server name or a failed connection); the connection is closed.
    public static func open(
        server: String, port: UInt16 = SMTP.defaultPort, tls: SMTP.TLSMode = .none,
        clientName: String = SMTP.localHostName(), timeout: Double = 60, trace: SMTPTrace? = nil
    ) throws -> SMTPSession {
        let stream = try SMTP.connect(server: server, port: port, tls: tls, timeout: timeout)
        let session = try SMTPSession.connect(stream: stream, trace: trace)
        do {
            try SMTP.greet(session, clientName: clientName, tls: tls)
        } catch let error as SMTPError {
            if SMTP.serverStillTalking(after: error) { session.quit() } else { session.close() }
            throw error
        } catch {
            session.close()
            throw error
        }
        return session
    }

    /// Whether the stream is TLS.
    public var isEncrypted: Bool { connection.stream.tlsSession != nil }

    // MARK: - Lines and replies

    /// Queues `line` + CRLF; `traced` replaces it in the trace (redaction).
    func sendLine(_ line: String, traced: String? = nil, stage: SMTPError.Stage) throws {
        precondition(!isClosed, "SMTP session used after close")
        if announced != nil { try settleAnnounced() }
        trace?.record(.sent, traced ?? line)
        try io(command: traced ?? line, stage: stage) { try connection.write(Array((line + "\r\n").utf8)) }
    }

    /// Queues raw bytes (message data).
    func sendRaw(_ bytes: some Collection<UInt8>, stage: SMTPError.Stage? = nil) throws {
        try io(command: nil, stage: stage) { try connection.write(bytes) }
    }

    /// Writes everything queued.
    func flush(stage: SMTPError.Stage? = nil) throws {
        try io(command: nil, stage: stage) { try connection.flush() }
    }

    /// Flushes, then reads one complete reply. Throws on transport errors,
    /// timeouts and malformed replies.
    func readReply(for command: String?, stage: SMTPError.Stage) throws -> SMTPReply {
        precondition(!isClosed, "SMTP session used after close")
        try io(command: command, stage: stage) { try connection.flush() }
        if pendingResetReply {
            pendingResetReply = false
            let reset = try readReply(for: "RSET", stage: .other)
            guard reset.isPositive else {
                // Pipelined commands followed it, their replies unread: the
                // connection cannot be used any more.
                close()
                throw SMTPError.unexpected(reset, command: "RSET", stage: .other)
            }
        }
        let reply = try io(command: command, stage: stage) {
            try connection.decode { buffer in try parser.parse(&buffer) }
        }
        if let trace { for line in reply.wireLines { trace.record(.received, line) } }
        return reply
    }

    /// Sends `line`, reads the reply and returns it whatever its code.
    func exchange(_ line: String, traced: String? = nil, stage: SMTPError.Stage) throws -> SMTPReply {
        try sendLine(line, traced: traced, stage: stage)
        return try readReply(for: traced ?? line, stage: stage)
    }

    /// Sends `line` and returns the reply if `accept` holds for its code;
    /// otherwise throws the reply as an error.
    @discardableResult
    func command(
        _ line: String, stage: SMTPError.Stage, accept: (Int) -> Bool = { $0 >= 200 && $0 < 300 }
    ) throws -> SMTPReply {
        let reply = try exchange(line, stage: stage)
        guard accept(reply.code) else { throw SMTPError.unexpected(reply, command: line, stage: stage) }
        return reply
    }

    /// Runs `body`, turning transport failures into ``SMTPError``.
    func io<T>(command: String?, stage: SMTPError.Stage?, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as TransportError {
            throw SMTPError.transport(error, command: command, stage: stage)
        } catch let error as BufferedConnectionError {
            throw SMTPError.protocolViolation(error.description, command: command, stage: stage)
        } catch var error as SMTPError {
            if error.command == nil { error.command = command }
            if error.stage == nil { error.stage = stage }
            throw error
        }
    }

    /// Refuses a command argument that could split or forge a command line.
    func checkArgument(_ text: String, what: String, allowAngles: Bool = false) throws {
        for scalar in text.unicodeScalars {
            let bad =
                scalar == "\r" || scalar == "\n" || scalar == "\0" || (!allowAngles && (scalar == "<" || scalar == ">"))
            if bad {
                throw SMTPError(
                    .invalidArgument, "\(what) contains a character that cannot be sent: \(text.debugDescription)")
            }
        }
    }

    // MARK: - Greeting, EHLO, HELO

    /// Reads the server's greeting; it must be 220.
    ///
    /// - Returns: the greeting.
    /// - Throws: ``SMTPError``: 4xx/5xx greetings as transient/permanent
    ///   replies (554 "no service"), connection and timeout errors.
    @discardableResult
    public func readGreeting() throws -> SMTPReply {
        let reply = try readReply(for: "greeting", stage: .greeting)
        guard reply.code == 220 else { throw SMTPError.unexpected(reply, command: "greeting", stage: .greeting) }
        greeting = reply
        return reply
    }

    /// Sends EHLO and, if the server answers 5xx, HELO (RFC 5321 §3.2).
    ///
    /// - Parameter clientName: this host's name (or an address literal `[192.0.2.1]`).
    /// - Returns: the extension lines of the reply (the first line, the
    ///   server's greeting, included, as OCamlnet `helo` returns them);
    ///   ``extensions`` holds them parsed.
    /// - Throws: ``SMTPError`` if EHLO got 4xx or HELO failed too.
    @discardableResult
    public func ehlo(_ clientName: String) throws -> [String] {
        let (reply, line) = try hello(clientName)
        guard reply.isPositive else { throw SMTPError.unexpected(reply, command: line, stage: .ehlo) }
        return reply.lines
    }

    /// Sends HELO: an RFC 821 session without extensions.
    @discardableResult
    public func helo(_ clientName: String) throws -> SMTPReply {
        let reply = try heloExchange(clientName)
        guard reply.isPositive else { throw SMTPError.unexpected(reply, command: "HELO \(clientName)", stage: .ehlo) }
        return reply
    }

    /// EHLO, and HELO when EHLO got 5xx (RFC 5321 §3.2): the final reply
    /// whatever its code, and the command it answered. The one implementation
    /// behind ``ehlo(_:)`` and ``execute(_:)``.
    func hello(_ clientName: String) throws -> (reply: SMTPReply, command: String) {
        try checkArgument(clientName, what: "client name")
        let line = "EHLO \(clientName)"
        let reply = try exchange(line, stage: .ehlo)
        if reply.isPositive {
            clientNameAfterHello(clientName, reply: reply, extended: true)
            return (reply, line)
        }
        guard reply.isPermanent else { return (reply, line) }
        return (try heloExchange(clientName), "HELO \(clientName)")
    }

    /// HELO: the reply whatever its code (recorded when positive).
    func heloExchange(_ clientName: String) throws -> SMTPReply {
        try checkArgument(clientName, what: "client name")
        let reply = try exchange("HELO \(clientName)", stage: .ehlo)
        if reply.isPositive { clientNameAfterHello(clientName, reply: reply, extended: false) }
        return reply
    }

    /// Records the result of a successful EHLO or HELO.
    func clientNameAfterHello(_ name: String, reply: SMTPReply, extended: Bool) {
        clientName = name
        ehloLines = reply.lines
        extensions = extended ? Extensions(ehloLines: reply.lines) : Extensions()
    }

    // MARK: - STARTTLS

    /// Starts TLS (RFC 3207): sends STARTTLS, expects 220, wraps the stream
    /// in a ``TLSStream`` with `configuration`, forgets everything learnt in
    /// clear, and sends EHLO again with the same client name.
    ///
    /// Fails closed: if the server did not announce STARTTLS, throws
    /// ``SMTPError/Kind/missingExtension`` without sending anything; bytes
    /// that arrive after the 220 and before the handshake are a protocol
    /// violation (command injection), and TLS is not started.
    ///
    /// - Returns: the lines of the new EHLO reply.
    @discardableResult
    public func startTLS(configuration: TLSConfiguration) throws -> [String] {
        try startTLS { [connection] _ in
            try connection.startTLS(configuration: configuration)
        }
    }

    /// Starts TLS with a caller-supplied wrapper (Racket `#:tls-encode`): like
    /// ``startTLS(configuration:)``, but `wrap` gets the plain stream and
    /// returns the encrypted one.
    @discardableResult
    public func startTLS(wrap: @escaping (any ByteStream) throws -> any ByteStream) throws -> [String] {
        try startTLS { [connection] stream in
            try connection.replaceStream(wrap(stream))
        }
    }

    private func startTLS(switching: (any ByteStream) throws -> Void) throws -> [String] {
        guard let name = clientName else { preconditionFailure("STARTTLS before EHLO") }
        guard extensions.startTLS else {
            throw SMTPError(
                .missingExtension, "the server does not offer STARTTLS", command: "STARTTLS", stage: .startTLS)
        }
        let reply = try exchange("STARTTLS", stage: .startTLS)
        guard reply.code == 220 else { throw SMTPError.unexpected(reply, command: "STARTTLS", stage: .startTLS) }
        if parser.isInsideReply || connection.bufferedInputCount > 0 {
            // Bytes sent in clear after the 220 could be an injection attack.
            throw SMTPError.protocolViolation(
                "\(connection.bufferedInputCount) bytes of trailing data received before TLS started",
                command: "STARTTLS", stage: .startTLS)
        }
        do {
            try switching(connection.stream)
        } catch let error as SMTPError {
            throw error
        } catch let error as BufferedConnectionError {
            throw SMTPError.protocolViolation(error.description, command: "STARTTLS", stage: .startTLS)
        } catch let error as TransportError {
            throw SMTPError(.tls, error.description, command: "STARTTLS", stage: .startTLS, underlying: error)
        } catch {
            throw SMTPError(.tls, "\(error)", command: "STARTTLS", stage: .startTLS)
        }
        parser = ReplyParser()
        extensions = Extensions()
        ehloLines = []
        isAuthenticated = false
        if let info = connection.stream.tlsSession {
            trace?.record(.note, "TLS started: \(info.protocolVersion) \(info.cipher)")
        } else {
            trace?.record(.note, "TLS started")
        }
        return try ehlo(name)
    }

    // MARK: - Closing

    /// Sends QUIT, waits for its reply (errors ignored), and closes the
    /// connection. Safe to call on a closed session.
    public func quit() {
        if isClosed { return }
        _ = try? exchange("QUIT", stage: .other)
        close()
    }

    /// Sends QUIT and closes the connection without waiting for the reply
    /// (it is not needed once the message has been accepted).
    public func quitWithoutWaiting() {
        if isClosed { return }
        try? sendLine("QUIT", stage: .other)
        try? flush()
        close()
    }

    /// Closes the connection without QUIT. Idempotent.
    public func close() {
        if isClosed { return }
        isClosed = true
        announced = nil
        connection.close()
    }
}
