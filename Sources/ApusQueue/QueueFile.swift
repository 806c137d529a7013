import ApusBase

// The queue file format, version 2: one file per message (`<id>.msg`).
//
//     offset 0   header, 32 octets:  "apus-queue 2 " + content length (18 decimal
//                                    digits, zero-padded) + "\n"
//     offset 32  the content, exactly that many octets (the message as queued)
//     then       one or more envelope records, each:
//                    "envelope " + body length (10 digits) + " " + CRC-32 of the
//                    body (8 lower-case hex digits) + "\n" + body
//                where the body is an envelope in the text format of
//                Envelope+Codec.swift (its own `version:` line, ending `end\n`).
//
// The file is written once under a temporary name (`<id>.tmp`: header, content,
// first record), fsync'd, renamed to `<id>.msg`, and the directory fsync'd.
// Every later change of the envelope (recipient states, attempts, next attempt,
// replies) appends a whole new record and fsyncs the file; the content is never
// rewritten. The reader takes the last word: it walks the records from the end
// of the content and uses the last one that is complete and whose CRC matches;
// whatever follows it (an append torn by a crash) is ignored, and the next
// update truncates it before appending. When the records grow past
// ``QueueFile/compactionThreshold(recordSize:)`` an update rewrites the file
// instead (temporary name, fsync, rename over, directory fsync).
//
// A file whose header is wrong, whose content is shorter than its header says,
// or that has no valid record is corrupt (moved to `corrupt/` by a run): the
// write order (fsync before rename) means no crash can make one.

/// The version-2 message file's container: header, content, envelope records.
/// All of its format lives here and in Envelope+Codec.swift (the record bodies).
package enum QueueFile {
    /// The container version this code writes.
    package static let version = 2
    /// The header's fixed text before the content length.
    static let magic = Array("apus-queue 2 ".utf8)
    /// The header's size: the content starts here.
    package static let headerSize = 32
    /// The record header's size ("envelope " + 10 digits + " " + 8 hex + "\n").
    static let recordHeaderSize = 29
    /// The most record bytes a reader takes (many updates of a large envelope
    /// before a compaction); a file with more is corrupt.
    package static let recordsLimit = 5 * Envelope.maximumFileSize

    /// The most bytes of records an update appends to before it compacts the
    /// file instead: 64 KiB, or four times the new record when larger.
    static func compactionThreshold(recordSize: Int) -> Int64 {
        Int64(max(64 << 10, 4 * recordSize))
    }

    /// The header for `contentLength` octets of content.
    static func header(contentLength: Int64) -> [UInt8] {
        var out = magic
        let digits = Array(String(contentLength).utf8)
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: 18 - digits.count))
        out.append(contentsOf: digits)
        out.append(0x0A)
        return out
    }

    /// The content length a header gives, or nil when it is not a version-2 header.
    static func contentLength(header bytes: ArraySlice<UInt8>) -> Int64? {
        guard bytes.count == headerSize, bytes.prefix(magic.count).elementsEqual(magic),
            bytes.last == 0x0A
        else { return nil }
        var n: Int64 = 0
        for digit in bytes.dropFirst(magic.count).dropLast() {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
            n = n * 10 + Int64(digit - UInt8(ascii: "0"))
        }
        return n
    }

    /// A record holding `body` (an encoded envelope).
    static func record(_ body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(recordHeaderSize + body.count)
        out.append(contentsOf: "envelope ".utf8)
        let length = Array(String(body.count).utf8)
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: 10 - length.count))
        out.append(contentsOf: length)
        out.append(0x20)
        let crc = CRC32.checksum(body)
        Hex.append(UInt64(crc), digits: 8, to: &out, uppercase: false)
        out.append(0x0A)
        out.append(contentsOf: body)
        return out
    }

    /// The last valid record in `region` (the bytes after the content): its
    /// body's range, and where the valid records end (what follows is torn).
    /// Nil when no record is valid.
    static func lastRecord(in region: ArraySlice<UInt8>) -> (body: Range<Int>, validEnd: Int)? {
        var index = region.startIndex
        var last: Range<Int>? = nil
        while region.endIndex - index >= recordHeaderSize {
            let head = region[index..<(index + recordHeaderSize)]
            guard head.prefix(9).elementsEqual("envelope ".utf8), head[index + 19] == 0x20, head.last == 0x0A
            else { break }
            var length = 0
            var valid = true
            for digit in head[(index + 9)..<(index + 19)] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else {
                    valid = false
                    break
                }
                length = length * 10 + Int(digit - UInt8(ascii: "0"))
            }
            var crc: UInt32 = 0
            for digit in head[(index + 20)..<(index + 28)] {
                guard let value = EnvelopeEscaping.hexValue(digit) else {
                    valid = false
                    break
                }
                crc = crc << 4 | UInt32(value)
            }
            let start = index + recordHeaderSize
            guard valid, length <= region.endIndex - start else { break }
            let body = start..<(start + length)
            guard CRC32.checksum(region[body]) == crc else { break }
            last = body
            index = body.upperBound
        }
        guard let last else { return nil }
        return (last, last.upperBound)
    }
}

/// CRC-32 (IEEE 802.3, the one of zlib and `python3 -c 'import zlib'`).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for byte in bytes { crc = t[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc ^ 0xFFFF_FFFF
    }
}
