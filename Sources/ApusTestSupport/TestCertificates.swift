import Foundation

/// Certificates for TLS tests, made at test time with the `openssl` command in
/// a temporary directory: a CA, and leaf certificates signed by it or not.
///
/// | identity | names | signed by | valid |
/// |---|---|---|---|
/// | ``server`` | DNS `localhost`, IP `127.0.0.1`, CN `localhost` | the CA | now, for 30 days |
/// | ``expired`` | as ``server`` | the CA | in 2020 only |
/// | ``otherName`` | DNS `other.example` | the CA | now |
/// | ``selfSigned`` | as ``server`` | itself | now |
/// | ``client`` | CN `apus client` | the CA | now |
///
/// All leaves are EC P-256; ``caFile`` is the CA certificate to trust.
/// ``shared()`` makes one set per test process.
package struct TestCertificates: Sendable {
    /// A certificate with its key, and the certificate's SHA-256 fingerprint.
    package struct Identity: Sendable {
        /// The certificate (PEM).
        package var certificateFile: String
        /// Its key (PEM, unencrypted).
        package var keyFile: String
        /// SHA-256 of the certificate's DER form (what `tls_fingerprint` pins).
        package var fingerprint: [UInt8]
    }

    /// The directory holding every file.
    package let directory: String
    /// The CA certificate (PEM): pass as `trustFile` to trust the leaves it signed.
    package let caFile: String
    /// The CA's key.
    package let caKeyFile: String
    /// A valid certificate for `localhost` and `127.0.0.1`, signed by the CA.
    package let server: Identity
    /// The same names, signed by the CA, expired since 2020.
    package let expired: Identity
    /// A valid certificate for `other.example` only, signed by the CA.
    package let otherName: Identity
    /// A certificate for `localhost`/`127.0.0.1` signed by its own key (no CA).
    package let selfSigned: Identity
    /// A client certificate signed by the CA.
    package let client: Identity

    /// Makes a full set in a fresh subdirectory of `parent` (default: the system temporary directory).
    ///
    /// - Throws: ``TestCertificatesError`` when `openssl` is missing or fails (the message has its stderr).
    package static func generate(in parent: String = NSTemporaryDirectory()) throws -> TestCertificates {
        let directory = (parent as NSString).appendingPathComponent("apus-certs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

        // A minimal `openssl ca` set-up: the only way in OpenSSL 3.0 to choose past validity dates.
        try FileManager.default.createDirectory(atPath: path("issued"), withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: path("index.txt")))
        try Data("1000\n".utf8).write(to: URL(fileURLWithPath: path("serial")))
        let caConfig = """
            [ ca ]
            default_ca = testca
            [ testca ]
            dir = \(directory)
            database = \(path("index.txt"))
            new_certs_dir = \(path("issued"))
            serial = \(path("serial"))
            default_md = sha256
            policy = anything
            copy_extensions = copy
            unique_subject = no
            [ anything ]
            commonName = supplied
            [ leaf ]
            basicConstraints = critical, CA:FALSE
            keyUsage = critical, digitalSignature, keyEncipherment
            extendedKeyUsage = serverAuth, clientAuth
            """
        try Data(caConfig.utf8).write(to: URL(fileURLWithPath: path("ca.cnf")))

        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try run(
            ["req", "-x509"] + ec + [
                "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "30", "-subj", "/CN=apus test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])

        func leaf(_ name: String, subject: String, altNames: String?, start: String?, end: String?) throws -> Identity {
            var request = ["req", "-new"] + ec + ["-keyout", path("\(name).key"), "-out", path("\(name).csr")]
            request += ["-subj", subject]
            if let altNames { request += ["-addext", "subjectAltName=\(altNames)"] }
            try run(request)
            var sign = [
                "ca", "-batch", "-notext", "-config", path("ca.cnf"), "-cert", path("ca.pem"), "-keyfile",
                path("ca.key"), "-extensions", "leaf", "-in", path("\(name).csr"), "-out", path("\(name).pem"),
            ]
            if let start, let end { sign += ["-startdate", start, "-enddate", end] } else { sign += ["-days", "30"] }
            try run(sign)
            return Identity(
                certificateFile: path("\(name).pem"), keyFile: path("\(name).key"),
                fingerprint: try fingerprint(ofCertificate: path("\(name).pem")))
        }

        let localNames = "DNS:localhost,IP:127.0.0.1"
        let server = try leaf("server", subject: "/CN=localhost", altNames: localNames, start: nil, end: nil)
        let expired = try leaf(
            "expired", subject: "/CN=localhost", altNames: localNames, start: "20200101000000Z",
            end: "20200201000000Z")
        let other = try leaf("other", subject: "/CN=other.example", altNames: "DNS:other.example", start: nil, end: nil)
        let client = try leaf("client", subject: "/CN=apus client", altNames: nil, start: nil, end: nil)
        try run(
            ["req", "-x509"] + ec + [
                "-keyout", path("selfsigned.key"), "-out", path("selfsigned.pem"), "-days", "30",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=\(localNames)",
            ])
        let selfSigned = Identity(
            certificateFile: path("selfsigned.pem"), keyFile: path("selfsigned.key"),
            fingerprint: try fingerprint(ofCertificate: path("selfsigned.pem")))
        return TestCertificates(
            directory: directory, caFile: path("ca.pem"), caKeyFile: path("ca.key"), server: server,
            expired: expired, otherName: other, selfSigned: selfSigned, client: client)
    }

    nonisolated(unsafe) private static var cached: TestCertificates?
    private static let cacheLock = NSLock()

    /// One set per test process, made on first use (about a second) and reused.
    package static func shared() throws -> TestCertificates {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let cached { return cached }
        let made = try generate()
        cached = made
        return made
    }

    /// The SHA-256 of a PEM certificate's DER form, computed by `openssl x509`.
    package static func fingerprint(ofCertificate file: String) throws -> [UInt8] {
        let output = try run(["x509", "-in", file, "-noout", "-fingerprint", "-sha256"])
        // "sha256 Fingerprint=AB:CD:…"
        guard let hex = output.split(separator: "=").last else {
            throw TestCertificatesError("unexpected openssl output: \(output)")
        }
        var bytes: [UInt8] = []
        for part in hex.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":") {
            guard let byte = UInt8(part, radix: 16) else {
                throw TestCertificatesError("unexpected openssl output: \(output)")
            }
            bytes.append(byte)
        }
        guard bytes.count == 32 else { throw TestCertificatesError("unexpected openssl output: \(output)") }
        return bytes
    }

    /// Runs `openssl ARGS`, returning its stdout; throws with its stderr when it fails.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let candidates = ["/usr/bin/openssl", "/usr/local/bin/openssl"]
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TestCertificatesError("the openssl command is not installed (Debian package openssl)")
        }
        let result = try Subprocess.run(executable, arguments: arguments, timeout: 120)
        guard result.status == 0, !result.signaled, !result.timedOut else {
            throw TestCertificatesError(
                "openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(result.stderr)")
        }
        return result.stdout
    }
}

/// Making test certificates failed.
package struct TestCertificatesError: Error, CustomStringConvertible, Sendable {
    /// What failed, with openssl's stderr.
    package var description: String
    /// Creates an error.
    package init(_ description: String) { self.description = description }
}
