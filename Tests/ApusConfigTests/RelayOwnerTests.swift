import Testing

@testable import ApusConfig

/// `relay_owner`: a user name (looked up when the file is read) or a uid.
struct RelayOwnerTests {
    @Test func defaultIsRoot() throws {
        let account = try parseConfig("host 127.0.0.1\n").defaultAccount
        #expect(account.relayOwner == .root)
        #expect(account.relayOwner.allows(0))
        #expect(!account.relayOwner.allows(65534))
        #expect(!account.description.contains("relay_owner"))
    }

    @Test(arguments: [("relay_owner nobody", UInt32(65534)), ("relay_owner 65534", 65534), ("relay_owner root", 0)])
    func accepted(line: String, uid: UInt32) throws {
        let owner = try parseConfig("host 127.0.0.1\n\(line)\n").defaultAccount.relayOwner
        #expect(owner.uid == uid)
        #expect(owner.allows(uid) && owner.allows(0))
    }

    @Test func nameShownInTheDescription() throws {
        let account = try parseConfig("relay_owner nobody\n").defaultAccount
        #expect(account.description.contains("relay_owner nobody"))
    }

    @Test(arguments: ["relay_owner no-such-user-apus", "relay_owner 4294967295", "relay_owner 99999999999"])
    func refused(line: String) throws {
        let error = try #require(configError("host 127.0.0.1\n\(line)\n"))
        #expect(error.kind == .badValue)
        #expect(error.line == 2)
        #expect(error.key == "relay_owner")
    }

    @Test func perAccount() throws {
        let config = try parseConfig(
            "host 127.0.0.1\naccount other\nfrom *@a.example\naccount bridge\nrelay_owner nobody\nfrom *@b.example\n")
        #expect(config.accounts.first { $0.name == "other" }?.relayOwner == .root)
        #expect(config.accounts.first { $0.name == "bridge" }?.relayOwner.uid == 65534)
    }
}
