import Foundation
import KithCrypto
import KithNode
import KithProtocol
import KithRelay

/// bob's node with `posts` posts from alice waiting for him on a relay.
/// alice is played at the protocol level so that setting up 10,000 posts is
/// quick; bob is a real node and syncs as `kith sync` does.
struct SyncFixture {
    static let passphrase = Array("bench passphrase".utf8)

    let bob: Node
    let audience: AudienceKey
    let posts: [[UInt8]]

    /// `store` must be the relay's database (this process's or a relay child's).
    static func make(bobHome: String, relayURL: String, store: SQLiteRelayStore, posts count: Int) async throws -> SyncFixture {
        let bob = try await Node.create(home: bobHome, name: "bob", relays: [relayURL], passphrase: passphrase)
        let client = RelayClient(baseURL: relayURL)
        let alice = SigningKey(), aliceBox = BoxKey(), aliceMailbox = SigningKey()
        let token = randomBytes(DropToken.length)
        try await client.register(mailboxKey: aliceMailbox)
        try await client.addToken(token, mailboxKey: aliceMailbox)
        let now = Node.now()
        let cert = EncryptionKeyCertificate(publicKey: aliceBox.publicKey, notBefore: now - 60, notAfter: now + 86_400, signedBy: alice)
        let card = try ContactCard(identity: alice, encryptionKey: cert, sequence: 1, createdAt: now, name: "alice",
                                   inboxes: [Inbox(relay: relayURL, mailbox: aliceMailbox.publicKey, dropToken: token)])
        try await bob.addFriend(cardText: card.text)
        let bobCard = try await bob.issueCard()
        let audience = AudienceKey(owner: alice.publicKey, audienceID: randomBytes(16), epoch: 1, key: SecretBytes(random: 32))
        let keyMessage = try KeyMessage(audience: audience, recipient: bobCard.identity, audienceName: "bench", createdAt: now)
            .seal(owner: alice, to: bobCard.encryptionKey.publicKey)
        let target = DropRequest.Target(mailbox: bobCard.inboxes[0].mailbox, token: bobCard.inboxes[0].dropToken)
        let posts = try (0..<count).map { i in
            try Post(author: alice.publicKey, audienceID: audience.audienceID, epoch: 1, id: randomBytes(Post.idLength),
                     createdAt: now + UInt64(i), text: CryptoBench.text).seal(author: alice, audience: audience).bytes
        }
        let drops = ([keyMessage.bytes] + posts).map { DropRequest(targets: [target], envelope: $0) }
        for chunk in stride(from: 0, to: drops.count, by: 1000) {
            _ = try await store.drop(Array(drops[chunk..<min(chunk + 1000, drops.count)]), now: now, ttl: 86_400)
        }
        return SyncFixture(bob: bob, audience: audience, posts: posts)
    }
}

enum SyncBench {
    static func sync(posts count: Int) async throws -> BenchCase {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try await BenchRelay.start(directory: dir)
        let fixture = try await SyncFixture.make(bobHome: dir + "/bob", relayURL: relay.url, store: relay.store, posts: count)
        var report = SyncReport()
        let seconds = try await Measure.seconds { report = try await fixture.bob.sync() }
        await relay.stop()
        guard report.newPosts == count, report.waiting == 0 else { throw BenchError("sync opened \(report.newPosts) of \(count) posts") }
        let floor = try SQLiteFloor.openAndStore(directory: dir, envelopes: fixture.posts, audience: fixture.audience)
        var result = BenchCase(name: "sync \(count) posts", unit: "posts/s", ours: Double(count) / seconds, floor: floor, target: 0.5,
                               note: String(format: "%.2f s for %d posts (fetch over HTTP, commit, acknowledge, verify, decrypt, store); floor: open + C-API inserts, 256 per transaction", seconds, count))
        result.seconds = seconds
        result.secondsLimit = 2 * Double(count) / 10_000
        return result
    }
}
