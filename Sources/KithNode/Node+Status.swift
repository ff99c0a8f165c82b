import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// What `kith status` shows of the node, with or without a daemon: who I
/// am, how each relay did, what waits in the outbox and the inbox, how many
/// posts are unread, and the rotation schedule. Times are Unix seconds.
public struct NodeStatus: Codable, Sendable, Equatable {
    public let name: String
    /// My identity public key, base64url.
    public let identity: String
    public let fingerprint: String
    /// Every relay I hold a mailbox on, deliver to, or synced with.
    public let relays: [RelayStatus]
    /// Queued deliveries, per friend and relay.
    public let queued: [QueuedDeliveries]
    /// Fetched envelopes that wait to be processed, per reason.
    public let pending: [PendingEnvelopes]
    /// Posts of others not shown yet (by `Node.feed` or `show`) nor marked
    /// read (`markRead`); comments do not count.
    public let unread: Int
    /// Friend requests that answer my invitations and wait for `kith friend accept` or `decline`.
    public let friendRequests: Int
    public let outbox: OutboxSummary
    public let rotation: RotationStatus

    enum CodingKeys: String, CodingKey {
        case name, identity, fingerprint, relays, queued, pending, unread, outbox, rotation
        case friendRequests = "friend_requests"
    }

    /// One relay: whether it holds my mailbox, its last successful sync
    /// (every delivery and the fetch went through) and its last error.
    public struct RelayStatus: Codable, Sendable, Equatable {
        public let relay: String
        public let mine: Bool
        public let lastSuccessAt: UInt64?
        /// As the relay or the network said it (cleaned of control characters).
        public let lastError: String?
        public let lastErrorAt: UInt64?

        enum CodingKeys: String, CodingKey {
            case relay, mine
            case lastSuccessAt = "last_success_at"
            case lastError = "last_error"
            case lastErrorAt = "last_error_at"
        }
    }

    /// Deliveries queued for one friend on one relay: when the next is
    /// tried and why the last attempt failed (nil: not tried yet).
    public struct QueuedDeliveries: Codable, Sendable, Equatable {
        /// The friend's local name, or nil for mailboxes of no friend now (a removed one).
        public let friend: String?
        public let relay: String
        public let count: Int
        public let nextAttemptAt: UInt64
        public let lastError: String?

        enum CodingKeys: String, CodingKey {
            case friend, relay, count
            case nextAttemptAt = "next_attempt_at"
            case lastError = "last_error"
        }
    }

    /// Fetched envelopes waiting for the same thing (an audience key, a sender who is not a friend yet).
    public struct PendingEnvelopes: Codable, Sendable, Equatable {
        public let reason: String
        public let count: Int
        public let oldestReceivedAt: UInt64

        enum CodingKeys: String, CodingKey {
            case reason, count
            case oldestReceivedAt = "oldest_received_at"
        }
    }

    /// When the encryption key is replaced (at the first sync from `next_at`).
    public struct RotationStatus: Codable, Sendable, Equatable {
        public let everyDays: Int
        public let graceDays: Int
        public let lastAt: UInt64
        public let nextAt: UInt64

        enum CodingKeys: String, CodingKey {
            case everyDays = "every_days"
            case graceDays = "grace_days"
            case lastAt = "last_at"
            case nextAt = "next_at"
        }
    }
}

