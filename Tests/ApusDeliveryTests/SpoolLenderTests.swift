import Foundation
import Testing

@testable import ApusDelivery
@testable import ApusSMTP

/// The body spool is lent to the SMTP engine in place (memory) or through one
/// reused 64 KiB window (disk); what goes out must be the spooled bytes.
struct SpoolLenderTests {
    func spooled(_ size: Int, memoryLimit: Int) throws -> (Spool, [UInt8]) {
        let spool = Spool(directory: NSTemporaryDirectory(), memoryLimit: memoryLimit)
        var expected: [UInt8] = []
        var i = 0
        while expected.count < size {
            let line = Array("line \(i)\(i % 7 == 0 ? "\r\n." : "") of the body, with a dot now and then\r\n".utf8)
            try spool.append(line)
            expected += line
            i += 1
        }
        return (spool, expected)
    }

    @Test(arguments: [false, true])
    func lentSpoolGoesOutAsSpooled(onDisk: Bool) throws {
        let (spool, expected) = try spooled(700_000, memoryLimit: onDisk ? 1000 : 1 << 20)
        #expect(spool.isOnDisk == onDisk)
        let source = Transmission.bodySource(spool)
        #expect(source.knownSize == expected.count)
        for maximum in [65536, 1000] {
            for dotStuffing in [false, true] {
                let reader = source.makeReader()
                reader.setDotStuffing(dotStuffing)
                var sent: [UInt8] = []
                while true {
                    let (bytes, last) = try reader.nextWireChunk(maximum: maximum)
                    #expect(bytes.count == maximum || last)
                    sent += bytes
                    if last { break }
                }
                #expect(sent == WireEncoder.encode(expected, dotStuffing: dotStuffing))
            }
        }
    }

    @Test func windowServesAnyOffset() throws {
        let (spool, expected) = try spooled(200_000, memoryLimit: 1000)
        let lender = SpoolLender(spool)
        for offset in [0, 1, 65535, 65536, 70000, 3, 199_000, expected.count - 1, expected.count] {
            let got = try lender.withBytes(at: offset) { bytes in
                #expect(Array(bytes) == Array(expected[offset..<(offset + bytes.count)]))
                #expect(bytes.count > 0 || offset == expected.count)
                return bytes.count
            }
            #expect(got <= 65536)
        }
    }
}
