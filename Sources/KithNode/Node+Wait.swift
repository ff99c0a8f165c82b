import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// How a node retries a relay it cannot wait on (down, restarting, or
/// refusing for a while): `initial` doubling up to `maximum`, each delay
/// times a random factor in [0.5, 1], and never less than the relay's
/// `Retry-After`.
public struct WaitBackoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
    }

    /// Half a second doubling to 30 seconds.
    public static let standard = WaitBackoff(initial: .milliseconds(500), maximum: .seconds(30))

    /// The delay before attempt `attempt` (0 for the first retry), with jitter.
    func delay(attempt: Int, retryAfter: UInt64?) -> Duration {
        var delay = initial
        for _ in 0..<min(attempt, 30) where delay < maximum { delay = delay * 2 }
        delay = min(delay, maximum) * Double.random(in: 0.5...1)
        if let retryAfter { delay = max(delay, .seconds(Int64(min(retryAfter, 3600)))) }
        return delay
    }
}

extension Node {
    /// Waits until one of my relays says mail waits in my mailbox there, and
    /// returns those relays (so the caller syncs), or an empty list once
    /// `timeout` has passed (nil: no limit). Every relay is long-polled at
    /// once, each on its own: a relay that is down or restarting is tried
    /// again with `backoff` until it answers, and never delays the others.
    /// Cancelling the calling task ends the wait.
    public func waitForMail(timeout: Duration? = nil, backoff: WaitBackoff = .standard) async throws -> [String] {
        let keys = try requireKeys()
        let relays = try await db.writer.read { db in try String.fetchAll(db, sql: "SELECT relay FROM mailbox ORDER BY relay") }
        let polled = relays.compactMap { relay in keys.mailboxKeys[relay].map { (relay, $0) } }
        guard !polled.isEmpty else { throw NodeError("the keystore has no mailbox key") }
        return await withTaskGroup(of: String?.self) { group in
            for (relay, key) in polled {
                group.addTask { await Self.waitForMail(on: relay, key: key, backoff: backoff) ? relay : nil }
            }
            if let timeout {
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return nil
                }
            }
            // The first relay with mail ends the wait (or the timeout, or cancellation).
            let first = await group.next() ?? nil
            group.cancelAll()
            return first.map { [$0] } ?? []
        }
    }

    /// Long-polls one relay until it has mail (true) or the task is cancelled (false).
    static func waitForMail(on relay: String, key: SigningKey, backoff: WaitBackoff) async -> Bool {
        let client = RelayClient(baseURL: relay)
        var failures = 0
        while !Task.isCancelled {
            do {
                if try await client.wait(mailboxKey: key) != nil { return true }
                failures = 0
            } catch {
                if Task.isCancelled { return false }
                let retryAfter = (error as? RelayClient.Failure)?.retryAfter
                do { try await Task.sleep(for: backoff.delay(attempt: failures, retryAfter: retryAfter)) } catch { return false }
                failures += 1
            }
        }
        return false
    }
}
