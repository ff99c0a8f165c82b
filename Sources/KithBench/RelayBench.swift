import Foundation
import KithCrypto
import KithNode
import KithProtocol
import KithRelay

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

    /// A drop of one 512-byte-bucket post envelope into `box`.
    static func smallDrop(to box: Mailbox) -> [UInt8] {
        DropRequest(targets: [box.target], envelope: Envelope(kind: .post, payload: randomBytes(Post.payloadOverhead + Post.minBucket)).bytes).bytes
    }

    /// (a) Drops of 512-byte envelopes into one mailbox from `concurrency`
    /// clients at once, against one transaction per drop, both with
    /// `synchronous=FULL`: the relay commits the drops that arrive together
    /// in one transaction and one sync. The floor and Kith alternate, each
    /// round into a fresh mailbox, and the best round of each is kept: the
    /// floor syncs every drop, so a disk busy for a while must not make it
    /// look slower than it is.
    static func singleDrops(count: Int, concurrency: Int, rounds: Int = 2) async throws -> BenchCase {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try await BenchRelay.start(directory: dir)
        var best = (ours: 0.0, floor: 0.0), floorSynchronous = -1
        do {
            for _ in 0..<rounds {
                let floor = try await SQLiteFloor.relayIngest(directory: dir, drops: count, targets: 1, envelopeBytes: 6 + Post.payloadOverhead + Post.minBucket)
                floorSynchronous = floor.synchronous
                let box = try await mailboxes(1, on: RelayClient(baseURL: relay.url))[0]
                let drops = (0..<count).map { _ in smallDrop(to: box) }
                let seconds = try await DropSender.send(drops, to: relay.url, concurrency: concurrency)
                best = (max(best.ours, Double(count) / seconds), max(best.floor, floor.rate))
            }
        } catch {
            await relay.stop()
            throw error
        }
        let synchronous = try await relay.store.synchronous()
        await relay.stop()
        return BenchCase(name: "1-mailbox ingest, \(concurrency) clients", unit: "drops/s", ours: best.ours, floor: best.floor,
                         target: 3, note: "\(concurrency) concurrent HTTP clients, drops committed together; floor: one C-API transaction per drop (body, reference, mailbox counts); best of \(rounds) alternating rounds; synchronous: kith \(synchronous), floor \(floorSynchronous) (2 = FULL)")
    }

    /// `uploads` drops of a 1 KiB post each, every one to all of `boxes`.
    static func fanOutDrops(to boxes: [Mailbox], uploads: Int) throws -> [[UInt8]] {
        let alice = SigningKey()
        let audience = AudienceKey(owner: alice.publicKey, audienceID: randomBytes(16), epoch: 1, key: SecretBytes(random: 32))
        return try (0..<uploads).map { _ in
            let envelope = try Post(author: alice.publicKey, audienceID: audience.audienceID, epoch: 1, id: randomBytes(Post.idLength),
                                    createdAt: 1_790_000_000, text: CryptoBench.text).seal(author: alice, audience: audience)
            return DropRequest(targets: boxes.map(\.target), envelope: envelope.bytes).bytes
        }
    }

    /// (b) One 1 KiB post to 150 mailboxes per upload; counts mailbox references.
    static func fanOut(uploads: Int, concurrency: Int) async throws -> BenchCase {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try await BenchRelay.start(directory: dir)
        let client = RelayClient(baseURL: relay.url)
        let boxes = try await mailboxes(CryptoBench.audienceSize, on: client)
        let drops = try fanOutDrops(to: boxes, uploads: uploads)
        let seconds = try await DropSender.send(drops, to: relay.url, concurrency: concurrency)
        await relay.stop()
        let envelopeBytes = try Envelope(bytes: Array(drops[0].suffix(from: 3 + 64 * boxes.count + 4))).bytes.count
        let floor = try await SQLiteFloor.relayIngest(directory: dir, drops: uploads, targets: boxes.count, envelopeBytes: envelopeBytes)
        let refs = Double(boxes.count)
        return BenchCase(name: "relay ingest: 1 post to 150", unit: "refs/s", ours: Double(uploads) * refs / seconds, floor: floor.rate * refs,
                         target: 0.5, note: "\(concurrency) concurrent HTTP clients; floor: one C-API transaction per upload (body, 150 references and their counts)")
    }
}
