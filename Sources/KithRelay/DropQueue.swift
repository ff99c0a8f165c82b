import GRDB
import KithProtocol
import NIOConcurrencyHelpers

/// Group commit for drops. With `synchronous=FULL` each commit waits for the
/// disk, so one transaction per drop would cap a relay at the disk's syncs
/// per second. Instead, the drops that arrive together share one transaction
/// and one sync (at most `maxDrops` of them or `maxBytes` of envelopes); each
/// token is looked up and each mailbox's counts written once per transaction
/// (`SQLiteRelayStore.Batch`).
///
/// A transaction takes the drops waiting when it begins and, until it
/// commits, those that arrive while it stores them: a drop that comes in
/// during the statements goes into the commit about to be made, not the one
/// after it. The next transaction begins as soon as one commits, if drops are
/// waiting. A drop refused because its mailboxes are full has written
/// nothing (`SQLiteRelayStore.drop` checks before it writes) and leaves the
/// others in its transaction stored; any other error fails the whole
/// transaction, which then stores nothing, and each of its callers is told.
/// Each caller is answered only after the commit of its transaction
/// returned, when its drop is on disk.
final class DropQueue: Sendable {
    static let maxDrops = 256
    static let maxBytes = 8 << 20

    private struct Pending: Sendable {
        let drop: SQLiteRelayStore.PreparedDrop
        let now: UInt64, ttl: UInt64
        let quota: MailboxQuota?
        let continuation: CheckedContinuation<DropResult, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        /// True while a transaction of drops is open or queued on the
        /// writer; the queue stops when one commits and nothing is waiting.
        var committing = false
        /// Transactions committed so far, for tests.
        var batches = 0
    }

    private let writer: any DatabaseWriter
    private let state = NIOLockedValueBox(State())

    init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    func submit(_ request: DropRequest, now: UInt64, ttl: UInt64, quota: MailboxQuota?) async throws -> DropResult {
        let prepared = SQLiteRelayStore.PreparedDrop(request)
        return try await withCheckedThrowingContinuation { continuation in
            let start = state.withLockedValue { s in
                s.pending.append(Pending(drop: prepared, now: now, ttl: ttl, quota: quota, continuation: continuation))
                defer { s.committing = true }
                return !s.committing
            }
            if start { commitNext() }
        }
    }

    /// How many transactions have committed drops so far.
    var batches: Int { state.withLockedValue { $0.batches } }

    /// Queues one transaction on the writer's own queue (not in a task, which
    /// would wait for a turn on the shared task pool between two commits).
    /// Each is a job of its own, so other writes (acknowledgements, token
    /// changes) take their turns between them.
    private func commitNext() {
        writer.asyncWriteWithoutTransaction { db in
            self.commitTransaction(db)
            let more = self.state.withLockedValue { s in
                if s.pending.isEmpty { s.committing = false }
                return s.committing
            }
            if more { self.commitNext() }
        }
    }

    private func commitTransaction(_ db: Database) {
        guard var chunk = nextDrops(taken: 0, bytes: 0) else { return }
        var taken = chunk, results: [Result<DropResult, any Error>] = []
        do {
            try db.beginTransaction(.immediate)
            var transaction = SQLiteRelayStore.Batch()
            var bytes = 0
            while true {
                for drop in chunk {
                    bytes += drop.drop.envelope.count
                    do {
                        results.append(.success(try SQLiteRelayStore.drop(drop.drop, db, now: drop.now, ttl: drop.ttl, quota: drop.quota, batch: &transaction)))
                    } catch let full as MailboxFull {
                        results.append(.failure(full))
                    }
                }
                guard let more = nextDrops(taken: taken.count, bytes: bytes) else { break }
                chunk = more
                taken += more
            }
            try transaction.writeCounts(db)
            try db.commit()
        } catch {
            // The transaction itself failed (its start, a statement, its commit, or the disk): nothing of it is stored.
            if db.isInsideTransaction { try? db.rollback() }
            for drop in taken { drop.continuation.resume(throwing: error) }
            return
        }
        state.withLockedValue { $0.batches += 1 }
        for (drop, result) in zip(taken, results) { drop.continuation.resume(with: result) }
    }

    /// The drops waiting, oldest first, that a transaction which has taken
    /// `taken` drops of `bytes` can still take; nil if none.
    private func nextDrops(taken: Int, bytes: Int) -> [Pending]? {
        state.withLockedValue { s in
            var count = 0, more = 0
            for drop in s.pending {
                let size = drop.drop.envelope.count
                if taken + count == Self.maxDrops || (taken + count > 0 && bytes + more + size > Self.maxBytes) { break }
                count += 1
                more += size
            }
            guard count > 0 else { return nil }
            defer { s.pending.removeFirst(count) }
            return Array(s.pending.prefix(count))
        }
    }
}
