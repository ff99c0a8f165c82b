import Foundation
import GRDB

/// How failed deliveries wait before their next attempt: `first` seconds,
/// doubling at each failure up to `longest`, each wait then multiplied by a
/// random factor between 0.5 and 1 (jitter).
public struct RetryPolicy: Sendable, Equatable {
    public var first: UInt64
    public var longest: UInt64

    public init(first: UInt64 = 5, longest: UInt64 = 3600) {
        self.first = max(1, first)
        self.longest = max(self.first, longest)
    }

    public static let standard = RetryPolicy()
}

/// Deliveries given up because they waited longer than the outbox's age
/// limit, one relay at a time: nothing about whom they were for.
public struct ExpiredDeliveries: Codable, Sendable, Equatable {
    public let relay: String
    public let count: Int
    /// The last error one of them met, as the relay or the network said it.
    public let lastError: String?

    enum CodingKeys: String, CodingKey {
        case relay, count
        case lastError = "last_error"
    }
}

/// The outbox in numbers.
public struct OutboxSummary: Codable, Sendable, Equatable {
    /// Deliveries waiting for their relay.
    public var queued = 0
    /// Deliveries a relay refused for good (4xx).
    public var refused = 0
    /// Deliveries given up after the outbox's age limit.
    public var expired = 0
    /// When the first queued delivery is due, Unix seconds.
    public var nextAttemptAt: UInt64?
    /// When the oldest queued delivery was queued, Unix seconds.
    public var oldestQueuedAt: UInt64?

    enum CodingKeys: String, CodingKey {
        case queued, refused, expired
        case nextAttemptAt = "next_attempt_at"
        case oldestQueuedAt = "oldest_queued_at"
    }
}

extension Node {
    /// Gives up the queued deliveries queued more than `maxAge` seconds ago:
    /// they are marked `expired` (kept in the outbox, never retried) and
    /// returned, per relay, for the caller to report. Nothing is dropped
    /// silently.
    public func expireDeliveries(olderThan maxAge: UInt64) async throws -> [ExpiredDeliveries] {
        let now = clock()
        let cutoff = Int64(clamping: now >= maxAge ? now - maxAge : 0)
        return try await db.writer.write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT relay, count(*), max(last_error) FROM outbox WHERE state = 'queued' AND created_at < ? GROUP BY relay ORDER BY relay
                """, arguments: [cutoff])
            guard !rows.isEmpty else { return [] }
            try db.execute(sql: "UPDATE outbox SET state = 'expired' WHERE state = 'queued' AND created_at < ?", arguments: [cutoff])
            return rows.map { ExpiredDeliveries(relay: $0[0], count: $0[1], lastError: $0[2]) }
        }
    }

    /// How many deliveries wait, were refused or expired.
    public func outboxSummary() async throws -> OutboxSummary {
        try await db.writer.read { db in
            var summary = OutboxSummary()
            for row in try Row.fetchAll(db, sql: "SELECT state, count(*), min(next_attempt_at), min(created_at) FROM outbox GROUP BY state") {
                let count: Int = row[1]
                switch row[0] as String? {
                case "queued":
                    summary.queued = count
                    summary.nextAttemptAt = (row[2] as Int64?).map { UInt64(clamping: $0) }
                    summary.oldestQueuedAt = (row[3] as Int64?).map { UInt64(clamping: $0) }
                case "failed": summary.refused = count
                case "expired": summary.expired = count
                default: break
                }
            }
            return summary
        }
    }

}
