import ApusTestSupport
import ApusTransport
import Foundation
import Testing

/// A TLS server on its own thread over one end of a ``MemoryStream`` pair.
final class TLSTestServer: @unchecked Sendable {
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var storedError: (any Error)?
    private var storedSNI: String?
    private var storedSession: TLSSessionInfo?

    /// Starts the handshake on `stream`, then runs `body` (default: echo until the client closes).
    init(
        _ stream: MemoryStream, identity: TestCertificates.Identity, maximumVersion: TLSVersion? = nil,
        clientCAFile: String? = nil, body: @escaping @Sendable (TLSServerStream) throws -> Void = TLSTestServer.echo
    ) {
        Thread.detachNewThread { [self] in
            defer { finished.signal() }
            do {
                let tls = try TLSServerStream(
                    wrapping: stream, certificateFile: identity.certificateFile, keyFile: identity.keyFile,
                    maximumVersion: maximumVersion, clientCAFile: clientCAFile)
                lock.withLock {
                    storedSNI = tls.requestedServerName
                    storedSession = tls.tlsSession
                }
                try body(tls)
                tls.close()
            } catch {
                lock.withLock { storedError = error }
                stream.close()
            }
        }
    }

    /// Echoes every byte until the client closes.
    @Sendable static func echo(_ tls: TLSServerStream) throws {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try tls.read(into: $0) }
            if n == 0 { return }
            try tls.write(Array(buffer[0..<n]))
        }
    }

    /// Waits for the server thread to end (at most 10 s).
    func wait() {
        _ = finished.wait(timeout: .now() + 10)
    }

    var error: (any Error)? { lock.withLock { storedError } }
    var requestedServerName: String? { lock.withLock { storedSNI } }
    var session: TLSSessionInfo? { lock.withLock { storedSession } }
}

/// Reads until `count` bytes have arrived or the stream ends.
func readExactly(_ stream: any ByteStream, _ count: Int) throws -> [UInt8] {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while out.count < count {
        let n = try buffer.withUnsafeMutableBytes { try stream.read(into: $0) }
        if n == 0 { break }
        out += buffer[0..<n]
    }
    return out
}

/// The client's configuration trusting the test CA.
func trustingTestCA(_ certificates: TestCertificates, serverName: String? = "localhost") -> TLSConfiguration {
    var configuration = TLSConfiguration(serverName: serverName)
    configuration.trustFile = certificates.caFile
    return configuration
}

/// The failure kind of a client handshake against `identity`, or nil when it succeeded.
func handshakeFailureKind(
    _ identity: TestCertificates.Identity, _ configuration: TLSConfiguration, maximumVersion: TLSVersion? = nil
) throws -> (TLSFailure.Kind, String)? {
    let (client, server) = MemoryStream.pair(timeout: 5, peerDescription: "localhost[127.0.0.1]:465")
    let peer = TLSTestServer(server, identity: identity, maximumVersion: maximumVersion)
    defer {
        client.close()
        peer.wait()
    }
    do {
        let tls = try TLSStream(wrapping: client, configuration: configuration)
        tls.close()
        return nil
    } catch TransportError.tls(let failure) {
        return (failure.kind, failure.message)
    }
}

@Suite("TLSStream over an in-memory pair")
struct TLSStreamTests {
    let certificates: TestCertificates

    init() throws {
        certificates = try TestCertificates.shared()
    }

