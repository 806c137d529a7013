import ApusBase
import ApusPOSIX
internal import COpenSSL
import Glibc

/// How a server-side TLS connection is set up (tests' servers; apus itself is a client).
package struct TLSServerConfiguration: Sendable {
    /// The server certificate chain (PEM: leaf first, then intermediates).
    package var certificateFile: String
    /// The server key (PEM).
    package var keyFile: String
    /// The lowest protocol version accepted.
    package var minimumVersion: TLSVersion = .tls12
    /// The highest protocol version offered, or nil for OpenSSL's highest.
    package var maximumVersion: TLSVersion? = nil
    /// When set, a client certificate signed by a CA in this file is required.
    package var clientCAFile: String? = nil

    /// A configuration serving `certificateFile` with `keyFile`.
    package init(certificateFile: String, keyFile: String) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }
}

/// One OpenSSL connection (`SSL` with its `SSL_CTX`) run over another ``ByteStream``
/// through a pair of memory BIOs, so TLS works over TCP and in-memory streams alike.
///
/// ```
///  caller ── read/write ──▶ SSL ── networkOut (mem BIO) ── flush ──▶ inner.write
///                           ▲
///                           └─── networkIn (mem BIO) ◀── feed ─── inner.read
/// ```
///
/// OpenSSL never touches a socket: when it wants bytes (`wantRead`) the
/// connection reads some from `inner` into `networkIn`; after every call
/// whatever OpenSSL produced in `networkOut` is written to `inner`. The
/// handshake runs in the initializer against one deadline of `inner.timeout`.
package final class TLSConnection {
    /// The plain stream underneath.
    package let inner: any ByteStream
    /// What the handshake negotiated.
    package private(set) var session: TLSSessionInfo
    /// Server side: the name the client sent as SNI, or nil.
    package private(set) var requestedServerName: String?

    private let context: OpaquePointer
    private let ssl: OpaquePointer
    private let networkIn: OpaquePointer
    private let networkOut: OpaquePointer
    private let isClient: Bool
    private var scratch = [UInt8](repeating: 0, count: 17 * 1024)
    private var failed = false
    private var closed = false
    /// Client side: the configured server name, for messages.
    private var serverName: String?
    /// Inside ``read(into:)`` or ``write(_:)``: the inner stream's timeout at
    /// the start, and once the inner stream was first used, the deadline for
    /// the whole operation (see ``boundInnerStream()``).
    private var operationTimeout: Double?
    private var operationDeadline: Deadline?

    private var peerWord: String { isClient ? "the server" : "the client" }

    /// Connects as a client over `inner` and performs the handshake, checking
    /// the chain, the host name or the pinned fingerprint as `configuration` says.
    ///
    /// - Throws: ``TransportError/tlsUnavailable(_:)`` without OpenSSL,
    ///   ``TransportError/tls(_:)`` with a classified ``TLSFailure``, or the
    ///   inner stream's own errors (timeout, connection reset).
    package convenience init(client inner: any ByteStream, configuration: TLSConfiguration) throws {
        let context = try TLSConnection.makeContext(apus_TLS_client_method) {
            try TLSConnection.configureClient($0, configuration)
        }
        try self.init(inner: inner, context: context, isClient: true)
        try setUpClient(configuration)
        try handshake()
        try checkClient(configuration)
    }

    /// Accepts a client over `inner` and performs the server handshake.
    ///
    /// - Throws: as ``init(client:configuration:)``.
    package convenience init(server inner: any ByteStream, configuration: TLSServerConfiguration) throws {
        let context = try TLSConnection.makeContext(apus_TLS_server_method) {
            try TLSConnection.configureServer($0, configuration)
        }
        try self.init(inner: inner, context: context, isClient: false)
        apus_SSL_set_accept_state(ssl)
        try handshake()
        if let name = apus_SSL_get_servername(ssl) { requestedServerName = String(cString: name) }
        session = describeSession(verified: configuration.clientCAFile != nil)
    }

    /// Takes ownership of `context` and creates the connection and its BIOs.
    private init(inner: any ByteStream, context: OpaquePointer, isClient: Bool) throws {
        self.inner = inner
        self.context = context
        self.isClient = isClient
        guard let ssl = apus_SSL_new(context) else {
            apus_SSL_CTX_free(context)
            throw TransportError.tls(TLSConnection.failure(.configuration, "cannot create a TLS connection"))
        }
        guard let networkIn = apus_BIO_new_mem() else {
            apus_SSL_free(ssl)
            apus_SSL_CTX_free(context)
            throw TransportError.tls(TLSConnection.failure(.configuration, "cannot create a memory BIO"))
        }
        guard let networkOut = apus_BIO_new_mem() else {
            apus_BIO_free(networkIn)
            apus_SSL_free(ssl)
            apus_SSL_CTX_free(context)
            throw TransportError.tls(TLSConnection.failure(.configuration, "cannot create a memory BIO"))
        }
        apus_SSL_set_bio(ssl, networkIn, networkOut)  // the SSL owns both BIOs from here on
        self.ssl = ssl
        self.networkIn = networkIn
        self.networkOut = networkOut
        self.session = TLSSessionInfo(
            protocolVersion: "", cipher: "", peerSubject: "", peerNames: [], peerFingerprint: [], verified: false)
    }

    deinit {
        apus_SSL_free(ssl)
        apus_SSL_CTX_free(context)
    }

    // MARK: Set-up

    private static func versionCode(_ version: TLSVersion) -> Int32 {
        switch version {
        case .tls12: return 0x0303
        case .tls13: return 0x0304
        }
    }

    /// Loads OpenSSL and makes a context for `method` (called once loaded),
    /// set up by `configure`; the context is freed again when that throws.
    private static func makeContext(
        _ method: () -> OpaquePointer?, configure: (OpaquePointer) throws -> Void
    ) throws -> OpaquePointer {
        try TLSLibrary.load()
        TLSLibrary.clearErrors()
        guard let context = apus_SSL_CTX_new(method()) else {
            throw TransportError.tls(TLSConnection.failure(.configuration, "cannot create a TLS context"))
        }
        do {
            try configure(context)
        } catch {
            apus_SSL_CTX_free(context)
            throw error
        }
        return context
    }

    private static func configureClient(_ context: OpaquePointer, _ configuration: TLSConfiguration) throws {
        if apus_SSL_CTX_set_min_proto_version(context, versionCode(configuration.minimumVersion)) != 1 {
            throw TransportError.tls(failure(.configuration, "cannot set the minimum TLS version"))
        }
        let verifyChain = configuration.verify && configuration.fingerprint == nil
        if verifyChain {
            if let trustFile = configuration.trustFile {
                if apus_SSL_CTX_load_verify_locations(context, trustFile, nil) != 1 {
                    throw TransportError.tls(failure(.configuration, "cannot load the trust file \(trustFile)"))
                }
            } else if apus_SSL_CTX_set_default_verify_paths(context) != 1 {
                throw TransportError.tls(failure(.configuration, "cannot load the system trust store"))
            }
        }
        apus_SSL_CTX_set_verify(context, verifyChain ? 1 : 0)
        if let certificateFile = configuration.certificateFile {
            try loadCertificate(context, certificateFile, configuration.keyFile ?? certificateFile, what: "client")
        } else if configuration.keyFile != nil {
            throw TransportError.tls(TLSFailure(.configuration, "tls_key_file is set without tls_cert_file"))
        }
    }

    private static func configureServer(_ context: OpaquePointer, _ configuration: TLSServerConfiguration) throws {
        if apus_SSL_CTX_set_min_proto_version(context, versionCode(configuration.minimumVersion)) != 1 {
            throw TransportError.tls(failure(.configuration, "cannot set the minimum TLS version"))
        }
        if let maximum = configuration.maximumVersion,
            apus_SSL_CTX_set_max_proto_version(context, versionCode(maximum)) != 1
        {
            throw TransportError.tls(failure(.configuration, "cannot set the maximum TLS version"))
        }
        try loadCertificate(context, configuration.certificateFile, configuration.keyFile, what: "server")
        if let caFile = configuration.clientCAFile {
            if apus_SSL_CTX_load_verify_locations(context, caFile, nil) != 1 {
                throw TransportError.tls(failure(.configuration, "cannot load the client CA file \(caFile)"))
            }
            apus_SSL_CTX_set_verify(context, 3)
        }
    }

    private static func loadCertificate(
        _ context: OpaquePointer, _ certificateFile: String, _ keyFile: String, what: String
    ) throws {
        if apus_SSL_CTX_use_certificate_chain_file(context, certificateFile) != 1 {
            throw TransportError.tls(failure(.configuration, "cannot load the \(what) certificate \(certificateFile)"))
        }
        if apus_SSL_CTX_use_PrivateKey_file_pem(context, keyFile) != 1 {
            throw TransportError.tls(failure(.configuration, "cannot load the \(what) key \(keyFile)"))
        }
        if apus_SSL_CTX_check_private_key(context) != 1 {
            throw TransportError.tls(
                failure(.configuration, "the \(what) key \(keyFile) does not match the certificate \(certificateFile)"))
        }
    }

    /// SNI and the name to verify. An address literal gets no SNI (RFC 6066)
    /// and is checked against the certificate's IP addresses instead.
    private func setUpClient(_ configuration: TLSConfiguration) throws {
        apus_SSL_set_connect_state(ssl)
        serverName = configuration.serverName
        guard var name = configuration.serverName, !name.isEmpty else { return }
        let checkName = configuration.verify && configuration.fingerprint == nil
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if TLSConnection.isAddressLiteral(name) {
            if checkName, apus_SSL_set1_ip_asc(ssl, name) != 1 {
                throw TransportError.tls(TLSConnection.failure(.configuration, "cannot verify the address \(name)"))
            }
            return
        }
        if apus_SSL_set_tlsext_host_name(ssl, name) != 1 {
            throw TransportError.tls(TLSConnection.failure(.configuration, "cannot send \(name) as SNI"))
        }
        if checkName, apus_SSL_set1_host(ssl, name) != 1 {
            throw TransportError.tls(TLSConnection.failure(.configuration, "cannot verify the host name \(name)"))
        }
    }

    /// Whether `text` is an IPv4 or IPv6 address literal (``IPAddressText``).
    static func isAddressLiteral(_ text: String) -> Bool { IPAddressText.isAddress(text) }

    /// After the handshake: the pinned fingerprint, then the session record.
    private func checkClient(_ configuration: TLSConfiguration) throws {
        session = describeSession(verified: configuration.verify && configuration.fingerprint == nil)
        if let pin = configuration.fingerprint, pin != session.peerFingerprint {
            let got = TLSConnection.hex(session.peerFingerprint)
            sendCloseNotify()
            failed = true
            throw TransportError.tls(
                TLSFailure(
                    .fingerprintMismatch,
                    "the certificate of \(inner.peerDescription) has SHA-256 fingerprint \(got), "
                        + "not the pinned \(TLSConnection.hex(pin))"))
        }
    }

    private func describeSession(verified: Bool) -> TLSSessionInfo {
        var info = TLSSessionInfo(
            protocolVersion: TLSLibrary.string(apus_SSL_get_version(ssl)),
            cipher: TLSLibrary.string(apus_SSL_get_cipher_name(ssl)),
            peerSubject: "", peerNames: [], peerFingerprint: [], verified: verified)
        if let certificate = apus_SSL_get_peer_leaf(ssl) {
            defer { apus_X509_free(certificate) }
            info.peerSubject = TLSConnection.subject(of: certificate)
            info.peerNames = TLSConnection.dnsNames(of: certificate)
            var digest = [UInt8](repeating: 0, count: 32)
            if apus_X509_sha256(certificate, &digest) == 1 { info.peerFingerprint = digest }
        }
        return info
    }

    private static func subject(of certificate: OpaquePointer) -> String {
        var text = [CChar](repeating: 0, count: 1024)
        let length = apus_X509_subject(certificate, &text, text.count)
        return String(decoding: text.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func dnsNames(of certificate: OpaquePointer) -> [String] {
        var text = [CChar](repeating: 0, count: 4096)
        let length = apus_X509_dns_names(certificate, &text, text.count)
        return text.prefix(length).split(separator: 0).map {
            String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// "AB:CD:…", the form `openssl x509 -fingerprint -sha256` prints.
    static func hex(_ bytes: [UInt8]) -> String {
        Hex.string(bytes, separator: UInt8(ascii: ":"))
    }

    // MARK: Pumping bytes

    /// Writes everything OpenSSL has produced to the inner stream.
    private func flush() throws {
        while true {
            let pending = apus_BIO_pending(networkOut)
            if pending <= 0 { return }
            let n = scratch.withUnsafeMutableBytes { buffer in
                apus_BIO_read(networkOut, buffer.baseAddress, Int32(min(Int(pending), buffer.count)))
            }
            if n <= 0 { return }
            try boundInnerStream()
            try scratch.withUnsafeBytes { try inner.write(UnsafeRawBufferPointer(rebasing: $0[0..<Int(n)])) }
        }
    }

    /// Reads what the inner stream has into OpenSSL; false at end of stream.
    private func feed() throws -> Bool {
        try boundInnerStream()
        let n = try scratch.withUnsafeMutableBytes { try inner.read(into: $0) }
        if n == 0 { return false }
        let written = scratch.withUnsafeBytes { apus_BIO_write(networkIn, $0.baseAddress, Int32(n)) }
        if written != Int32(n) {
            throw TransportError.tls(TLSConnection.failure(.io, "cannot buffer TLS input"))
        }
        return true
    }

    private func handshake() throws {
        let deadline = Deadline.after(seconds: inner.timeout)
        let savedTimeout = inner.timeout
        defer { inner.timeout = savedTimeout }
        while true {
            TLSLibrary.clearErrors()
            let ret = apus_SSL_do_handshake(ssl)
            let result = ret == 1 ? .done : TLSLibrary.IOResult(ssl: ssl, ret: ret)
            switch result {
            case .done:
                try flush()
                return
            case .wantRead:
                try flush()
                let remaining = Double(deadline.remainingMilliseconds) / 1000
                if remaining <= 0 {
                    failed = true
                    throw TransportError.timedOut("in the TLS handshake with \(inner.peerDescription)")
                }
                inner.timeout = remaining
                let more: Bool
                do {
                    more = try feed()
                } catch TransportError.timedOut {
                    failed = true
                    throw TransportError.timedOut("in the TLS handshake with \(inner.peerDescription)")
                }
                if !more {
                    failed = true
                    let errors = TLSLibrary.drainErrors()
                    throw TransportError.tls(
                        TLSConnection.failure(
                            .handshake, "\(peerWord) closed the connection during the TLS handshake", errors))
                }
            case .wantWrite:
                try flush()
            case .closed, .failed, .syscall:
                failed = true
                let errors = TLSLibrary.drainErrors()
                try? flush()  // the alert telling the peer why
                throw TransportError.tls(handshakeFailure(errors))
            }
        }
    }

    /// Inside a read or write: the first use of the inner stream starts the
    /// operation's deadline (its timeout from now); each later use may only
    /// wait for what is left of it, so one TLS read or write never takes
    /// longer than the timeout however the records trickle in or out.
    private func boundInnerStream() throws {
        guard let timeout = operationTimeout else { return }
        guard let deadline = operationDeadline else {
            operationDeadline = .after(seconds: timeout)
            return
        }
        let remaining = Double(deadline.remainingMilliseconds) / 1000
        if remaining <= 0 { throw TransportError.timedOut("talking to \(inner.peerDescription)") }
        inner.timeout = remaining
    }

    /// Runs a read or write under one deadline of the inner stream's timeout.
    private func withOperationDeadline<T>(_ body: () throws -> T) throws -> T {
        let timeout = inner.timeout
        operationTimeout = timeout
        defer {
            if operationDeadline != nil { inner.timeout = timeout }
            operationTimeout = nil
            operationDeadline = nil
        }
        return try body()
    }

    /// Reads decrypted bytes; 0 when the peer closed (close_notify or end of
    /// stream). The whole read takes at most the inner stream's timeout.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if buffer.count == 0 { return 0 }
        if closed || failed { throw TransportError.closed }
        return try withOperationDeadline { try readDecrypted(into: buffer) }
    }

    private func readDecrypted(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            TLSLibrary.clearErrors()
            let ret = apus_SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
            if ret > 0 { return Int(ret) }
            switch TLSLibrary.IOResult(ssl: ssl, ret: ret) {
            case .done: return 0
            case .wantRead:
                try flush()  // post-handshake messages (key update, ticket acknowledgements)
                if try !feed() { return 0 }
            case .wantWrite:
                try flush()
            case .closed:
                return 0
            case .failed, .syscall:
                failed = true
                let errors = TLSLibrary.drainErrors()
                throw TransportError.tls(
                    TLSConnection.failure(.io, "reading from \(inner.peerDescription) failed", errors))
            }
        }
    }

    /// Encrypts and sends every byte of `buffer`, in records of up to 64 KiB
    /// per inner write; the whole write takes at most the inner stream's timeout.
    package func write(_ buffer: UnsafeRawBufferPointer) throws {
        if closed || failed { throw TransportError.closed }
        try withOperationDeadline { try writeEncrypted(buffer) }
    }

    private func writeEncrypted(_ buffer: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < buffer.count {
            let chunk = min(buffer.count - offset, 64 * 1024)
            TLSLibrary.clearErrors()
            let ret = apus_SSL_write(ssl, buffer.baseAddress.map { $0 + offset }, Int32(chunk))
            if ret > 0 {
                offset += Int(ret)
                try flush()
                continue
            }
            switch TLSLibrary.IOResult(ssl: ssl, ret: ret) {
            case .wantRead:
                try flush()
                if try !feed() { throw TransportError.closed }
            case .wantWrite, .done:
                try flush()
            case .closed:
                throw TransportError.closed
            case .failed, .syscall:
                failed = true
                let errors = TLSLibrary.drainErrors()
                throw TransportError.tls(
                    TLSConnection.failure(.io, "writing to \(inner.peerDescription) failed", errors))
            }
        }
    }

    /// Sends close_notify (when the connection is sound) and closes the inner stream. Idempotent.
    package func close() {
        if closed { return }
        closed = true
        if !failed { sendCloseNotify() }
        inner.close()
    }

    /// Sends TLS close_notify without waiting for the peer's; errors are ignored.
    private func sendCloseNotify() {
        TLSLibrary.clearErrors()
        _ = apus_SSL_shutdown(ssl)
        try? flush()
        TLSLibrary.clearErrors()
    }

    // MARK: Failures

    /// A failure whose message ends with OpenSSL's reasons, draining the queue when `errors` is nil.
    static func failure(
        _ kind: TLSFailure.Kind, _ message: String, _ errors: [TLSLibrary.QueuedError]? = nil
    ) -> TLSFailure {
        let reasons = (errors ?? TLSLibrary.drainErrors()).map(\.reason)
        var seen: [String] = []
        for reason in reasons where !seen.contains(reason) { seen.append(reason) }
        return TLSFailure(kind, seen.isEmpty ? message : "\(message) (\(seen.joined(separator: "; ")))")
    }

    /// Names the cause of a failed handshake: the verify result first, then the error queue.
    private func handshakeFailure(_ errors: [TLSLibrary.QueuedError]) -> TLSFailure {
        let peer = inner.peerDescription
        let verifyResult = Int(apus_SSL_get_verify_result(ssl))
        if isClient, verifyResult != APUS_X509_V_OK {
            let why = TLSLibrary.string(apus_X509_verify_cert_error_string(verifyResult))
            switch verifyResult {
            case APUS_X509_V_ERR_CERT_HAS_EXPIRED:
                return TLSFailure(.expired, "the certificate of \(peer) has expired (\(why))")
            case APUS_X509_V_ERR_CERT_NOT_YET_VALID:
                return TLSFailure(.expired, "the certificate of \(peer) is not yet valid (\(why))")
            case APUS_X509_V_ERR_HOSTNAME_MISMATCH, APUS_X509_V_ERR_IP_ADDRESS_MISMATCH:
                return TLSFailure(.nameMismatch, nameMismatchMessage())
            case APUS_X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, APUS_X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                APUS_X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, APUS_X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                APUS_X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, APUS_X509_V_ERR_CERT_UNTRUSTED:
                return TLSFailure(
                    .untrustedIssuer,
                    "the certificate of \(peer) is not signed by a trusted authority (\(why)); "
                        + "set tls_trust_file to its CA or pin it with tls_fingerprint")
            default:
                return TLSFailure(.handshake, "the certificate of \(peer) was refused (\(why))")
            }
        }
        let codes = Set(errors.map { Int($0.reasonCode) })
        if !codes.isDisjoint(with: [
            APUS_SSL_R_UNSUPPORTED_PROTOCOL, APUS_SSL_R_TLSV1_ALERT_PROTOCOL_VERSION,
            APUS_SSL_R_NO_PROTOCOLS_AVAILABLE,
        ]) {
            return TLSConnection.failure(
                .protocolVersion, "\(peerWord) \(peer) and apus have no TLS version in common", errors)
        }
        if codes.contains(APUS_SSL_R_WRONG_VERSION_NUMBER) {
            return TLSConnection.failure(
                .handshake, "\(peerWord) \(peer) did not answer in TLS (a port for plain SMTP or STARTTLS?)", errors)
        }
        return TLSConnection.failure(.handshake, "TLS handshake with \(peer) failed", errors)
    }

    /// "certificate names a.example, b.example, not c.example".
    private func nameMismatchMessage() -> String {
        var names: [String] = []
        if let certificate = apus_SSL_get_peer_leaf(ssl) {
            names = TLSConnection.dnsNames(of: certificate)
            if names.isEmpty { names = [TLSConnection.subject(of: certificate)] }
            apus_X509_free(certificate)
        }
        let wanted = serverName ?? "the host connected to"
        let named = names.isEmpty ? "no name" : names.joined(separator: ", ")
        return "host name mismatch: the certificate of \(inner.peerDescription) names \(named), not \(wanted)"
    }

}
