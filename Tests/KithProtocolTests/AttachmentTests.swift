import Foundation
import KithCrypto
@testable import KithProtocol
import Testing

// Swift Testing has an `Attachment` too.
private typealias Attachment = KithProtocol.Attachment

/// Attachment blobs, descriptors, and posts and comments of version 2.
@Suite struct AttachmentTests {
    func ref(_ size: UInt64 = 1000) -> BlobRef { BlobRef(id: randomBytes(32), key: randomBytes(32), size: size) }

    fileprivate func photo(name: String = "beach.jpg", thumbnail: Bool = true) throws -> Attachment {
        try Attachment(kind: .photo, mediaType: "image/jpeg", name: name, blob: ref(2_000_000), width: 4000, height: 3000,
                       thumbnail: thumbnail ? ref(40_000) : nil)
    }

    @Test func padmeRoundsUpByAtMostTwelvePercent() {
        #expect(AttachmentCipher.paddedLength(1) == 4096)
        #expect(AttachmentCipher.paddedLength(4096) == 4096)
        #expect(AttachmentCipher.paddedLength(4097) == 4352)       // E = 12, S = 4, mask 255
        #expect(AttachmentCipher.paddedLength(1_000_000) == 1_015_808)    // E = 19, S = 5, mask 16,383
        #expect(AttachmentCipher.paddedLength(Attachment.maxSize) == Attachment.maxSize)
        for n: UInt64 in [5000, 65_537, 999_999, 10_000_000, 33_554_431] {
            let l = AttachmentCipher.paddedLength(n)
            #expect(l >= n && Double(l - n) / Double(n) <= 0.12)
        }
        #expect(AttachmentCipher.blobLength(size: 1) == 24 + 4096 + 17)
        #expect(AttachmentCipher.blobLength(size: 65_536) == 24 + 65_536 + 17)
        #expect(AttachmentCipher.blobLength(size: 70_000) == 24 + 71_680 + 34)
    }

    @Test func aBlobRoundTripsAndItsIdIsItsHash() throws {
        for size in [1, 4096, 65_536, 65_537, 200_000] {
            let plain = randomBytes(size)
            let (ref, blob) = try AttachmentCipher.encrypt(plain)
            #expect(ref.size == UInt64(size) && ref.key.count == 32)
            #expect(UInt64(blob.count) == AttachmentCipher.blobLength(size: UInt64(size)))
            #expect(ref.id == Hash.blake2b(blob, length: 32))
            #expect(try AttachmentCipher.decrypt(blob, ref: ref) == plain)
        }
        // A fresh key each time: the same file gives another blob.
        #expect(try AttachmentCipher.encrypt([1]).blob != AttachmentCipher.encrypt([1]).blob)
        #expect(throws: ProtocolError.self) { try AttachmentCipher.encrypt([]) }
    }

    @Test func everyRefusalHasItsFailureKind() throws {
        let (ref, blob) = try AttachmentCipher.encrypt(randomBytes(70_000))
        func kind(_ blob: [UInt8], _ ref: BlobRef) -> ProtocolError.Kind? {
            do { _ = try AttachmentCipher.decrypt(blob, ref: ref); return nil } catch let e as ProtocolError { return e.kind } catch { return nil }
        }
        #expect(kind(Array(blob.dropLast()), ref) == .malformed)
        #expect(kind(blob + [0], ref) == .malformed)
        var tampered = blob; tampered[100] ^= 1
        #expect(kind(tampered, ref) == .decryptionFailed)
        // The right hash but a chunk that does not verify (the id names the tampered blob).
        #expect(kind(tampered, BlobRef(id: Hash.blake2b(tampered, length: 32), key: ref.key, size: ref.size)) == .decryptionFailed)
        #expect(kind(blob, BlobRef(id: ref.id, key: randomBytes(32), size: ref.size)) == .decryptionFailed)
        #expect(kind(blob, BlobRef(id: ref.id, key: ref.key, size: 0)) == .malformed)

        // Well-encrypted streams that break the layout: FINAL too early, FINAL missing, non-zero padding.
        func forge(_ padded: [UInt8], finalAt: Int?) -> (BlobRef, [UInt8]) {
            let key = SecretStream.newKey(), pusher = SecretStreamPusher(key: key)
            var out = pusher.header
            var i = 0
            for start in stride(from: 0, to: padded.count, by: 65_536) {
                out += pusher.push(Array(padded[start..<min(start + 65_536, padded.count)]), final: i == finalAt)
                i += 1
            }
            return (BlobRef(id: Hash.blake2b(out, length: 32), key: key, size: 70_000), out)
        }
        let padded = randomBytes(70_000) + [UInt8](repeating: 0, count: Int(AttachmentCipher.paddedLength(70_000)) - 70_000)
        let good = forge(padded, finalAt: 1)
        #expect(kind(good.1, good.0) == nil)
        let early = forge(padded, finalAt: 0)
        #expect(kind(early.1, early.0) == .malformed)
        let missing = forge(padded, finalAt: nil)
        #expect(kind(missing.1, missing.0) == .malformed)
        var dirty = padded; dirty[71_000] = 1
        let badPadding = forge(dirty, finalAt: 1)
        #expect(kind(badPadding.1, badPadding.0) == .malformed)
    }

