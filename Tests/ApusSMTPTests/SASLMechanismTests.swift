import ApusMessage
import ApusSMTP
import Testing

private func text(_ bytes: [UInt8]?) -> String { String(decoding: bytes ?? [], as: UTF8.self) }
private func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

@Suite("SASL mechanisms against their RFC examples")
struct SASLMechanismTests {
    // RFC 4616 §4: "\0tim\0tanstaaftanstaaf", and with an authorization identity.
    @Test func plainRFC4616() throws {
        var plain = try SASLPlain(user: "tim", password: "tanstaaftanstaaf")
        let initial = try #require(try plain.initialResponse())
        #expect(Base64.encodeString(initial) == "AHRpbQB0YW5zdGFhZnRhbnN0YWFm")
        // A server that ignored the initial response asks with an empty challenge.
        #expect(try plain.respond(to: []) == initial)
        #expect(throws: SASLError.self) { try plain.respond(to: bytes("again?")) }

        var proxy = try SASLPlain(user: "Kurt", password: "xipj3plmq", authorizationIdentity: "Ursel")
        #expect(try proxy.initialResponse() == bytes("Ursel\0Kurt\0xipj3plmq"))
        #expect(plain.sendsSecretInClear && plain.mechanism == "PLAIN")
        #expect(throws: SASLError.self) { try SASLPlain(user: "a\0b", password: "x") }
    }

    @Test func login() throws {
        var login = try SASLLogin(user: "tim", password: "tanstaaftanstaaf")
        #expect(try login.initialResponse() == nil)
        #expect(try login.respond(to: bytes("Username:")) == bytes("tim"))
        #expect(try login.respond(to: bytes("Password:")) == bytes("tanstaaftanstaaf"))
        #expect(throws: SASLError.self) { try login.respond(to: bytes("More:")) }
        #expect(login.sendsSecretInClear)
    }

    // RFC 2195 §2.
    @Test func cramMD5RFC2195() throws {
        var cram = try SASLCramMD5(user: "tim", password: "tanstaaftanstaaf")
        #expect(try cram.initialResponse() == nil)
        let challenge = try #require(Base64.decode(bytes("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+")))
        #expect(text(challenge) == "<1896.697170952@postoffice.reston.mci.net>")
        let response = try cram.respond(to: challenge)
        #expect(text(response) == "tim b913a602c7eda7a495b4e6e7334d3890")
        #expect(Base64.encodeString(response) == "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw")
        #expect(!cram.sendsSecretInClear)
    }

    // RFC 7677 §3.
    static let scramServerFirst =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    static let scramClientFinal =
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    static let scramServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

    private func scramAfterClientFinal() throws -> SASLScramSHA256 {
        var scram = try SASLScramSHA256(user: "user", password: "pencil", clientNonce: "rOprNGfwEbeRWgbNEkqO")
        #expect(text(try scram.initialResponse()) == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        #expect(text(try scram.respond(to: bytes(Self.scramServerFirst))) == Self.scramClientFinal)
        return scram
    }

    @Test func scramSHA256RFC7677WithFinalIn334() throws {
        var scram = try scramAfterClientFinal()
        #expect(try scram.respond(to: bytes(Self.scramServerFinal)) == [])
        try scram.finish(successText: "Authentication successful")
        #expect(!scram.sendsSecretInClear && scram.mechanism == "SCRAM-SHA-256")
    }

    @Test func scramSHA256RFC7677WithFinalIn235() throws {
        var scram = try scramAfterClientFinal()
        let additional = Base64.encodeString(bytes(Self.scramServerFinal))
        try scram.finish(successText: "\(additional)")
        var again = try scramAfterClientFinal()
        try again.finish(successText: "Authentication successful \(additional)")
    }

    @Test func scramRejectsAWrongServerSignature() throws {
        var scram = try scramAfterClientFinal()
        #expect(throws: SASLError.self) {
            try scram.respond(to: bytes("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
        }
        var silent = try scramAfterClientFinal()
        #expect(throws: SASLError.self) { try silent.finish(successText: "Authentication successful") }
        var refused = try scramAfterClientFinal()
        #expect {
            try refused.respond(to: bytes("e=invalid-proof"))
        } throws: { error in
            (error as? SASLError)?.message.contains("invalid-proof") == true
        }
    }

    @Test func scramRejectsBadServerFirstMessages() throws {
        for serverFirst in [
            "r=someoneElsesNonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // does not extend ours
            "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // adds nothing
            "m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
            "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100000000",
            "r=rOprNGfwEbeRWgbNEkqOxyz,s=!!!,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOxyz,i=4096",
            "garbage",
            "",
        ] {
            var scram = try SASLScramSHA256(user: "user", password: "pencil", clientNonce: "rOprNGfwEbeRWgbNEkqO")
            _ = try scram.initialResponse()
            #expect(throws: SASLError.self, "\(serverFirst)") { try scram.respond(to: bytes(serverFirst)) }
        }
    }

