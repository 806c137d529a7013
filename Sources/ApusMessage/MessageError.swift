/// Errors from reading, checking and building messages. apus maps every case to
/// exit status 65 (`EX_DATAERR`).
public enum MessageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The header block passed `MessageReader.Limits` (octets or lines).
    case headerBlockTooLarge(limitOctets: Int, limitLines: Int)
    /// A header field could not be built or read: the reason says why.
    case invalidHeaderField(reason: String)
    /// A field name is empty or holds a byte outside printable ASCII, or a colon.
    case invalidHeaderName([UInt8])
    /// A header value holds CR, LF or NUL.
    case invalidHeaderValue(reason: String)
    /// An address header (To, Cc, …) does not parse.
    case invalidAddressHeader(name: String, error: AddressError)
    /// A body line is over 998 octets and the message cannot be re-encoded.
    case lineTooLong
    /// The randomness source failed (`getentropy`).
    case randomUnavailable(errno: Int32)
    /// The message holds a NUL byte, which may never reach the wire.
    case nulByte
    /// The message is larger than `message_size_limit` (octets).
    case tooLarge(limit: Int)

    /// A one-line description for `apus: what: why`.
    public var description: String {
        switch self {
        case .headerBlockTooLarge(let octets, let lines):
            return "header block too large (limit \(octets) octets, \(lines) lines)"
        case .invalidHeaderField(let reason): return "invalid header field: \(reason)"
        case .invalidHeaderName(let name):
            return "invalid header field name \"\(String(decoding: name, as: UTF8.self))\""
        case .invalidHeaderValue(let reason): return "invalid header value: \(reason)"
        case .invalidAddressHeader(let name, let error): return "bad address in \(name): header: \(error)"
        case .lineTooLong: return "a line is longer than 998 octets and the message is not single-part text"
        case .randomUnavailable(let errno): return "no random bytes (errno \(errno))"
        case .nulByte: return "the message holds a NUL byte"
        case .tooLarge(let limit): return "the message is larger than message_size_limit (\(limit) octets)"
        }
    }
}
