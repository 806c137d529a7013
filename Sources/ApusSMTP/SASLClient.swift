/// One SASL client exchange (RFC 4422) as SMTP AUTH (RFC 4954) runs it.
///
/// The session sends `AUTH <mechanism> [initial-response]`, then hands each
/// `334` challenge (base64-decoded) to ``respond(to:)`` and sends the answer
/// base64-encoded, until the server says 235 (success, passed to
/// ``finish(successText:)``) or 5xx/4xx (failure). Mechanisms never see the
/// socket and never write a trace: the session redacts what they return.
public protocol SASLClient {
    /// The IANA mechanism name, upper case: "PLAIN", "SCRAM-SHA-256".
    var mechanism: String { get }

    /// Whether the mechanism sends the secret in a form a listener can reuse
    /// (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER): the session then refuses it over
    /// an unencrypted connection except to loopback.
    var sendsSecretInClear: Bool { get }

    /// The initial response to send with the AUTH command (saves a round trip),
    /// or nil when the mechanism must wait for the server's first challenge.
    /// An empty array is sent as `=`.
    mutating func initialResponse() throws -> [UInt8]?

    /// The answer to a server challenge (already base64-decoded).
    mutating func respond(to challenge: [UInt8]) throws -> [UInt8]

    /// Called with the text of the 235 reply; SCRAM checks the server's
    /// signature here when the server sent it as additional data. The default
    /// does nothing.
    mutating func finish(successText: String) throws
}

extension SASLClient {
    public mutating func finish(successText: String) throws {}
}

/// A SASL exchange that cannot go on: a malformed or forged server message.
public struct SASLError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, without any secret.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
