import Foundation
import GRDB
import KithCrypto
@testable import KithNode
@testable import KithProtocol
import Testing

/// Profiles at the node: only a friend's, only for me, only newer ones replace.
@Suite struct ProfileNodeTests {
    /// The profile of `author` that `reader` holds, if any (by identity, whatever the reader named them).
    func storedProfile(_ reader: Node, of author: Node) async throws -> (sequence: Int64, name: String?)? {
        let identity = try author.identity(), atRest = try reader.atRest
        return try await reader.db.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT sequence, name FROM friend_profile WHERE friend = ?", arguments: [identity.data]).map {
                ($0[0] as Int64, try ($0[1] as Data?).map { try atRest.text($0, .profileName) })
            }
        }
    }

    /// The encryption key `node` seals to for its friend `friend`.
    func sealingKey(_ node: Node, for friend: String) async throws -> [UInt8] {
        try await node.db.writer.read { db in
            try Node.sealingKey(db, of: try node.card(ofFriendNamed: friend, db), now: node.clock())!.publicKey
        }
    }

    @Test func aProfileReachesEveryFriendAndANewerOneReplacesIt() async throws {
        try await withThreeFriends { alice, bob, mallory, _ in
            let sent = try await alice.setProfile(name: "Alice Smith", bio: "Gardener.\nGrandmother of three.")
            #expect(sent.sequence == 1 && sent.queuedFor == 2 && sent.skipped.isEmpty)
            _ = try await alice.sync()
            for node in [bob, mallory] {
                _ = try await node.sync()
                let shown = try node.profile(of: "alice")
                #expect(shown.friend == "alice" && shown.name == "Alice Smith" && shown.bio == "Gardener.\nGrandmother of three." && shown.sequence == 1)
                let listed = try node.friends().first { $0.name == "alice" }
                #expect(listed?.profileName == "Alice Smith", "the profile's name beside mine for her")
            }
            _ = try await alice.setProfile(name: nil, bio: "Gardener.")
            _ = try await alice.sync()
            _ = try await bob.sync()
            let updated = try bob.profile(of: "alice")
            #expect(updated.sequence == 2 && updated.name == "Alice Smith" && updated.bio == "Gardener.", "a name left out stays")
            #expect(try alice.profile(of: nil).sequence == 2)
            #expect(try bob.friends().map(\.name).sorted() == ["alice", "mallory"], "a profile never renames a friend")
        }
    }

    @Test func aStaleSequenceChangesNothing() async throws {
        try await withThreeFriends { alice, bob, _, _ in
            _ = try await alice.setProfile(name: "Alice", bio: "")
            _ = try await alice.setProfile(name: "Alice Smith", bio: "")
            _ = try await alice.sync()
            _ = try await bob.sync()
            #expect(try await storedProfile(bob, of: alice)?.sequence == 2)
            // A replay of sequence 1 (validly signed, for bob) arrives after sequence 2.
            let old = try Profile(author: try alice.identity(), recipient: try bob.identity(), sequence: 1, createdAt: alice.clock(),
                                  name: "Old name", bio: "old", avatar: nil)
            try await alice.dropRaw(try old.seal(signer: try alice.requireKeys().identity, recipientKey: try await sealingKey(alice, for: "bob")).bytes, to: "bob")
            let report = try await bob.sync()
            #expect(report.rejected == 0)
            let stored = try await storedProfile(bob, of: alice)
            #expect(stored?.sequence == 2 && stored?.name == "Alice Smith")
        }
    }

    @Test func forgedMisaddressedAndStrangersProfilesAreRefused() async throws {
        try await withThreeFriends { alice, bob, mallory, url in
            let bobKey = try await sealingKey(mallory, for: "bob")
            // mallory signs a profile that claims alice as its author.
            var w = ByteWriter()
            w.u8(1); w.raw(try alice.identity()); w.raw(try bob.identity()); w.u64(9); w.u64(mallory.clock())
            w.string8("Alice"); w.u16(0); w.u8(0)
            let forged = w.bytes + (try mallory.requireKeys().identity.sign(signedMessage(context: Profile.context, w.bytes)))
            try await mallory.dropRaw(Envelope(kind: .profile, payload: try BoxKey.seal(Padding.pad(forged, blockSize: 1024), to: bobKey)).bytes, to: "bob")
            // alice's profile for mallory, sealed to bob's key: bob cannot pass off what was sent to someone else.
            let forMallory = try Profile(author: try alice.identity(), recipient: try mallory.identity(), sequence: 1, createdAt: alice.clock(),
                                         name: "Alice", bio: "", avatar: nil)
            try await alice.dropRaw(try forMallory.seal(signer: try alice.requireKeys().identity, recipientKey: bobKey).bytes, to: "bob")
            // eve has bob's card, but bob does not have hers.
            let eveHome = NSTemporaryDirectory() + "kith-eve-\(UUID())"
            defer { try? FileManager.default.removeItem(atPath: eveHome) }
            let eve = try await Node.create(home: eveHome, name: "eve", relays: [url], passphrase: passphrase, kdf: .interactive)
            try await eve.addFriend(cardText: try await bob.issueCard().text)
            #expect(try await eve.setProfile(name: "Bob's mother", bio: "").queuedFor == 1)
            _ = try await eve.sync()
            let report = try await bob.sync()
            #expect(report.rejected == 3)
            #expect(try await storedProfile(bob, of: alice) == nil)
            #expect(try await storedProfile(bob, of: eve) == nil)
            #expect(try bob.friends().allSatisfy { $0.profileName == nil })
        }
    }

    @Test func aFriendAddedLaterGetsTheCurrentProfile() async throws {
        try await withRelayAndDirectory { url, dir in
            let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive)
            let carol = try await Node.create(home: dir + "/carol", name: "carol", relays: [url], passphrase: passphrase, kdf: .interactive)
            _ = try await alice.setProfile(name: "Alice Smith", bio: "hello")
            _ = try await alice.setProfile(name: nil, bio: "hello again")
            try await carol.addFriend(cardText: try await alice.issueCard().text, as: "grandma")
            try await alice.addFriend(cardText: try await carol.issueCard().text)
            _ = try await alice.sync()
            _ = try await carol.sync()
            let shown = try carol.profile(of: "grandma")
            #expect(shown.sequence == 2 && shown.name == "Alice Smith" && shown.bio == "hello again")
            #expect(try carol.friends().map(\.name) == ["grandma"])
            await #expect(throws: NodeError.self) { try await alice.setProfile(name: "bad\u{202E}", bio: nil) }
            await #expect(throws: NodeError.self) { try await alice.setProfile(name: nil, bio: String(repeating: "x", count: 501)) }
            await #expect(throws: NodeError.self) { try await alice.setProfile(name: nil, bio: nil) }
            #expect(try alice.profile(of: nil).sequence == 2, "a refused change made no profile")
        }
    }
}
