import ApusBase
import Testing

@Suite struct HexTests {
    @Test func bytesAsText() {
        #expect(Hex.string([0x00, 0x7F, 0xAB, 0xFF]) == "007FABFF")
        #expect(Hex.string([0xAB, 0xCD], uppercase: false) == "abcd")
        #expect(Hex.string([0xAB, 0xCD, 0x01], separator: UInt8(ascii: ":")) == "AB:CD:01")
        #expect(Hex.string([]) == "")
    }

    @Test func nibblesOfAWiderValue() {
        var out: [UInt8] = []
        Hex.append(UInt64(0x0100_007F), digits: 8, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "0100007F")
        out = []
        Hex.append(UInt64(25), digits: 4, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "0019")
    }

    @Test func digitValuesRoundTrip() {
        for byte in UInt8.min...UInt8.max {
            var out: [UInt8] = []
            Hex.append(byte, to: &out, uppercase: byte & 1 == 0)
            #expect(Hex.value(of: out[0]).map { $0 << 4 | (Hex.value(of: out[1]) ?? 0xFF) } == byte)
        }
        #expect(Hex.value(of: UInt8(ascii: "g")) == nil)
        #expect(Hex.value(of: UInt8(ascii: "G")) == nil)
        #expect(Hex.value(of: UInt8(ascii: "/")) == nil)
    }
}
