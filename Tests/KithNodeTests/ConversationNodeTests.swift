import Foundation
import GRDB
import KithCrypto
@testable import KithNode
@testable import KithProtocol
import Testing

/// Threads at the node: the author's node is the hub; notes apply in any order of arrival.
@Suite struct ConversationNodeTests {
    /// alice's audience "family" of bob and mallory (here a member like any other), and a post of alice's every one has.
    func withFamilyPost(_ body: @escaping @Sendable (_ alice: Node, _ bob: Node, _ carol: Node, _ post: String) async throws -> Void) async throws {
        try await withThreeFriends { alice, bob, carol, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            try await alice.addMember(audience: "family", friend: "mallory")
            let post = try await alice.post(to: "family", text: "the baby is here").id
            for node in [alice, bob, carol] { _ = try await node.sync() }
            try await body(alice, bob, carol, post)
        }
    }

    @Test func aCommentReachesEveryMemberOnceThroughTheAuthor() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            let comment = try await bob.comment(on: post, text: "congratulations!")
            #expect(comment.recipients == 1)
            _ = try await bob.sync()
            _ = try await alice.sync()   // takes the comment in, queues the fan-out
            _ = try await alice.sync()   // delivers it
            _ = try await carol.sync()
            for node in [alice, bob, carol] {
                let comments = try node.feed().first?.comments ?? []
                #expect(comments.map(\.text) == ["congratulations!"] && comments.first?.id == comment.id)
                #expect(comments.first?.author == "bob", "attributed to its writer")
            }
            // A comment on a comment lands on the same post, one level deep.
            _ = try await carol.comment(on: comment.id, text: "seconded")
            for node in [carol, alice, alice, bob, carol] { _ = try await node.sync() }
            for node in [alice, bob, carol] { #expect(try node.feed().first?.comments.map(\.text) == ["congratulations!", "seconded"]) }
        }
    }

    @Test func aCommentFromARemovedMemberIsRefusedByTheAuthor() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            try await alice.removeMember(audience: "family", friend: "mallory")
            _ = try await carol.sync()
            // carol still holds the post and its epoch's key: her node sends the comment; alice's refuses it.
            _ = try await carol.comment(on: post, text: "I am still here")
            _ = try await carol.sync()
            let report = try await alice.sync()
            #expect(report.rejected == 1)
            _ = try await alice.sync()
            _ = try await bob.sync()
            #expect(try alice.feed().first?.comments.isEmpty == true)
            #expect(try bob.feed().first?.comments.isEmpty == true)
        }
    }

    @Test func reactionsAreOnePerPersonChangeableAndRemovable() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            _ = try await bob.react(to: post, with: "❤️")
            _ = try await bob.react(to: post, with: "👍")
            _ = try await carol.react(to: post, with: "👍")
            _ = try await alice.react(to: post, with: "🎉")
            for node in [bob, carol, alice, alice, bob, carol] { _ = try await node.sync() }
            for node in [alice, bob, carol] {
                #expect(try node.feed().first?.reactions == [FeedReaction(emoji: "👍", count: 2, by: ["bob", "mallory"]),
                                                           FeedReaction(emoji: "🎉", count: 1, by: ["alice"])])
            }
            _ = try await bob.react(to: post, with: nil)
            for node in [bob, alice, alice, carol] { _ = try await node.sync() }
            #expect(try carol.feed().first?.reactions == [FeedReaction(emoji: "🎉", count: 1, by: ["alice"]),
                                                        FeedReaction(emoji: "👍", count: 1, by: ["mallory"])])
            await #expect(throws: NodeError.self) { try await bob.react(to: post, with: "👍👍") }
            await #expect(throws: NodeError.self) { try await bob.react(to: post, with: "\u{202E}") }
        }
    }

    /// alice's audience "family" of bob alone, its key delivered, nothing posted yet.
    func withFamilyOfBob(_ body: @escaping @Sendable (_ alice: Node, _ bob: Node, _ mallory: Node) async throws -> Void) async throws {
        try await withThreeFriends { alice, bob, mallory, _ in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.sync()
            _ = try await bob.sync()
            try await body(alice, bob, mallory)
        }
    }

    @Test func anEditThatArrivesBeforeItsPostWaitsForIt() async throws {
        try await withFamilyOfBob { alice, bob, _ in
            let post = try await alice.post(to: "family", text: "see you at 9").id
            _ = try await alice.edit(post, text: "see you at 10")
            _ = try await alice.edit(post, text: "see you at 11")
            let queued = try await alice.queuedEnvelopes()
            #expect(queued.count == 3)
            // The edits first, newest first; the post last.
            try await alice.dropRaw(queued[2], to: "bob")
            try await alice.dropRaw(queued[1], to: "bob")
            let early = try await bob.sync()
            #expect(early.waiting == 2)
            #expect(try bob.feed().isEmpty)
            try await alice.dropRaw(queued[0], to: "bob")
            _ = try await bob.sync()
            let shown = try bob.feed()
            #expect(shown.map(\.text) == ["see you at 11"] && shown.first?.edited == true)
            #expect(try alice.feed().map(\.text) == ["see you at 11"])
        }
    }

    @Test func aDeleteThatArrivesFirstWins() async throws {
        try await withFamilyOfBob { alice, bob, _ in
            let post = try await alice.post(to: "family", text: "posted by mistake").id
            let outbox = try await alice.queuedEnvelopes()
            let deleted = try await alice.delete(post)
            #expect(deleted.isPost && deleted.recipients == 1)
            // alice's node dropped the post's queued delivery; hand it to bob anyway, after the delete.
            let queued = try await alice.queuedEnvelopes()
            #expect(queued.count == 1 && !queued.contains(outbox[0]))
            try await alice.dropRaw(queued[0], to: "bob")
            _ = try await bob.sync()
            try await alice.dropRaw(outbox[0], to: "bob")
            let late = try await bob.sync()
            #expect(late.fetched == 1 && late.newPosts == 0 && late.waiting == 0)
            #expect(try bob.feed().isEmpty && alice.feed().isEmpty)
        }
    }

    @Test func aDeleteErasesTheTextFromEveryFileOfARecipientsNode() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            let comment = try await bob.comment(on: post, text: "a comment that goes too").id
            for node in [bob, alice, alice, carol] { _ = try await node.sync() }
            let sealed = try await carol.sealedValues()
            #expect(sealed.count == 2, "the post's text and the comment's, sealed")
            #expect(try await carol.files(containingAny: sealed).count > 0, "the test finds what it looks for")
            _ = try await alice.delete(post)
            _ = try await alice.sync()
            _ = try await carol.sync()
            #expect(try carol.feed().isEmpty)
            #expect(try await carol.files(containingAny: sealed) == [])
            #expect(throws: NodeError.self) { _ = try carol.feedItem(comment) }
        }
    }

    @Test func aNoteThatDoesNotComeFromTheAuthorIsRefused() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            let key = try await bob.heldKey(audienceNamed: "family")
            let me = try bob.requireKeys().identity
            let postID = try #require(Hex.decode(post))
            let note = try Note(action: .comment, writer: me, owner: alice.identity(), audienceID: key.audienceID, epoch: key.epoch, postID: postID,
                                targetWriter: me.publicKey, targetID: randomBytes(16), revision: 0, createdAt: Node.now(), text: "psst")
            // Sent straight to another member instead of the author, or fanned out with bob's own countersignature.
            try await bob.dropRaw(try note.seal(audience: key).bytes, to: "mallory")
            try await bob.dropRaw(try Self.fanOut(note, countersignedBy: me, audience: key), to: "mallory")
            let report = try await carol.sync()
            #expect(report.fetched == 2 && report.rejected == 2)
            #expect(try carol.feed().first?.comments.isEmpty == true)
        }
    }

    /// A fan-out countersigned by anyone, as a hostile member's program could make it.
    static func fanOut(_ note: Note, countersignedBy signer: SigningKey, audience: AudienceKey) throws -> [UInt8] {
        var w = ByteWriter()
        w.u8(1); w.u8(3); w.u32(UInt32(note.bytes.count)); w.raw(note.bytes)
        let inner = w.bytes + signer.sign(Array("kith/fan-out/v1".utf8) + [0] + w.bytes)
        return try Post.seal(inner: inner, audience: audience, nonce: randomBytes(24)).bytes
    }

    @Test func thePostsAuthorMayRemoveAComment() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            let comment = try await bob.comment(on: post, text: "off topic").id
            for node in [bob, alice, alice, carol] { _ = try await node.sync() }
            await #expect(throws: NodeError.self) { try await carol.delete(comment) }
            await #expect(throws: NodeError.self) { try await carol.edit(comment, text: "mine now") }
            _ = try await alice.delete(comment)
            for node in [alice, bob, carol] { _ = try await node.sync() }
            for node in [alice, bob, carol] { #expect(try node.feed().first?.comments.isEmpty == true) }
        }
    }
}

