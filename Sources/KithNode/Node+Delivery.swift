import Foundation
import GRDB
import KithCrypto
import KithProtocol
import NIOCore

/// How the deliveries to one relay went in one sync.
public struct RelayDelivery: Codable, Sendable, Equatable {
    public let relay: String
    /// Uploads the relay accepted.
    public var delivered = 0
    /// Uploads the relay refused (4xx): marked failed, not retried.
    public var refused = 0
    /// Deliveries left queued after a network or server fault.
    public var waiting = 0
    /// Local names of the friends those waiting deliveries are for.
    public var friends: [String] = []
    /// When they are tried again, Unix seconds.
    public var nextRetryAt: UInt64?
    /// Why deliveries wait (the relay's fault, or a full mailbox).
    public var error: String?
    /// Whether the relay itself failed (down, broken or busy), so that this
    /// sync does not fetch from it either; a full mailbox is not that.
    public var relayFailed = false

    public init(relay: String) { self.relay = relay }

    /// Counts one more delivery waiting until `next`, for `reason` (which
    /// does not replace an earlier one unless `replacing`: a post waiting for
    /// its attachments waits for the reason they wait).
    mutating func hold(until next: Int64, because reason: String, replacing: Bool = true) {
        waiting += 1
        nextRetryAt = min(nextRetryAt ?? UInt64.max, UInt64(clamping: next))
        if replacing || error == nil { error = reason }
    }
}

extension Node {
    // MARK: Delivery

    /// One queued upload: an envelope's drop request, or a blob upload's
    /// header (`blob` is then the blob's id, its bytes in `HOME/blobs/`).
    struct DeliveryJob: Sendable {
        let id: Int64
        let request: [UInt8]
        let attempts: Int64
        var blob: [UInt8]? = nil
        /// For a blob upload, its batch; for an envelope, the batch of uploads it waits for.
        var batch: [UInt8]? = nil

        /// The mailboxes it names (nil if its request does not read back).
        var targets: [DropRequest.Target]? {
            if blob != nil { return try? Node.uploadTargets(request) }
            return (try? DropRequest(bytes: request))?.targets.list
        }

        /// Its request for some of its targets only.
        func request(for targets: [DropRequest.Target]) -> [UInt8]? {
            if blob != nil { return BlobUpload.header(targets: DropRequest.Targets(targets)) }
            return (try? DropRequest(bytes: request)).map { DropRequest(targets: targets, envelope: $0.envelope).bytes }
        }
    }

    /// Queued jobs whose retry time has come (all of them with `retryNow`), by relay, each relay's in order.
    func dueDeliveries(retryNow: Bool) async throws -> [String: [DeliveryJob]] {
        let due = retryNow ? Int64.max : Int64(clamping: clock())
        let atRest = try atRest
        let rows = try await db.writer.read { db -> [(relay: String, job: DeliveryJob)] in
            try Row.fetchAll(db, sql: """
                SELECT id, relay, request, attempts, blob_id, blob_batch FROM outbox WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY id
                """, arguments: [due]).compactMap { row in
                guard let id = row[0] as Int64?, let relay = row[1] as String?, let request = row[2] as Data? else { return nil }
                return (relay, DeliveryJob(id: id, request: try atRest.open(request, .request), attempts: row[3] as Int64? ?? 0,
                                           blob: (row[4] as Data?).map { [UInt8]($0) }, batch: (row[5] as Data?).map { [UInt8]($0) }))
            }
        }
        var byRelay: [String: [DeliveryJob]] = [:]
        for (relay, job) in rows { byRelay[relay, default: []].append(job) }
        return byRelay
    }

    /// Adds one relay's deliveries to the report.
    static func record(_ status: RelayDelivery, problems: [String], in report: inout SyncReport) {
        report.delivered += status.delivered
        report.retrying += status.waiting
        report.deliveries.append(status)
        for problem in problems { report.note(problem) }
    }

    /// Counts the deliveries still queued and when the first is due.
    func countQueued(_ report: inout SyncReport) async throws {
        let (count, earliest) = try await db.writer.read { db -> (Int, Int64?) in
            let row = try Row.fetchOne(db, sql: "SELECT count(*), min(next_attempt_at) FROM outbox WHERE state = 'queued'")
            return (row?[0] as Int? ?? 0, row?[1] as Int64?)
        }
        report.deferred = max(0, count - report.retrying)
        report.nextRetryAt = earliest.map { UInt64(clamping: $0) }
    }

