import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// What one `sync` did.
public struct SyncReport: Codable, Sendable, Equatable {
    /// Uploads the relays accepted.
    public var delivered = 0
    /// Envelopes fetched that were new to this node.
    public var fetched = 0
    public var newPosts = 0
    public var newAudienceKeys = 0
    /// Envelopes kept for later (their audience key or sender is not known yet).
    public var waiting = 0
    /// Envelopes refused as invalid (tampered, misaddressed, from no friend's key).
    public var rejected = 0
    /// Deliveries that failed in this sync and stay queued for a retry.
    public var retrying = 0
    /// Queued deliveries whose retry time has not come yet (not attempted).
    public var deferred = 0
    /// When the earliest deferred or retrying delivery is due, Unix seconds.
    public var nextRetryAt: UInt64?
    /// Relays that could not be fetched from.
    public var fetchFailures = 0
    /// One line per problem, for the user.
    public var problems: [String] = []

    public init() {}

    mutating func count(_ outcome: Node.Outcome) {
        switch outcome {
        case .done(let posts, let keys):
            newPosts += posts
            newAudienceKeys += keys
        case .reject(let detail):
            rejected += 1
            problems.append("envelope refused: \(detail)")
        case .wait:
            break
        }
    }
}

extension Node {
    /// Delivers queued envelopes that are due (all of them with `retryNow`),
    /// fetches new ones from every relay (committing them locally before
    /// acknowledging), then processes everything pending.
    public func sync(retryNow: Bool = false, fetchLimit: Int = 500) async throws -> SyncReport {
        _ = try requireKeys()
        var report = SyncReport()
        try await deliver(&report, retryNow: retryNow)
        try await fetch(&report, limit: fetchLimit)
        try await processPending(&report)
        return report
    }

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
                INSERT INTO inbox (envelope_id, data, relay, received_at, state, detail) VALUES (?, ?, ?, ?, ?, ?)
                """)
            for item in items where try Bool.fetchOne(known, arguments: [item.id.data]) != true {
                let outcome = try self.process(envelopeID: item.id, bytes: item.data, db, keys: &keys)
                let (state, detail, data): (String, String?, Data) = switch outcome {
                case .done: ("done", nil, Data())
                case .reject(let detail): ("rejected", detail, Data())
                case .wait(let detail): ("pending", detail, item.data.data)
                }
                try record.execute(arguments: [item.id.data, data, relay, Int64(now), state, detail])
                outcomes.append(outcome)
            }
            return outcomes
        }
        report.fetched += outcomes.count
        for outcome in outcomes { report.count(outcome) }
        return items.map(\.id)
    }

    // MARK: Processing

    enum Outcome {
        /// Applied; counts what was new (a duplicate adds nothing).
        case done(newPosts: Int, newKeys: Int)
        case wait(String)
        case reject(String)
    }

    /// Audience keys opened during one transaction, by key id.
    typealias AudienceKeyCache = [[UInt8]: (key: AudienceKey, name: String)]

    /// Envelopes processed per write transaction.
    static let processingBatch = 256

    /// Processes pending envelopes until a pass makes no progress, so that a
    /// post fetched before its audience key is opened once the key is in.
    func processPending(_ report: inout SyncReport) async throws {
        var progress = true
        while progress {
            progress = false
            var cursor: Int64 = 0
            while true {
                // Each envelope's outcome is recorded in the transaction that applies it.
                let after = cursor
                let (outcomes, last) = try await db.writer.write { db -> ([Outcome], Int64?) in
                    let rows = try Row.fetchAll(db, sql: """
                        SELECT rowid, envelope_id, data FROM inbox WHERE state = 'pending' AND rowid > ? ORDER BY rowid LIMIT ?
                        """, arguments: [after, Self.processingBatch])
                    var keys: AudienceKeyCache = [:]
                    var outcomes: [Outcome] = []
                    for row in rows {
                        let id: Data = row[1]
                        let outcome = try self.process(envelopeID: [UInt8](id), bytes: [UInt8](row[2] as Data), db, keys: &keys)
                        switch outcome {
                        case .done:
                            try db.execute(sql: "UPDATE inbox SET state = 'done', detail = NULL, data = X'' WHERE envelope_id = ?", arguments: [id])
                        case .reject(let detail):
                            try db.execute(sql: "UPDATE inbox SET state = 'rejected', detail = ?, data = X'' WHERE envelope_id = ?", arguments: [detail, id])
                        case .wait(let detail):
                            try db.execute(sql: "UPDATE inbox SET detail = ? WHERE envelope_id = ?", arguments: [detail, id])
                        }
                        outcomes.append(outcome)
                    }
                    return (outcomes, rows.last?[0])
                }
                for outcome in outcomes {
                    report.count(outcome)
                    if case .wait = outcome {} else { progress = true }
                }
                guard let last else { break }
                cursor = last
            }
        }
        report.waiting = try await db.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM inbox WHERE state = 'pending'") ?? 0 }
    }

    /// Opens one envelope and applies it. Runs inside the write transaction
    /// that records its outcome, so it is applied exactly once.
    func process(envelopeID: [UInt8], bytes: [UInt8], _ db: Database, keys cache: inout AudienceKeyCache) throws -> Outcome {
        let keys = try requireKeys()
        let envelope: Envelope
        do { envelope = try Envelope(bytes: bytes) } catch let error as ProtocolError { return .reject(error.description) }
        do {
            switch envelope.kind {
            case .keyMessage:
                let message = try KeyMessage.open(envelope, keys: keys.encryptionKeys.map(\.key), me: keys.identity.publicKey)
                let owner = message.audience.owner
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM friend WHERE identity = ?", arguments: [owner.data]) == true else {
                    return .wait("audience key from someone who is not a friend (yet)")
                }
                let sealed = try sealStored(message.audience.key, keyID: message.audience.keyID)
                try Self.storeAudienceKey(db, message.audience, name: message.audienceName, sealed: sealed, now: clock())
                return .done(newPosts: 0, newKeys: db.changesCount)
            case .post:
                let keyID = try Post.keyID(of: envelope)
                if cache[keyID] == nil { cache[keyID] = try audienceKey(keyID: keyID, db) }
                guard let (audience, name) = cache[keyID] else { return .wait("its audience key has not arrived") }
                let post = try Post.open(envelope, audience: audience)
                try Self.storePost(db, post, audienceOwner: audience.owner, audienceName: name, envelopeID: envelopeID, now: clock())
                return .done(newPosts: db.changesCount, newKeys: 0)
            }
        } catch let error as ProtocolError {
            return .reject(error.description)
        }
    }
}
