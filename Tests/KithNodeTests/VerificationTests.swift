import Foundation
import GRDB
import KithCrypto
@testable import KithNode
import KithProtocol
import Testing

/// Safety numbers, the verified mark, and replacing a friend's identity, at the node's API.
@Suite struct VerificationTests {
    @Test func bothSidesComputeOneNumberAndVerificationIsStored() async throws {
        try await withFriends { alice, bob, _ in
            let (friend, number) = try alice.safetyNumber(withFriendNamed: "bob")
            #expect(friend.name == "bob" && !friend.verified)
            #expect(try bob.safetyNumber(withFriendNamed: "alice").number == number)
            #expect(number == (try SafetyNumber.of(try alice.identity(), try bob.identity())))

            #expect(try await alice.setVerified(friendNamed: "bob", true).verified)
            #expect(try alice.friends().map(\.verified) == [true])
            // A newer card of the same identity keeps the mark.
            try await alice.addFriend(cardText: try await bob.issueCard().text)
            #expect(try alice.friends().map(\.verified) == [true])
            #expect(try await alice.setVerified(friendNamed: "bob", false).verified == false)

            let unknown = #expect(throws: NodeError.self) { try alice.safetyNumber(withFriendNamed: "zed") }
            #expect(unknown?.description == "no friend named \"zed\"")
            await #expect(throws: NodeError.self) { try await alice.setVerified(friendNamed: "zed", true) }
        }
    }

    @Test func myOwnAndVerifiedFriendsPostsAreMarkedInTheFeed() async throws {
        try await withFriends { alice, bob, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.post(to: "family", text: "hello")
            _ = try await alice.sync()
            _ = try await bob.sync()
            #expect(try alice.feed().map(\.verified) == [true], "my own post")
            #expect(try bob.feed().map(\.verified) == [false])
            try await bob.setVerified(friendNamed: "alice", true)
            #expect(try bob.feed().map(\.verified) == [true])
        }
    }

    @Test func replacingAFriendStartsTheNewIdentityUnverifiedAndOutOfAudiences() async throws {
        try await withFriends { alice, bob, relay in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            try await alice.setVerified(friendNamed: "bob", true)
            let newBob = try await Node.create(home: alice.home + "-new-bob", name: "bob", relays: [relay], passphrase: passphrase, kdf: .interactive)
            defer { try? FileManager.default.removeItem(atPath: newBob.home) }
            let card = try await newBob.issueCard().text

            let refused = await #expect(throws: NodeError.self) { try await alice.addFriend(cardText: card) }
            #expect(refused?.description.contains("different identity than the friend you know as \"bob\"") == true)
            #expect(refused?.hint?.contains("kith friend replace bob CARD") == true)
            // Under a name of its own, chosen by the user, the card is someone else and may be added.
            #expect(try await alice.addFriend(cardText: card, as: "bob2").name == "bob2")
            let taken = await #expect(throws: NodeError.self) { try await alice.replaceFriend(named: "bob", cardText: card) }
            #expect(taken?.description == "this card's identity is already your friend \"bob2\"")
        }
    }

    @Test func replaceMovesTheNameToTheNewIdentity() async throws {
        try await withFriends { alice, bob, relay in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            try await alice.setVerified(friendNamed: "bob", true)
            // bob posts to alice under an audience of his own.
            try await bob.createAudience(name: "bob's friends")
            try await bob.addMember(audience: "bob's friends", friend: "alice")
            _ = try await bob.post(to: "bob's friends", text: "before")
            _ = try await bob.sync()
            _ = try await alice.sync()
            #expect(try alice.feed().map(\.author) == ["bob"])
            let newBob = try await Node.create(home: alice.home + "-new-bob", name: "bob", relays: [relay], passphrase: passphrase, kdf: .interactive)
            defer { try? FileManager.default.removeItem(atPath: newBob.home) }

            let done = try await alice.replaceFriend(named: "bob", cardText: try await newBob.issueCard().text)
            #expect(done.oldFingerprint == Fingerprint.of(identity: try bob.identity()) && done.oldWasVerified)
            #expect(done.removedFromAudiences == ["family"])
            #expect(done.friend.name == "bob" && !done.friend.verified)
            #expect(done.friend.fingerprint == Fingerprint.of(identity: try newBob.identity()))
            #expect(try alice.friends().map(\.fingerprint) == [done.friend.fingerprint])
            #expect(try alice.audiences().map(\.members) == [[]])
            // family got a new key that the old identity never receives (create: 1, add bob: 2, replace: 3).
            #expect(try alice.audiences().map(\.epoch) == [3])
            // Nothing of the old identity's is left to deliver to.
            let inboxes = try await alice.db.writer.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM friend_inbox WHERE friend = ?", arguments: [Data(try bob.identity())])
            }
            #expect(inboxes == 0)
            // What the old identity posts from now on is not shown; what it posted before stays, under an unknown author.
            _ = try await bob.post(to: "bob's friends", text: "after")
            _ = try await bob.sync()
            _ = try await alice.sync()
            let feed = try alice.feed()
            #expect(feed.map(\.text) == ["before"])
            #expect(feed.first?.author.hasPrefix("unknown (") == true && feed.first?.verified == false)
        }
    }

    @Test func theMigrationLeavesExistingFriendsUnverified() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + NodeDatabase.fileName
        try SecureFile.createPrivateIfMissing(path)
        do {
            let queue = try DatabaseQueue(path: path)
            try NodeDatabase.migrator(atRest: nil).migrate(queue, upTo: "v2")
            try queue.write { db in
                try db.execute(sql: "INSERT INTO friend (identity, name, card, card_sequence, added_at) VALUES (?, 'bob', 'card', 1, 0)",
                               arguments: [Data(randomBytes(32))])
            }
        }
        let database = try NodeDatabase(path: path)
        let verified = try database.writer.read { db in try Int64?.fetchAll(db, sql: "SELECT verified_at FROM friend") }
        #expect(verified == [nil])
        #expect(try database.writer.read { db in try NodeDatabase.migrator(atRest: nil).appliedMigrations(db) }.contains("v3-verification"))
    }
}