    @Test func scramNamesAreEscapedAndNoncesRandom() throws {
        var scram = try SASLScramSHA256(user: "a=b,c", password: "pencil")
        let first = text(try scram.initialResponse())
        #expect(first.hasPrefix("n,,n=a=3Db=2Cc,r="))
        var other = try SASLScramSHA256(user: "a=b,c", password: "pencil")
        #expect(text(try other.initialResponse()) != first)
        #expect(first.count > "n,,n=a=3Db=2Cc,r=".count + 24)
    }

    @Test func scramRefusesNonASCIIPasswords() throws {
        #expect {
            try SASLScramSHA256(user: "user", password: "pässword")
        } throws: { error in
            let message = "\(error)"
            return message.contains("SASLprep") && !message.contains("pässword")
        }
    }

    // Google's XOAUTH2 documentation example.
    @Test func xoauth2() throws {
        var xoauth = try SASLXOAuth2(
            user: "someuser@example.com", token: "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
        let initial = try #require(try xoauth.initialResponse())
        #expect(
            Base64.encodeString(initial)
                == "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        )
        #expect(try xoauth.respond(to: bytes("{\"status\":\"401\"}")) == [])
        #expect(xoauth.sendsSecretInClear)
    }

    // RFC 7628 §4.1.
    @Test func oauthBearerRFC7628() throws {
        var bearer = try SASLOAuthBearer(
            user: "user@example.com", token: "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==", host: "server.example.com",
            port: 143)
        let initial = try #require(try bearer.initialResponse())
        #expect(
            Base64.encodeString(initial)
                == "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2c9PQEB"
        )
        #expect(try bearer.respond(to: bytes("{\"status\":\"invalid_token\"}")) == [0x01])
        #expect(bearer.sendsSecretInClear)
    }

    @Test func descriptionsNeverShowTheSecret() throws {
        for mechanism in SASLMechanism.allCases {
            let client = try mechanism.client(user: "alice", secret: "hunter2secret")
            var dumped = ""
            dump(client, to: &dumped)
            for shown in ["\(client)", String(reflecting: client), dumped] {
                #expect(!shown.contains("hunter2secret"), "\(mechanism): \(shown)")
                #expect(shown.contains("alice"))
            }
        }
    }
}

@Suite("SASL mechanism choice")
struct SASLChoiceTests {
    @Test(arguments: [
        (["PLAIN", "LOGIN", "CRAM-MD5"], SASLMechanism.cramMD5),
        (["login", "plain"], .plain),
        (["LOGIN"], .login),
        (["XOAUTH2", "SCRAM-SHA-256", "PLAIN"], .scramSHA256),
        (["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"], .scramSHA256),
    ])
    func strongestBothSidesSupport(offered: [String], expected: SASLMechanism) throws {
        #expect(SASLMechanism.strongest(offeredBy: offered) == expected)
        let client = try SASLMechanism.client(for: "on", offered: offered, user: "u", secret: "p")
        #expect(client.mechanism == expected.name)
    }

    @Test func oauthOnlyWhenNamed() throws {
        #expect(SASLMechanism.strongest(offeredBy: ["XOAUTH2", "OAUTHBEARER"]) == nil)
        #expect {
            try SASLMechanism.client(for: "on", offered: ["XOAUTH2", "GSSAPI"], user: "u", secret: "token")
        } throws: { error in
            "\(error)".contains("XOAUTH2 GSSAPI") && !"\(error)".contains("token")
        }
        #expect(
            try SASLMechanism.client(for: "xoauth2", offered: ["XOAUTH2"], user: "u", secret: "t").mechanism
                == "XOAUTH2")
        #expect(
            try SASLMechanism.client(for: "oauthbearer", offered: [], user: "u", secret: "t").mechanism == "OAUTHBEARER"
        )
    }

    @Test func namesAreCaseInsensitiveAndUnknownNamesFail() throws {
        #expect(SASLMechanism(name: "cram-md5") == .cramMD5)
        #expect(SASLMechanism(name: "Scram-Sha-256") == .scramSHA256)
        #expect(SASLMechanism(name: "GSSAPI") == nil)
        #expect(throws: SASLError.self) { try SASLMechanism.client(for: "gssapi", offered: [], user: "u", secret: "p") }
    }

    @Test func clearTextFlags() {
        #expect(SASLMechanism.allCases.filter(\.sendsSecretInClear) == [.plain, .login, .xoauth2, .oauthBearer])
        #expect(SASLMechanism.allCases.filter(\.usesToken) == [.xoauth2, .oauthBearer])
    }
}
