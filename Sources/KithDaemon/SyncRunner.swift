import Foundation
import KithNode
import KithWeb
import Logging
import NIOCore
import Synchronization

/// Runs the node's syncs one at a time, whoever asks (the schedule, a post,
/// `kith sync`), and keeps what the last one did for `kith status`. When a
/// sync fetches something, whoever asked for it, the web app's open pages
/// are told (`events`).
///
/// Each round first gives up deliveries older than the outbox's age limit
/// (logging them), then runs `Node.sync`: key rotation when due, due
/// deliveries, fetches, processing. Logs carry relays and counts only:
/// never names, texts or tokens.
public actor SyncRunner {
    let node: Node
    let maxAge: UInt64
    let fetchLimit: Int
    let budget: RelayBudget
    let logger: Logger
    let events: WebEvents?
    private var running: Task<SyncReport, any Error>?
    private(set) var last: LastSync?

    /// What the last sync did, for `kith status`.
    public struct LastSync: Codable, Sendable {
        public let finishedAt: UInt64
        public let report: SyncReport?
        public let error: String?

        enum CodingKeys: String, CodingKey {
            case finishedAt = "finished_at"
            case report, error
        }
    }

    public init(node: Node, maxAgeDays: Int, fetchLimit: Int, relayTimeout: Int, logger: Logger, events: WebEvents? = nil) {
        self.node = node
        self.events = events
        self.maxAge = UInt64(max(1, maxAgeDays)) * 86_400
        self.fetchLimit = fetchLimit
        self.budget = RelayBudget(time: .seconds(Int64(relayTimeout)))
        self.logger = logger
    }

    /// Runs one sync, after the one in progress if any: each sync starts
    /// once the one asked for before it has ended.
    public func sync(retryNow: Bool = false) async throws -> SyncReport {
        let previous = running
        let task = Task {
            _ = await previous?.result
            return try await self.round(retryNow: retryNow)
        }
        running = task
        defer { if running == task { running = nil } }
        do {
            // Cancelling the caller (shutdown) cancels the sync: what it did so far is committed.
            let report = try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
            last = LastSync(finishedAt: Node.now(), report: report, error: nil)
            if report.fetched > 0 { events?.feedChanged() }
            return report
        } catch {
            last = LastSync(finishedAt: Node.now(), report: nil, error: String(describing: error))
            throw error
        }
    }

    public func lastSync() -> LastSync? { last }

    private func round(retryNow: Bool) async throws -> SyncReport {
        for expired in try await node.expireDeliveries(olderThan: maxAge) {
            logger.error("deliveries given up after the outbox's age limit", metadata: [
                "relay": "\(expired.relay)", "count": "\(expired.count)", "last_error": "\(expired.lastError ?? "none")",
            ])
        }
        let report = try await node.sync(retryNow: retryNow, fetchLimit: fetchLimit, budget: budget)
        if report.rotatedEncryptionKey { logger.notice("replaced the encryption key, as scheduled") }
        if report.erasedEncryptionKeys > 0 { logger.notice("erased old encryption secrets", metadata: ["count": "\(report.erasedEncryptionKeys)"]) }
        for delivery in report.deliveries {
            var metadata: Logger.Metadata = ["relay": "\(delivery.relay)", "delivered": "\(delivery.delivered)"]
            if delivery.refused > 0 { metadata["refused"] = "\(delivery.refused)" }
            if delivery.waiting > 0 { metadata["waiting"] = "\(delivery.waiting)" }
            if let error = delivery.error {
                metadata["error"] = "\(error)"
                logger.warning("deliveries wait for their relay", metadata: metadata)
            } else {
                logger.debug("delivered", metadata: metadata)
            }
        }
        for fetch in report.fetches where fetch.state == .failed || fetch.state == .misbehaving {
            logger.warning("fetch failed", metadata: ["relay": "\(fetch.relay)", "state": "\(fetch.state.rawValue)",
                                                      "detail": "\(fetch.detail ?? "")"])
        }
        if report.delivered + report.fetched + report.rejected > 0 {
            logger.info("synced", metadata: ["delivered": "\(report.delivered)", "fetched": "\(report.fetched)", "new_posts": "\(report.newPosts)",
                                             "refused": "\(report.rejected)", "waiting": "\(report.waiting)"])
        }
        return report
    }
}

/// Something that says "sync now": a post through the daemon, a rotated
/// key, or mail announced by a relay. Firing while nobody waits is kept
/// (once), so a request between two waits is not lost; firing while the
/// sync service waits wakes it at once.
public final class SyncTrigger: Sendable {
    /// A wait for a fire: not yet parked (its continuation not stored),
    /// parked, or cancelled before it parked.
    private enum Waiter {
        case starting, parked(CheckedContinuation<Void, Never>), cancelled
    }

    private struct State {
        var pending = false
        var waiters: [Int: Waiter] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func fire() {
        let woken = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            var woken: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in s.waiters {
                if case .parked(let continuation) = waiter {
                    woken.append(continuation)
                    s.waiters[id] = nil
                }
            }
            if woken.isEmpty { s.pending = true }
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns when it fires, after `timeout`, or at cancellation or shutdown.
    func wait(upTo timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.fired() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns once it has fired (consuming that), or when cancelled. Each
    /// wait's entry is removed by whoever ends it, so none is left behind.
    private func fired() async {
        let id = state.withLock { s in
            defer { s.nextID += 1 }
            s.waiters[s.nextID] = .starting
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s in
                    if case .cancelled = s.waiters[id] {
                        s.waiters[id] = nil
                        return true
                    }
                    if s.pending {
                        s.pending = false
                        s.waiters[id] = nil
                        return true
                    }
                    s.waiters[id] = .parked(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let parked = state.withLock { s -> CheckedContinuation<Void, Never>? in
                switch s.waiters[id] {
                case .parked(let continuation):
                    s.waiters[id] = nil
                    return continuation
                case .starting:
                    s.waiters[id] = .cancelled
                    return nil
                case .cancelled, nil:
                    return nil
                }
            }
            parked?.resume()
        }
    }

    /// Waits not yet ended, for tests.
    var waiting: Int { state.withLock { $0.waiters.count } }
}

/// Where a relay's push plugs in: something that returns when mail may be
/// waiting on one of the node's relays (for example a long poll). The sync
/// service then syncs at once instead of at the next interval. Without
/// one, or while it fails, the daemon polls at `sync.interval`.
public protocol MailSignal: Sendable {
    /// Returns when mail may be waiting; throws when the relays offer no
    /// push or on cancellation.
    func waitForMail() async throws
}