extension ConversationNodeTests {
    /// A comment note by `node`'s identity on a post of alice's "family", with any id.
    static func craftComment(by node: Node, owner: Node, post: String, id: [UInt8], text: String = "mine now") async throws -> (Note, AudienceKey) {
        let key = try await node.heldKey(audienceNamed: "family")
        let me = try node.requireKeys().identity
        let note = try Note(action: .comment, writer: me, owner: owner.identity(), audienceID: key.audienceID, epoch: key.epoch,
                            postID: try #require(Hex.decode(post)), targetWriter: me.publicKey, targetID: id, revision: 0, createdAt: Node.now(), text: text)
        return (note, key)
    }

    /// One writer's comments on a post carry at most 100 MiB of attachments
    /// (the author's node passes each on): beyond it a comment is refused.
    @Test func aWritersCommentsCarryAtMost100MiBOfAttachments() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            let key = try await carol.heldKey(audienceNamed: "family")
            let me = try carol.requireKeys().identity
            func comment(_ count: Int) throws -> [UInt8] {
                let attachments = try (0..<count).map { _ in
                    try Attachment(kind: .file, mediaType: "application/octet-stream", name: "big.bin",
                                   blob: BlobRef(id: randomBytes(32), key: randomBytes(32), size: Attachment.maxSize), width: 0, height: 0, thumbnail: nil)
                }
                return try Note(action: .comment, writer: me, owner: alice.identity(), audienceID: key.audienceID, epoch: key.epoch,
                                postID: try #require(Hex.decode(post)), targetWriter: me.publicKey, targetID: randomBytes(Note.idLength),
                                revision: 0, createdAt: Node.now(), text: "big", attachments: attachments).seal(audience: key).bytes
            }
            try await carol.dropRaw(try comment(3), to: "alice")
            #expect(try await alice.sync().rejected == 0, "96 MiB")
            try await carol.dropRaw(try comment(1), to: "alice")
            #expect(try await alice.sync().rejected == 1, "128 MiB")
            let comments = try await alice.db.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM comment") }
            #expect(comments == 1)
        }
    }

    @Test func aCommentCannotTakeTheIdOfAnotherPostOrComment() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            let other = try await alice.post(to: "family", text: "a second post").id
            let bobs = try await bob.comment(on: post, text: "first!").id
            for node in [alice, bob, carol, alice, alice, bob, carol] { _ = try await node.sync() }
            // mallory's program gives its comments the ids of alice's second post and of bob's comment.
            for id in [other, bobs] {
                let (note, key) = try await Self.craftComment(by: carol, owner: alice, post: post, id: try #require(Hex.decode(id)))
                try await carol.dropRaw(try note.seal(audience: key).bytes, to: "alice")
            }
            let report = try await alice.sync()
            #expect(report.fetched == 2 && report.rejected == 2)
            #expect(try alice.feed().flatMap(\.comments).map(\.text).sorted() == ["first!"])
            // Every node refuses it, fanned out or not: alice's program countersigns one for bob.
            let (note, key) = try await Self.craftComment(by: carol, owner: alice, post: post, id: try #require(Hex.decode(other)))
            try await alice.dropRaw(try Self.fanOut(note, countersignedBy: try alice.requireKeys().identity, audience: key), to: "bob")
            #expect(try await bob.sync().rejected == 1)
            // Nobody is kept from their own post or comment.
            _ = try await bob.comment(on: other, text: "on the second")
            _ = try await bob.react(to: other, with: "👍")
            _ = try await bob.edit(bobs, text: "first, edited")
            _ = try await alice.edit(other, text: "a second post, edited")
            _ = try await alice.delete(other)
        }
    }

    @Test func aCollidingIdDoesNotKeepAnyoneFromTheirOwnItems() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            let other = try await alice.post(to: "family", text: "a second post").id
            let bobs = try await bob.comment(on: post, text: "first!").id
            for node in [alice, bob, carol, alice, alice, bob, carol] { _ = try await node.sync() }
            // As a node may hold them: a comment that arrived before a post with its id, or from before ids were checked.
            for node in [alice, bob] {
                try await node.db.writer.write { db in
                    for id in [other, bobs] {
                        try db.execute(sql: """
                            INSERT INTO comment (writer, id, post_author, post_id, text, created_at, received_at) VALUES (?, ?, ?, ?, X'00', 0, 0)
                            """, arguments: [Data(randomBytes(32)), Data(Hex.decode(id)!), Data(try alice.identity()), Data(Hex.decode(post)!)])
                    }
                }
            }
            _ = try await bob.comment(on: other, text: "on the second")
            _ = try await bob.react(to: other, with: "👍")
            _ = try await bob.edit(bobs, text: "first, edited")
            _ = try await bob.delete(bobs)
            _ = try await alice.edit(other, text: "a second post, edited")
            _ = try await alice.delete(other)
            await #expect(throws: NodeError.self) { try await bob.delete(other) }
        }
    }
}

