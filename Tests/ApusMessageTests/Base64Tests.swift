import ApusMessage
import Testing

@Test(arguments: [
    ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
    ("foobar", "Zm9vYmFy"),
])
func base64RFC4648Vectors(plain: String, encoded: String) {
    #expect(Base64.encodeString(Array(plain.utf8)) == encoded)
    #expect(Base64.decode(encoded) == Array(plain.utf8))
}

@Test func base64RejectsGarbage() {
    #expect(Base64.decode("Zm9v!") == nil)
    #expect(Base64.decode("Z") == nil)
    #expect(Base64.decode("Zm9v\r\nYmFy") == Array("foobar".utf8))
}
