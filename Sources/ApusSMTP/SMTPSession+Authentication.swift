import ApusMessage

/// AUTH (RFC 4954) driving a ``SASLClient``.
extension SMTPSession {
    /// Authenticates with `mechanism`.
    ///
    /// Sends `AUTH MECH [initial-response]` (`=` for an empty initial
    /// response), answers each 334 challenge with the mechanism's base64
    /// response, and on 235 passes the reply text to
    /// ``SASLClient/finish(successText:)``. The trace shows every client line
    /// of the exchange as ``SMTPTrace/redactionMarker``.
    ///
    /// A mechanism that sends the secret in clear is refused over a
    /// connection that is neither TLS nor loopback, before anything is sent.
    ///
    /// - Returns: the 235 reply.
    /// - Throws: ``SMTPError``: ``SMTPError/Kind/missingExtension`` when the
    ///   server does not offer the mechanism; ``SMTPError/Kind/authenticationRefused``
    ///   for the clear-text refusal or a SASL error on this side (the exchange
    ///   is cancelled with `*`); ``SMTPError/Kind/authenticationFailed`` (535,
    ///   other 5xx), ``SMTPError/Kind/mechanismTooWeak`` (534),
    ///   ``SMTPError/Kind/authenticationTemporary`` (454, other 4xx).
    @discardableResult
    public func authenticate(_ mechanism: some SASLClient) throws -> SMTPReply {
        var client = mechanism
        let name = client.mechanism.uppercased()
        let command = "AUTH \(name)"
        guard extensions.offersMechanism(name) else {
            let offered =
                extensions.authMechanisms.isEmpty ? "no AUTH" : extensions.authMechanisms.joined(separator: " ")
            throw SMTPError(
                .missingExtension, "the server does not offer AUTH \(name) (it offers \(offered))", command: command,
                stage: .auth)
        }
        if client.sendsSecretInClear && !isEncrypted && !connection.stream.isLoopback {
            throw SMTPError(
                .authenticationRefused, "refusing to send a \(name) secret over an unencrypted connection",
                command: command, stage: .auth)
        }
        try checkArgument(name, what: "mechanism")
        let initial: [UInt8]?
        do {
            initial = try client.initialResponse()
        } catch {
            throw SMTPError(.authenticationRefused, "\(error)", command: command, stage: .auth)
        }
        if let initial {
            let encoded = initial.isEmpty ? "=" : Base64.encodeString(initial)
            try sendLine("\(command) \(encoded)", traced: "\(command) \(SMTPTrace.redactionMarker)", stage: .auth)
        } else {
            try sendLine(command, stage: .auth)
        }
        var rounds = 0
        while true {
            let reply = try readReply(for: command, stage: .auth)
            switch reply.code {
            case 334:
                rounds += 1
                guard rounds <= 32, let challenge = Base64.decode(reply.lines[0]) else {
                    try cancelAuthentication(command)
                    throw SMTPError(
                        .protocolViolation, "bad AUTH challenge", command: command, stage: .auth, reply: reply)
                }
                let response: [UInt8]
                do {
                    response = try client.respond(to: challenge)
                } catch {
                    try cancelAuthentication(command)
                    throw SMTPError(.authenticationRefused, "\(error)", command: command, stage: .auth)
                }
                try sendLine(Base64.encodeString(response), traced: SMTPTrace.redactionMarker, stage: .auth)
            case 235:
                do {
                    try client.finish(successText: reply.text())
                } catch {
                    throw SMTPError(
                        .authenticationFailed, "server's final message rejected: \(error)", command: command,
                        stage: .auth, reply: reply)
                }
                isAuthenticated = true
                return reply
            case 534:
                throw SMTPError(.mechanismTooWeak, reply.description, command: command, stage: .auth, reply: reply)
            case 400..<500:
                throw SMTPError(
                    .authenticationTemporary, reply.description, command: command, stage: .auth, reply: reply)
            case 500..<600:
                throw SMTPError(.authenticationFailed, reply.description, command: command, stage: .auth, reply: reply)
            default:
                throw SMTPError(
                    .protocolViolation, "unexpected reply \(reply.description)", command: command, stage: .auth,
                    reply: reply)
            }
        }
    }

    /// Authenticates with a user name and password, picking the strongest
    /// mechanism both sides support (SCRAM-SHA-256, CRAM-MD5, PLAIN, LOGIN:
    /// as `auth on` in apus.conf). PLAIN and LOGIN go only over TLS or to
    /// loopback (see ``authenticate(_:)``).
    ///
    /// - Returns: the 235 reply.
    /// - Throws: ``SMTPError``: ``SMTPError/Kind/missingExtension`` when the
    ///   server offers none of those mechanisms (nothing was sent);
    ///   ``SMTPError/Kind/authenticationRefused`` when the credentials cannot
    ///   be sent with the chosen mechanism; otherwise as ``authenticate(_:)``.
    @discardableResult
    public func authenticate(user: String, password: String) throws -> SMTPReply {
        let offered = extensions.authMechanisms
        guard let mechanism = SASLMechanism.strongest(offeredBy: offered) else {
            let list = offered.isEmpty ? "none" : offered.joined(separator: " ")
            throw SMTPError(
                .missingExtension,
                "the server offers no AUTH mechanism usable with a password (offered: \(list))",
                command: "AUTH", stage: .auth)
        }
        let client: any SASLClient
        do {
            client = try mechanism.client(user: user, secret: password)
        } catch {
            throw SMTPError(.authenticationRefused, "\(error)", command: "AUTH \(mechanism.name)", stage: .auth)
        }
        return try authenticate(client)
    }

    /// Cancels an AUTH exchange with `*` and reads the server's 501.
    private func cancelAuthentication(_ command: String) throws {
        try sendLine("*", stage: .auth)
        _ = try readReply(for: command, stage: .auth)
    }
}
