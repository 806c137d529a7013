import ApusConfig
import Testing

@testable import ApusOAuth

struct HTTPResponseParserTests {
    /// Parses whole, then byte by byte (as reads would arrive): both must agree.
    func parseAllWays(_ text: String) throws -> HTTPResponse? {
        let bytes = Array(text.utf8)
        let whole = try HTTPResponseParser.parse(bytes, atEnd: true)
        var received: [UInt8] = []
        var incremental: HTTPResponse?
        for byte in bytes {
            received.append(byte)
            if let done = try HTTPResponseParser.parse(received, atEnd: false) {
                incremental = done
                break
            }
        }
        if incremental == nil { incremental = try HTTPResponseParser.parse(received, atEnd: true) }
        #expect(incremental == whole)
        return whole
    }

    @Test func contentLength() throws {
        let response = try #require(
            try parseAllWays("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"))
        #expect(response.status == 200)
        #expect(response.reason == "OK")
        #expect(response.header("content-type") == "application/json")
        #expect(response.body == Array("{}".utf8))
    }

    @Test func chunked() throws {
        let response = try #require(
            try parseAllWays(
                "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\n{\"e\r\na\r\nrror\":\"x\"}\r\n0\r\nX-Trailer: y\r\n\r\n"
            ))
        #expect(response.status == 400)
        #expect(String(decoding: response.body, as: UTF8.self) == "{\"error\":\"x\"}")
    }

    @Test func untilClose() throws {
        let response = try #require(try parseAllWays("HTTP/1.0 200 OK\nServer: x\n\nbody"))
        #expect(response.body == Array("body".utf8))
        #expect(try HTTPResponseParser.parse(Array("HTTP/1.0 200 OK\r\n\r\nbo".utf8), atEnd: false) == nil)
    }

    @Test func interimResponsesAreSkipped() throws {
        let response = try #require(
            try parseAllWays("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        #expect(response.status == 200)
    }

    @Test(arguments: [
        "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "SMTP 220\r\n\r\n", "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n", "HTTP/1.1 200 OK\r\nX: a\u{1}b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Le",
    ])
    func refused(text: String) {
        #expect(throws: HTTPError.self) { try HTTPResponseParser.parse(Array(text.utf8), atEnd: true) }
    }

    @Test func sizeIsBounded() {
        let big =
            Array("HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n".utf8) + [UInt8](repeating: 0x41, count: 70000)
        #expect(throws: HTTPError.self) { try HTTPResponseParser.parse(big, atEnd: false) }
        let longLine = Array("HTTP/1.1 200 OK\r\nX: ".utf8) + [UInt8](repeating: 0x41, count: 9000)
        #expect(throws: HTTPError.self) { try HTTPResponseParser.parse(longLine, atEnd: false) }
        let manyChunks =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + String(repeating: "1\r\na\r\n", count: 20000)
        #expect(throws: HTTPError.self) { try HTTPResponseParser.parse(Array(manyChunks.utf8), atEnd: false) }
    }

    @Test func request() throws {
        let url = try #require(HTTPSURL("https://login.example.com/tenant/oauth2/v2.0/token?x=1"))
        let text = String(decoding: HTTPSClient.request(url: url, form: Array("a=b".utf8)), as: UTF8.self)
        #expect(
            text
                == "POST /tenant/oauth2/v2.0/token?x=1 HTTP/1.1\r\nHost: login.example.com\r\nUser-Agent: apus\r\n"
                + "Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n"
                + "Content-Length: 3\r\nConnection: close\r\n\r\na=b")
    }
}