    @Test func handshakeVerifiesAndEchoes() throws {
        let (client, server) = MemoryStream.pair(timeout: 5)
        let peer = TLSTestServer(server, identity: certificates.server)
        let tls = try TLSStream(wrapping: client, configuration: trustingTestCA(certificates))
        let session = try #require(tls.tlsSession)
        #expect(session.protocolVersion == "TLSv1.3")
        #expect(session.cipher.hasPrefix("TLS_"))
        #expect(session.verified)
        #expect(session.peerNames == ["localhost"])
        #expect(session.peerSubject.contains("CN=localhost"))
        #expect(session.peerFingerprint == certificates.server.fingerprint)

        let message = Array("EHLO client.example\r\n".utf8)
        try tls.write(message)
        #expect(try readExactly(tls, message.count) == message)
        // A large write goes through in several records and comes back whole.
        let big = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try tls.write(big)
        #expect(try readExactly(tls, big.count) == big)
        tls.close()
        tls.close()  // idempotent
        peer.wait()
        #expect(peer.error == nil)
        #expect(peer.requestedServerName == "localhost")
    }

    @Test func serverClosingIsEndOfStream() throws {
        let (client, server) = MemoryStream.pair(timeout: 5)
        let peer = TLSTestServer(server, identity: certificates.server) { tls in
            try tls.write(Array("221 bye\r\n".utf8))
        }
        let tls = try TLSStream(wrapping: client, configuration: trustingTestCA(certificates))
        #expect(try readExactly(tls, 100) == Array("221 bye\r\n".utf8))
        var buffer = [UInt8](repeating: 0, count: 10)
        #expect(try buffer.withUnsafeMutableBytes { try tls.read(into: $0) } == 0)
        tls.close()
        peer.wait()
    }

    @Test func untrustedIssuer() throws {
        let failure = try #require(try handshakeFailureKind(certificates.selfSigned, trustingTestCA(certificates)))
        #expect(failure.0 == .untrustedIssuer)
        #expect(failure.1.contains("not signed by a trusted authority"))
        #expect(failure.1.contains("localhost[127.0.0.1]:465"))
    }

