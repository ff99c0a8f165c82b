import KithCrypto
import KithProtocol

// Vectors for attachments: a blob of a small plaintext with its key and id
// (and a truncated, a tampered and misframed copies), a post and a comment of
// version 2 carrying attachment descriptors, and profiles (envelope type 4)
// sealed to bob.

/// One line per attachment in a vector's header (`attachment-1: ...`):
/// kind, media type, name (- for none), size, width x height, blob id and key,
/// then the thumbnail's size (0: none) and, if any, its id and key.
func attachmentSummary(_ a: Attachment) -> String {
    var s = "\(a.kind == .photo ? "photo" : "file") \(a.mediaType) \(a.name.isEmpty ? "-" : a.name) \(a.blob.size) \(a.width)x\(a.height)"
    s += " \(hex(a.blob.id)) \(hex(a.blob.key))"
    if let t = a.thumbnail { s += " \(t.size) \(hex(t.id)) \(hex(t.key))" } else { s += " 0" }
    return s
}

func attachmentFields(_ list: [Attachment]) -> [(String, String)] {
    list.enumerated().map { ("attachment-\($0.offset + 1)", attachmentSummary($0.element)) }
}

/// A blob built from the primitives as the spec frames it: `padded` cut in
/// 65,536-byte chunks, FINAL on chunk `finalAt` (nil: none).
func rawBlob(_ padded: [UInt8], key: [UInt8], finalAt: Int?) -> [UInt8] {
    let pusher = SecretStreamPusher(key: key)
    var blob = pusher.header
    for (i, start) in stride(from: 0, to: padded.count, by: 65_536).enumerated() {
        blob += pusher.push(Array(padded[start..<min(start + 65_536, padded.count)]), final: i == finalAt)
    }
    return blob
}

