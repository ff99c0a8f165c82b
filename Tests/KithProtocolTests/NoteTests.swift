import KithCrypto
@testable import KithProtocol
import Testing

/// Notes (comments, reactions, edits, deletes) and their fan-out, beyond the vectors.
@Suite struct NoteTests {
    let alice = SigningKey(), bob = SigningKey(), carol = SigningKey()
    let audienceID = randomBytes(16), postID = randomBytes(16)
    var audience: AudienceKey { AudienceKey(owner: alice.publicKey, audienceID: audienceID, epoch: 2, key: SecretBytes(random: 32)) }

    func note(_ action: Note.Action, by writer: SigningKey, target: [UInt8]? = nil, targetID: [UInt8]? = nil, revision: UInt64 = 1,
              text: String = "hello", epoch: UInt32 = 2) throws -> Note {
        try Note(action: action, writer: writer, owner: alice.publicKey, audienceID: audienceID, epoch: epoch, postID: postID,
                 targetWriter: target ?? writer.publicKey, targetID: targetID ?? randomBytes(16), revision: revision, createdAt: 1_790_000_000, text: text)
    }

    func open(_ envelope: Envelope, _ key: AudienceKey) throws -> AudienceMessage {
        try AudienceMessage.open(Envelope(bytes: envelope.bytes), audience: key, now: 1_790_000_000)
    }

    @Test func aFanOutCarriesTheWritersNoteIntact() throws {
        let key = audience
        let comment = try note(.comment, by: bob, revision: 0)
        guard case .note(let sent) = try open(try comment.seal(audience: key), key) else { Issue.record("not a note"); return }
        #expect(sent == comment)
        guard case .fanOut(let passed) = try open(try FanOut.seal(sent, owner: alice, audience: key), key) else { Issue.record("not a fan-out"); return }
        #expect(passed.bytes == comment.bytes && passed.writer == bob.publicKey && passed.text == "hello")
        // The same envelope size rules as posts: a relay cannot tell them apart by size.
        #expect(try comment.seal(audience: key).bytes.count == Post.minBucket + 62)
    }

    @Test func aNoteOpensOnlyUnderItsOwnAudienceKey() throws {
        let key = audience
        let other = AudienceKey(owner: alice.publicKey, audienceID: audienceID, epoch: 3, key: SecretBytes(random: 32))
        #expect(throws: ProtocolError(.noMatchingKey, "post: encrypted under another key")) {
            try open(try note(.comment, by: bob, revision: 0).seal(audience: key), other)
        }
        // Signed for epoch 3 but sealed under epoch 2's key: the signature binds the epoch.
        let retargeted = try note(.comment, by: bob, revision: 0, epoch: 3)
        let envelope = try Post.seal(inner: retargeted.bytes, audience: key, nonce: randomBytes(24))
        #expect { try open(envelope, key) } throws: { ($0 as? ProtocolError)?.kind == .wrongRecipient }
    }

    @Test func onlyTheWriterEditsAndOnlyTheWriterOrOwnerDeletes() throws {
        let commentID = randomBytes(16)
        _ = try note(.delete, by: alice, target: carol.publicKey, targetID: commentID, text: "")
        _ = try note(.delete, by: carol, targetID: commentID, text: "")
        for forged in [try Self.unchecked(.edit, writer: bob, owner: alice.publicKey, target: carol.publicKey, text: "x"),
                       try Self.unchecked(.delete, writer: bob, owner: alice.publicKey, target: carol.publicKey, text: "")] {
            #expect { try Note.parse(forged) } throws: { ($0 as? ProtocolError)?.kind == .wrongRecipient }
        }
    }

    @Test func shapesEachActionMustHave() throws {
        func kind(_ body: () throws -> Note) -> ProtocolError.Kind? {
            do { _ = try body(); return nil } catch { return (error as? ProtocolError)?.kind }
        }
        #expect(kind { try note(.comment, by: bob, revision: 1) } == .malformed)
        #expect(kind { try note(.comment, by: bob, revision: 0, text: "") } == .malformed)
        #expect(kind { try note(.comment, by: bob, revision: 0, text: String(repeating: "a", count: Note.maxTextBytes + 1)) } == .malformed)
        #expect(kind { try note(.comment, by: bob, targetID: postID, revision: 0) } == .malformed)
        #expect(kind { try note(.edit, by: bob, revision: 0) } == .malformed)
        #expect(kind { try note(.delete, by: bob, text: "left behind") } == .malformed)
        #expect(kind { try note(.reaction, by: bob, target: alice.publicKey, targetID: postID, text: "👍") } == nil)
        #expect(kind { try note(.reaction, by: bob, target: alice.publicKey, targetID: postID, text: "") } == nil)
        #expect(kind { try note(.reaction, by: bob, target: bob.publicKey, targetID: postID, text: "👍") } == .malformed)
        // The longest comment still fits the largest bucket inside a fan-out.
        let longest = try note(.comment, by: bob, revision: 0, text: String(repeating: "a", count: Note.maxTextBytes))
        let key = audience
        guard case .fanOut(let passed) = try open(try FanOut.seal(longest, owner: alice, audience: key), key) else { Issue.record("not a fan-out"); return }
        #expect(passed == longest)
    }

    @Test func reactionsAreShortAndInvisibleCharacterFree() throws {
        for ok in ["👍", "❤️", "👨‍👩‍👧", "🇫🇷", "+1"] { try Reaction.check(Array(ok.utf8)) }
        for bad in ["", "\u{202E}", "a b", "\n", "\u{200B}", "x\u{2028}", String(repeating: "👍", count: 9)] {
            #expect(throws: ProtocolError.self) { try Reaction.check(Array(bad.utf8)) }
        }
    }

    /// A signed note with any target, bypassing the library's checks.
    static func unchecked(_ action: Note.Action, writer: SigningKey, owner: [UInt8], target: [UInt8], text: String) throws -> [UInt8] {
        var w = ByteWriter()
        w.u8(1); w.u8(2); w.u8(action.rawValue); w.raw(writer.publicKey); w.raw(owner); w.raw(randomBytes(16)); w.u32(1); w.raw(randomBytes(16))
        w.raw(target); w.raw(randomBytes(16)); w.u64(1); w.u64(1)
        let t = Array(text.utf8); w.u32(UInt32(t.count)); w.raw(t)
        return w.bytes + writer.sign(signedMessage(context: "kith/note/v1", w.bytes))
    }
}