extension ConversationNodeTests {
    /// A change note (edit or delete) by `node`'s identity in alice's "family" thread, of any target.
    static func craftChange(_ action: Note.Action, by node: Node, owner: Node, post: String, targetWriter: [UInt8], targetID: [UInt8],
                            text: String = "") async throws -> (Note, AudienceKey) {
        let key = try await node.heldKey(audienceNamed: "family")
        let me = try node.requireKeys().identity
        let note = try Note(action: action, writer: me, owner: owner.identity(), audienceID: key.audienceID, epoch: key.epoch,
                            postID: try #require(Hex.decode(post)), targetWriter: targetWriter, targetID: targetID, revision: 1,
                            createdAt: Node.now(), text: text)
        return (note, key)
    }

    /// A member who edits their comment at the highest revision cannot keep
    /// the post's author from deleting it; and delivered thread envelopes
    /// are not kept.
    @Test func aCommentEditedAtTheHighestRevisionCanStillBeDeleted() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            let comment = try await bob.comment(on: post, text: "first").id
            for node in [bob, alice, alice, carol] { _ = try await node.sync() }
            // Delivered, the envelopes of the thread are forgotten: nothing is kept for a delete to drop.
            for node in [alice, bob] {
                let (queued, kept) = try await node.db.writer.read { db in
                    (try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox") ?? -1, try Int.fetchOne(db, sql: "SELECT count(*) FROM thread_envelope") ?? -1)
                }
                #expect(queued == 0 && kept == 0)
            }
            let key = try await bob.heldKey(audienceNamed: "family")
            let me = try bob.requireKeys().identity
            let edit = try Note(action: .edit, writer: me, owner: alice.identity(), audienceID: key.audienceID, epoch: key.epoch,
                                postID: try #require(Hex.decode(post)), targetWriter: me.publicKey, targetID: try #require(Hex.decode(comment)),
                                revision: UInt64(Int64.max), createdAt: Node.now(), text: "here to stay")
            try await bob.dropRaw(try edit.seal(audience: key).bytes, to: "alice")
            _ = try await alice.sync()
            #expect(try alice.feed().first?.comments.map(\.text) == ["here to stay"])
            _ = try await alice.delete(comment)
            for node in [alice, bob, carol] { _ = try await node.sync() }
            for node in [alice, bob, carol] { #expect(try node.feed().first?.comments.isEmpty == true) }
        }
    }

