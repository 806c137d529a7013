import ApusMessage
import FuzzDriver

/// The address parsers must never crash; whatever parses must format without
/// CR, LF or NUL and parse back to the same addresses.
func fuzzOne(_ bytes: [UInt8]) {
    if let list = try? AddressList.parse(bytes) {
        let formatted = list.formatted
        precondition(!formatted.contains(13) && !formatted.contains(10) && !formatted.contains(0))
        guard let again = try? AddressList.parse(formatted) else {
            preconditionFailure("formatted list does not parse")
        }
        precondition(again.mailboxes.map(\.addrSpec) == list.mailboxes.map(\.addrSpec))
        precondition(again.mailboxes.map(\.localPart) == list.mailboxes.map(\.localPart))
    }
    if let address = try? EnvelopeAddress.parse(bytes) {
        let path = address.smtpPath
        precondition(!path.contains(13) && !path.contains(10) && !path.contains(0))
        if let m = address.mailbox {
            guard case .mailbox(let back)? = try? EnvelopeAddress.parse(m.addrSpec) else {
                preconditionFailure("addr-spec does not parse")
            }
            precondition(back.isSameRecipient(as: m))
        }
    }
}

runFuzzer(fuzzOne)
