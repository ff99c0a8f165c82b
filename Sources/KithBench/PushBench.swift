import Foundation
import KithCrypto
import KithNode
import KithProtocol

/// How soon an owner waiting for mail (the relay's long poll) learns of a
/// drop, beside how long the drop request itself takes.
public struct PushLatency: Encodable, Sendable {
    public let drops: Int
    /// From the start of the drop request to the waiting owner's answer, in milliseconds.
    public let p50Milliseconds: Double
    public let p99Milliseconds: Double
    /// The drop request itself (sent until answered), median, in milliseconds.
    public let dropMedianMilliseconds: Double

    enum CodingKeys: String, CodingKey {
        case drops, p50Milliseconds = "p50_ms", p99Milliseconds = "p99_ms", dropMedianMilliseconds = "drop_median_ms"
    }
}

enum PushBench {
    /// One owner waits on one mailbox; each round drops one envelope into it
    /// once the wait is under way, and times the drop and the wait's answer.
    static func latency(drops: Int) async throws -> PushLatency {
        let dir = NSTemporaryDirectory() + "kith-bench-push-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try await BenchRelay.start(directory: dir)
        let client = RelayClient(baseURL: relay.url)
        let mailbox = try await RelayBench.mailboxes(1, on: client)[0]
        let clock = ContinuousClock()
        var notified: [Double] = [], dropped: [Double] = []
        var last: UInt64 = 0
        do {
            for _ in 0..<drops {
                let after = last
                let waiting = Task { () throws -> (UInt64?, ContinuousClock.Instant) in
                    let sequence = try await client.wait(mailboxKey: mailbox.key, after: after)
                    return (sequence, clock.now)
                }
                // Let the wait reach the relay, so that the drop wakes it rather than finds it.
                try await Task.sleep(for: .milliseconds(20))
                let start = clock.now
                let envelope = Envelope(kind: .post, payload: randomBytes(Post.payloadOverhead + Post.minBucket)).bytes
                _ = try await client.drop(DropRequest(targets: [mailbox.target], envelope: envelope))
                dropped.append((clock.now - start).seconds * 1000)
                let (sequence, at) = try await waiting.value
                guard let sequence else { throw BenchError("a wait ended without the envelope dropped into its mailbox") }
                notified.append((at - start).seconds * 1000)
                last = sequence
            }
        } catch {
            await relay.stop()
            throw error
        }
        await relay.stop()
        return PushLatency(drops: drops, p50Milliseconds: percentile(notified, 0.5), p99Milliseconds: percentile(notified, 0.99),
                           dropMedianMilliseconds: percentile(dropped, 0.5))
    }
}
