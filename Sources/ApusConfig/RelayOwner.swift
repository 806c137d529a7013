import ApusPOSIX

/// `relay_owner`: the user, besides root, who may own the listening socket of
/// a loopback relay on an unprivileged port (delivery.md, "Relay identity").
///
/// Written as a user name (looked up when the configuration is read, so a
/// typo is a configuration error with its line) or as a numeric uid.
package struct RelayOwner: Equatable, Sendable, CustomStringConvertible {
    /// The uid.
    package var uid: UInt32
    /// The user's name, when the password database has one.
    package var name: String?

    /// A user by uid and name.
    package init(uid: UInt32, name: String?) {
        self.uid = uid
        self.name = name
    }

    /// root, the default.
    package static let root = RelayOwner(uid: 0, name: "root")

    /// Whether a socket owned by `uid` is acceptable: root or this user.
    package func allows(_ uid: UInt32) -> Bool { uid == 0 || uid == self.uid }

    /// The name, or the uid when there is no name.
    package var description: String { name ?? String(uid) }
}

extension ValueParsing {
    /// A user name from the password database, or a uid (`0` to `4294967294`).
    static func relayOwner(_ value: String) throws(ValueError) -> RelayOwner {
        if value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard value.utf8.count <= 10, let uid = UInt64(value), uid < UInt64(UInt32.max) else {
                throw ValueError("\(quoted(value)) is not a uid")
            }
            return RelayOwner(uid: UInt32(uid), name: UserDatabase.name(of: UInt32(uid)))
        }
        guard value.utf8.count <= 256, let uid = UserDatabase.uid(named: value) else {
            throw ValueError("no user \(quoted(value)) (give a user name or a uid)")
        }
        return RelayOwner(uid: uid, name: value)
    }
}
