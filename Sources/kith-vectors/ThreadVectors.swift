import KithCrypto
import KithProtocol

// Vectors for posts' threads: a member's note to the post's author (inner
// kind 2) and the author's countersigned fan-out of it (inner kind 3), both
// in a post envelope under epoch 3 of alice's "family". bob and carol are
// members; mallory signs what she should not.

let carol = try! SigningKey(seed: [UInt8](repeating: 0xc3, count: 32))
let threadPostID = [UInt8](repeating: 0x11, count: 16)
let commentID = [UInt8](repeating: 0x22, count: 16)

/// A note's bytes built field by field, as an attacker could build them.
@MainActor func rawNote(action: UInt8, writer: [UInt8], owner: [UInt8] = alice.publicKey, audience aid: [UInt8] = audienceID, epoch: UInt32 = 3,
                        targetWriter: [UInt8]? = nil, targetID: [UInt8] = commentID, revision: UInt64 = 0, createdAt: UInt64 = now,
                        text: String = "Congratulations!", signer: SigningKey, version: UInt8 = 1, kind: UInt8 = 2) -> [UInt8] {
    var w = ByteWriter()
    w.u8(version); w.u8(kind); w.u8(action); w.raw(writer); w.raw(owner); w.raw(aid); w.u32(epoch); w.raw(threadPostID)
    w.raw(targetWriter ?? writer); w.raw(targetID); w.u64(revision); w.u64(createdAt)
    let t = Array(text.utf8); w.u32(UInt32(t.count)); w.raw(t)
    return w.bytes + signer.sign(sigMessage("kith/note/v1", w.bytes))
}

/// A fan-out's inner plaintext around `note`, countersigned by `signer`.
func rawFanOut(_ note: [UInt8], signer: SigningKey) -> [UInt8] {
    var w = ByteWriter()
    w.u8(1); w.u8(3); w.u32(UInt32(note.count)); w.raw(note)
    return w.bytes + signer.sign(sigMessage("kith/fan-out/v1", w.bytes))
}

