import ApusPOSIX
import Glibc

/// The local host's mail name: the default for `domain`.
package enum LocalHost {
    /// The first line of `mailnamePath` (Debian's `/etc/mailname`) when it is a
    /// valid host name, else ``fullyQualifiedName()``.
    package static func domain(mailnamePath: String = "/etc/mailname") -> String {
        if let contents = try? readConfigFile(mailnamePath) {
            let end = contents.bytes.firstIndex(of: 0x0A) ?? contents.bytes.count
            if let text = String(validating: contents.bytes[..<end], as: UTF8.self) {
                let name = text.trimmingBlanks().filter { $0 != "\r" }
                if ValueParsing.isHostName(name) { return name }
            }
        }
        return fullyQualifiedName()
    }

    /// The host's fully qualified name: `gethostname`, then `getaddrinfo` with
    /// `AI_CANONNAME` for its canonical name when that has a dot; else the
    /// plain host name; `localhost` if even that fails. (May consult DNS.)
    package static func fullyQualifiedName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard ValueParsing.isHostName(name) else { return "localhost" }
        if name.contains(".") { return name }
        var hints = addrinfo()
        hints.ai_flags = AI_CANONNAME
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return name }
        defer { freeaddrinfo(first) }
        if let canonical = first.pointee.ai_canonname {
            let text = String(cString: canonical)
            if text.contains("."), ValueParsing.isHostName(text) { return text }
        }
        return name
    }
}