    @Test func theHubRefusesAChangeOfACommentItNeverReceived() async throws {
        try await withFamilyPost { alice, _, carol, post in
            for action in [Note.Action.delete, .edit] {
                let (note, key) = try await Self.craftChange(action, by: carol, owner: alice, post: post, targetWriter: try carol.identity(),
                                                             targetID: randomBytes(Note.idLength), text: action == .edit ? "made up" : "")
                try await carol.dropRaw(try note.seal(audience: key).bytes, to: "alice")
            }
            let report = try await alice.sync()
            #expect(report.fetched == 2 && report.rejected == 2 && report.waiting == 0)
            #expect(try await alice.db.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM item_change") } == 0)
        }
    }

    @Test func limitsAreForEachWriterAndNeverStopTheAuthorsDeletes() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            let postID = try #require(Hex.decode(post)), owner = try alice.identity(), mallory = try carol.identity()
            // mallory's comments and changes up to the limits, as alice's node holds them (the rows are what is counted).
            let malloryComment = randomBytes(Note.idLength)
            try await alice.db.writer.write { db in
                for i in 0..<Node.maxCommentsPerPost {
                    try db.execute(sql: """
                        INSERT INTO comment (writer, id, post_author, post_id, text, created_at, received_at) VALUES (?, ?, ?, ?, X'00', 0, 0)
                        """, arguments: [Data(mallory), Data(i == 0 ? malloryComment : randomBytes(Note.idLength)), Data(owner), Data(postID)])
                }
                for _ in 0..<Node.maxChangesPerPost {
                    try db.execute(sql: """
                        INSERT INTO item_change (writer, id, post_author, post_id, revision, text, deleted, changed_at) VALUES (?, ?, ?, ?, 1, NULL, 1, 0)
                        """, arguments: [Data(mallory), Data(randomBytes(Note.idLength)), Data(owner), Data(postID)])
                }
            }
            // bob's comment, and his edit of it, still get in.
            let comment = try await bob.comment(on: post, text: "still room").id
            _ = try await bob.edit(comment, text: "still room, edited")
            _ = try await bob.sync()
            let report = try await alice.sync()
            #expect(report.fetched == 2 && report.rejected == 0)
            let bobs = try await alice.db.writer.read { db in
                try Int.fetchOne(db, sql: "SELECT count(*) FROM item_change WHERE writer = ?", arguments: [Data(try bob.identity())])
            }
            #expect(bobs == 1)
            // mallory's next comment is refused.
            let (note, key) = try await Self.craftComment(by: carol, owner: alice, post: post, id: randomBytes(Note.idLength))
            try await carol.dropRaw(try note.seal(audience: key).bytes, to: "alice")
            #expect(try await alice.sync().rejected == 1)
            // alice removes mallory's comment, then deletes the post: neither is counted.
            _ = try await alice.delete(Hex.encode(malloryComment))
            _ = try await alice.delete(post)
            #expect(try alice.feed().isEmpty)
        }
    }
}

