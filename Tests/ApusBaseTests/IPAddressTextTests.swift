import ApusBase
import Testing

/// The one IP-literal test (relay names, configuration values, certificate checks).
@Suite struct IPAddressTextTests {
    @Test(arguments: ["127.0.0.1", "192.0.2.255", "0.0.0.0"])
    func ipv4(text: String) {
        #expect(IPAddressText.isIPv4(text))
        #expect(!IPAddressText.isIPv6(text))
        #expect(IPAddressText.isAddress(text))
    }

    @Test(arguments: [
        "::1", "::", "2001:db8::5", "::ffff:192.0.2.1", "fe80::1%eth0", "1:2:3:4:5:6:7:8", "fe80::1%br-lan.2",
    ])
    func ipv6(text: String) {
        #expect(IPAddressText.isIPv6(text))
        #expect(!IPAddressText.isIPv4(text))
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "localhost", "mail.example.com", ":::",
        "1:2:3:4:5:6:7:8:9", "2001:db8::5::1", "fe80::1%", "fe80::1%eth 0", "fe80::1%abcdefghijklmnop", "[::1]",
        "1::2::3", "::ffff:300.1.1.1",
    ])
    func notAddresses(text: String) {
        #expect(!IPAddressText.isAddress(text))
    }
}
