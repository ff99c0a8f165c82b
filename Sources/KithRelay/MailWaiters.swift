import Foundation

/// Owners waiting for mail (`GET /v1/mailboxes/{mailbox}/wait`), per
/// mailbox, in memory: the drop path wakes a mailbox's waiters once its
/// transaction has committed. Bounded per mailbox and in all, so that
/// clients cannot grow the relay's memory; each wait ends at its timeout or
/// when its request task is cancelled, and is then forgotten.
final class MailWaiters: @unchecked Sendable {
    enum Refusal: Error { case mailboxBusy, relayBusy }

    private final class Slot {
        var continuation: CheckedContinuation<Bool, Never>?
        var fired = false
    }

    private let lock = NSLock()
    private var slots: [[UInt8]: [UInt64: Slot]] = [:]
    private var total = 0
    private var nextID: UInt64 = 0
    let perMailbox: Int
    let limit: Int

    init(perMailbox: Int, total: Int) {
        self.perMailbox = perMailbox
        self.limit = total
    }

    /// Waiters held now (for tests).
    var count: Int { lock.withLock { total } }

    /// Takes a place among `mailbox`'s waiters before the store is checked,
    /// so that a drop committed between the check and the wait still wakes it.
    func enter(_ mailbox: [UInt8]) throws(Refusal) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        guard slots[mailbox]?.count ?? 0 < perMailbox else { throw .mailboxBusy }
        guard total < limit else { throw .relayBusy }
        nextID &+= 1
        slots[mailbox, default: [:]][nextID] = Slot()
        total += 1
        return nextID
    }

    /// Waits until the mailbox is notified (true) or `timeout` passes or the
    /// task is cancelled (false), then leaves.
    func wait(_ mailbox: [UInt8], id: UInt64, timeout: Duration) async -> Bool {
        defer { leave(mailbox, id: id) }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let resumeNow: Bool? = self.lock.withLock {
                        guard let slot = self.slots[mailbox]?[id] else { return false }
                        if slot.fired { return true }
                        slot.continuation = continuation
                        return nil
                    }
                    if let resumeNow { continuation.resume(returning: resumeNow) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            // Ends the other child: the sleep is cancelled, a pending continuation resumed.
            group.cancelAll()
            self.leave(mailbox, id: id)
            return first
        }
    }

    /// Wakes every waiter of the mailbox.
    func notify(_ mailbox: [UInt8]) {
        let ready: [CheckedContinuation<Bool, Never>] = lock.withLock {
            guard let waiting = slots[mailbox] else { return [] }
            var ready: [CheckedContinuation<Bool, Never>] = []
            for slot in waiting.values {
                slot.fired = true
                if let c = slot.continuation { ready.append(c); slot.continuation = nil }
            }
            return ready
        }
        for c in ready { c.resume(returning: true) }
    }

    /// Forgets a waiter (idempotent), resuming its continuation if it still waits.
    func leave(_ mailbox: [UInt8], id: UInt64) {
        let pending: CheckedContinuation<Bool, Never>? = lock.withLock {
            guard let slot = slots[mailbox]?.removeValue(forKey: id) else { return nil }
            total -= 1
            if slots[mailbox]?.isEmpty == true { slots[mailbox] = nil }
            defer { slot.continuation = nil }
            return slot.continuation
        }
        pending?.resume(returning: false)
    }
}