extension ConversationNodeTests {
    @Test func aDeleteOfNothingLeavesNoWipePending() async throws {
        try await withFamilyPost { alice, bob, _, post in
            let comment = try await bob.comment(on: post, text: "to be removed").id
            for node in [bob, alice, alice, bob] { _ = try await node.sync() }
            // As the hub's fan-outs arrive at bob's node: a delete of a comment bob's node never had, then of one it has.
            func applyDelete(of id: [UInt8], writer: [UInt8]) async throws -> Bool {
                let (note, _) = try await Self.craftChange(.delete, by: alice, owner: alice, post: post, targetWriter: writer, targetID: id)
                return try await bob.db.writer.write { db in
                    try db.execute(sql: "DELETE FROM profile WHERE key = ?", arguments: [NodeDatabase.wipePending])
                    _ = try bob.apply(note, db, now: Node.now())
                    return try Data.fetchOne(db, sql: "SELECT value FROM profile WHERE key = ?", arguments: [NodeDatabase.wipePending]) != nil
                }
            }
            #expect(try await applyDelete(of: randomBytes(Note.idLength), writer: try bob.identity()) == false)
            #expect(try await applyDelete(of: try #require(Hex.decode(comment)), writer: try bob.identity()) == true, "the test sees a wipe")
        }
    }
}

