import Foundation

/// An OAuth2 token endpoint for tests: Python's standard library
/// (`http.server` + `ssl`) serving HTTPS on loopback with a certificate from
/// ``TestCertificates``, run as a child process and stopped by its PID.
///
/// What it answers is read from ``behaviourFile`` (JSON) at every request, so
/// a test can change it between runs with ``setBehaviour(_:)``:
///
/// | key | meaning |
/// |---|---|
/// | `status` | the HTTP status (default 200) |
/// | `error`, `error_description` | answer with this OAuth error (status default 400) |
/// | `token_prefix` | the access token is `PREFIX-N` for the N-th request (default `tok`) |
/// | `expires_in` | seconds (default 3600); a string is sent as a string |
/// | `refresh_token` | a rotated refresh token to send back |
/// | `chunked` | send the body with `Transfer-Encoding: chunked` |
/// | `public_key` | a PEM public key: RS256 assertions are verified with it (`cryptography`) |
/// | `hold` | `true`: each answer waits (after the request is logged) until ``release()``, a second held request, or 10 s |
/// | `rotate` | a refresh token: refresh-token rotation. Only the current refresh token is accepted (else `invalid_grant`); each answer carries `rt-N` for the N-th request, which becomes the current one |
///
/// Each request is appended to ``requestsFile`` as one JSON line: the form
/// fields, `host` and `content_type` headers, and for an assertion its
/// decoded header and claims and `signature_ok`.
package final class TokenEndpoint: @unchecked Sendable {
    /// The port it listens on (127.0.0.1).
    package let port: UInt16
    /// `https://127.0.0.1:PORT/oauth2/token`.
    package var url: String { "https://127.0.0.1:\(port)/oauth2/token" }
    /// The behaviour file.
    package let behaviourFile: String
    /// The request log.
    package let requestsFile: String
    /// The file whose creation (``release()``) lets held answers go (`hold`).
    package let releaseFile: String
    private let child: ChildProcess
    private let directory: TemporaryDirectory
    private let stopping = Once()

    /// Starts the endpoint on `port` (a free one when nil) with `behaviour`,
    /// serving `certificates.server`; waits up to 10 s until it listens.
    package init(certificates: TestCertificates, port: UInt16? = nil, behaviour: [String: Any] = [:]) throws {
        directory = try TemporaryDirectory(prefix: "apus-token-endpoint")
        behaviourFile = directory.file("behaviour.json")
        requestsFile = directory.file("requests.jsonl")
        releaseFile = directory.file("release")
        let script = try directory.write("endpoint.py", Self.script)
        let ready = directory.file("ready")
        let chosen = try port ?? freeLoopbackPort()
        self.port = chosen
        try Self.writeBehaviour(behaviour, to: behaviourFile)
        let logPath = directory.file("endpoint.log")
        child = try ChildProcess.spawnServer(
            "/usr/bin/python3",
            arguments: [
                script, String(chosen), certificates.server.certificateFile, certificates.server.keyFile,
                behaviourFile, requestsFile, ready, releaseFile,
            ], log: logPath)
        let end = Date(timeIntervalSinceNow: 10)
        while !FileManager.default.fileExists(atPath: ready) {
            if child.poll() != nil || Date() > end {
                stop()
                let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                throw SpawnError(description: "the token endpoint did not start: \(text)")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    deinit { stop() }

    /// Replaces the behaviour (see the table above).
    package func setBehaviour(_ behaviour: [String: Any]) throws {
        try Self.writeBehaviour(behaviour, to: behaviourFile)
    }

    /// Lets the answers held by `hold` go (and every later one at once).
    package func release() throws {
        try Data().write(to: URL(fileURLWithPath: releaseFile))
    }

    private static func writeBehaviour(_ behaviour: [String: Any], to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: behaviour)
        let temporary = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: temporary))
        _ = rename(temporary, path)
    }

    /// The requests so far, one dictionary each.
    package func requests() -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: requestsFile, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    /// The form fields of the requests so far.
    package func forms() -> [[String: String]] {
        requests().map { ($0["form"] as? [String: String]) ?? [:] }
    }

    /// Stops the endpoint (SIGTERM, then SIGKILL) and reaps it. Idempotent.
    package func stop() {
        stopping.run { child.terminate() }
    }

    static let script = #"""
        import base64, json, os, ssl, sys, threading, time, urllib.parse
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        port, cert, key, behaviour_file, requests_file, ready, release_file = sys.argv[1:8]
        lock = threading.Lock()
        count = [0]
        current_refresh = [None]
        held = [0]

        def b64url(text):
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

        def verify(assertion, public_key_file):
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding
            head, body, signature = assertion.split(".")
            with open(public_key_file, "rb") as f:
                public_key = serialization.load_pem_public_key(f.read())
            try:
                public_key.verify(b64url(signature), (head + "." + body).encode(), padding.PKCS1v15(), hashes.SHA256())
                ok = True
            except Exception:
                ok = False
            return json.loads(b64url(head)), json.loads(b64url(body)), ok

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}
                with open(behaviour_file) as f:
                    behaviour = json.load(f)
                with lock:
                    count[0] += 1
                    n = count[0]
                record = {"form": form, "path": self.path, "host": self.headers.get("Host"),
                          "content_type": self.headers.get("Content-Type"),
                          "connection": self.headers.get("Connection")}
                if "assertion" in form and behaviour.get("public_key"):
                    head, claims, ok = verify(form["assertion"], behaviour["public_key"])
                    record.update({"jwt_header": head, "jwt_claims": claims, "signature_ok": ok})
                with lock:
                    with open(requests_file, "a") as f:
                        f.write(json.dumps(record) + "\n")
                if behaviour.get("hold"):
                    with lock:
                        held[0] += 1
                    end = time.monotonic() + 10
                    while not os.path.exists(release_file) and held[0] < 2 and time.monotonic() < end:
                        time.sleep(0.01)
                rotated = None
                if "rotate" in behaviour:
                    with lock:
                        if current_refresh[0] is None:
                            current_refresh[0] = behaviour["rotate"]
                        if form.get("refresh_token") == current_refresh[0]:
                            rotated = current_refresh[0] = "rt-%d" % n
                        else:
                            behaviour = dict(behaviour, error="invalid_grant",
                                             error_description="the refresh token was revoked")
                if "error" in behaviour:
                    status = behaviour.get("status", 400)
                    answer = {"error": behaviour["error"]}
                    if "error_description" in behaviour:
                        answer["error_description"] = behaviour["error_description"]
                elif behaviour.get("status", 200) != 200:
                    status = behaviour["status"]
                    answer = {"message": "unavailable"}
                else:
                    status = 200
                    answer = {"token_type": "Bearer", "access_token": "%s-%d" % (behaviour.get("token_prefix", "tok"), n),
                              "expires_in": behaviour.get("expires_in", 3600)}
                    if "refresh_token" in behaviour:
                        answer["refresh_token"] = behaviour["refresh_token"]
                    if rotated:
                        answer["refresh_token"] = rotated
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                if behaviour.get("chunked"):
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(body), 7):
                        part = body[i:i + 7]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                self.close_connection = True

        server = ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        open(ready, "w").close()
        server.serve_forever()
        """#
}