    /// Delivers one relay's jobs in order; stops at the first network or
    /// server fault, and passes over a job refused because a mailbox is full
    /// (it waits alone). A job the relay stored for some of its mailboxes
    /// and not for others, full, is kept for those alone. Returns the
    /// relay's status and one line per problem.
    func deliver(_ jobs: [DeliveryJob], to relay: String, budget: RelayBudget) async throws -> (RelayDelivery, [String]) {
        var status = RelayDelivery(relay: relay)
        var problems: [String] = []
        let client = RelayClient(baseURL: relay, deadline: .now() + budget.time)
        let shown = RelayClient.clean(relay)
        var held: [DeliveryJob] = []
        for (index, job) in jobs.enumerated() {
            if let reason = try await notReady(job, relay: relay) {
                held.append(job)
                status.hold(until: Int64(clamping: clock()), because: reason, replacing: false)
                continue
            }
            do {
                let result: DropResult
                if let blob = job.blob {
                    let shown = "\(Hex.encode(blob).prefix(8)) to \(RelayClient.clean(relay))"
                    let progress = transferProgress.map { report in { @Sendable (done: UInt64, total: UInt64) in report("uploading \(shown)", done, total) } }
                    // An upload has the time its size needs at 64 KiB/s (the rate a relay
                    // allows it), past the sync's budget: cut off at the budget, a large
                    // one on a slow line would start over at every sync and never arrive.
                    let time = TimeAmount.seconds(30 + Int64(clamping: (blobs.size(blob) ?? 0) / 65_536))
                    let uploader = RelayClient(baseURL: relay, timeout: time, deadline: max(client.deadline, .now() + time))
                    result = try await uploader.uploadBlob(header: job.request, file: blobs.file(blob), progress: progress)
                } else {
                    result = try await client.drop(bytes: job.request)
                }
                // The node wrote the request; should it not read back, the job is kept whole where it must wait.
                let targets = job.targets ?? []
                if !result.refused.isEmpty {
                    problems.append("\(shown) refused \(result.refused.count) of \(targets.count) mailboxes (drop token revoked?)")
                }
                guard !result.full.isEmpty else {
                    try await db.writer.write { db in try db.execute(sql: "DELETE FROM outbox WHERE id = ?", arguments: [job.id]) }
                    status.delivered += 1
                    continue
                }
                // The relay stored the envelope for the others: the job waits for the full mailboxes alone.
                let full = Set(result.full)
                let left = targets.indices.filter { full.contains($0) }.map { targets[$0] }
                let rest = left.isEmpty ? nil : job.request(for: left)
                let next = Self.retryTime(after: clock(), attempt: job.attempts, notBefore: result.retryAfter, policy: retryPolicy)
                let reason = "\(rest == nil ? full.count : left.count) of \(targets.count) mailboxes full"
                try await requeue(job.id, request: try rest.map { try atRest.seal($0, .request) }, next: next, error: "\(shown): \(reason)")
                held.append(DeliveryJob(id: job.id, request: rest ?? job.request, attempts: job.attempts + 1, blob: job.blob, batch: job.batch))
                status.hold(until: next, because: reason)
            } catch let failure as RelayClient.Failure where failure.permanent {
                let next = Self.retryTime(after: clock(), attempt: job.attempts, policy: retryPolicy)
                try await db.writer.write { db in
                    try db.execute(sql: "UPDATE outbox SET state = 'failed', attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
                                   arguments: [next, failure.description, job.id])
                }
                status.refused += 1
                problems.append("delivery to \(shown) refused (\(failure.reason)\(failure.detail.map { ", \($0)" } ?? "")): it will not be retried")
            } catch let failure as RelayClient.Failure where failure.code == "mailbox_full" {
                // Every mailbox of this job is full: it waits until their owners
                // fetch, and the relay's other jobs go on.
                let next = Self.retryTime(after: clock(), attempt: job.attempts, notBefore: failure.retryAfter, policy: retryPolicy)
                try await requeue(job.id, next: next, error: failure.description)
                held.append(job)
                status.hold(until: next, because: failure.reason)
            } catch let failure as RelayClient.Failure {
                // The relay is down, broken or busy (429, 503, 507: try again
                // later, not before its Retry-After): the rest of its jobs wait too, untried.
                let rest = Array(jobs[index...])
                held += rest
                let next = Self.retryTime(after: clock(), attempt: job.attempts, notBefore: failure.retryAfter, policy: retryPolicy)
                let ids = rest.map(\.id)
                try await db.writer.write { db in
                    let update = try db.cachedStatement(sql: """
                        UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ? AND state = 'queued'
                        """)
                    for id in ids { try update.execute(arguments: [next, failure.description, id]) }
                }
                status.waiting += rest.count
                status.relayFailed = true
                status.nextRetryAt = min(status.nextRetryAt ?? UInt64.max, UInt64(clamping: next))
                status.error = failure.reason
                break
            }
        }
        if !held.isEmpty {
            status.friends = try await friendNames(for: held, on: relay)
            problems.append(Self.waitingLine(status, shown: shown))
        }
        return (status, problems)
    }

