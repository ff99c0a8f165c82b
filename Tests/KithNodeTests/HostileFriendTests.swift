import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import KithCrypto
@testable import KithNode
import KithProtocol
import KithRelay
import Logging
import Testing

/// A clock the test moves by hand.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt64
    init(_ value: UInt64 = Node.now()) { self.value = value }
    var now: UInt64 { lock.withLock { value } }
    func advance(_ seconds: UInt64) { lock.withLock { value += seconds } }
}

/// alice, bob and mallory, each friends with the other two, on one live relay.
/// bob's clock is `bobClock`.
func withThreeFriends(bobClock: TestClock = TestClock(),
                      _ body: @escaping @Sendable (_ alice: Node, _ bob: Node, _ mallory: Node, _ relay: String) async throws -> Void) async throws {
    try await withRelayAndDirectory { url, dir in
        let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive)
        let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive) { bobClock.now }
        let mallory = try await Node.create(home: dir + "/mallory", name: "mallory", relays: [url], passphrase: passphrase, kdf: .interactive)
        for (a, b) in [(alice, bob), (bob, alice), (alice, mallory), (mallory, alice), (bob, mallory), (mallory, bob)] {
            try await b.addFriend(cardText: try await a.issueCard().text)
        }
        try await body(alice, bob, mallory, url)
    }
}

extension Node {
    /// Drops an envelope into a friend's mailboxes with the tokens from their card, as a hostile friend's own program would.
    func dropRaw(_ envelope: [UInt8], to friendName: String) async throws {
        let inboxes = try await db.writer.read { db in try self.card(ofFriendNamed: friendName, db).inboxes }
        for inbox in inboxes {
            _ = try await RelayClient(baseURL: inbox.relay).drop(DropRequest(targets: [.init(mailbox: inbox.mailbox, token: inbox.dropToken)], envelope: envelope))
        }
    }

    /// The epoch key of an audience this node holds (its own or a friend's), as a member's program can read it.
    func heldKey(audienceNamed name: String) async throws -> AudienceKey {
        let atRest = try atRest
        return try await db.writer.read { db in
            let keyID = try Row.fetchAll(db, sql: "SELECT key_id, name FROM audience_key ORDER BY epoch DESC")
                .first { try atRest.text($0[1], .keyName) == name }![0] as Data
            return try self.audienceKey(keyID: [UInt8](keyID), db)!.key
        }
    }

    /// A post sealed by this node's identity under `audience`, with any field chosen.
    func craftPost(audience: AudienceKey, text: String, id: [UInt8] = randomBytes(Post.idLength), createdAt: UInt64) throws -> [UInt8] {
        let me = try requireKeys().identity
        return try Post(author: me.publicKey, audienceID: audience.audienceID, epoch: audience.epoch, id: id, createdAt: createdAt, text: text)
            .seal(author: me, audience: audience).bytes
    }
}

