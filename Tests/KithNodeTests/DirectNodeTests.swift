import Foundation
import GRDB
import KithCrypto
@testable import KithNode
@testable import KithProtocol
import Testing

/// Direct messages and member lists at the node.
@Suite struct DirectNodeTests {
    @Test func aDirectMessageIsReadByItsTwoPeopleOnlyEvenGivenTheEnvelopes() async throws {
        try await withThreeFriends { alice, bob, carol, _ in
            let sent = try await alice.sendDirect(to: "bob", text: "just between us")
            #expect(sent.recipients == 1)
            let envelopes = try await alice.queuedEnvelopes()
            #expect(envelopes.count == 2, "the direct audience's key message, then the message")
            _ = try await alice.sync()
            _ = try await bob.sync()
            #expect(try bob.chat(with: "alice").map(\.text) == ["just between us"])
            #expect(try bob.feed().first?.direct == true && bob.feed().first?.directWith == "alice")

            // carol is a friend of both and gets the very envelopes: the key is sealed to bob, the message waits for it.
            for envelope in envelopes { try await alice.dropRaw(envelope, to: "mallory") }
            let report = try await carol.sync()
            #expect(report.fetched == 2 && report.rejected == 1 && report.waiting == 1 && report.newPosts == 0)
            #expect(try carol.feed().isEmpty)
            let held = try await carol.db.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM audience_key") ?? 0 }
            #expect(held == 0)

            // Nor can she answer it: she has no such post, and bob's node refuses a comment or reaction on it.
            await #expect(throws: NodeError.self) { try await carol.comment(on: sent.id, text: "me too") }
            await #expect(throws: NodeError.self) { try await bob.comment(on: sent.id, text: "a comment") }
            await #expect(throws: NodeError.self) { try await bob.react(to: sent.id, with: "👍") }
        }
    }

    /// A message dated a day ahead sits where it arrived in the chat, not
    /// at its end; and no friend may carry my name, so none passes for me.
    @Test func aChatKeepsTheFeedsOrderAndNoFriendIsNamedAsMe() async throws {
        let clock = TestClock()
        try await withThreeFriends(bobClock: clock) { alice, bob, _, _ in
            _ = try await alice.sendDirect(to: "bob", text: "first")
            _ = try await alice.sync()
            _ = try await bob.sync()
            let key = try await alice.heldKey(audienceNamed: Node.directAudienceName)
            try await alice.dropRaw(try alice.craftPost(audience: key, text: "dated tomorrow", createdAt: clock.now + 20 * 3600), to: "bob")
            clock.advance(60)
            _ = try await bob.sync()
            _ = try await bob.sendDirect(to: "alice", text: "an answer")
            let chat = try bob.chat(with: "alice")
            #expect(chat.map(\.text) == ["first", "dated tomorrow", "an answer"])
            #expect(chat.map(\.misdated) == [false, true, false] && chat.map(\.outgoing) == [false, false, true])

            let card = try await alice.issueCard().text
            for name in ["bob", "me"] {
                await #expect(throws: NodeError.self, "named \(name)") { try await bob.addFriend(cardText: card, as: name) }
            }
            #expect(try bob.friends().map(\.name).sorted() == ["alice", "mallory"])
        }
    }

    @Test func theAuthorsNodeRefusesACommentOnADirectMessage() async throws {
        try await withThreeFriends { alice, bob, _, _ in
            let sent = try await alice.sendDirect(to: "bob", text: "between us")
            _ = try await alice.sync()
            _ = try await bob.sync()
            // bob's own program could write one anyway: alice's node refuses it and passes nothing on.
            let key = try await bob.heldKey(audienceNamed: Node.directAudienceName)
            let note = try Note(action: .comment, writer: try bob.requireKeys().identity, owner: key.owner, audienceID: key.audienceID,
                                epoch: key.epoch, postID: try #require(Hex.decode(sent.id)), targetWriter: try bob.identity(),
                                targetID: randomBytes(Note.idLength), revision: 0, createdAt: Node.now(), text: "a comment")
            try await bob.dropRaw(try note.seal(audience: key).bytes, to: "alice")
            let report = try await alice.sync()
            #expect(report.rejected == 1)
            #expect(try alice.feed().first?.comments.isEmpty == true)
        }
    }

