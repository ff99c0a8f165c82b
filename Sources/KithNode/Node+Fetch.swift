import Foundation
import GRDB
import KithCrypto
import KithProtocol

extension Node {
    // MARK: Fetching

    /// Fetches from every relay. The next batch is requested (by sequence
    /// number) while the current one is committed, and each batch is
    /// acknowledged only after its commit.
    func fetch(_ report: inout SyncReport, limit: Int) async throws {
        let keys = try requireKeys()
        let relays = try await db.writer.read { db in try String.fetchAll(db, sql: "SELECT relay FROM mailbox ORDER BY relay") }
        for relay in relays {
            guard let mailboxKey = keys.mailboxKeys[relay] else {
                report.problems.append("no mailbox key for \(relay) in the keystore")
                continue
            }
            let client = RelayClient(baseURL: relay)
            var next: Task<FetchedBatch, any Error>? = Task { try await client.fetch(mailboxKey: mailboxKey, limit: limit) }
            var acknowledgements: [Task<Void, any Error>] = []
            do {
                while let pending = next {
                    let batch = try await pending.value
                    next = nil
                    guard let last = batch.items.last else { break }
                    if batch.more {
                        next = Task { try await client.fetch(mailboxKey: mailboxKey, after: last.sequence, limit: limit) }
                    }
                    let ids = try await commit(batch, from: relay, &report)
                    acknowledgements.append(Task { try await client.acknowledge(ids: ids, mailboxKey: mailboxKey) })
                }
                for task in acknowledgements { try await task.value }
            } catch let failure as RelayClient.Failure {
                next?.cancel()
                for task in acknowledgements { task.cancel() }
                report.fetchFailures += 1
                report.problems.append("fetch failed: \(failure.description)")
            }
        }
    }

    /// Commits a fetched batch: each new envelope is applied and recorded by
    /// id in one transaction (one that cannot be applied yet is kept, pending).
    /// A crash before the acknowledgement only means the relay sends the batch
    /// again, and the ids already recorded are skipped. Returns the batch's ids.
    func commit(_ batch: FetchedBatch, from relay: String, _ report: inout SyncReport) async throws -> [[UInt8]] {
        let now = clock()
        let items = batch.items.map { (id: Envelope.id(of: $0.envelope), data: $0.envelope) }
        let outcomes = try await db.writer.write { db -> [Outcome] in
            var keys: AudienceKeyCache = [:]
            var outcomes: [Outcome] = []
            let known = try db.cachedStatement(sql: "SELECT 1 FROM inbox WHERE envelope_id = ?")
            let record = try db.cachedStatement(sql: """
                INSERT INTO inbox (envelope_id, data, relay, received_at, state, detail, wait_key) VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            for item in items where try Bool.fetchOne(known, arguments: [item.id.data]) != true {
                var outcome = try self.process(envelopeID: item.id, bytes: item.data, db, keys: &keys)
                if case .wait(let waiting) = outcome, let refusal = try Self.pendingRefusal(db, waiting) { outcome = .reject(refusal) }
                let (state, detail, data, waitKey): (String, String?, Data, Data?) = switch outcome {
                case .done: ("done", nil, Data(), nil)
                case .reject(let detail): ("rejected", detail, Data(), nil)
                case .wait(let waiting): ("pending", waiting.reason, item.data.data, waiting.key.data)
                }
                try record.execute(arguments: [item.id.data, data, relay, Int64(now), state, detail, waitKey])
                outcomes.append(outcome)
            }
            return outcomes
        }
        report.fetched += outcomes.count
        for outcome in outcomes { report.count(outcome) }
        return items.map(\.id)
    }
}
