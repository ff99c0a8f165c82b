import Foundation
import GRDB
import KithCrypto
@testable import KithNode
import KithProtocol
import Testing

extension Node {
    /// Applies an inbox update as processing does; true if it was applied (or ignored), false if it waits or was refused.
    func applyForTest(_ update: InboxUpdate) async throws -> String {
        try await db.writer.write { db in
            switch try self.apply(update, db) {
            case .done: "done"
            case .wait: "wait"
            case .reject(let why): "reject: \(why)"
            }
        }
    }

    /// Where this node drops envelopes for a friend: relay URLs, sorted.
    func inboxRelays(ofFriend identity: [UInt8]) async throws -> [String] {
        try await db.writer.read { db in
            try String.fetchAll(db, sql: "SELECT relay FROM friend_inbox WHERE friend = ? ORDER BY relay", arguments: [identity.data])
        }
    }
}

/// How a node applies friends' inbox updates: newest change per inbox, in any order.
@Suite struct InboxUpdateApplyTests {
    @Test func changesApplyByTheirSequencePerInboxInAnyOrder() async throws {
        try await withRelayAndDirectory { url, dir in
            let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive)
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            let card = try await alice.issueCard()
            try await bob.addFriend(cardText: card.text)
            let a = try alice.identity(), b = try bob.identity()
            let two = Inbox(relay: "https://two.example", mailbox: SigningKey().publicKey, dropToken: randomBytes(32))
            let three = Inbox(relay: "https://three.example", mailbox: SigningKey().publicKey, dropToken: randomBytes(32))
            func add(_ inbox: Inbox, _ sequence: UInt64) -> InboxUpdate { InboxUpdate(sender: a, recipient: b, sequence: sequence, adding: inbox) }
            func remove(_ inbox: Inbox, _ sequence: UInt64) -> InboxUpdate {
                InboxUpdate(sender: a, recipient: b, sequence: sequence, removingRelay: inbox.relay, mailbox: inbox.mailbox)
            }

            #expect(try await bob.applyForTest(add(two, card.sequence + 1)) == "done")
            #expect(try await bob.inboxRelays(ofFriend: a) == [url, two.relay].sorted())
            // A change no newer than the card, or than the inbox's last change, changes nothing.
            #expect(try await bob.applyForTest(add(three, card.sequence)) == "done")
            #expect(try await bob.applyForTest(remove(two, card.sequence + 1)) == "done")
            #expect(try await bob.inboxRelays(ofFriend: a) == [url, two.relay].sorted())
            // Out of order: the removal (newer) arrives before the addition (older); the addition stays undone.
            #expect(try await bob.applyForTest(remove(three, card.sequence + 5)) == "done")
            #expect(try await bob.applyForTest(add(three, card.sequence + 4)) == "done")
            #expect(try await bob.inboxRelays(ofFriend: a) == [url, two.relay].sorted())
            #expect(try await bob.applyForTest(remove(two, card.sequence + 6)) == "done")
            #expect(try await bob.inboxRelays(ofFriend: a) == [url])

            // Changes newer than a card that arrives later are applied again over it.
            #expect(try await bob.applyForTest(add(two, 1000)) == "done")
            let newer = try await alice.issueCard()
            #expect(newer.sequence < 1000)
            try await bob.addFriend(cardText: newer.text)
            #expect(try await bob.inboxRelays(ofFriend: a) == [url, two.relay].sorted())

            // From someone who is not a friend it waits; a relay on a local network that is not mine is refused.
            let stranger = SigningKey()
            #expect(try await bob.applyForTest(InboxUpdate(sender: stranger.publicKey, recipient: b, sequence: 5, adding: two)) == "wait")
            let local = Inbox(relay: "http://192.168.1.9:8080", mailbox: SigningKey().publicKey, dropToken: randomBytes(32))
            #expect(try await bob.applyForTest(add(local, 1001)).hasPrefix("reject"))
        }
    }

    @Test func anUpdateTravelsThroughTheRelayAndIsAppliedAtSync() async throws {
        try await withRelayAndDirectory { url, dir in
            let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive)
            var bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            bob.allowsLocalRelays = true
            try await bob.addFriend(cardText: try await alice.issueCard().text)
            try await alice.addFriend(cardText: try await bob.issueCard().text)
            // The same relay under a second name stands for a second relay.
            let second = url.replacingOccurrences(of: "127.0.0.1", with: "localhost")
            let added = try await alice.addRelay(second)
            #expect(added.updatesQueuedFor == 1 && added.skipped.isEmpty)
            #expect(try alice.requireKeys().mailboxKeys.count == 2)
            _ = try await alice.sync()
            _ = try await bob.sync()
            #expect(try await bob.inboxRelays(ofFriend: try alice.identity()).count == 2)
            let removed = try await alice.removeRelay(added.relay)
            #expect(removed.updatesQueuedFor == 1 && removed.revoked == 1)
            #expect(try alice.requireKeys().mailboxKeys.count == 1)
            await #expect(throws: NodeError.self) { try await alice.removeRelay(url) }
            _ = try await alice.sync()
            _ = try await bob.sync()
            #expect(try await bob.inboxRelays(ofFriend: try alice.identity()) == [url])
        }
    }
}