    @Test func aDirectAudienceTakesNoOtherMemberAndIsNotAGroup() async throws {
        try await withThreeFriends { alice, _, _, _ in
            _ = try await alice.sendDirect(to: "bob", text: "hello")
            #expect(try alice.audiences().isEmpty, "not listed as a group")
            let refused = try await alice.db.writer.write { db -> Bool in
                let id = try Data.fetchOne(db, sql: "SELECT id FROM audience WHERE direct_friend IS NOT NULL")!
                do {
                    _ = try alice.addMember(db, audience: try alice.currentKey(audienceID: [UInt8](id), db), name: Node.directAudienceName,
                                            friend: "mallory", shareHistory: false, now: alice.clock())
                    return false
                } catch let error as NodeError { return error.description.contains("exactly two people") }
            }
            #expect(refused)
            await #expect(throws: NodeError.self) { try await alice.addMember(audience: Node.directAudienceName, friend: "mallory") }
            // The second message goes through the same audience, at the same epoch.
            _ = try await alice.sendDirect(to: "bob", text: "again")
            let audiences = try alice.db.writer.read { db in try Row.fetchAll(db, sql: "SELECT epoch FROM audience") }
            #expect(audiences.count == 1 && audiences.first?[0] == 1)
        }
    }

    @Test func aChatShowsBothDirectionsOldestFirstWithUnreadMarks() async throws {
        let clock = TestClock()
        try await withThreeFriends(bobClock: clock) { alice, bob, _, _ in
            _ = try await alice.sendDirect(to: "bob", text: "one")
            _ = try await alice.sync()
            _ = try await bob.sync()
            // bob's clock a minute ahead of the real one, however long the test took so far.
            clock.advance(Node.now() + 60 - clock.now)
            _ = try await bob.sendDirect(to: "alice", text: "two")
            _ = try await bob.sync()
            _ = try await alice.sync()
            #expect(try bob.chat(with: "alice", markRead: false).map(\.unread) == [true, false], "a page refreshing itself marks nothing read")
            let first = try bob.chat(with: "alice")
            #expect(first.map(\.text) == ["one", "two"] && first.map(\.outgoing) == [false, true] && first.map(\.unread) == [true, false])
            #expect(try bob.chat(with: "alice").map(\.unread) == [false, false], "shown once, read from then on")
            #expect(try alice.chat(with: "bob").map(\.text) == ["one", "two"])
            #expect(try alice.chat(with: "bob", limit: 1).map(\.text) == ["two"], "the newest")
            #expect(try alice.chat(with: "mallory").isEmpty)
            #expect(try alice.feed(FeedQuery(direct: false)).posts.isEmpty && alice.feed(FeedQuery(direct: true)).posts.count == 2)
        }
    }

    @Test func membersSeeTheSharedListAndOnlyThemselvesWhenHidden() async throws {
        try await withThreeFriends { alice, bob, mallory, _ in
            try await alice.createAudience(name: "family", shareMembers: true)
            for member in ["bob", "mallory"] { try await alice.addMember(audience: "family", friend: member) }
            let post = try await alice.post(to: "family", text: "hello").id
            for node in [alice, bob, mallory] { _ = try await node.sync() }
            let mine = try alice.audienceDetails(name: "family")
            #expect(mine.membersShared && mine.members.map(\.name) == ["bob", "mallory"] && mine.owner.you)
            let seen = try bob.audienceDetails(name: "family", owner: "alice")
            #expect(seen.membersShared && seen.membersComplete && seen.epoch == 3)
            #expect(seen.members.map(\.name) == ["bob", "mallory"] && seen.members.map(\.you) == [true, false])
            #expect(try bob.feed().first { $0.id == post }?.audienceSize == 3)

            #expect(try await alice.setShareMembers(audience: "family", false) != nil)
            #expect(try await alice.setShareMembers(audience: "family", false) == nil)
            for node in [alice, bob] { _ = try await node.sync() }
            let hidden = try bob.audienceDetails(name: "family", owner: "alice")
            #expect(!hidden.membersShared && !hidden.membersComplete && hidden.members.map(\.name) == ["bob"])
            #expect(throws: NodeError.self) { try bob.audienceDetails(name: "nothing", owner: "alice") }
        }
    }

    @Test func aMemberListUnderAKeyThatDoesNotShareIsRefused() async throws {
        try await withThreeFriends { alice, bob, _, _ in
            try await alice.createAudience(name: "quiet", shareMembers: false)
            try await alice.addMember(audience: "quiet", friend: "bob")
            _ = try await alice.sync()
            _ = try await bob.sync()
            let key = try await alice.db.writer.read { db in try alice.currentKey(audienceNamed: "quiet", db) }
            let list = try MemberList(owner: try alice.requireKeys().identity, audience: key, revision: 9,
                                      members: [.init(identity: try bob.identity(), name: "bob")])
            try await alice.dropRaw(try list.seal(audience: key).bytes, to: "bob")
            let report = try await bob.sync()
            #expect(report.rejected == 1)
            #expect(try bob.audienceDetails(name: "quiet", owner: "alice").members.map(\.you) == [true])
        }
    }
}