    @Test func filesStreamThroughTemporaryFilesAndFailuresLeaveNothing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kith-attach-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plain = randomBytes(150_000)
        FileManager.default.createFile(atPath: dir + "/in", contents: Data(plain))
        var reports: [(UInt64, UInt64)] = []
        let ref = try AttachmentCipher.encrypt(file: dir + "/in", to: dir + "/blob") { reports.append(($0, $1)) }
        #expect(reports.last.map { $0 == (150_000, 150_000) } == true && reports.count == 3)
        let blob = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/blob")))
        #expect(ref.id == Hash.blake2b(blob, length: 32) && ref.size == 150_000)
        #expect(try AttachmentCipher.decrypt(blob, ref: ref) == plain)
        try AttachmentCipher.decrypt(file: dir + "/blob", ref: ref, to: dir + "/out", progress: nil)
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/out"))) == plain)

        var tampered = blob; tampered[blob.count - 1] ^= 1
        FileManager.default.createFile(atPath: dir + "/bad", contents: Data(tampered))
        #expect(throws: ProtocolError(.decryptionFailed, "attachment: the blob's hash is not its id (tampered)")) {
            try AttachmentCipher.decrypt(file: dir + "/bad", ref: ref, to: dir + "/bad-out", progress: nil)
        }
        // Hash right, last chunk wrong: refused after writing most of it, and nothing is left behind.
        let forged = BlobRef(id: Hash.blake2b(tampered, length: 32), key: ref.key, size: ref.size)
        #expect(throws: ProtocolError.self) { try AttachmentCipher.decrypt(file: dir + "/bad", ref: forged, to: dir + "/bad-out", progress: nil) }
        FileManager.default.createFile(atPath: dir + "/short", contents: Data(blob.dropLast(5)))
        #expect(throws: ProtocolError.self) { try AttachmentCipher.decrypt(file: dir + "/short", ref: ref, to: dir + "/bad-out", progress: nil) }
        // Verifying checks as decrypting does, and writes nothing.
        try AttachmentCipher.verify(file: dir + "/blob", ref: ref)
        try AttachmentCipher.checkHash(file: dir + "/blob", ref: ref)
        #expect(throws: ProtocolError.self) { try AttachmentCipher.verify(file: dir + "/bad", ref: forged) }
        try AttachmentCipher.checkHash(file: dir + "/bad", ref: forged)
        #expect(throws: ProtocolError.self) { try AttachmentCipher.checkHash(file: dir + "/bad", ref: ref) }
        #expect(throws: ProtocolError.self) { try AttachmentCipher.verify(file: dir + "/blob", ref: BlobRef(id: ref.id, key: randomBytes(32), size: ref.size)) }
        #expect(throws: ProtocolError.self) { try AttachmentCipher.checkHash(file: dir + "/short", ref: ref) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["bad", "blob", "in", "out", "short"])
        FileManager.default.createFile(atPath: dir + "/empty", contents: Data())
        #expect(throws: AttachmentCipher.FileError.self) { try AttachmentCipher.encrypt(file: dir + "/empty", to: dir + "/x", progress: nil) }
    }

    @Test func descriptorsRoundTripAndRefuseBadFields() throws {
        let a = try photo()
        #expect(try Attachment.decode(a.bytes) == a)
        let file = try Attachment(kind: .file, mediaType: "application/pdf", name: "", blob: ref(), width: 0, height: 0, thumbnail: nil)
        #expect(try Attachment.decode(file.bytes) == file)
        let longest = try Attachment(kind: .photo, mediaType: "image/webp", name: String(repeating: "é", count: 64), blob: ref(),
                                     width: 65_535, height: 1, thumbnail: ref(UInt64(Attachment.maxThumbnailSize)))
        #expect(longest.bytes.count == 1 + 1 + 10 + 1 + 128 + 8 + 64 + 4 + 4 + 64)
        func refused(_ build: () throws -> Attachment) { #expect(throws: ProtocolError.self) { try build() } }
        refused { try Attachment(kind: .photo, mediaType: "image/gif", name: "", blob: ref(), width: 1, height: 1, thumbnail: nil) }
        refused { try Attachment(kind: .photo, mediaType: "image/jpeg", name: "", blob: ref(), width: 0, height: 1, thumbnail: nil) }
        refused { try Attachment(kind: .file, mediaType: "text/plain", name: "", blob: ref(), width: 1, height: 0, thumbnail: nil) }
        refused { try Attachment(kind: .file, mediaType: "text/plain", name: "", blob: ref(), width: 0, height: 0, thumbnail: ref()) }
        refused { try Attachment(kind: .file, mediaType: "Text/Plain", name: "", blob: ref(), width: 0, height: 0, thumbnail: nil) }
        refused { try Attachment(kind: .file, mediaType: "textplain", name: "", blob: ref(), width: 0, height: 0, thumbnail: nil) }
        refused { try Attachment(kind: .file, mediaType: "text/plain", name: "a/b", blob: ref(), width: 0, height: 0, thumbnail: nil) }
        refused { try Attachment(kind: .file, mediaType: "text/plain", name: "..", blob: ref(), width: 0, height: 0, thumbnail: nil) }
        refused { try Attachment(kind: .file, mediaType: "text/plain", name: "a\u{202E}b", blob: ref(), width: 0, height: 0, thumbnail: nil) }
        refused { try Attachment(kind: .file, mediaType: "text/plain", name: "", blob: ref(Attachment.maxSize + 1), width: 0, height: 0, thumbnail: nil) }
        refused { try Attachment(kind: .file, mediaType: "text/plain", name: "", blob: ref(0), width: 0, height: 0, thumbnail: nil) }
        refused { try photo(thumbnail: false).withThumbnail(ref(UInt64(Attachment.maxThumbnailSize) + 1)) }
        var unknownKind = a.bytes; unknownKind[0] = 3
        #expect(throws: ProtocolError.self) { try Attachment.decode(unknownKind) }
        #expect(throws: ProtocolError.self) { try Attachment.decode(a.bytes.dropLast()) }
        #expect(throws: ProtocolError.self) { try Attachment.decode(a.bytes + [0]) }
    }

    @Test func postsAndCommentsOfVersionTwoCarryAttachments() throws {
        let alice = SigningKey(), bob = SigningKey()
        let key = AudienceKey(owner: alice.publicKey, audienceID: randomBytes(16), epoch: 1, key: SecretBytes(random: 32))
        let attachments = try (0..<Attachment.maxCount).map { _ in try photo(name: String(repeating: "n", count: 128)) }
        // The longest version-2 post still fits the largest bucket.
        let post = try Post(author: alice.publicKey, audienceID: key.audienceID, epoch: 1, id: randomBytes(16), createdAt: 1_790_000_000,
                            text: String(repeating: "x", count: Post.maxTextBytes), attachments: attachments)
        let sealed = try post.seal(author: alice, audience: key)
        #expect(sealed.payload.count == Post.maxBucket + Post.payloadOverhead)
        guard case .post(let opened) = try AudienceMessage.open(Envelope(bytes: sealed.bytes), audience: key, now: 1_790_000_000) else {
            Issue.record("not a post"); return
        }
        #expect(opened == post)
        let photoOnly = try Post(author: alice.publicKey, audienceID: key.audienceID, epoch: 1, id: randomBytes(16), createdAt: 1, text: "",
                                 attachments: [try photo()])
        #expect(try Post.open(photoOnly.seal(author: alice, audience: key), audience: key, now: 2) == photoOnly)
        #expect(throws: ProtocolError.self) {
            try Post(author: alice.publicKey, audienceID: key.audienceID, epoch: 1, id: randomBytes(16), createdAt: 1, text: "")
        }
        #expect(throws: ProtocolError.self) {
            try Post(author: alice.publicKey, audienceID: key.audienceID, epoch: 1, id: randomBytes(16), createdAt: 1, text: "x",
                     attachments: attachments + [try photo()])
        }

        let comment = try Note(action: .comment, writer: bob, owner: alice.publicKey, audienceID: key.audienceID, epoch: 1, postID: post.id,
                               targetWriter: bob.publicKey, targetID: randomBytes(16), revision: 0, createdAt: 5,
                               text: String(repeating: "y", count: Note.maxTextBytes), attachments: attachments)
        #expect(comment.bytes[0] == 2)
        guard case .note(let received) = try AudienceMessage.open(comment.seal(audience: key), audience: key, now: 5),
              case .fanOut(let passed) = try AudienceMessage.open(FanOut.seal(received, owner: alice, audience: key), audience: key, now: 5) else {
            Issue.record("not a note and its fan-out"); return
        }
        #expect(passed == comment && passed.attachments == attachments)
        #expect(throws: ProtocolError.self) {
            try Note(action: .edit, writer: bob, owner: alice.publicKey, audienceID: key.audienceID, epoch: 1, postID: post.id,
                     targetWriter: bob.publicKey, targetID: randomBytes(16), revision: 1, createdAt: 5, text: "e", attachments: [try photo()])
        }
        // A version-2 note whose signature is over version 1's context does not verify.
        var w = ByteWriter()
        w.raw(Array(comment.bytes.dropLast(64)))
        let resigned = w.bytes + bob.sign(signedMessage(context: Note.context, w.bytes))
        #expect(throws: ProtocolError.self) { try Note.parse(resigned) }
        // Without attachments, version 1 as before.
        let plain = try Post(author: alice.publicKey, audienceID: key.audienceID, epoch: 1, id: randomBytes(16), createdAt: 1, text: "hi")
        #expect(try Post.openInner(plain.seal(author: alice, audience: key), audience: key)[0] == 1)
    }
}

extension Attachment {
    fileprivate func withThumbnail(_ thumbnail: BlobRef) throws -> Attachment {
        try Attachment(kind: kind, mediaType: mediaType, name: name, blob: blob, width: width, height: height, thumbnail: thumbnail)
    }
}