extension ConversationNodeTests {
    @Test func aDeleteDropsTheQueuedEditsAndFanOutsOfWhatItDeletes() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            // A comment of bob's that alice's node takes in and fans out, and an edit of alice's post, neither delivered yet.
            let comment = try await bob.comment(on: post, text: "soon gone").id
            _ = try await bob.sync()
            _ = try await alice.sync()
            _ = try await alice.edit(post, text: "the baby is here, edited")
            #expect(try await alice.queuedEnvelopes().count == 2, "the comment's fan-out and the edit")
            _ = try await alice.delete(comment)
            #expect(try await alice.queuedEnvelopes().count == 2, "the edit and the comment's delete")
            _ = try await alice.delete(post)
            let queued = try await alice.queuedEnvelopes()
            #expect(queued.count == 2, "the two deletes only")
            _ = try await alice.sync()
            let report = try await carol.sync()
            #expect(report.fetched == 2 && report.waiting == 0)
            #expect(try carol.feed().isEmpty)
        }
    }
}

extension ConversationNodeTests {
    @Test func notesOfOneFriendCannotCrowdOutAnothersWhileTheyWait() async throws {
        try await withFamilyOfBob { alice, bob, _ in
            // Another friend's notes fill their room at bob's node, each waiting for a post that never comes.
            try await bob.db.writer.write { db in
                let other = randomBytes(32)
                for _ in 0..<Node.maxPending(.post) {
                    try db.execute(sql: """
                        INSERT INTO inbox (envelope_id, data, relay, received_at, state, detail, wait_key) VALUES (?, X'', 'x', ?, 'pending', 'junk', ?)
                        """, arguments: [Data(randomBytes(32)), Int64(Node.now()), Data(other + randomBytes(Post.idLength))])
                }
            }
            let post = try await alice.post(to: "family", text: "see you at 9").id
            _ = try await alice.edit(post, text: "see you at 10")
            let queued = try await alice.queuedEnvelopes()
            try await alice.dropRaw(queued[1], to: "bob")
            let early = try await bob.sync()
            #expect(early.fetched == 1 && early.waiting == Node.maxPending(.post) + 1, "alice's edit waits in her own room")
            try await alice.dropRaw(queued[0], to: "bob")
            _ = try await bob.sync()
            #expect(try bob.feed().map(\.text) == ["see you at 10"])
        }
    }
}

extension ConversationNodeTests {
    @Test func aWaitingNoteIsTriedAgainOnlyForItsOwnPostOrComment() async throws {
        try await withFamilyOfBob { alice, bob, _ in
            let post = try await alice.post(to: "family", text: "see you at 9").id
            _ = try await alice.edit(post, text: "see you at 10")
            try await alice.dropRaw(try await alice.queuedEnvelopes()[1], to: "bob")
            #expect(try await bob.sync().waiting == 1)
            let released = { @Sendable () async throws -> Int in
                try await bob.db.writer.read { db in
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM inbox WHERE state = 'pending' AND \(Node.threadItemArrived("wait_key"))") ?? -1
                }
            }
            // A delete of something else of alice's with the post's id (a comment of hers on another post) does not release it.
            let owner = Data(try alice.identity()), postID = Data(try #require(Hex.decode(post)))
            try await bob.db.writer.write { db in
                try db.execute(sql: """
                    INSERT INTO item_change (writer, id, post_author, post_id, revision, text, deleted, changed_at) VALUES (?, ?, ?, ?, 1, NULL, 1, 0)
                    """, arguments: [owner, postID, owner, Data(randomBytes(Post.idLength))])
            }
            #expect(try await released() == 0)
            // The post itself does.
            try await bob.db.writer.write { db in
                try db.execute(sql: """
                    INSERT INTO item_change (writer, id, post_author, post_id, revision, text, deleted, changed_at) VALUES (?, ?, ?, ?, 1, NULL, 1, 0)
                    """, arguments: [owner, postID, owner, postID])
            }
            #expect(try await released() == 1, "the test sees a release")
        }
    }
}

extension ConversationNodeTests {
    /// A note's bytes built field by field, as a hostile program could build them (`Note.init` checks their shape).
    static func rawNote(_ action: Note.Action, signer: SigningKey, owner: [UInt8], key: AudienceKey, postID: [UInt8],
                        targetWriter: [UInt8], targetID: [UInt8], revision: UInt64, text: String) -> [UInt8] {
        var w = ByteWriter()
        w.u8(1); w.u8(2); w.u8(action.rawValue); w.raw(signer.publicKey); w.raw(owner); w.raw(key.audienceID); w.u32(key.epoch); w.raw(postID)
        w.raw(targetWriter); w.raw(targetID); w.u64(revision); w.u64(Node.now())
        let t = Array(text.utf8); w.u32(UInt32(t.count)); w.raw(t)
        return w.bytes + signer.sign(Array("kith/note/v1".utf8) + [0] + w.bytes)
    }

