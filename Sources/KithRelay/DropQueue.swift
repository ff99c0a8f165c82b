import GRDB
import KithProtocol
import NIOConcurrencyHelpers

/// Group commit for drops. With `synchronous=FULL` each commit waits for the
/// disk, so one transaction per drop would cap a relay at the disk's syncs
/// per second. Instead, drops that arrive while a transaction is being
/// committed wait in this queue, and the next transaction takes them all (at
/// most `maxDrops` of them or `maxBytes` of envelopes): one commit and one
/// sync for the lot; each token is looked up and each mailbox's counts
/// written once per transaction (`SQLiteRelayStore.Batch`). A drop refused
/// because its mailboxes are full has written nothing
/// (`SQLiteRelayStore.drop` checks before it writes) and leaves the others
/// in its batch stored; any other error fails the whole
/// batch, whose transaction then stores nothing, and each of its callers is
/// told. Each caller is answered only after the commit of its batch
/// returned, when its drop is on disk.
final class DropQueue: Sendable {
    static let maxDrops = 256
    static let maxBytes = 8 << 20

    private struct Pending {
        let drop: SQLiteRelayStore.PreparedDrop
        let now: UInt64, ttl: UInt64
        let quota: MailboxQuota?
        let continuation: CheckedContinuation<DropResult, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        /// True while batches are being committed; each commit takes
        /// whatever is pending when its transaction ends, and the queue
        /// stops when nothing is.
        var committing = false
        /// Batches taken so far, for tests.
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
            if start, let batch = nextBatch() { commit(batch) }
        }
    }

    /// How many transactions have committed drops so far.
    var batches: Int { state.withLockedValue { $0.batches } }

    /// Commits `batch` in one transaction on the database's writer queue,
    /// answers its callers there, and then commits whatever arrived
    /// meanwhile, until nothing is waiting. The loop stays on the writer's
    /// own queue: it never waits for a turn on the shared task pool, which
    /// is busy with the requests themselves, between one commit and the
    /// next. Each batch is a separate job on that queue, so other writes
    /// (acknowledgements, token changes) take their turns between batches.
    private func commit(_ batch: [Pending]) {
        writer.asyncWrite({ db in
            var transaction = SQLiteRelayStore.Batch()
            let results = try batch.map { drop -> Result<DropResult, any Error> in
                do {
                    return .success(try SQLiteRelayStore.drop(drop.drop, db, now: drop.now, ttl: drop.ttl, quota: drop.quota, batch: &transaction))
                } catch let full as MailboxFull {
                    return .failure(full)
                }
            }
            try transaction.writeCounts(db)
            return results
        }, completion: { _, outcome in
            switch outcome {
            case .success(let results):
                for (drop, result) in zip(batch, results) { drop.continuation.resume(with: result) }
            case .failure(let error):
                // The transaction itself failed (its commit, or the disk): nothing of the batch is stored.
                for drop in batch { drop.continuation.resume(throwing: error) }
            }
            if let next = self.nextBatch() { self.commit(next) }
        })
    }

    /// The drops waiting, oldest first, up to the batch's bounds; nil (and
    /// the queue idle) when none is.
    private func nextBatch() -> [Pending]? {
        state.withLockedValue { s in
            guard !s.pending.isEmpty else {
                s.committing = false
                return nil
            }
            var count = 0, bytes = 0
            for drop in s.pending {
                if count == Self.maxDrops || (count > 0 && bytes + drop.drop.envelope.count > Self.maxBytes) { break }
                count += 1
                bytes += drop.drop.envelope.count
            }
            let batch = Array(s.pending.prefix(count))
            s.pending.removeFirst(count)
            s.batches += 1
            return batch
        }
    }
}
