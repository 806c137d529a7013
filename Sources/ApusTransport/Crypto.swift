internal import COpenSSL

/// The cryptographic primitives SASL needs, from the system's libcrypto (loaded
/// on first use through the `COpenSSL` shim): no hand-written cryptography.
///
/// Every function throws ``TransportError/tlsUnavailable(_:)`` when OpenSSL
/// cannot be loaded, and ``CryptoError`` if the library call itself fails.
package enum Crypto {
    /// A hash function.
    package enum Digest: Sendable {
        /// SHA-256 (32 bytes).
        case sha256
        /// MD5 (16 bytes), for CRAM-MD5 only.
        case md5

        fileprivate var md: OpaquePointer? {
            switch self {
            case .sha256: return apus_EVP_sha256()
            case .md5: return apus_EVP_md5()
            }
        }

        /// The digest length in bytes.
        package var size: Int {
            switch self {
            case .sha256: return 32
            case .md5: return 16
            }
        }
    }

    /// The hash of `data` (`EVP_Digest`).
    package static func hash(_ digest: Digest, _ data: [UInt8]) throws -> [UInt8] {
        try TLSLibrary.load()
        var out = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        let ok = data.withUnsafeBytes { apus_EVP_Digest($0.baseAddress, $0.count, &out, &length, digest.md) }
        guard ok == 1, Int(length) == digest.size else { throw CryptoError("EVP_Digest failed") }
        return Array(out.prefix(Int(length)))
    }

    /// SHA-256 of `data`.
    package static func sha256(_ data: [UInt8]) throws -> [UInt8] { try hash(.sha256, data) }

    /// HMAC of `data` under `key` (`HMAC`).
    package static func hmac(_ digest: Digest, key: [UInt8], data: [UInt8]) throws -> [UInt8] {
        try TLSLibrary.load()
        var out = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        let ok = key.withUnsafeBytes { k in
            data.withUnsafeBufferPointer { d in
                apus_HMAC(digest.md, k.baseAddress, Int32(k.count), d.baseAddress, d.count, &out, &length)
            }
        }
        guard ok == 1, Int(length) == digest.size else { throw CryptoError("HMAC failed") }
        return Array(out.prefix(Int(length)))
    }

    /// PBKDF2 with HMAC-`digest` (RFC 8018), `length` bytes (`PKCS5_PBKDF2_HMAC`); SCRAM's Hi().
    package static func pbkdf2(
        _ digest: Digest, password: [UInt8], salt: [UInt8], iterations: Int, length: Int
    ) throws -> [UInt8] {
        try TLSLibrary.load()
        guard iterations > 0, iterations <= Int(Int32.max), length > 0, length <= 1024 else {
            throw CryptoError("PBKDF2 parameters out of range")
        }
        var out = [UInt8](repeating: 0, count: length)
        let ok = password.withUnsafeBytes { p in
            salt.withUnsafeBufferPointer { s in
                apus_PKCS5_PBKDF2_HMAC(
                    p.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(p.count), s.baseAddress,
                    Int32(s.count), Int32(iterations), digest.md, Int32(length), &out)
            }
        }
        guard ok == 1 else { throw CryptoError("PKCS5_PBKDF2_HMAC failed") }
        return out
    }

    /// The RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3) of
    /// `data` under the unencrypted PEM RSA private key `pem` (PKCS#1 or
    /// PKCS#8). The C functions are `PEM_read_bio_PrivateKey` and `EVP_DigestSign`.
    ///
    /// - Throws: ``CryptoError`` when the key cannot be read (an encrypted key
    ///   is refused, never prompted for), is not RSA, or signing fails; the
    ///   message never quotes the key.
    package static func signRS256(pem: [UInt8], data: [UInt8]) throws -> [UInt8] {
        try TLSLibrary.load()
        guard !pem.isEmpty, pem.count <= 1 << 20 else {
            throw CryptoError("the private key file is empty or too large")
        }
        var out = [UInt8](repeating: 0, count: 2048)
        var length = out.count
        TLSLibrary.clearErrors()
        let result = pem.withUnsafeBytes { key in
            data.withUnsafeBytes { bytes in
                apus_rs256_sign(key.baseAddress, Int32(key.count), bytes.baseAddress, bytes.count, &out, &length)
            }
        }
        TLSLibrary.clearErrors()
        switch result {
        case 1: return Array(out.prefix(length))
        case 0: throw CryptoError("the private key is not an unencrypted PEM private key")
        case -1: throw CryptoError("the private key is not an RSA key (RS256 needs RSA)")
        default: throw CryptoError("RS256 signing failed")
        }
    }

    /// `count` bytes from OpenSSL's CSPRNG (`RAND_bytes`).
    package static func random(count: Int) throws -> [UInt8] {
        try TLSLibrary.load()
        var out = [UInt8](repeating: 0, count: count)
        if count > 0, apus_RAND_bytes(&out, Int32(count)) != 1 { throw CryptoError("RAND_bytes failed") }
        return out
    }
}

/// A libcrypto call failed (not a missing library: that is ``TransportError/tlsUnavailable(_:)``).
package struct CryptoError: Error, CustomStringConvertible, Sendable {
    /// Which call failed.
    package var message: String
    /// Creates an error.
    package init(_ message: String) { self.message = message }
    /// "crypto: HMAC failed".
    package var description: String { "crypto: \(message)" }
}