    /// Why a job cannot go yet, if it cannot: a blob upload whose file is not
    /// here (a friend's attachment I pass on, still to be fetched), an
    /// envelope whose blobs are still queued for this relay.
    private func notReady(_ job: DeliveryJob, relay: String) async throws -> String? {
        if let blob = job.blob { return blobs.has(blob) ? nil : "an attachment to pass on is not fetched yet" }
        guard let batch = job.batch else { return nil }
        let waiting = try await db.writer.read { db in
            try Bool.fetchOne(db, sql: """
                SELECT 1 FROM outbox WHERE blob_batch = ? AND relay = ? AND blob_id IS NOT NULL AND state = 'queued' LIMIT 1
                """, arguments: [batch.data, relay]) == true
        }
        return waiting ? "waiting for its attachments' uploads" : nil
    }

    /// Keeps a job queued until `next`, with `request` (sealed) in place of its own if given.
    private func requeue(_ id: Int64, request: Data? = nil, next: Int64, error: String) async throws {
        try await db.writer.write { db in
            try db.execute(sql: """
                UPDATE outbox SET request = coalesce(?, request), attempts = attempts + 1, next_attempt_at = ?, last_error = ?
                WHERE id = ? AND state = 'queued'
                """, arguments: [request, next, error, id])
        }
    }

    /// One line for a relay whose deliveries wait, e.g. `delivery to
    /// http://x:1 failed (relay unreachable): 4 deliveries for bob, carol
    /// wait; next retry at 2026-11-25T21:00:00Z`.
    static func waitingLine(_ status: RelayDelivery, shown: String) -> String {
        let count = status.waiting == 1 ? "1 delivery" : "\(status.waiting) deliveries"
        let whom = status.friends.isEmpty ? "" : " for " + status.friends.joined(separator: ", ")
        let verb = status.waiting == 1 ? "waits" : "wait"
        let when = Date(timeIntervalSince1970: TimeInterval(status.nextRetryAt ?? 0)).formatted(.iso8601)
        return "delivery to \(shown) failed (\(status.error ?? "unknown error")): \(count)\(whom) \(verb); next retry at \(when)"
    }

    /// The local names of the friends these jobs are for: each target
    /// mailbox on `relay` mapped through `friend_inbox`.
    func friendNames(for jobs: [DeliveryJob], on relay: String) async throws -> [String] {
        var mailboxes = Set<[UInt8]>()
        for job in jobs {
            for target in job.targets ?? [] { mailboxes.insert(target.mailbox) }
        }
        let list = Array(mailboxes)
        let atRest = try atRest
        let names = try await db.writer.read { db -> Set<String> in
            let lookup = try db.cachedStatement(sql: """
                SELECT friend.name FROM friend_inbox JOIN friend ON friend.identity = friend_inbox.friend
                WHERE friend_inbox.relay = ? AND friend_inbox.mailbox = ?
                """)
            var names = Set<String>()
            for mailbox in list {
                for name in try Data.fetchAll(lookup, arguments: [relay, mailbox.data]) { names.insert(try atRest.text(name, .friendName)) }
            }
            return names
        }
        return names.map { RelayClient.clean($0, limit: 64) }.sorted()
    }

    /// When a job that failed `attempts` times before is tried again, as a
    /// database value (saturating rather than trapping on any input).
    /// A relay's Retry-After (`notBefore`, seconds) is honoured up to the
    /// longest backoff (an hour by default), so a relay cannot park a job for longer.
    static func retryTime(after now: UInt64, attempt attempts: Int64, notBefore retryAfter: UInt64? = nil,
                          policy: RetryPolicy = .standard) -> Int64 {
        let wait = max(backoff(attempt: Int(clamping: attempts) &+ 1, policy: policy), min(retryAfter ?? 0, policy.longest))
        let (sum, overflow) = now.addingReportingOverflow(wait)
        return Int64(clamping: overflow ? UInt64.max : sum)
    }

    /// The longest wait between two attempts of a delivery, in seconds, by default.
    static let maxBackoff: UInt64 = RetryPolicy.standard.longest

    /// Exponential backoff with jitter: 5 s doubling to at most an hour (by
    /// default; see `RetryPolicy`), then a random factor between 0.5 and 1,
    /// so that many nodes do not retry in step.
    static func backoff(attempt: Int, policy: RetryPolicy = .standard) -> UInt64 {
        let base = min(Double(policy.longest), Double(policy.first) * pow(2.0, Double(min(max(attempt, 1), 20) - 1)))
        return UInt64(base * Double.random(in: 0.5...1.0))
    }
}
