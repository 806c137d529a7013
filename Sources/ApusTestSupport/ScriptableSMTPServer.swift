import ApusTransport
import Foundation

/// A real SMTP server on a free loopback port, scripted for fault injection
/// (swift-nio `NIOHTTP1TestServer`, OpenSMTPD `smtpscript`).
///
/// It answers every command with a sensible default (EHLO lists
/// ``Configuration/extensions``; DATA and BDAT take the message) unless a
/// ``ScriptRule`` says otherwise: any reply, a delay, garbage, an overlong
/// line, a dropped connection or silence, for any occurrence of any verb on
/// any connection. It records everything (``ConnectionRecord``): raw bytes,
/// each `read()`, each command line, each message.
///
/// Each connection runs on its own thread; ``stop()`` (or releasing the
/// server) closes everything and joins the threads.
///
/// ```
/// var configuration = ScriptableSMTPServer.Configuration()
/// configuration.on("RCPT", occurrence: 3, "550 5.1.1 No such user")
/// let server = try ScriptableSMTPServer(configuration)
/// defer { server.stop() }
/// // connect to server.address … then:
/// #expect(server.messages.first?.recipients.count == 2)
/// ```
///
/// TLS plugs in through ``Configuration/startTLS`` (used for STARTTLS, and
/// right after accept with ``Configuration/implicitTLS``); AUTH through
/// ``Configuration/authenticate``.
package final class ScriptableSMTPServer: Sendable {
    /// How the server behaves.
    package struct Configuration: Sendable {
        /// The name in the banner, EHLO and HELO replies.
        package var hostname = "mx.test.example"
        /// The EHLO keywords, in order. `STARTTLS` is left out once TLS is on.
        package var extensions = [
            "PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "SMTPUTF8", "DSN",
        ]
        /// Scripted responses; see ``on(_:occurrence:connection:_:)``.
        package var rules: [ScriptRule] = []
        /// Wraps a connection's stream in server-side TLS (performing the
        /// handshake) when the client sends STARTTLS (after the 220 reply), or
        /// at once with ``implicitTLS``. Nil: STARTTLS gets `454 4.7.0`.
        package var startTLS: (@Sendable (any ByteStream) throws -> any ByteStream)?
        /// Start TLS right after accepting, before the banner (port 465 style).
        package var implicitTLS = false
        /// Handles AUTH: gets the exchange (the AUTH line, and a way to send
        /// 334 challenges and read answers), returns the final response
        /// (`"235 2.7.0 Authentication successful"`). Nil: AUTH gets `502 5.5.1`.
        package var authenticate: (@Sendable (AuthExchange) throws -> ScriptedResponse)?
        /// Seconds the server waits for the client's next bytes before it
        /// drops the connection.
        package var readTimeout: Double = 10
        /// The numeric address to listen on: `127.0.0.1` or `::1`.
        package var listenHost = "127.0.0.1"

        /// The default configuration (all commands succeed, no TLS, no AUTH).
        package init() {}

        /// Scripts `response` for `verb` (upper or lower case; `CONNECT` is the
        /// banner, `.` the reply after DATA's message).
        ///
        /// - Parameters:
        ///   - occurrence: only the n-th such command on a connection (1-based).
        ///   - connection: only on the n-th connection (1-based).
        ///
        /// More specific rules win (occurrence over none, connection over none);
        /// among equals the one added last.
        package mutating func on(
            _ verb: String, occurrence: Int? = nil, connection: Int? = nil, _ response: ScriptedResponse
        ) {
            rules.append(ScriptRule(verb: verb, occurrence: occurrence, connection: connection, response: response))
        }

        /// The rule for a command, if any.
        func rule(verb: String, occurrence: Int, connection: Int) -> ScriptedResponse? {
            var best: ScriptRule?
            for rule in rules where rule.matches(verb: verb, occurrence: occurrence, connection: connection) {
                if best == nil || rule.specificity >= best?.specificity ?? 0 { best = rule }
            }
            return best?.response
        }
    }

    private let core: ServerCore

    /// Host and port to connect to (`127.0.0.1:PORT`).
    package let address: ServerAddress

    /// Starts listening on a free port of ``Configuration/listenHost`` and
    /// accepting connections on a background thread.
    ///
    /// - Throws: ``TransportError`` when the port cannot be bound.
    package init(_ configuration: Configuration = Configuration()) throws {
        let listener = try TCPListener(host: configuration.listenHost, port: 0)
        address = try ServerAddress(host: configuration.listenHost, port: listener.port)
        core = ServerCore(configuration: configuration, listener: listener)
        core.start()
    }

    deinit { core.stop() }

    /// The port listened on.
    package var port: UInt16 { core.port }

    /// The numeric host listened on (`127.0.0.1`).
    package var host: String { core.configuration.listenHost }

    /// A snapshot of every connection so far, in accept order.
    package var connections: [ConnectionRecord] { core.snapshot() }

    /// Every message received, all connections, in order.
    package var messages: [ReceivedMessage] { connections.flatMap(\.messages) }

    /// Every command line received, all connections, in order.
    package var commandLines: [String] { connections.flatMap(\.commandLines) }

    /// Waits until `condition` holds for the connection records, polling
    /// every 10 ms; returns whether it did within `timeout` seconds.
    @discardableResult
    package func wait(timeout: Double = 5, until condition: ([ConnectionRecord]) -> Bool) -> Bool {
        let end = Date(timeIntervalSinceNow: timeout)
        while Date() < end {
            if condition(connections) { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return condition(connections)
    }

    /// Waits until `count` connections have ended (the client closed or the
    /// server dropped them); returns whether they did within `timeout`.
    @discardableResult
    package func waitForClosedConnections(_ count: Int, timeout: Double = 5) -> Bool {
        wait(timeout: timeout) { records in records.filter(\.isClosed).count >= count }
    }

    /// Waits until `count` messages have been received; returns them (maybe fewer after `timeout`).
    @discardableResult
    package func waitForMessages(_ count: Int, timeout: Double = 5) -> [ReceivedMessage] {
        wait(timeout: timeout) { records in records.reduce(0) { $0 + $1.messages.count } >= count }
        return messages
    }

    /// Stops accepting, closes every connection (waking hung or delayed
    /// sessions) and joins all threads. Idempotent; also done on release.
    package func stop() { core.stop() }
}

/// One AUTH exchange, handed to ``ScriptableSMTPServer/Configuration/authenticate``.
package final class AuthExchange: @unchecked Sendable {
    /// The whole AUTH command line: `AUTH PLAIN AGFsaWNlAHNlY3JldA==`.
    package let line: String
    /// The mechanism, upper case: `PLAIN`.
    package let mechanism: String
    /// The initial response on the AUTH line, if any (`=` stays `=`).
    package let initialResponse: String?
    /// The connection number (1-based).
    package let connection: Int
    private let exchange: (String) throws -> String?

    init(line: String, connection: Int, exchange: @escaping (String) throws -> String?) {
        self.line = line
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        mechanism = words.count > 1 ? words[1].uppercased() : ""
        initialResponse = words.count > 2 ? String(words[2]) : nil
        self.connection = connection
        self.exchange = exchange
    }

    /// Sends `334 text` and returns the client's answer line (without CRLF).
    ///
    /// - Throws: ``AuthExchangeError/connectionClosed`` when the client goes away.
    package func challenge(_ text: String) throws -> String {
        guard let answer = try exchange(text) else { throw AuthExchangeError.connectionClosed }
        return answer
    }

    /// The PLAIN credentials in `response` (base64 of `authzid\0user\0password`),
    /// or nil when it does not decode.
    package static func decodePlain(_ response: String) -> (user: String, password: String)? {
        guard let data = Data(base64Encoded: response) else { return nil }
        let parts = data.split(separator: 0, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        return (String(decoding: parts[1], as: UTF8.self), String(decoding: parts[2], as: UTF8.self))
    }

    /// An authenticator for PLAIN and LOGIN that accepts `user` with `password`
    /// (`235 2.7.0`) and refuses anything else (`535 5.7.8`).
    package static func accepting(
        user: String, password: String
    ) -> @Sendable (AuthExchange) throws -> ScriptedResponse {
        { exchange in
            let ok: ScriptedResponse = "235 2.7.0 Authentication successful"
            let refused: ScriptedResponse = "535 5.7.8 Error: authentication failed"
            switch exchange.mechanism {
            case "PLAIN":
                let response = try exchange.initialResponse ?? exchange.challenge("")
                guard let (u, p) = decodePlain(response) else { return "501 5.5.2 Cannot decode response" }
                return u == user && p == password ? ok : refused
            case "LOGIN":
                let first =
                    try exchange.initialResponse ?? exchange.challenge(Data("Username:".utf8).base64EncodedString())
                let second = try exchange.challenge(Data("Password:".utf8).base64EncodedString())
                let u = Data(base64Encoded: first).map { String(decoding: $0, as: UTF8.self) }
                let p = Data(base64Encoded: second).map { String(decoding: $0, as: UTF8.self) }
                return u == user && p == password ? ok : refused
            default:
                return "504 5.5.4 Unrecognized authentication type"
            }
        }
    }
}

/// Why an ``AuthExchange`` could not go on.
package enum AuthExchangeError: Error, Sendable {
    /// The client closed the connection during the exchange.
    case connectionClosed
}