    @Test func aChangeOfThePostsIdByAnyoneButItsAuthorIsRefused() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            let postID = try #require(Hex.decode(post)), owner = try alice.identity()
            let key = try await alice.heldKey(audienceNamed: "family")
            // alice's program fans out a delete of "bob's item" with the post's id; mallory's sends alice an edit of "hers".
            let signer = try alice.requireKeys().identity
            let delete = Self.rawNote(.delete, signer: signer, owner: owner, key: key, postID: postID, targetWriter: try bob.identity(),
                                      targetID: postID, revision: 1, text: "")
            var w = ByteWriter()
            w.u8(1); w.u8(3); w.u32(UInt32(delete.count)); w.raw(delete)
            let fanOut = w.bytes + signer.sign(Array("kith/fan-out/v1".utf8) + [0] + w.bytes)
            try await alice.dropRaw(try Post.seal(inner: fanOut, audience: key, nonce: randomBytes(24)).bytes, to: "bob")
            let report = try await bob.sync()
            #expect(report.fetched == 1 && report.rejected == 1)
            let edit = Self.rawNote(.edit, signer: try carol.requireKeys().identity, owner: owner, key: key, postID: postID,
                                    targetWriter: try carol.identity(), targetID: postID, revision: 1, text: "made up")
            try await carol.dropRaw(try Post.seal(inner: edit, audience: key, nonce: randomBytes(24)).bytes, to: "alice")
            #expect(try await alice.sync().rejected == 1)
        }
    }
}

extension ConversationNodeTests {
    @Test func anEditsTextIsStoredOnce() async throws {
        try await withFamilyPost { alice, bob, carol, post in
            let comment = try await bob.comment(on: post, text: "first words").id
            for node in [bob, alice, alice, carol] { _ = try await node.sync() }
            _ = try await alice.edit(post, text: "the baby is here, edited")
            _ = try await bob.edit(comment, text: "second words")
            for node in [bob, alice, alice, bob, carol] { _ = try await node.sync() }
            for node in [alice, bob, carol] {
                let item = try #require(try node.feed().first)
                #expect(item.text == "the baby is here, edited" && item.edited)
                #expect(item.comments.map(\.text) == ["second words"] && item.comments.first?.edited == true)
                let stored = try await node.db.writer.read { db in
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM item_change WHERE text IS NOT NULL")
                }
                #expect(stored == 0, "the edits' texts are the post's and the comment's only")
            }
        }
    }
}

extension Node {
    /// Every sealed post text and comment text in the database, as stored.
    func sealedValues() async throws -> [Data] {
        try await db.writer.read { db in
            try Data.fetchAll(db, sql: "SELECT text FROM post") + Data.fetchAll(db, sql: "SELECT text FROM comment")
        }
    }

    /// The files of the node's directory holding any of `values`.
    func files(containingAny values: [Data]) async throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: home).filter { name in
            guard let data = FileManager.default.contents(atPath: home + "/" + name) else { return false }
            return values.contains { data.range(of: $0) != nil }
        }
    }

    /// The post or comment with this id, if the feed can find it.
    func feedItem(_ id: String) throws -> Bool {
        try db.writer.read { db in _ = try self.threadItem(id, db, comments: true) }
        return true
    }
}