@MainActor func writeThreadVectors() throws {
    func header(_ kind: String, _ expect: String, _ comment: String) -> [(String, String)] {
        [("kind", kind), ("expect", expect), ("comment", comment), ("owner", hex(alice.publicKey)),
         ("audience-id", hex(audienceID)), ("epoch", "3"), ("epoch-key", hex(audience.key.copyBytes()))]
    }
    func fields(_ note: Note) -> [(String, String)] {
        [("action", String(describing: note.action)), ("writer", hex(note.writer)), ("post-id", hex(note.postID)),
         ("target-writer", hex(note.targetWriter)), ("target-id", hex(note.targetID)), ("revision", String(note.revision)),
         ("created-at", String(note.createdAt))] + (note.text.isEmpty ? [] : [("text", note.text)])
    }
    func sealed(_ inner: [UInt8]) throws -> String { hex(try sealPadded(Padding.pad(inner, blockSize: 512))) }

    let comment = try Note(action: .comment, writer: bob, owner: alice.publicKey, audienceID: audienceID, epoch: 3, postID: threadPostID,
                           targetWriter: bob.publicKey, targetID: commentID, revision: 0, createdAt: now, text: "Congratulations!")
    try write("note-comment-valid.txt", header("note", "success", "bob's comment on alice's post, sent to alice") + fields(comment),
              hex(try comment.seal(audience: audience, nonce: postNonce).bytes))
    let reaction = try Note(action: .reaction, writer: bob, owner: alice.publicKey, audienceID: audienceID, epoch: 3, postID: threadPostID,
                            targetWriter: alice.publicKey, targetID: threadPostID, revision: 2, createdAt: now, text: "👨‍👩‍👧")
    try write("note-reaction-valid.txt", header("note", "success", "bob's second reaction to alice's post (a ZWJ emoji sequence)") + fields(reaction),
              hex(try reaction.seal(audience: audience, nonce: postNonce).bytes))
    try write("fan-out-comment-valid.txt", header("fan-out", "success", "alice passes bob's comment on, countersigned") + fields(comment),
              hex(try FanOut.seal(comment, owner: alice, audience: audience, nonce: postNonce).bytes))
    let removal = try Note(action: .delete, writer: alice, owner: alice.publicKey, audienceID: audienceID, epoch: 3, postID: threadPostID,
                           targetWriter: bob.publicKey, targetID: commentID, revision: 1, createdAt: now, text: "")
    try write("fan-out-owner-removes-comment.txt", header("fan-out", "success", "alice deletes bob's comment on her post") + fields(removal),
              hex(try FanOut.seal(removal, owner: alice, audience: audience, nonce: postNonce).bytes))

    let bobsComment = rawNote(action: 1, writer: bob.publicKey, signer: bob)
    try write("note-bad-signature.txt", header("note", "bad signature", "claims bob as writer, signed by mallory"),
              try sealed(rawNote(action: 1, writer: bob.publicKey, signer: mallory)))
    try write("note-retargeted-epoch.txt", header("note", "wrong recipient", "signed by bob for epoch 2, encrypted under epoch 3's key"),
              try sealed(rawNote(action: 1, writer: bob.publicKey, epoch: 2, signer: bob)))
    try write("note-retargeted-owner.txt", header("note", "wrong recipient", "signed by bob for mallory's audience of the same id"),
              try sealed(rawNote(action: 1, writer: bob.publicKey, owner: mallory.publicKey, signer: bob)))
    try write("note-edit-of-others.txt", header("note", "wrong recipient", "bob edits alice's post"),
              try sealed(rawNote(action: 3, writer: bob.publicKey, targetWriter: alice.publicKey, targetID: threadPostID, revision: 1, signer: bob)))
    try write("note-delete-of-others.txt", header("note", "wrong recipient", "bob deletes carol's comment on alice's post"),
              try sealed(rawNote(action: 4, writer: bob.publicKey, targetWriter: carol.publicKey, revision: 1, text: "", signer: bob)))
    try write("note-delete-post-id-of-member.txt", header("note", "malformed", "bob deletes an item of his with the post's id"),
              try sealed(rawNote(action: 4, writer: bob.publicKey, targetID: threadPostID, revision: 1, text: "", signer: bob)))
    try write("note-unknown-action.txt", header("note", "malformed", "action 9"), try sealed(rawNote(action: 9, writer: bob.publicKey, signer: bob)))
    try write("note-unknown-kind.txt", header("note", "malformed", "inner kind 4"),
              try sealed(rawNote(action: 1, writer: bob.publicKey, signer: bob, kind: 4)))
    try write("note-unsupported-version.txt", header("note", "unsupported version", "inner version 3"),
              try sealed(rawNote(action: 1, writer: bob.publicKey, signer: bob, version: 3)))
    try write("note-comment-revision.txt", header("note", "malformed", "a comment with revision 1"),
              try sealed(rawNote(action: 1, writer: bob.publicKey, revision: 1, signer: bob)))
    try write("note-delete-with-text.txt", header("note", "malformed", "a delete that carries text"),
              try sealed(rawNote(action: 4, writer: bob.publicKey, revision: 1, signer: bob)))
    try write("note-reaction-bidi.txt", header("note", "malformed", "a reaction of U+202E RIGHT-TO-LEFT OVERRIDE"),
              try sealed(rawNote(action: 2, writer: bob.publicKey, targetWriter: alice.publicKey, targetID: threadPostID, revision: 1,
                                 text: "\u{202E}", signer: bob)))
    try write("note-reaction-too-long.txt", header("note", "malformed", "a reaction of 33 bytes"),
              try sealed(rawNote(action: 2, writer: bob.publicKey, targetWriter: alice.publicKey, targetID: threadPostID, revision: 1,
                                 text: String(repeating: "x", count: 33), signer: bob)))
    try write("note-from-the-future.txt", header("note", "not valid now", "validly signed, dated 2 days after the evaluation time"),
              try sealed(rawNote(action: 1, writer: bob.publicKey, createdAt: now + 2 * 86_400, signer: bob)))

    try write("fan-out-bad-countersignature.txt", header("fan-out", "bad signature", "bob's comment countersigned by mallory"),
              try sealed(rawFanOut(bobsComment, signer: mallory)))
    try write("fan-out-forged-note.txt", header("fan-out", "bad signature", "alice countersigns a comment in carol's name that alice signed"),
              try sealed(rawFanOut(rawNote(action: 1, writer: carol.publicKey, signer: alice), signer: alice)))
    try write("fan-out-not-owner.txt", header("fan-out", "wrong recipient", "bob's comment on mallory's post, fanned out by mallory under alice's key"),
              try sealed(rawFanOut(rawNote(action: 1, writer: bob.publicKey, owner: mallory.publicKey, signer: bob), signer: mallory)))
    var cut = rawFanOut(bobsComment, signer: alice)
    cut[5] = cut[5] &+ 1
    try write("fan-out-note-length.txt", header("fan-out", "malformed", "note length one more than the note"), try sealed(cut))
    var tampered = try FanOut.seal(comment, owner: alice, audience: audience, nonce: postNonce).bytes
    tampered[tampered.count - 30] ^= 0x01
    try write("fan-out-tampered.txt", header("fan-out", "decryption failure", "one ciphertext byte flipped"), hex(tampered))
}