@MainActor func writeAttachmentVectors() throws {
    // MARK: Blobs
    let blobKey = seed(0xd1)
    let plain = Array("Hello from the Kith attachment vectors!\n".utf8)
    let padded = plain + [UInt8](repeating: 0, count: 4096 - plain.count)
    let blob = rawBlob(padded, key: blobKey, finalAt: 0)
    func blobHeader(_ expect: String, _ comment: String, id: [UInt8], size: Int = plain.count) -> [(String, String)] {
        [("kind", "blob"), ("expect", expect), ("comment", comment), ("key", hex(blobKey)), ("id", hex(id)), ("size", String(size))]
    }
    try write("blob-valid.txt", blobHeader("success", "41 bytes padded to 4096, one chunk tagged FINAL; id = BLAKE2b-256(blob)",
                                           id: Hash.blake2b(blob, length: 32)) + [("plaintext", hex(plain))], hex(blob))
    try write("blob-truncated.txt", blobHeader("malformed", "the valid blob without its last byte (its id is the valid blob's)",
                                               id: Hash.blake2b(blob, length: 32)), hex(Array(blob.dropLast())))
    var tampered = blob
    tampered[100] ^= 0x01
    try write("blob-tampered.txt", blobHeader("decryption failure", "one ciphertext byte flipped: the hash is not the id",
                                              id: Hash.blake2b(blob, length: 32)), hex(tampered))
    try write("blob-tampered-rehashed.txt", blobHeader("decryption failure", "one ciphertext byte flipped, id recomputed: the chunk does not verify",
                                                       id: Hash.blake2b(tampered, length: 32)), hex(tampered))
    let noFinal = rawBlob(padded, key: blobKey, finalAt: nil)
    try write("blob-final-missing.txt", blobHeader("malformed", "the only chunk tagged MESSAGE, not FINAL", id: Hash.blake2b(noFinal, length: 32)), hex(noFinal))
    var dirty = padded
    dirty[4000] = 0x01
    let dirtyBlob = rawBlob(dirty, key: blobKey, finalAt: 0)
    try write("blob-bad-padding.txt", blobHeader("malformed", "a padding byte of 1", id: Hash.blake2b(dirtyBlob, length: 32)), hex(dirtyBlob))
    let early = rawBlob([UInt8](repeating: 0x61, count: 65_536) + [UInt8](repeating: 0, count: 4_096), key: blobKey, finalAt: 0)
    try write("blob-final-early.txt", blobHeader("malformed", "65,536 bytes of 'a' padded to 69,632: two chunks, the first tagged FINAL",
                                                 id: Hash.blake2b(early, length: 32), size: 65_536), hex(early))

    // MARK: Descriptors, posts and comments of version 2
    func ref(_ b: UInt8, _ size: UInt64) -> BlobRef { BlobRef(id: [UInt8](repeating: b, count: 32), key: [UInt8](repeating: b ^ 0xff, count: 32), size: size) }
    let photo = try Attachment(kind: .photo, mediaType: "image/jpeg", name: "baby.jpg", blob: ref(0x31, 2_345_678), width: 3024, height: 4032,
                               thumbnail: ref(0x32, 34_567))
    let file = try Attachment(kind: .file, mediaType: "application/pdf", name: "", blob: ref(0x33, 120_000), width: 0, height: 0, thumbnail: nil)
    let postID = [UInt8](repeating: 0x12, count: 16)
    let v2 = try Post(author: alice.publicKey, audienceID: audienceID, epoch: 3, id: postID, createdAt: now, text: "Meet Ada!", attachments: [photo, file])
    let v2Envelope = try v2.seal(author: alice, audience: audience, nonce: postNonce)
    try write("post-v2-attachments.txt", postHeader("success", "alice posts a photo and a file to family (version 2)") + [("author", hex(alice.publicKey)),
        ("post-id", hex(postID)), ("created-at", String(now)), ("text", v2.text), ("padded-length", String(v2Envelope.payload.count - Post.payloadOverhead))]
        + attachmentFields(v2.attachments), hex(v2Envelope.bytes))
    let photoOnly = try Post(author: alice.publicKey, audienceID: audienceID, epoch: 3, id: postID, createdAt: now, text: "", attachments: [photo])
    try write("post-v2-photo-only.txt", postHeader("success", "a version-2 post with an empty text and one photo") + [("author", hex(alice.publicKey)),
        ("post-id", hex(postID)), ("created-at", String(now)), ("text", ""), ("padded-length", "512")] + attachmentFields(photoOnly.attachments),
        hex(try photoOnly.seal(author: alice, audience: audience, nonce: postNonce).bytes))

    /// A version-2 post's inner bytes, field by field: `count`, then `descriptors`, signed under `context`.
    func postV2(count: UInt8, descriptors: [UInt8], text: String = "Meet Ada!", context: String = "kith/post/v2", version: UInt8 = 2) -> [UInt8] {
        var w = ByteWriter()
        w.u8(version); w.u8(1); w.raw(alice.publicKey); w.raw(audienceID); w.u32(3); w.raw(postID); w.u64(now)
        let t = Array(text.utf8); w.u32(UInt32(t.count)); w.raw(t)
        w.u8(count); w.raw(descriptors)
        return w.bytes + alice.sign(sigMessage(context, w.bytes))
    }
    func sealedPost(_ inner: [UInt8]) throws -> String { hex(try sealPadded(Padding.pad(inner, blockSize: Post.bucket(for: inner.count)))) }
    try write("post-v2-no-attachments.txt", postHeader("malformed", "version 2 with a count of 0"), try sealedPost(postV2(count: 0, descriptors: [])))
    try write("post-v2-eleven-attachments.txt", postHeader("malformed", "version 2 with 11 attachments"),
              try sealedPost(postV2(count: 11, descriptors: Array(repeating: photo.bytes, count: 11).flatMap { $0 })))
    try write("post-v2-v1-context.txt", postHeader("bad signature", "version 2 signed under kith/post/v1"),
              try sealedPost(postV2(count: 1, descriptors: photo.bytes, context: "kith/post/v1")))
    try write("post-v1-empty-text.txt", postHeader("malformed", "version 1 with an empty text"),
              try sealedPost({ var w = ByteWriter(); w.u8(1); w.u8(1); w.raw(alice.publicKey); w.raw(audienceID); w.u32(3); w.raw(postID); w.u64(now); w.u32(0)
                               return w.bytes + alice.sign(sigMessage("kith/post/v1", w.bytes)) }()))
    var gif = photo.bytes
    gif.replaceSubrange(2..<12, with: Array("image/tiff".utf8))
    try write("post-v2-photo-media-type.txt", postHeader("malformed", "a photo of media type image/tiff (not jpeg, png or webp)"),
              try sealedPost(postV2(count: 1, descriptors: gif)))
    var slash = file.bytes
    slash.replaceSubrange(17..<18, with: [3] + Array("a/b".utf8))
    try write("post-v2-name-slash.txt", postHeader("malformed", "a file named a/b (not a base name)"), try sealedPost(postV2(count: 1, descriptors: slash)))
    var fileThumb = file.bytes
    fileThumb.removeLast(4)
    fileThumb += [0, 0, 0, 10] + [UInt8](repeating: 0x34, count: 64)
    try write("post-v2-file-thumbnail.txt", postHeader("malformed", "a file with a thumbnail"), try sealedPost(postV2(count: 1, descriptors: fileThumb)))
    var tooLarge = file.bytes
    tooLarge.replaceSubrange(17 + 1..<17 + 9, with: [0, 0, 0, 0, 2, 0, 0, 1])
    try write("post-v2-size-too-large.txt", postHeader("malformed", "a file of 33,554,433 bytes"), try sealedPost(postV2(count: 1, descriptors: tooLarge)))
    try write("post-v2-unknown-kind.txt", postHeader("malformed", "an attachment of kind 3"),
              try sealedPost(postV2(count: 1, descriptors: [3] + Array(file.bytes.dropFirst()))))
    try write("post-unsupported-version.txt", postHeader("unsupported version", "inner version 3"),
              try sealedPost(postV2(count: 1, descriptors: photo.bytes, version: 3)))

    let commentID = [UInt8](repeating: 0x23, count: 16)
    let comment = try Note(action: .comment, writer: bob, owner: alice.publicKey, audienceID: audienceID, epoch: 3, postID: postID,
                           targetWriter: bob.publicKey, targetID: commentID, revision: 0, createdAt: now, text: "", attachments: [photo])
    let noteFields: [(String, String)] = [("owner", hex(alice.publicKey)), ("audience-id", hex(audienceID)), ("epoch", "3"),
        ("epoch-key", hex(audience.key.copyBytes())), ("action", "comment"), ("writer", hex(bob.publicKey)), ("post-id", hex(postID)),
        ("target-writer", hex(bob.publicKey)), ("target-id", hex(commentID)), ("revision", "0"), ("created-at", String(now))]
    try write("note-v2-comment-photo.txt", [("kind", "note"), ("expect", "success"), ("comment", "bob comments with a photo and no text (version 2)")]
              + noteFields + attachmentFields(comment.attachments), hex(try comment.seal(audience: audience, nonce: postNonce).bytes))
    try write("fan-out-v2-comment-photo.txt", [("kind", "fan-out"), ("expect", "success"), ("comment", "alice passes bob's version-2 comment on (fan-out version 1)")]
              + noteFields + attachmentFields(comment.attachments), hex(try FanOut.seal(comment, owner: alice, audience: audience, nonce: postNonce).bytes))
    var reaction = ByteWriter()
    reaction.u8(2); reaction.u8(2); reaction.u8(2); reaction.raw(bob.publicKey); reaction.raw(alice.publicKey); reaction.raw(audienceID); reaction.u32(3)
    reaction.raw(postID); reaction.raw(alice.publicKey); reaction.raw(postID); reaction.u64(1); reaction.u64(now); reaction.u32(4)
    reaction.raw(Array("👍".utf8)); reaction.u8(1); reaction.raw(photo.bytes)
    let signedReaction = reaction.bytes + bob.sign(sigMessage("kith/note/v2", reaction.bytes))
    try write("note-v2-reaction.txt", [("kind", "note"), ("expect", "malformed"), ("comment", "a reaction of version 2 (only comments have it)")]
              + noteFields.prefix(4), try sealedPost(signedReaction))

    // MARK: Profiles
    let avatar = try Attachment(kind: .photo, mediaType: "image/jpeg", name: "", blob: ref(0x41, 45_678), width: 512, height: 384, thumbnail: nil)
    func profileHeader(_ expect: String, _ comment: String) -> [(String, String)] {
        [("kind", "profile"), ("expect", expect), ("comment", comment),
         ("recipient-identity", hex(bob.publicKey)), ("recipient-encryption-secret", hex(bobBox.exportSecret()))]
    }
    let profile = try Profile(author: alice.publicKey, recipient: bob.publicKey, sequence: 3, createdAt: now, name: "Alice Smith",
                              bio: "Grandmother of three, gardener.", avatar: avatar)
    try write("profile-valid.txt", profileHeader("success", "alice's third profile for bob, with an avatar") + [("author", hex(alice.publicKey)),
        ("sequence", "3"), ("created-at", String(now)), ("name", "Alice Smith"), ("bio", profile.bio)] + attachmentFields([avatar]),
        hex(try profile.seal(signer: alice, recipientKey: bobBox.publicKey).bytes))
    let bare = try Profile(author: alice.publicKey, recipient: bob.publicKey, sequence: 1, createdAt: now, name: nil, bio: "", avatar: nil)
    try write("profile-empty.txt", profileHeader("success", "no name, an empty bio, no avatar") + [("author", hex(alice.publicKey)),
        ("sequence", "1"), ("created-at", String(now)), ("name", ""), ("bio", "")], hex(try bare.seal(signer: alice, recipientKey: bobBox.publicKey).bytes))

    /// A profile's signed bytes, field by field.
    func rawProfile(author: [UInt8] = alice.publicKey, recipient: [UInt8] = bob.publicKey, sequence: UInt64 = 3, createdAt: UInt64 = now,
                    name: String = "Alice Smith", bio: String = "Hello", avatarFlag: UInt8 = 0, signer: SigningKey = alice, version: UInt8 = 1) -> [UInt8] {
        var w = ByteWriter()
        w.u8(version); w.raw(author); w.raw(recipient); w.u64(sequence); w.u64(createdAt)
        let n = Array(name.utf8); w.u8(UInt8(n.count)); w.raw(n)
        let b = Array(bio.utf8); w.u16(UInt16(b.count)); w.raw(b)
        w.u8(avatarFlag)
        return w.bytes + signer.sign(sigMessage("kith/profile/v1", w.bytes))
    }
    func sealedProfile(_ signed: [UInt8], to key: [UInt8] = bobBox.publicKey) throws -> String {
        hex(Envelope(kind: .profile, payload: try BoxKey.seal(Padding.pad(signed, blockSize: 1024), to: key)).bytes)
    }
    try write("profile-bad-signature.txt", profileHeader("bad signature", "claims alice as author, signed by mallory"), try sealedProfile(rawProfile(signer: mallory)))
    try write("profile-wrong-recipient.txt", profileHeader("wrong recipient", "alice's profile for carol, sealed to bob"),
              try sealedProfile(rawProfile(recipient: carol.publicKey)))
    try write("profile-no-matching-key.txt", profileHeader("no matching key", "sealed to another encryption key"),
              try sealedProfile(rawProfile(), to: otherBox.publicKey))
    try write("profile-sequence-zero.txt", profileHeader("malformed", "sequence 0"), try sealedProfile(rawProfile(sequence: 0)))
    try write("profile-name-bidi.txt", profileHeader("malformed", "a name with U+202E RIGHT-TO-LEFT OVERRIDE"),
              try sealedProfile(rawProfile(name: "Bob\u{202E}")))
    try write("profile-bio-tab.txt", profileHeader("malformed", "a bio with a tab (only LF is allowed of the controls)"),
              try sealedProfile(rawProfile(bio: "a\tb")))
    try write("profile-bio-too-long.txt", profileHeader("malformed", "a bio of 501 bytes"),
              try sealedProfile(rawProfile(bio: String(repeating: "x", count: 501))))
    try write("profile-avatar-flag.txt", profileHeader("malformed", "has_avatar 2"), try sealedProfile(rawProfile(avatarFlag: 2)))
    try write("profile-unsupported-version.txt", profileHeader("unsupported version", "version 2"), try sealedProfile(rawProfile(version: 2)))
    try write("profile-from-the-future.txt", profileHeader("not valid now", "dated 2 days after the evaluation time"),
              try sealedProfile(rawProfile(createdAt: now + 2 * 86_400)))
    try write("profile-wrong-size.txt", profileHeader("malformed", "padded to 2,048 bytes: the envelope is not 1,078 bytes"),
              hex(Envelope(kind: .profile, payload: try BoxKey.seal(Padding.pad(rawProfile(), blockSize: 2048), to: bobBox.publicKey)).bytes))
    try write("profile-bad-padding.txt", profileHeader("malformed", "padded with zeros instead of 0x80 00 ..."),
              hex(Envelope(kind: .profile, payload: try BoxKey.seal(rawProfile() + [UInt8](repeating: 0, count: 1024 - rawProfile().count),
                                                                    to: bobBox.publicKey)).bytes))
}
