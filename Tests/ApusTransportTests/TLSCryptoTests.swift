import ApusTransport
import Testing

/// Hex string → bytes, for test vectors.
func hexBytes(_ text: String) -> [UInt8] {
    let digits = Array(text.utf8.filter { $0 != UInt8(ascii: " ") })
    return stride(from: 0, to: digits.count, by: 2).map {
        UInt8(String(decoding: digits[$0..<($0 + 2)], as: UTF8.self), radix: 16) ?? 0
    }
}

@Suite("Crypto primitives from the system libcrypto (TLS shim)")
struct TLSCryptoTests {
    @Test func sha256() throws {
        #expect(
            try Crypto.sha256(Array("abc".utf8))
                == hexBytes("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"))
    }

    @Test func md5() throws {
        #expect(try Crypto.hash(.md5, Array("abc".utf8)) == hexBytes("900150983cd24fb0d6963f7d28e17f72"))
    }

    @Test func hmacSHA256RFC4231Case2() throws {
        #expect(
            try Crypto.hmac(.sha256, key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
                == hexBytes("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"))
    }

    @Test func hmacMD5RFC2104() throws {
        #expect(
            try Crypto.hmac(.md5, key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
                == hexBytes("750c783e6ab0b503eaa86e310a5db738"))
    }

    @Test func pbkdf2RFC7914() throws {
        #expect(
            try Crypto.pbkdf2(
                .sha256, password: Array("passwd".utf8), salt: Array("salt".utf8), iterations: 1, length: 64)
                == hexBytes(
                    "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                        + "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"))
    }

    @Test func randomBytesDiffer() throws {
        let a = try Crypto.random(count: 24)
        let b = try Crypto.random(count: 24)
        #expect(a.count == 24 && a != b)
    }
}
