import Testing

@testable import ApusOAuth

struct JSONReaderTests {
    func parse(_ text: String) throws -> JSONValue { try JSONReader.parse(Array(text.utf8)) }

    @Test func tokenResponse() throws {
        let value = try parse(
            #" {"token_type":"Bearer","expires_in":3599,"ext_expires_in":"3599","access_token":"eyJ0.a-b_c","n":null,"ok":true} "#
        )
        #expect(value["access_token"]?.string == "eyJ0.a-b_c")
        #expect(value["expires_in"]?.integer == 3599)
        #expect(value["ext_expires_in"]?.integer == 3599)
        #expect(value["n"] == .null)
        #expect(value["ok"] == .bool(true))
        #expect(value["missing"] == nil)
    }

    @Test(arguments: [
        (#""a\"b\\c\/d\b\f\n\r\t""#, "a\"b\\c/d\u{8}\u{c}\n\r\t"),
        (#""\u00e9\u20AC""#, "é€"),
        (#""\ud83d\ude00""#, "😀"),
        ("\"caf\u{e9}\"", "café"),
    ])
    func stringEscapes(text: String, expected: String) throws {
        #expect(try parse(text) == .string(expected))
    }

    @Test func numbers() throws {
        #expect(
            try parse("[0,-1,1.5,2e3,-0.25E-2]")
                == .array([.number("0"), .number("-1"), .number("1.5"), .number("2e3"), .number("-0.25E-2")]))
        #expect(JSONValue.number("3600.0").integer == 3600)
        #expect(JSONValue.number("1.5").integer == nil)
        #expect(JSONValue.number("1e300").integer == nil)
        #expect(JSONValue.number("-9223372036854775808").integer == nil)
        #expect(JSONValue.string("-9223372036854775808").integer == nil)
    }

    @Test(arguments: [
        "", "{", "{\"a\"}", "{\"a\":}", "[1,]", "01", "1.", "-", "1e", "\"\\ud800\"", "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\\x\"", "\"a\u{1}\"", "tru", "nul", "{} x", "[1 2]", "\"unterminated", "{\"a\":1,}", "\"\\u12\"",
    ])
    func refused(text: String) {
        #expect(throws: JSONError.self) { try parse(text) }
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: JSONError.self) { try JSONReader.parse([0x22, 0xFF, 0x22]) }
    }

    @Test func depthAndSizeAreBounded() throws {
        let deep = String(repeating: "[", count: 17) + String(repeating: "]", count: 17)
        #expect(throws: JSONError.self) { try parse(deep) }
        let ok = String(repeating: "[", count: 16) + String(repeating: "]", count: 16)
        _ = try parse(ok)
        #expect(throws: JSONError.self) { try JSONReader.parse([UInt8](repeating: 0x20, count: 70_000)) }
        let many = "[" + Array(repeating: "1", count: 5000).joined(separator: ",") + "]"
        #expect(throws: JSONError.self) { try parse(many) }
    }
}

struct TokenResponseTests {
    func response(_ status: Int, _ body: String) -> HTTPResponse {
        HTTPResponse(status: status, reason: "X", headers: [], body: Array(body.utf8))
    }

    @Test func token() throws {
        let answer = try TokenResponse.read(
            response(200, #"{"access_token":"abc","token_type":"bearer","expires_in":"60","refresh_token":"r2"}"#))
        #expect(answer == .token(accessToken: "abc", expiresIn: 60, refreshToken: "r2"))
        let plain = try TokenResponse.read(response(200, #"{"access_token":"abc"}"#))
        #expect(plain == .token(accessToken: "abc", expiresIn: 3600, refreshToken: nil))
    }

    @Test func oauthError() throws {
        let answer = try TokenResponse.read(
            response(400, "{\"error\":\"invalid_grant\",\"error_description\":\"bad\\nline\"}"))
        #expect(answer == .error(code: "invalid_grant", description: "bad?line"))
    }

    @Test(arguments: [
        (503, "oops"), (200, "not json"), (200, "{}"), (200, #"{"access_token":"a b"}"#),
        (200, #"{"access_token":"a","token_type":"mac"}"#), (200, #"{"access_token":"a","expires_in":-5}"#),
    ])
    func unusable(status: Int, body: String) {
        #expect(throws: TokenResponseError.self) { try TokenResponse.read(response(status, body)) }
    }
}

struct FormAndJWTTests {
    @Test func formEncoding() {
        let form = FormEncoding.encode([("scope", "https://mail.google.com/ x"), ("a&b", "c=d+é")])
        #expect(
            String(decoding: form, as: UTF8.self) == "scope=https%3A%2F%2Fmail.google.com%2F%20x&a%26b=c%3Dd%2B%C3%A9")
    }

    @Test func base64url() {
        #expect(JWTAssertion.base64url([0xFB, 0xFF]) == "-_8")
        #expect(
            JWTAssertion.base64url(Array("{\"alg\":\"RS256\",\"typ\":\"JWT\"}".utf8))
                == "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9")
    }

    @Test func claims() {
        let text = JWTAssertion.claims(
            issuer: "svc@p.iam.gserviceaccount.com", subject: "a\"b@example.com",
            audience: "https://oauth2.googleapis.com/token",
            scope: "https://mail.google.com/", issuedAt: 1000)
        #expect(
            text
                == #"{"iss":"svc@p.iam.gserviceaccount.com","sub":"a\"b@example.com","aud":"https://oauth2.googleapis.com/token","scope":"https://mail.google.com/","iat":1000,"exp":4600}"#
        )
        #expect((try? JSONReader.parse(Array(text.utf8))) != nil)
    }
}
