import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KithCrypto
@testable import KithNode
import KithProtocol
import Logging
import NIOCore
import Testing

/// A relay that takes mailboxes, tokens and drops, and answers blob
/// uploads and blob fetches as the test says: enough to watch the order
/// of a node's uploads and to send it a blob that is too long.
final class BlobFakeRelay: @unchecked Sendable {
    private let lock = NSLock()
    private var requests: [String] = []
    private var uploadsFull = true
    /// What a blob fetch answers: these bytes, or 404 when nil.
    private var served: [UInt8]? = []
    /// Blobs by their id in base64url, answered before `served`.
    private var byID: [String: [UInt8]] = [:]

    var log: [String] { lock.withLock { requests } }
    func acceptUploads() { lock.withLock { uploadsFull = false } }
    func serve(_ bytes: [UInt8]?) { lock.withLock { served = bytes } }
    func serve(blobs: [[UInt8]]) { lock.withLock { for blob in blobs { byID[Base64URL.encode(Hash.blake2b(blob, length: 32))] = blob } } }
    private func record(_ kind: String) { lock.withLock { requests.append(kind) } }

    func run(_ body: @escaping @Sendable (_ url: String) async throws -> Void) async throws {
        let router = Router()
        router.put("/v1/mailboxes/:mailbox") { _, _ in Response(status: .created) }
        router.post("/v1/mailboxes/:mailbox/tokens") { _, _ in Response(status: .created) }
        router.get("/v1/mailboxes/:mailbox/envelopes") { _, _ in Self.bytes(FetchedBatch(items: [], more: false).bytes) }
        router.post("/v1/envelopes") { request, _ -> Response in
            self.record("drop")
            _ = try await request.body.collect(upTo: 1 << 20)
            return Self.bytes(Array(#"{"id":"00","accepted":1,"refused":[],"full":[]}"#.utf8))
        }
        router.post("/v1/blobs") { request, _ -> Response in
            _ = try await request.body.collect(upTo: 64 << 20)
            if self.lock.withLock({ self.uploadsFull }) {
                self.record("blob full")
                return Self.bytes(Array(#"{"error":{"code":"mailbox_full","message":"mailbox full"}}"#.utf8), status: .init(code: 507))
            }
            self.record("blob")
            return Self.bytes(Array(#"{"id":"00","accepted":1,"refused":[],"full":[]}"#.utf8))
        }
        router.get("/v1/mailboxes/:mailbox/blobs/:id") { _, context -> Response in
            self.record("fetch blob")
            guard let served = self.lock.withLock({ context.parameters.get("id").flatMap { self.byID[$0] } ?? self.served }) else {
                return Self.bytes(Array(#"{"error":{"code":"no_such_blob","message":"no such blob"}}"#.utf8), status: .notFound)
            }
            return Self.bytes(served)
        }
        router.delete("/v1/mailboxes/:mailbox/blobs/:id") { _, _ -> Response in
            self.record("delete blob")
            return Response(status: .noContent)
        }
        var logger = Logger(label: "test.blob-relay")
        logger.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        try await app.test(.live) { client in try await body("http://127.0.0.1:\(client.port!)") }
    }

    static func bytes(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

@Suite struct AttachmentNodeTests {
    /// A post's envelope waits for its attachment's upload to the same
    /// relay: while the relay refuses the upload (mailbox full), the post is
    /// not dropped; once the upload succeeds, the post follows it.
    @Test func theEnvelopeWaitsForItsUploads() async throws {
        let relay = BlobFakeRelay()
        try await relay.run { url in
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive)
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            _ = try await alice.addFriend(cardText: try await bob.issueCard().text)
            try await alice.createAudience(name: "family")
            _ = try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.sync()
            #expect(relay.log == ["drop"], "the audience key went")

            let file = dir + "/notes.txt"
            try Data(repeating: 0x61, count: 200_000).write(to: URL(fileURLWithPath: file))
            let posted = try await alice.post(to: "family", text: "the notes", attachments: [AttachmentSource(kind: .file, path: file)])
            #expect(posted.recipients == 1)
            let blobFiles = try FileManager.default.contentsOfDirectory(atPath: dir + "/alice/blobs")
            #expect(blobFiles.count == 1 && blobFiles[0].count == 64)
            let contents = try #require(FileManager.default.contents(atPath: dir + "/alice/blobs/" + blobFiles[0]))
            #expect(contents.range(of: Data(repeating: 0x61, count: 64)) == nil, "the blob is encrypted")

            let first = try await alice.sync()
            #expect(relay.log == ["drop", "blob full"], "the post is not sent before its attachment")
            #expect(first.retrying == 2)
            let queued = try await alice.db.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT blob_id IS NOT NULL FROM outbox WHERE state = 'queued' ORDER BY id").map { $0[0] as Bool }
            }
            #expect(queued == [true, false], "the upload, then the envelope")

            relay.acceptUploads()
            let second = try await alice.sync(retryNow: true)
            #expect(relay.log == ["drop", "blob full", "blob", "drop"])
            #expect(second.delivered == 2 && second.retrying == 0)
            // The author keeps her blob, to save it as her friends do.
            #expect(FileManager.default.fileExists(atPath: dir + "/alice/blobs/" + blobFiles[0]))
            let out = dir + "/saved.txt"
            _ = try await alice.saveAttachment(of: posted.id, number: 1, to: out, force: false, thumbnail: false)
            #expect(FileManager.default.contents(atPath: out) == Data(repeating: 0x61, count: 200_000))

            // Deleting the post deletes its blob.
            _ = try await alice.delete(posted.id)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/alice/blobs").isEmpty)
        }
    }

    /// A blob that none of my relays holds is asked for by a few syncs,
    /// then left to `kith photo get`: a friend's missing upload costs
    /// nothing for ever.
    @Test func aMissingBlobIsNotAskedForAtEverySync() async throws {
        let relay = BlobFakeRelay()
        relay.serve(nil)
        try await relay.run { url in
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            let (ref, _) = try AttachmentCipher.encrypt(Array(repeating: 7, count: 10_000))
            let attachment = try Attachment(kind: .file, mediaType: "application/octet-stream", name: "data.bin", blob: ref, width: 0, height: 0, thumbnail: nil)
            let author = randomBytes(32), postID = randomBytes(Post.idLength)
            try await bob.db.writer.write { db in
                try bob.storeAttachments(db, [attachment], postAuthor: author, postID: postID, writer: author, itemID: postID)
            }
            let first = try await bob.sync()
            #expect(first.problems.contains { $0.contains("could not be fetched") }, "\(first.problems)")
            for _ in 1..<(Node.maxFetchFailures + 2) { _ = try await bob.sync() }
            #expect(relay.log.filter { $0 == "fetch blob" }.count == Node.maxFetchFailures)
            let row = try await bob.db.writer.read { db in try Row.fetchOne(db, sql: "SELECT fetched, damaged FROM attachment") }
            #expect(row?[0] as Bool? == false && row?[1] as String? == nil, "not fetched, not damaged: it may still come")
        }
    }

    /// A relay that sends more bytes than the signed size allows is cut
    /// off, and one that sends another blob of the right length is not
    /// believed: both are failures of that relay (the sender is not to
    /// blame), the attachment is not damaged and nothing of them is kept.
    /// One that sends the right bytes is taken, and my reference on it deleted.
    @Test func aRelaySendingWrongBytesFailsItself() async throws {
        let relay = BlobFakeRelay()
        try await relay.run { url in
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            let (ref, blob) = try AttachmentCipher.encrypt(Array(repeating: 7, count: 10_000))
            let item = try await Self.store(ref, on: bob)

            // A relay whose share of the sync's time is used up is not asked: the blob waits for the next sync.
            var spent = Node.RelayShares(share: .zero)
            do {
                try await bob.fetchBlob(item, shares: &spent)
                Issue.record("fetched with no time left")
            } catch let error as NodeError {
                #expect(error.description.contains("left for the next sync"))
            }
            #expect(relay.log.isEmpty)

            relay.serve(blob + Array(repeating: 0, count: 1 << 20))
            await #expect(throws: Node.BlobNotFetched.self) { try await bob.fetchBlob(item) }
            relay.serve(try AttachmentCipher.encrypt(Array(repeating: 7, count: 10_000)).blob)
            await #expect(throws: Node.BlobNotFetched.self) { try await bob.fetchBlob(item) }
            #expect(try await Self.state(of: bob) == [Self.State(fetched: false, damaged: nil)], "the relay failed, not the sender")
            #expect(!bob.blobs.has(ref.id))
            #expect((try? FileManager.default.contentsOfDirectory(atPath: dir + "/bob/blobs"))?.isEmpty ?? true, "no temporary file is left")
            #expect(!relay.log.contains("delete blob"))

            relay.serve(blob)
            try await bob.fetchBlob(item)
            #expect(try await Self.state(of: bob) == [Self.State(fetched: true, damaged: nil)])
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/bob/blobs") == [Hex.encode(ref.id)],
                    "only the ciphertext: checking it wrote no plaintext")
            #expect(relay.log.last == "delete blob")

            // The client alone: it stops reading at the expected length and removes what it wrote.
            let client = RelayClient(baseURL: url)
            let key = try #require(try bob.requireKeys().mailboxKeys[url])
            relay.serve(blob + [0])
            await #expect(throws: RelayClient.Failure.self) {
                try await client.fetchBlob(mailboxKey: key, id: ref.id, length: UInt64(blob.count), to: dir + "/too-long")
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/too-long"))
            relay.serve(Array(blob.dropLast()))
            await #expect(throws: RelayClient.Failure.self) {
                try await client.fetchBlob(mailboxKey: key, id: ref.id, length: UInt64(blob.count), to: dir + "/truncated")
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/truncated"))
            relay.serve(blob)
            try await client.fetchBlob(mailboxKey: key, id: ref.id, length: UInt64(blob.count), to: dir + "/exact")
            #expect(FileManager.default.contents(atPath: dir + "/exact") == Data(blob))
        }
    }

    /// With two relays, one sending a forged blob: the other's is taken,
    /// and my references on both are deleted.
    @Test func theNextRelayIsTriedAndEveryReferenceReleased() async throws {
        let first = BlobFakeRelay(), second = BlobFakeRelay()
        try await first.run { firstURL in
            try await second.run { secondURL in
                let dir = temporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [firstURL, secondURL], passphrase: passphrase, kdf: .interactive)
                let (ref, blob) = try AttachmentCipher.encrypt(randomBytes(70_000))
                let item = try await Self.store(ref, on: bob)
                var forged = blob; forged[forged.count - 1] ^= 1
                (firstURL < secondURL ? first : second).serve(forged)
                (firstURL < secondURL ? second : first).serve(blob)
                try await bob.fetchBlob(item)
                #expect(try await Self.state(of: bob) == [Self.State(fetched: true, damaged: nil)])
                #expect(first.log.filter { $0 == "delete blob" }.count == 1 && second.log.filter { $0 == "delete blob" }.count == 1)
            }
        }
    }

    /// A friend naming another's blob id under a key of her own: her
    /// attachment is damaged (the blob is the one named, but does not open
    /// under her key); the genuine one, before or after hers, is fetched,
    /// its file kept and saved. A blob damaged for every attachment naming
    /// it is released on the relay and not kept.
    @Test func aBlobIDReusedUnderAnotherKeyDamagesOnlyThatAttachment() async throws {
        let relay = BlobFakeRelay()
        try await relay.run { url in
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            let plain = randomBytes(20_000)
            let (ref, blob) = try AttachmentCipher.encrypt(plain)
            relay.serve(blob)
            let poisoned = BlobRef(id: ref.id, key: randomBytes(32), size: ref.size)
            _ = try await Self.store(poisoned, on: bob)
            let genuine = try await Self.store(ref, on: bob)
            _ = try await Self.store(poisoned, on: bob)
            _ = try await bob.sync()
            #expect(try await Self.state(of: bob) == [Self.State(fetched: false, damaged: "decryption failure"),
                                                      Self.State(fetched: true, damaged: nil),
                                                      Self.State(fetched: false, damaged: "decryption failure")])
            #expect(bob.blobs.has(ref.id))
            let out = dir + "/saved"
            try AttachmentCipher.decrypt(file: bob.blobs.file(genuine.ref.id), ref: genuine.ref, to: out, progress: nil)
            #expect(FileManager.default.contents(atPath: out) == Data(plain), "the genuine blob is kept whole")

            // Only attachments under a wrong key: damaged, the file not kept, the relay's reference released.
            let (other, otherBlob) = try AttachmentCipher.encrypt(randomBytes(5_000))
            relay.serve(otherBlob)
            let wrong = try await Self.store(BlobRef(id: other.id, key: randomBytes(32), size: other.size), on: bob)
            let deletes = relay.log.filter { $0 == "delete blob" }.count
            await #expect(throws: NodeError.self) { try await bob.fetchBlob(wrong) }
            #expect(!bob.blobs.has(other.id))
            #expect(relay.log.filter { $0 == "delete blob" }.count == deletes + 1)
        }
    }

    /// mallory, a member, comments on alice's post naming the blobs of
    /// alice's post and of bob's comment under keys of her own (as her own
    /// program could): on alice's and bob's nodes her attachments are
    /// damaged, theirs stay fetched and save as they were; alice's uploads
    /// never wait on mallory's.
    @Test func aMemberReusingOthersBlobIDsDamagesOnlyHerOwnAttachments() async throws {
        try await withThreeFriends { alice, bob, mallory, _ in
            try await alice.createAudience(name: "family")
            for friend in ["bob", "mallory"] { try await alice.addMember(audience: "family", friend: friend) }
            let dir = (alice.home as NSString).deletingLastPathComponent
            let alicePlain = randomBytes(90_000), bobPlain = randomBytes(30_000)
            try Data(alicePlain).write(to: URL(fileURLWithPath: dir + "/alice.bin"))
            try Data(bobPlain).write(to: URL(fileURLWithPath: dir + "/bob.bin"))
            let post = try await alice.post(to: "family", text: "the plans", attachments: [AttachmentSource(kind: .file, path: dir + "/alice.bin")]).id
            for node in [alice, bob, mallory] { _ = try await node.sync() }
            let comment = try await bob.comment(on: post, text: "mine", attachments: [AttachmentSource(kind: .file, path: dir + "/bob.bin")]).id
            for node in [bob, alice, alice, mallory] { _ = try await node.sync() }

            let named = try await mallory.db.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT blob_id, size FROM attachment ORDER BY rowid").map { BlobRef(id: [UInt8]($0[0] as Data), key: randomBytes(32), size: $0[1]) }
            }
            #expect(named.count == 2 && named.allSatisfy { mallory.blobs.has($0.id) }, "mallory has both blobs to upload again")
            let forged = try named.map { try Attachment(kind: .file, mediaType: "application/octet-stream", name: "x.bin", blob: $0, width: 0, height: 0, thumbnail: nil) }
            _ = try await mallory.comment(on: post, text: "look", attachments: forged, keys: try mallory.requireKeys(), now: mallory.clock())
            for node in [mallory, alice, alice, bob] { _ = try await node.sync() }

            let malloryID = try mallory.identity()
            for node in [alice, bob] {
                let rows = try await node.db.writer.read { db in
                    try Row.fetchAll(db, sql: "SELECT writer = ?, fetched, damaged FROM attachment ORDER BY rowid", arguments: [malloryID.data])
                        .map { (mallorys: $0[0] as Bool, state: State(fetched: $0[1], damaged: $0[2])) }
                }
                #expect(rows.count == 4)
                for row in rows {
                    #expect(row.state == (row.mallorys ? State(fetched: false, damaged: "decryption failure") : State(fetched: true, damaged: nil)))
                }
                let name = (node.home as NSString).lastPathComponent
                _ = try await node.saveAttachment(of: post, number: 1, to: dir + "/\(name)-post", force: false, thumbnail: false)
                _ = try await node.saveAttachment(of: comment, number: 1, to: dir + "/\(name)-comment", force: false, thumbnail: false)
                #expect(FileManager.default.contents(atPath: dir + "/\(name)-post") == Data(alicePlain))
                #expect(FileManager.default.contents(atPath: dir + "/\(name)-comment") == Data(bobPlain))
            }
            let queued = try await alice.db.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM outbox WHERE state = 'queued'") }
            #expect(queued == 0, "alice's uploads all went")
        }
    }

    /// Automatic fetching stops for a friend at the day's budget (the
    /// others' attachments still come), and for everyone when the disk is
    /// short of space; `kith photo get` still fetches what was left.
    @Test func automaticFetchingKeepsToEachFriendsBudgetAndTheFreeSpace() async throws {
        let relay = BlobFakeRelay()
        try await relay.run { url in
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var node = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            node.attachmentLimits.friendBytesPerDay = 2 * AttachmentCipher.blobLength(size: 10_000)
            let bob = node
            let (carol, dave) = (randomBytes(32), randomBytes(32))
            var items: [Node.BlobFetch] = []
            for writer in [carol, carol, carol, dave] {
                let (ref, blob) = try AttachmentCipher.encrypt(randomBytes(10_000))
                relay.serve(blobs: [blob])
                let attachment = try Attachment(kind: .file, mediaType: "application/octet-stream", name: "a.bin", blob: ref, width: 0, height: 0, thumbnail: nil)
                let postID = randomBytes(Post.idLength)
                let row = try await bob.db.writer.write { db in
                    try bob.storeAttachments(db, [attachment], postAuthor: writer, postID: postID, writer: writer, itemID: postID)
                    return db.lastInsertedRowID
                }
                items.append(Node.BlobFetch(ref: ref, thumbnail: false, label: "attachment", row: row, writer: writer))
            }
            var low = bob
            low.attachmentLimits.minFreeBytes = UInt64.max / 2
            let none = try await low.sync()
            #expect(none.problems.contains { $0.contains("less than") }, "\(none.problems)")
            #expect(try await Self.state(of: bob).allSatisfy { !$0.fetched })

            let report = try await bob.sync()
            #expect(try await Self.state(of: bob).map(\.fetched) == [true, true, false, true], "carol's third is beyond her day's budget; dave's comes")
            #expect(report.problems.contains { $0.contains("1 attachment is left to kith photo get") }, "\(report.problems)")
            _ = try await bob.sync()
            #expect(try await Self.state(of: bob).map(\.fetched) == [true, true, false, true], "and stays so today")
            try await bob.fetchBlob(items[2])
            #expect(try await Self.state(of: bob).allSatisfy(\.fetched), "on demand it comes")
        }
    }

    /// A sync leaves alone a blob no post names yet while it is young (it
    /// may be one being prepared for a post), and removes it once old.
    @Test func aSyncSparesYoungBlobsNoPostNamesYet() async throws {
        let relay = BlobFakeRelay()
        try await relay.run { url in
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            let ref = try bob.storeBlob(randomBytes(3_000))
            _ = try await bob.sync()
            #expect(bob.blobs.has(ref.id), "young: perhaps a post being prepared")
            var times = [timespec(tv_sec: time(nil) - 7_200, tv_nsec: 0), timespec(tv_sec: time(nil) - 7_200, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, bob.blobs.file(ref.id), &times, 0) == 0)
            _ = try await bob.sync()
            #expect(!bob.blobs.has(ref.id), "old and named by nothing")
        }
    }

    /// References on my relay that no attachment of mine waits for are
    /// released by a sync once an hour old; one an attachment waits for
    /// (left on demand) stays.
    @Test func aSyncReleasesReferencesNoAttachmentWaitsFor() async throws {
        let clock = TestClock()
        try await withThreeFriends(bobClock: clock) { alice, node, _, url in
            var bob = node
            bob.attachmentFetch = .onDemand
            let inbox = try #require(try await alice.db.writer.read { db in try alice.card(ofFriendNamed: "bob", db).inboxes.first })
            let header = BlobUpload.header(targets: DropRequest.Targets([.init(mailbox: inbox.mailbox, token: inbox.dropToken)]))
            let dir = (alice.home as NSString).deletingLastPathComponent
            var refs: [BlobRef] = []
            for i in 0..<2 {
                let (ref, blob) = try AttachmentCipher.encrypt(randomBytes(5_000))
                try Data(blob).write(to: URL(fileURLWithPath: dir + "/blob\(i)"))
                #expect(try await RelayClient(baseURL: url).uploadBlob(header: header, file: dir + "/blob\(i)").accepted == 1)
                refs.append(ref)
            }
            _ = try await Self.store(refs[1], on: bob)
            let client = RelayClient(baseURL: url), key = try #require(try bob.requireKeys().mailboxKeys[url])
            _ = try await bob.sync()
            #expect(Set(try await client.listBlobs(mailboxKey: key).map(\.id)) == Set(refs.map(\.id)), "young: both stay")
            clock.advance(Node.releaseAfter + 3600)
            _ = try await bob.sync()
            #expect(try await client.listBlobs(mailboxKey: key).map(\.id) == [refs[1].id], "the one no attachment names is released")
        }
    }

    struct State: Equatable { let fetched: Bool; let damaged: String? }

    /// Records a friend's file attachment of `ref` on a post of its own and returns what fetches it.
    static func store(_ ref: BlobRef, on node: Node) async throws -> Node.BlobFetch {
        let attachment = try Attachment(kind: .file, mediaType: "application/octet-stream", name: "data.bin", blob: ref, width: 0, height: 0, thumbnail: nil)
        let author = randomBytes(32), postID = randomBytes(Post.idLength)
        let row = try await node.db.writer.write { db in
            try node.storeAttachments(db, [attachment], postAuthor: author, postID: postID, writer: author, itemID: postID)
            return db.lastInsertedRowID
        }
        return Node.BlobFetch(ref: ref, thumbnail: false, label: "attachment", row: row, writer: author)
    }

    static func state(of node: Node) async throws -> [State] {
        try await node.db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT fetched, damaged FROM attachment ORDER BY rowid").map { State(fetched: $0[0], damaged: $0[1]) }
        }
    }
}
