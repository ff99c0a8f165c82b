import Foundation
import KithCrypto
import KithNode
import KithProtocol

/// Relay ingest over real HTTP on 127.0.0.1, against the SQLite floor.
enum RelayBench {
    /// A registered mailbox with one drop token.
    struct Mailbox {
        let key = SigningKey()
        let token = randomBytes(DropToken.length)
        var target: DropRequest.Target { .init(mailbox: key.publicKey, token: token) }
    }

    static func mailboxes(_ count: Int, on client: RelayClient) async throws -> [Mailbox] {
        var result: [Mailbox] = []
        for _ in 0..<count {
            let m = Mailbox()
            try await client.register(mailboxKey: m.key)
            try await client.addToken(m.token, mailboxKey: m.key)
            result.append(m)
        }
        return result
    }

    /// Sends the encoded drops from `concurrency` clients at once; returns seconds.
    static func send(_ drops: [[UInt8]], to client: RelayClient, concurrency: Int) async throws -> Double {
        try await Measure.seconds {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<concurrency {
                    group.addTask {
                        for i in stride(from: lane, to: drops.count, by: concurrency) {
                            let result = try await client.drop(bytes: drops[i])
                            guard result.refused.isEmpty else { throw BenchError("the relay refused a drop") }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    /// (a) Single-mailbox drops of 512-byte envelopes from several clients.
    static func singleDrops(count: Int, concurrency: Int) async throws -> BenchCase {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try await BenchRelay.start(directory: dir)
        let client = RelayClient(baseURL: relay.url)
        let boxes = try await mailboxes(16, on: client)
        let drops = (0..<count).map { i in
            DropRequest(targets: [boxes[i % boxes.count].target], envelope: Envelope(kind: .post, payload: randomBytes(Post.payloadOverhead + Post.minBucket)).bytes).bytes
        }
        let seconds = try await send(drops, to: client, concurrency: concurrency)
        await relay.stop()
        let floor = try await SQLiteFloor.relayIngest(directory: dir, drops: count, targets: 1, envelopeBytes: 6 + Post.payloadOverhead + Post.minBucket)
        return BenchCase(name: "relay ingest: 1-mailbox drops", unit: "drops/s", ours: Double(count) / seconds, floor: floor.rate, target: 0.5,
                         note: "\(concurrency) concurrent HTTP clients; floor: one C-API transaction per drop (body + reference), synchronous=\(floor.synchronous)")
    }

    /// (b) One 1 KiB post to 150 mailboxes per upload; counts mailbox references.
    static func fanOut(uploads: Int, concurrency: Int) async throws -> BenchCase {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try await BenchRelay.start(directory: dir)
        let client = RelayClient(baseURL: relay.url)
        let boxes = try await mailboxes(CryptoBench.audienceSize, on: client)
        let alice = SigningKey()
        let audience = AudienceKey(owner: alice.publicKey, audienceID: randomBytes(16), epoch: 1, key: SecretBytes(random: 32))
        let drops = try (0..<uploads).map { _ in
            let envelope = try Post(author: alice.publicKey, audienceID: audience.audienceID, epoch: 1, id: randomBytes(Post.idLength),
                                    createdAt: 1_790_000_000, text: CryptoBench.text).seal(author: alice, audience: audience)
            return DropRequest(targets: boxes.map(\.target), envelope: envelope.bytes).bytes
        }
        let seconds = try await send(drops, to: client, concurrency: concurrency)
        await relay.stop()
        let envelopeBytes = try Envelope(bytes: Array(drops[0].suffix(from: 3 + 64 * boxes.count + 4))).bytes.count
        let floor = try await SQLiteFloor.relayIngest(directory: dir, drops: uploads, targets: boxes.count, envelopeBytes: envelopeBytes)
        let refs = Double(boxes.count)
        return BenchCase(name: "relay ingest: 1 post to 150", unit: "refs/s", ours: Double(uploads) * refs / seconds, floor: floor.rate * refs,
                         target: 0.5, note: "\(concurrency) concurrent HTTP clients; floor: one C-API transaction per upload (body + 150 references)")
    }
}
