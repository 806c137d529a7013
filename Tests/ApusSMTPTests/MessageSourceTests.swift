import ApusPOSIX
import ApusTransport
import Foundation
import Testing

@testable import ApusSMTP

func drain(_ source: MessageSource, chunk: Int = 7) throws -> (bytes: [UInt8], chunks: Int) {
    let reader = source.makeReader()
    var out: [UInt8] = []
    var count = 0
    while true {
        let (bytes, last) = try reader.nextWireChunk(maximum: chunk)
        #expect(bytes.count <= chunk)
        out += bytes
        count += 1
        if last { return (out, count) }
    }
}

struct MessageSourceTests {
    @Test func concatenationOfStringsLinesAndStreams() throws {
        var parts = [Array("from a stream\nsecond".utf8)]
        let streamed = MessageSource.chunks { parts.isEmpty ? nil : parts.removeFirst() }
        let source = MessageSource.string("Subject: x\n\n") + .lines(["one", "two"]) + streamed
        #expect(source.knownSize == nil)
        let (bytes, _) = try drain(source)
        #expect(String(decoding: bytes, as: UTF8.self) == "Subject: x\r\n\r\none\r\ntwo\r\nfrom a stream\r\nsecond\r\n")
    }

    @Test func knownSizeAddsUp() {
        let source = MessageSource.string("abc") + .bytes([1, 2]) + .lines(["x"])
        #expect(source.knownSize == 7)
    }

    @Test func lastChunkIsKnownInAdvance() throws {
        // 14 wire octets in chunks of 7: exactly two chunks, the second last.
        let reader = MessageSource.string("abcde\nfghij\n").makeReader()
        let first = try reader.nextWireChunk(maximum: 7)
        #expect(first.bytes.count == 7 && !first.isLast)
        let second = try reader.nextWireChunk(maximum: 7)
        #expect(second.bytes.count == 7 && second.isLast)
    }

    @Test func emptyMessageIsOneEmptyLastChunk() throws {
        let (bytes, chunks) = try drain(.bytes([]))
        #expect(bytes.isEmpty && chunks == 1)
    }

    @Test func fileDescriptorSource() throws {
        let path = NSTemporaryDirectory() + "apus-smtp-source-\(getpid())"
        try Data("line\nlast".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fd = try FileDescriptor.open(path, O_RDONLY)
        defer { fd.close() }
        let (bytes, _) = try drain(.fileDescriptor(fd), chunk: 3)
        #expect(bytes == Array("line\r\nlast\r\n".utf8))
    }

    @Test func streamSource() throws {
        let (a, b) = MemoryStream.pair()
        try b.write(Array("x\ny".utf8))
        b.close()
        let (bytes, _) = try drain(.stream(a))
        #expect(bytes == Array("x\r\ny\r\n".utf8))
    }
}
