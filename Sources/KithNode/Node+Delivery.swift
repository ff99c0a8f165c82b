import Foundation
import GRDB
import KithCrypto
import KithProtocol

extension Node {
    // MARK: Delivery

    /// Uploads queued jobs whose retry time has come (or all, with `retryNow`).
    /// A failed job is retried after `backoff(attempt:)`.
    func deliver(_ report: inout SyncReport, retryNow: Bool = false) async throws {
        let due = retryNow ? Int64.max : Int64(clock())
        let jobs = try await db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, relay, request, attempts FROM outbox WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY id",
                             arguments: [due])
        }
        for job in jobs {
            let id: Int64 = job[0], relay: String = job[1], attempts: Int64 = job[3]
            let bytes = [UInt8](job[2] as Data)
            do {
                let result = try await RelayClient(baseURL: relay).drop(bytes: bytes)
                try await db.writer.write { db in try db.execute(sql: "DELETE FROM outbox WHERE id = ?", arguments: [id]) }
                report.delivered += 1
                if !result.refused.isEmpty {
                    report.problems.append("\(relay) refused \(result.refused.count) of \(result.refused.count + result.accepted) mailboxes (drop token revoked?)")
                }
            } catch let failure as RelayClient.Failure {
                let now = clock()
                let next = now + Self.backoff(attempt: Int(attempts) + 1)
                let state = failure.permanent ? "failed" : "queued"
                try await db.writer.write { db in
                    try db.execute(sql: "UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
                                   arguments: [state, Int64(next), failure.description, id])
                }
                if failure.permanent {
                    report.problems.append("delivery refused: \(failure.description)")
                } else {
                    report.retrying += 1
                    report.problems.append("delivery will be retried: \(failure.description)")
                }
            }
        }
        let waiting = try await db.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT count(*), min(next_attempt_at) FROM outbox WHERE state = 'queued'")!
        }
        report.deferred = (waiting[0] as Int) - report.retrying
        report.nextRetryAt = (waiting[1] as Int64?).map { UInt64($0) }
    }

    /// Exponential backoff with jitter: 5 s doubling to at most an hour, then
    /// a random factor between 0.5 and 1, so that many nodes do not retry in step.
    static func backoff(attempt: Int) -> UInt64 {
        let base = min(3600.0, 5.0 * pow(2.0, Double(min(attempt, 20) - 1)))
        return UInt64(base * Double.random(in: 0.5...1.0))
    }
}
