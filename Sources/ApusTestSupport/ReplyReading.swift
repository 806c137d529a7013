import ApusTransport

/// Reads one line from `stream`, without its LF or CRLF (byte by byte: for
/// tests that talk SMTP by hand); nil at the end of the stream with nothing read.
package func readLine(_ stream: any ByteStream) throws -> String? {
    var line: [UInt8] = []
    var byte = [UInt8](repeating: 0, count: 1)
    while true {
        let n = try byte.withUnsafeMutableBytes { try stream.read(into: $0) }
        if n == 0 { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
        if byte[0] == 10 {
            if line.last == 13 { line.removeLast() }
            return String(decoding: line, as: UTF8.self)
        }
        line.append(byte[0])
    }
}

/// Reads one SMTP reply (all its lines, up to the one whose fourth character is
/// not `-`), returning the lines.
package func readReply(_ stream: any ByteStream) throws -> [String] {
    var lines: [String] = []
    while let line = try readLine(stream) {
        lines.append(line)
        if line.count < 4 || line[line.index(line.startIndex, offsetBy: 3)] != "-" { break }
    }
    return lines
}