extension Node {
    /// The node's status; needs the keystore (names are sealed).
    public func status() async throws -> NodeStatus {
        let me = try identity()
        let (schedule, last, next) = try rotationState()
        let atRest = try atRest
        let (relays, jobs, pending, unread, requests) = try await db.writer.read { db in
            let mine = try Set(String.fetchAll(db, sql: "SELECT relay FROM mailbox"))
            var states: [String: NodeStatus.RelayStatus] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT relay, last_success_at, last_error, last_error_at FROM relay_state") {
                let relay: String = row[0]
                states[relay] = .init(relay: relay, mine: mine.contains(relay), lastSuccessAt: Self.time(row[1]),
                                      lastError: row[2], lastErrorAt: Self.time(row[3]))
            }
            let jobs = try Row.fetchAll(db, sql: """
                SELECT id, relay, request, attempts, next_attempt_at, last_error FROM outbox WHERE state = 'queued' ORDER BY id
                """).map { row in
                (relay: row[1] as String, next: Self.time(row[4]) ?? 0, error: row[5] as String?,
                 job: DeliveryJob(id: row[0], request: try atRest.open(row[2] as Data, .request), attempts: row[3]))
            }
            for relay in mine.union(jobs.map(\.relay)) where states[relay] == nil {
                states[relay] = .init(relay: relay, mine: mine.contains(relay), lastSuccessAt: nil, lastError: nil, lastErrorAt: nil)
            }
            let pending = try Row.fetchAll(db, sql: """
                SELECT coalesce(detail, 'not processed yet'), count(*), min(received_at) FROM inbox WHERE state = 'pending'
                GROUP BY 1 ORDER BY 1
                """).map { NodeStatus.PendingEnvelopes(reason: $0[0], count: $0[1], oldestReceivedAt: Self.time($0[2]) ?? 0) }
            let unread = try Int.fetchOne(db, sql: "SELECT count(*) FROM post WHERE shown_at IS NULL AND author != ?", arguments: [me.data]) ?? 0
            let requests = try Int.fetchOne(db, sql: "SELECT count(*) FROM friend_request") ?? 0
            return (states.values.sorted { $0.relay < $1.relay }, jobs, pending, unread, requests)
        }
        // Each queued job counted for every friend it carries envelopes to (a post goes to many at once).
        struct Key: Hashable { let friend: String?, relay: String }
        var queued: [Key: NodeStatus.QueuedDeliveries] = [:]
        for job in jobs {
            let names = try await friendNames(for: [job.job], on: job.relay)
            for friend in names.isEmpty ? [nil] : names.map(Optional.some) {
                let key = Key(friend: friend, relay: job.relay), old = queued[key]
                queued[key] = .init(friend: friend, relay: job.relay, count: (old?.count ?? 0) + 1,
                                    nextAttemptAt: min(old?.nextAttemptAt ?? .max, job.next),
                                    lastError: job.error ?? old?.lastError)
            }
        }
        let info = try keyInfo()
        return NodeStatus(
            name: info.name, identity: info.identity, fingerprint: info.fingerprint, relays: relays,
            queued: queued.values.sorted { ($0.friend ?? "", $0.relay) < ($1.friend ?? "", $1.relay) },
            pending: pending, unread: unread, friendRequests: requests, outbox: try await outboxSummary(),
            rotation: .init(everyDays: Int(schedule.period / 86_400), graceDays: Int(schedule.grace / 86_400), lastAt: last, nextAt: next))
    }

    private static func time(_ value: DatabaseValue) -> UInt64? { Int64.fromDatabaseValue(value).map { UInt64(clamping: $0) } }

    /// Records how each relay served in one sync: a success if its
    /// deliveries (if any) and its fetch (if any) went through, else the
    /// error. A full mailbox or a refused envelope is no fault of the relay.
    func recordRelayStates(_ served: [(relay: String, delivery: RelayDelivery?, fetch: RelayFetch?)]) async throws {
        let now = Int64(clamping: clock())
        try await db.writer.write { db in
            for (relay, delivery, fetch) in served {
                var error: String?
                if let delivery, delivery.relayFailed { error = "delivery: \(delivery.error ?? "failed")" }
                if error == nil, let fetch, fetch.state == .failed || fetch.state == .misbehaving {
                    error = "fetch: \(fetch.detail ?? fetch.state.rawValue)"
                }
                if let error {
                    try db.execute(sql: """
                        INSERT INTO relay_state (relay, last_error, last_error_at) VALUES (?, ?, ?)
                        ON CONFLICT (relay) DO UPDATE SET last_error = excluded.last_error, last_error_at = excluded.last_error_at
                        """, arguments: [relay, RelayClient.clean(error, limit: 200), now])
                } else {
                    try db.execute(sql: """
                        INSERT INTO relay_state (relay, last_success_at) VALUES (?, ?)
                        ON CONFLICT (relay) DO UPDATE SET last_success_at = excluded.last_success_at
                        """, arguments: [relay, now])
                }
            }
        }
    }
}