    @Test func systemTrustStoreDoesNotTrustTheTestCA() throws {
        let failure = try #require(
            try handshakeFailureKind(certificates.server, TLSConfiguration(serverName: "localhost")))
        #expect(failure.0 == .untrustedIssuer)
    }

    @Test func hostNameMismatch() throws {
        let failure = try #require(try handshakeFailureKind(certificates.otherName, trustingTestCA(certificates)))
        #expect(failure.0 == .nameMismatch)
        #expect(failure.1.contains("names other.example, not localhost"))
    }

    @Test func addressLiteralIsCheckedAgainstIPNames() throws {
        #expect(
            try handshakeFailureKind(certificates.server, trustingTestCA(certificates, serverName: "127.0.0.1")) == nil)
        let failure = try #require(
            try handshakeFailureKind(certificates.otherName, trustingTestCA(certificates, serverName: "127.0.0.1")))
        #expect(failure.0 == .nameMismatch)
    }

    @Test func addressLiteralSendsNoSNI() throws {
        let (client, server) = MemoryStream.pair(timeout: 5)
        let peer = TLSTestServer(server, identity: certificates.server)
        let tls = try TLSStream(wrapping: client, configuration: trustingTestCA(certificates, serverName: "127.0.0.1"))
        try tls.write(Array("x".utf8))
        #expect(try readExactly(tls, 1) == Array("x".utf8))
        tls.close()
        peer.wait()
        #expect(peer.error == nil)
        #expect(peer.requestedServerName == nil)
    }

    @Test func expiredCertificate() throws {
        let failure = try #require(try handshakeFailureKind(certificates.expired, trustingTestCA(certificates)))
        #expect(failure.0 == .expired)
        #expect(failure.1.contains("expired"))
    }

    @Test func wrongPinFails() throws {
        var configuration = TLSConfiguration(serverName: "localhost")
        configuration.fingerprint = certificates.server.fingerprint  // pin another certificate
        let failure = try #require(try handshakeFailureKind(certificates.selfSigned, configuration))
        #expect(failure.0 == .fingerprintMismatch)
        #expect(failure.1.contains("not the pinned"))
    }

    @Test func rightPinReplacesChainVerification() throws {
        var configuration = TLSConfiguration(serverName: "localhost")
        configuration.fingerprint = certificates.selfSigned.fingerprint
        let (client, server) = MemoryStream.pair(timeout: 5)
        let peer = TLSTestServer(server, identity: certificates.selfSigned)
        let tls = try TLSStream(wrapping: client, configuration: configuration)
        let session = try #require(tls.tlsSession)
        #expect(session.verified == false)
        #expect(session.peerFingerprint == certificates.selfSigned.fingerprint)
        try tls.write(Array("NOOP\r\n".utf8))
        #expect(try readExactly(tls, 6) == Array("NOOP\r\n".utf8))
        tls.close()
        peer.wait()
    }

    @Test func verifyOffAcceptsAnyCertificate() throws {
        var configuration = TLSConfiguration(serverName: "localhost")
        configuration.verify = false
        #expect(try handshakeFailureKind(certificates.expired, configuration) == nil)
    }

    @Test func tls13MinimumAgainstA12OnlyServer() throws {
        var configuration = trustingTestCA(certificates)
        configuration.minimumVersion = .tls13
        let failure = try #require(
            try handshakeFailureKind(certificates.server, configuration, maximumVersion: .tls12))
        #expect(failure.0 == .protocolVersion)
        #expect(failure.1.contains("no TLS version in common"))
    }

    @Test func tls12ServerIsAcceptedByDefault() throws {
        let (client, server) = MemoryStream.pair(timeout: 5)
        let peer = TLSTestServer(server, identity: certificates.server, maximumVersion: .tls12)
        let tls = try TLSStream(wrapping: client, configuration: trustingTestCA(certificates))
        #expect(tls.tlsSession?.protocolVersion == "TLSv1.2")
        tls.close()
        peer.wait()
    }

    @Test func clientCertificate() throws {
        var configuration = trustingTestCA(certificates)
        configuration.certificateFile = certificates.client.certificateFile
        configuration.keyFile = certificates.client.keyFile
        let (client, server) = MemoryStream.pair(timeout: 5)
        let peer = TLSTestServer(server, identity: certificates.server, clientCAFile: certificates.caFile)
        let tls = try TLSStream(wrapping: client, configuration: configuration)
        try tls.write(Array("x".utf8))
        #expect(try readExactly(tls, 1) == Array("x".utf8))
        tls.close()
        peer.wait()
        #expect(peer.error == nil)
        #expect(peer.session?.peerSubject.contains("CN=apus client") == true)
    }

    @Test func missingClientKeyIsAConfigurationError() throws {
        var configuration = trustingTestCA(certificates)
        configuration.certificateFile = certificates.client.certificateFile
        configuration.keyFile = certificates.directory + "/missing.key"
        let (client, _) = MemoryStream.pair(timeout: 5)
        #expect {
            _ = try TLSStream(wrapping: client, configuration: configuration)
        } throws: { error in
            guard case TransportError.tls(let failure) = error else { return false }
            return failure.kind == .configuration && failure.message.contains("missing.key")
        }
    }

    @Test func plainTextServerIsAHandshakeFailure() throws {
        let (client, server) = MemoryStream.pair(timeout: 5)
        try server.write(Array("220 mail.example ESMTP ready\r\n".utf8))
        #expect {
            _ = try TLSStream(wrapping: client, configuration: trustingTestCA(certificates))
        } throws: { error in
            guard case TransportError.tls(let failure) = error else { return false }
            return failure.kind == .handshake && failure.message.contains("did not answer in TLS")
        }
        server.close()
    }

    @Test func silentServerTimesOut() throws {
        let (client, server) = MemoryStream.pair(timeout: 0.3)
        let start = Date()
        #expect {
            _ = try TLSStream(wrapping: client, configuration: trustingTestCA(certificates))
        } throws: { error in
            guard case TransportError.timedOut(let what) = error else { return false }
            return what.contains("TLS handshake")
        }
        #expect(Date().timeIntervalSince(start) < 3)
        #expect(client.timeout == 0.3)  // restored after the handshake
        server.close()
    }
}