@Suite struct HostileFriendTests {
    /// mallory, a member of alice's "family", sends bob a key message in her own
    /// name carrying family's key K before alice adds bob. With key ids that
    /// depend on K alone, bob's node then ignored alice's real key message and
    /// refused every post alice made to family.
    @Test func aMemberCannotSquatAnAudienceKey() async throws {
        try await withThreeFriends { alice, bob, mallory, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "mallory")
            _ = try await alice.sync()
            _ = try await mallory.sync()
            let k = try await mallory.heldKey(audienceNamed: "family")
            #expect(k.owner == (try alice.identity()))

            let bobsCard = try await mallory.db.writer.read { db in try mallory.card(ofFriendNamed: "bob", db) }
            let squat = AudienceKey(owner: try mallory.identity(), audienceID: k.audienceID, epoch: k.epoch, key: k.key)
            let forged = try KeyMessage(audience: squat, recipient: try bob.identity(), audienceName: "family", createdAt: Node.now())
                .seal(owner: try mallory.requireKeys().identity, to: bobsCard.encryptionKey.publicKey)
            try await mallory.dropRaw(forged.bytes, to: "bob")
            #expect(try await bob.sync().newAudienceKeys == 1, "bob accepts mallory's key as mallory's own audience")

            // With the same key mallory squatted (a new epoch would sidestep the attack this test is about).
            try await alice.addMember(audience: "family", friend: "bob", shareHistory: true)
            _ = try await alice.post(to: "family", text: "for the family")
            _ = try await alice.sync()
            let report = try await bob.sync()
            #expect(report.rejected == 0, "\(report.problems)")
            #expect(try bob.feed().map(\.text) == ["for the family"])
            #expect(try bob.feed().first?.author == "alice")
        }
    }

    /// A post signed with created_at above 2^63 - 1 trapped `kith sync` inside
    /// the transaction that commits the batch, so it was never acknowledged
    /// and every later sync crashed too.
    @Test func aPostDatedBeyondTheIntegerRangeIsRefused() async throws {
        try await withThreeFriends { alice, bob, _, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.sync()
            let family = try await alice.heldKey(audienceNamed: "family")
            try await alice.dropRaw(try alice.craftPost(audience: family, text: "boom", createdAt: .max), to: "bob")
            let report = try await bob.sync()
            #expect(report.rejected == 1 && report.newPosts == 0)
            #expect(report.problems.contains { $0.contains("above 2^63 - 1") }, "\(report.problems)")
            // The batch was acknowledged: nothing is fetched again, and the next post arrives.
            _ = try await alice.post(to: "family", text: "still here")
            _ = try await alice.sync()
            let next = try await bob.sync()
            #expect(next.fetched == 1 && next.newPosts == 1)
        }
    }

    /// A post dated far in the future would sit at the top of the feed forever: refused beyond a day.
    @Test func aPostFromTheFutureIsRefused() async throws {
        let clock = TestClock()
        try await withThreeFriends(bobClock: clock) { alice, bob, _, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.sync()
            let family = try await alice.heldKey(audienceNamed: "family")
            try await alice.dropRaw(try alice.craftPost(audience: family, text: "next year", createdAt: clock.now + 365 * 86_400), to: "bob")
            try await alice.dropRaw(try alice.craftPost(audience: family, text: "a clock an hour fast", createdAt: clock.now + 3600), to: "bob")
            let report = try await bob.sync()
            #expect(report.rejected == 1 && report.newPosts == 1)
            #expect(report.problems.contains { $0.contains("not valid now") }, "\(report.problems)")
            #expect(try bob.feed().map(\.text) == ["a clock an hour fast"])
        }
    }

    /// Posts were deduplicated by post id across all authors: mallory could
    /// hide alice's post from bob by sending him one of hers with the same id first.
    @Test func aPostIDCannotShadowAnotherAuthorsPost() async throws {
        try await withThreeFriends { alice, bob, mallory, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            try await mallory.createAudience(name: "mine")
            try await mallory.addMember(audience: "mine", friend: "bob")
            _ = try await mallory.sync()
            let posted = try await alice.post(to: "family", text: "the real one")
            let mine = try await mallory.heldKey(audienceNamed: "mine")
            try await mallory.dropRaw(try mallory.craftPost(audience: mine, text: "the shadow", id: Hex.decode(posted.id)!, createdAt: Node.now()), to: "bob")
            _ = try await bob.sync()
            _ = try await alice.sync()
            _ = try await bob.sync()
            #expect(Set(try bob.feed().map(\.text)) == ["the real one", "the shadow"])
        }
    }

    /// Anyone holding a drop token could make envelopes wait forever (and be
    /// loaded again on every sync). Waiting is bounded per key and expires.
    @Test func waitingEnvelopesAreBoundedAndExpire() async throws {
        let clock = TestClock()
        try await withThreeFriends(bobClock: clock) { _, bob, mallory, _ in
            // Posts under a key bob will never get, all naming one key id.
            try await mallory.createAudience(name: "never")
            let never = try await mallory.heldKey(audienceNamed: "never")
            for _ in 0..<(Node.maxPendingPerKey(.post) + 20) {
                try await mallory.dropRaw(try mallory.craftPost(audience: never, text: "junk", createdAt: Node.now()), to: "bob")
            }
            let report = try await bob.sync()
            #expect(report.waiting == Node.maxPendingPerKey(.post))
            #expect(report.rejected == 20)
            #expect(report.waitingReasons == ["\(Node.maxPendingPerKey(.post)) waiting: a post whose audience key has not arrived"])
            #expect(report.problems.filter { $0.contains("lack of room") }.count == 1 && report.repeats.values.contains(20))
            // After 30 days they are dropped, and said so.
            clock.advance(Node.pendingLifetime + 1)
            let later = try await bob.sync()
            #expect(later.expired == Node.maxPendingPerKey(.post) && later.waiting == 0)
            // And 60 days after they arrived, even the record of their ids is gone.
            let rows = { try await bob.db.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM inbox") ?? -1 } }
            #expect(try await rows() == Node.maxPendingPerKey(.post), "envelopes dropped for lack of room are not recorded")
            clock.advance(Node.seenLifetime - Node.pendingLifetime)
            _ = try await bob.sync()
            #expect(try await rows() == 0)
        }
    }

    @Test func aCardCannotPointAtTheLocalNetwork() async throws {
        try await withThreeFriends { _, bob, _, relay in
            let zed = SigningKey()
            let sequence = TestClock(1)
            func card(relay url: String) throws -> String {
                sequence.advance(1)
                let cert = EncryptionKeyCertificate(publicKey: BoxKey().publicKey, notBefore: Node.now() - 60, notAfter: Node.now() + 86_400, signedBy: zed)
                return try ContactCard(identity: zed, encryptionKey: cert, sequence: sequence.now, createdAt: Node.now(), name: "zed",
                                       inboxes: [Inbox(relay: url, mailbox: randomBytes(32), dropToken: randomBytes(32))]).text
            }
            for local in ["http://10.0.0.1:8080", "http://192.168.1.1", "http://169.254.169.254", "http://localhost:8080", "http://[::1]:80",
                          "http://[::ffff:127.0.0.1]:80", "http://100.64.0.1", "http://[0:0:0:0:0:0:0:1]", "http://[::ffff:7f00:1]",
                          "http://[::]", "http://[64:ff9b::a00:1]", "http://[2002:c0a8:101::1]", "http://[fd00::1]", "http://[FE80::1]",
                          "http://LOCALHOST", "http://a.localhost", "http://0.0.0.0", "http://198.18.0.1", "http://198.19.255.255",
                          "http://224.0.0.1", "http://239.255.255.250", "http://240.0.0.1", "http://255.255.255.255",
                          "http://[fec0::1]", "http://[ff02::1]", "http://[::ffff:224.0.0.251]"] {
                let error = await #expect(throws: NodeError.self, "\(local)") { try await bob.addFriend(cardText: try card(relay: local)) }
                #expect(error?.description.contains("local network") == true, "\(local)")
            }
            #expect(try bob.friends().map(\.name) == ["alice", "mallory"])
            // bob's own relay is on 127.0.0.1 too: a card naming it is fine; so is a public one.
            try await bob.addFriend(cardText: try card(relay: relay))
            try await bob.addFriend(cardText: try card(relay: "https://relay.example"))
            for outside in ["http://198.17.255.255", "http://198.20.0.1", "http://223.255.255.255", "http://[fbff::1]", "http://[2001:db8::1]"] {
                try await bob.addFriend(cardText: try card(relay: outside))
            }
            try await bob.addFriend(cardText: try card(relay: "http://10.0.0.1:8080"), allowLocalRelays: true)
            #expect(try bob.friends().map(\.name) == ["alice", "mallory", "zed"])
        }
    }

    @Test func cardSequenceRules() async throws {
        try await withThreeFriends { alice, bob, _, _ in
            let first = try await alice.issueCard().text
            try await bob.addFriend(cardText: first)
            // The same card again is a no-op (or a local rename); another card with the same sequence is refused.
            try await bob.addFriend(cardText: first, as: "al")
            #expect(try bob.friends().map(\.name).contains("al"))
            let keys = try alice.requireKeys()
            let parsed = try ContactCard(text: first)
            let twin = try ContactCard(identity: keys.identity, encryptionKey: parsed.encryptionKey, sequence: parsed.sequence,
                                       createdAt: parsed.createdAt, name: "alice", inboxes: [Inbox(relay: parsed.inboxes[0].relay,
                                       mailbox: parsed.inboxes[0].mailbox, dropToken: randomBytes(32))])
            let error = await #expect(throws: NodeError.self) { try await bob.addFriend(cardText: twin.text) }
            #expect(error?.description.contains("same sequence") == true)
        }
    }

    /// Every card alice issues carries the token issued to whoever got it. mallory, who got a newer card of
    /// alice's, passes it to bob: bob learns nothing he should use, and keeps the token alice gave him, so
    /// that alice can later cut mallory off without cutting off bob.
    @Test func aCardPassedOnDoesNotSwapMyToken() async throws {
        try await withThreeFriends { alice, bob, mallory, _ in
            let token = { (node: Node) in try await node.db.writer.read { db in
                try Data.fetchAll(db, sql: "SELECT drop_token FROM friend_inbox JOIN friend ON friend.identity = friend_inbox.friend WHERE friend.name_tag = ?",
                                  arguments: [try node.atRest.tag("alice", .friendName)]).map { try node.atRest.open($0, .dropToken) }
            } }
            let mine = try await token(bob)
            let mallorysCard = try await mallory.db.writer.read { db in try mallory.card(ofFriendNamed: "alice", db) }
            #expect(try await token(mallory) != mine)
            try await bob.addFriend(cardText: mallorysCard.text)
            #expect(try await token(bob) == mine)
            #expect(try await bob.db.writer.read { db in
                try Int64.fetchOne(db, sql: "SELECT card_sequence FROM friend WHERE name_tag = ?", arguments: [try bob.atRest.tag("alice", .friendName)]) }

                    == Int64(mallorysCard.sequence))
        }
    }
}
