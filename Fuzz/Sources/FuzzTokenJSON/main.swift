import ApusOAuth
import FuzzDriver

/// JSONReader must never crash, hang or grow without bound on any bytes;
/// what it accepts must read back as a token response or a clean refusal,
/// and the reader must be deterministic.
func fuzzOne(_ bytes: [UInt8]) {
    let first = try? JSONReader.parse(bytes)
    let second = try? JSONReader.parse(bytes)
    precondition(first == second)
    let response = HTTPResponse(
        status: bytes.first.map { $0 & 1 == 0 ? 200 : 400 } ?? 200, reason: "", headers: [], body: bytes)
    let answer: TokenResponse?
    do { answer = try TokenResponse.read(response) } catch { answer = nil }
    switch answer {
    case .token(let token, let expiresIn, let refresh):
        precondition(!token.isEmpty && token.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F })
        precondition(expiresIn > 0)
        precondition(refresh.map { !$0.isEmpty } ?? true)
    case .error(let code, let description):
        precondition(code.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F })
        precondition(description.map { $0.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } } ?? true)
    case nil:
        break
    }
}

runFuzzer(fuzzOne)
