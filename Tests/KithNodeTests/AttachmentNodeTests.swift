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

    var log: [String] { lock.withLock { requests } }
    func acceptUploads() { lock.withLock { uploadsFull = false } }
    func serve(_ bytes: [UInt8]?) { lock.withLock { served = bytes } }
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
        router.get("/v1/mailboxes/:mailbox/blobs/:id") { _, _ -> Response in
            self.record("fetch blob")
            guard let served = self.lock.withLock({ self.served }) else {
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
    /// off: the attachment is recorded as damaged (malformed) and nothing
    /// of the blob is kept; one that sends the right bytes is taken.
    @Test func aRelaySendingTooManyBytesIsCutOff() async throws {
        let relay = BlobFakeRelay()
        try await relay.run { url in
            let dir = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            let (ref, blob) = try AttachmentCipher.encrypt(Array(repeating: 7, count: 10_000))
            let attachment = try Attachment(kind: .file, mediaType: "application/octet-stream", name: "data.bin", blob: ref, width: 0, height: 0, thumbnail: nil)
            let author = randomBytes(32), postID = randomBytes(Post.idLength)
            try await bob.db.writer.write { db in
                try bob.storeAttachments(db, [attachment], postAuthor: author, postID: postID, writer: author, itemID: postID)
            }
            let item = Node.BlobFetch(ref: ref, thumbnail: false, label: "attachment")

            relay.serve(blob + Array(repeating: 0, count: 1 << 20))
            await #expect(throws: NodeError.self) { try await bob.fetchBlob(item) }
            let damaged = try await bob.db.writer.read { db in try String.fetchOne(db, sql: "SELECT damaged FROM attachment") }
            #expect(damaged == "malformed")
            #expect(!bob.blobs.has(ref.id))
            #expect((try? FileManager.default.contentsOfDirectory(atPath: dir + "/bob/blobs"))?.isEmpty ?? true, "no temporary file is left")

            // The client alone: it stops reading at the expected length and removes what it wrote.
            let client = RelayClient(baseURL: url)
            let key = try #require(try bob.requireKeys().mailboxKeys[url])
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
}
