import ApusQueue
import ApusSMTP

/// Reasons in Postfix's words (delivery.md "Logging"; Postfix's
/// `smtp_trouble.c` and `smtp_proto.c`), for the log, the `apus: queued`
/// line, the envelope's last error and so `mailq`'s reason line and
/// `delay_reason`:
///
///     host smtp.example.com[203.0.113.5] said: 451 4.3.0 Try again later (in reply to RCPT TO command)
///     host smtp.example.com[203.0.113.5] refused to talk to me: 554 5.7.1 go away
///     lost connection with smtp.example.com[203.0.113.5] while sending end of data -- message may be sent more than once
///     conversation with smtp.example.com[203.0.113.5] timed out while receiving the initial server greeting
///     connect to smtp.example.com[203.0.113.5]:587: Connection refused
enum PostfixWording {
    /// `host[addr]` from `host[addr]:port` (Postfix names the host without the port).
    static func host(_ relay: String) -> String {
        guard let close = relay.lastIndex(of: "]") else {
            if let colon = relay.lastIndex(of: ":"), relay[relay.index(after: colon)...].allSatisfy(\.isNumber) {
                return String(relay[..<colon])
            }
            return relay
        }
        return String(relay[...close])
    }

    /// `host H[A] said: REPLY (in reply to CMD command)`.
    static func said(_ reply: SMTPReply, relay: String, stage: SMTPError.Stage?) -> String {
        let host = host(relay)
        guard let stage, let name = commandName(stage) else { return "host \(host) said: \(reply.description)" }
        if stage == .greeting || stage == .connect { return "host \(host) refused to talk to me: \(reply.description)" }
        return "host \(host) said: \(reply.description) (in reply to \(name) command)"
    }

    /// The reason for an engine error with relay `relay` (`host[addr]:port`).
    static func reason(for error: SMTPError, relay: String) -> String {
        if let reply = error.reply, error.kind != .messageTooLarge {
            return said(reply, relay: relay, stage: error.stage)
        }
        if error.kind == .timeout {
            return "conversation with \(host(relay)) timed out while \(phase(error.stage))"
        }
        if error.kind == .connection {
            return "lost connection with \(host(relay)) while \(phase(error.stage))"
        }
        return "\(relay): \(error.description)"
    }

    /// Postfix's name of the command a reply at `stage` answered: `MAIL
    /// FROM`, `RCPT TO`, `DATA`, `end of DATA` (also for BDAT: Postfix's
    /// client never sends it, and the reply is to the message), `EHLO`…;
    /// `greeting` for the banner; nil for other commands.
    static func commandName(_ stage: SMTPError.Stage) -> String? {
        switch stage {
        case .connect, .greeting: return "greeting"
        case .ehlo: return "EHLO"
        case .startTLS: return "STARTTLS"
        case .auth: return "AUTH"
        case .mail: return "MAIL FROM"
        case .rcpt: return "RCPT TO"
        case .data: return "DATA"
        case .bdat, .endOfData: return "end of DATA"
        case .other: return nil
        }
    }

    /// What was going on at `stage`, as Postfix says after "while".
    static func phase(_ stage: SMTPError.Stage?) -> String {
        switch stage {
        case nil, .connect, .greeting: return "receiving the initial server greeting"
        case .ehlo: return "performing the EHLO handshake"
        case .startTLS: return "performing the STARTTLS handshake"
        case .auth: return "performing SASL authentication"
        case .bdat, .endOfData: return "sending end of data -- message may be sent more than once"
        case .mail: return "sending MAIL FROM"
        case .rcpt: return "sending RCPT TO"
        case .data: return "sending DATA"
        case .other: return "sending a command"
        }
    }

    /// The RFC 3463 status in `reason` (the enhanced code after the first
    /// reply code, else that code's class with `.0.0`), else from `status`.
    static func dsn(reason: String, status: DeliveryLog.Status) -> String {
        let words = reason.split(separator: " ", omittingEmptySubsequences: true)
        for (index, word) in words.enumerated() {
            guard word.count == 3, word.allSatisfy(\.isNumber), let first = word.first, "245".contains(first) else {
                continue
            }
            if index + 1 < words.count {
                let next = words[index + 1]
                let parts = next.split(separator: ".", omittingEmptySubsequences: false)
                if parts.count == 3, parts[0] == String(first),
                    parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) })
                {
                    return String(next)
                }
            }
            return "\(first).0.0"
        }
        switch status {
        case .sent: return "2.0.0"
        case .bounced: return "5.0.0"
        case .deferred:
            if reason.hasPrefix("connect to ") { return "4.4.1" }
            if reason.hasPrefix("lost connection") || reason.hasPrefix("conversation with") { return "4.4.2" }
            return "4.0.0"
        }
    }
}

extension QueueRecipient {
    /// Records the relay's last word on this recipient: `text` for people
    /// (`mailq`, notices), and for a permanent refusal (what a failure notice
    /// reports) the reply's code and status as typed fields. They stay nil
    /// otherwise, so an envelope with deferrals only keeps the older format
    /// that an older apus still reads.
    mutating func record(_ reply: SMTPReply?, text: String) {
        lastReply = text
        let refusal = reply.flatMap { $0.isPermanent ? $0 : nil }
        replyCode = refusal?.code
        status = refusal?.enhancedCode?.description
    }
}
