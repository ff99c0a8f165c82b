import NIOConcurrencyHelpers

/// Counts fetches in progress (from the request until the last byte of the
/// answer is written or the connection fails) per mailbox, per client
/// address and in total, so stalled or greedy clients cannot pile up
/// handlers. Over a limit, a fetch is refused at once, never queued; the
/// limits are checked in this order: mailbox, client, total.
final class FetchLimiter: Sendable {
    struct Limits: Sendable {
        var perMailbox: Int
        var perClient: Int
        var total: Int
    }

    enum Refusal: Error, Equatable {
        case mailboxBusy, clientBusy, relayBusy
    }

    private struct State {
        var mailboxes: [[UInt8]: Int] = [:]
        var clients: [String: Int] = [:]
        var total = 0
    }

    let limits: Limits
    private let state = NIOLockedValueBox(State())

    init(_ limits: Limits) { self.limits = limits }

    /// A permit for one fetch; the fetch holds it until it is released,
    /// which happens when the permit is deallocated (its answer written,
    /// failed or never started), so no path can leak a slot.
    final class Permit: Sendable {
        fileprivate let limiter: FetchLimiter
        fileprivate let mailbox: [UInt8]
        fileprivate let client: String

        fileprivate init(limiter: FetchLimiter, mailbox: [UInt8], client: String) {
            self.limiter = limiter; self.mailbox = mailbox; self.client = client
        }

        deinit { limiter.release(mailbox: mailbox, client: client) }
    }

    func acquire(mailbox: [UInt8], client: String) throws(Refusal) -> Permit {
        let refusal: Refusal? = state.withLockedValue { s in
            guard s.mailboxes[mailbox, default: 0] < limits.perMailbox else { return .mailboxBusy }
            guard s.clients[client, default: 0] < limits.perClient else { return .clientBusy }
            guard s.total < limits.total else { return .relayBusy }
            s.total += 1
            s.clients[client, default: 0] += 1
            s.mailboxes[mailbox, default: 0] += 1
            return nil
        }
        if let refusal { throw refusal }
        return Permit(limiter: self, mailbox: mailbox, client: client)
    }

    /// Fetches in progress, for tests.
    var inProgress: Int { state.withLockedValue { $0.total } }

    private func release(mailbox: [UInt8], client: String) {
        state.withLockedValue { s in
            s.total -= 1
            if let n = s.clients[client] { s.clients[client] = n > 1 ? n - 1 : nil }
            if let n = s.mailboxes[mailbox] { s.mailboxes[mailbox] = n > 1 ? n - 1 : nil }
        }
    }
}
