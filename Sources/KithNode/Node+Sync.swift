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
    /// Envelopes dropped after waiting too long for their key or sender.
    public var expired = 0
    /// Why envelopes wait, one line per reason with its count.
    public var waitingReasons: [String] = []
    /// Envelopes refused as invalid (tampered, misaddressed, from no friend's key).
    public var rejected = 0
    /// Deliveries that failed in this sync and stay queued for a retry.
    public var retrying = 0
    /// Queued deliveries whose retry time has not come yet (not attempted).
    public var deferred = 0
    /// When the earliest deferred or retrying delivery is due, Unix seconds.
    public var nextRetryAt: UInt64?
    /// Relays that could not be fetched from, or that broke the protocol.
    public var fetchFailures = 0
    /// Per relay with due deliveries, how they went.
    public var deliveries: [RelayDelivery] = []
    /// Per relay fetched from, how it went.
    public var fetches: [RelayFetch] = []
    /// Whether this sync replaced my encryption key (the schedule said it was time).
    public var rotatedEncryptionKey = false
    /// Old encryption secrets erased from the keystore, their grace period over.
    public var erasedEncryptionKeys = 0
    /// One line per problem, for the user; each line once.
    public var problems: [String] = []
    /// How often each line of `problems` that happened more than once happened.
    public var repeats: [String: Int] = [:]

    public init() {}

    /// Adds what a part of the sync (one relay's fetch) counted.
    mutating func merge(_ part: SyncReport) {
        fetched += part.fetched
        newPosts += part.newPosts
        newAudienceKeys += part.newAudienceKeys
        rejected += part.rejected
        for problem in part.problems { note(problem, times: part.repeats[problem] ?? 1) }
    }

    /// Adds a problem line, or counts it again if it is there already (a
    /// flood of refused envelopes is one line, not one per envelope).
    mutating func note(_ problem: String, times: Int = 1) {
        if problems.contains(problem) { repeats[problem, default: 1] += times } else {
            problems.append(problem)
            if times > 1 { repeats[problem] = times }
        }
    }

    mutating func count(_ outcome: Node.Outcome) {
        switch outcome {
        case .done(let posts, let keys):
            newPosts += posts
            newAudienceKeys += keys
        case .reject(let detail):
            rejected += 1
            note("envelope refused: \(detail)")
        case .wait:
            break
        }
    }
}

extension Node {
    /// Rotates my encryption key first if the schedule says it is time, and
    /// erases old secrets whose grace period is over, so that the key
    /// updates go out with this sync's deliveries. Then delivers queued
    /// envelopes that are due (all of them with `retryNow`),
    /// fetches new ones from every relay (committing them locally before
    /// acknowledging), then processes everything pending. Each relay is
    /// served in a task of its own, its deliveries and then its fetch, each
    /// within `budget`, so a dead, slow or hostile relay costs at most its
    /// budget and never holds up the others. A relay whose deliveries just
    /// failed is not asked to fetch in the same sync. Then the thumbnails of
    /// friends' attachments are fetched, and the attachments themselves in
    /// the `background` setting (`attachmentFetch`). Last, invitations left
    /// unanswered long after they expired are closed (their tokens revoked).
    public func sync(retryNow: Bool = false, fetchLimit: Int = 500, budget: RelayBudget = .standard) async throws -> SyncReport {
        _ = try requireKeys()
        var report = SyncReport()
        report.rotatedEncryptionKey = try await rotateIfDue() != nil
        report.erasedEncryptionKeys = try await eraseRetiredEncryptionKeys()
        let jobs = try await dueDeliveries(retryNow: retryNow)
        let mailboxes = try await mailboxKeys(&report)
        let limit = max(1, fetchLimit)
        typealias Served = (relay: String, delivery: (RelayDelivery, [String])?, fetch: (RelayFetch, SyncReport)?)
        let served = try await withThrowingTaskGroup(of: Served.self) { group in
            for relay in Set(jobs.keys).union(mailboxes.keys) {
                let due = jobs[relay], key = mailboxes[relay]
                group.addTask {
                    var delivery: (RelayDelivery, [String])? = nil
                    if let due { delivery = try await self.deliver(due, to: relay, budget: budget) }
                    guard let key else { return (relay, delivery, nil) }
                    guard delivery?.0.relayFailed != true else {
                        var skipped = RelayFetch(relay: relay)
                        skipped.state = .failed
                        skipped.detail = "not tried: its deliveries failed in this sync"
                        return (relay, delivery, (skipped, SyncReport()))
                    }
                    return (relay, delivery, try await self.fetch(from: relay, mailboxKey: key, limit: limit, budget: budget))
                }
            }
            var served: [Served] = []
            for try await one in group { served.append(one) }
            return served.sorted { $0.relay < $1.relay }
        }
        for one in served {
            if let (status, problems) = one.delivery { Self.record(status, problems: problems, in: &report) }
        }
        try await recordRelayStates(served.map { ($0.relay, $0.delivery?.0, $0.fetch?.0) })
        try await countQueued(&report)
        for one in served {
            if let (status, part) = one.fetch { Self.record(status, part: part, in: &report) }
        }
        try await processPending(&report)
        try await fetchAttachments(&report, budget: budget)
        await releaseUnneededBlobs()
        try await removeUnreferencedBlobs()
        try await closeUnansweredInvitations()
        return report
    }
}
