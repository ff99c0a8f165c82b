import KithCrypto
@testable import KithProtocol
import Testing

// Swift Testing has an `Attachment` too.
private typealias Attachment = KithProtocol.Attachment

@Suite struct ProfileTests {
    let alice = SigningKey(), bob = SigningKey()
    let bobBox = BoxKey()

    fileprivate func avatar(side: UInt16 = 512, size: UInt64 = 60_000) throws -> Attachment {
        try Attachment(kind: .photo, mediaType: "image/jpeg", name: "", blob: BlobRef(id: randomBytes(32), key: randomBytes(32), size: size),
                       width: side, height: side, thumbnail: nil)
    }

    fileprivate func profile(sequence: UInt64 = 1, name: String? = "Alice Smith", bio: String = "Hi\nthere", avatar: Attachment? = nil,
                 recipient: [UInt8]? = nil, createdAt: UInt64 = 1_790_000_000) throws -> Profile {
        try Profile(author: alice.publicKey, recipient: recipient ?? bob.publicKey, sequence: sequence, createdAt: createdAt,
                    name: name, bio: bio, avatar: avatar)
    }

    @Test func aProfileRoundTripsAtItsFixedSize() throws {
        for p in [try profile(), try profile(name: nil, bio: ""),
                  try profile(name: String(repeating: "é", count: 32), bio: String(repeating: "ü", count: 250),
                              avatar: try Attachment(kind: .photo, mediaType: "image/jpeg", name: String(repeating: "a", count: 128),
                                                     blob: BlobRef(id: randomBytes(32), key: randomBytes(32), size: 1_048_576),
                                                     width: 512, height: 512, thumbnail: nil))] {
            let envelope = try p.seal(signer: alice, recipientKey: bobBox.publicKey)
            #expect(envelope.bytes.count == 1_078)
            let opened = try Profile.open(Envelope(bytes: envelope.bytes), keys: [BoxKey(), bobBox], me: bob.publicKey, now: 1_790_000_000)
            #expect(opened == p)
        }
    }

    @Test func openingRefusesWhatIsNotForMeOrNotSigned() throws {
        let envelope = try profile().seal(signer: alice, recipientKey: bobBox.publicKey)
        func kind(_ body: () throws -> Profile) -> ProtocolError.Kind? {
            do { _ = try body(); return nil } catch let e as ProtocolError { return e.kind } catch { return nil }
        }
        #expect(kind { try Profile.open(envelope, keys: [BoxKey()], me: bob.publicKey, now: 1_790_000_000) } == .noMatchingKey)
        #expect(kind { try Profile.open(envelope, keys: [bobBox], me: alice.publicKey, now: 1_790_000_000) } == .wrongRecipient)
        #expect(kind { try Profile.open(envelope, keys: [bobBox], me: bob.publicKey, now: 1_789_000_000) } == .notValidNow)
        // Signed by someone else than its author field says.
        var w = ByteWriter()
        w.u8(1); w.raw(alice.publicKey); w.raw(bob.publicKey); w.u64(1); w.u64(1); w.string8("Mallory"); w.u16(0); w.u8(0)
        let forged = w.bytes + bob.sign(signedMessage(context: Profile.context, w.bytes))
        let sealed = Envelope(kind: .profile, payload: try BoxKey.seal(Padding.pad(forged, blockSize: 1024), to: bobBox.publicKey))
        #expect(kind { try Profile.open(sealed, keys: [bobBox], me: bob.publicKey, now: 10) } == .badSignature)
        var bad = w.bytes; bad[bad.count - 1] = 2
        let badFlag = bad + alice.sign(signedMessage(context: Profile.context, bad))
        let sealedBad = Envelope(kind: .profile, payload: try BoxKey.seal(Padding.pad(badFlag, blockSize: 1024), to: bobBox.publicKey))
        #expect(kind { try Profile.open(sealedBad, keys: [bobBox], me: bob.publicKey, now: 10) } == .malformed)
        // The envelope size rule: a profile is 1,078 bytes, nothing else.
        #expect(throws: ProtocolError.self) { try Envelope(bytes: envelope.bytes + [0]) }
    }

    @Test func fieldsFollowTheirRules() throws {
        #expect(throws: ProtocolError.self) { try profile(sequence: 0) }
        #expect(throws: ProtocolError.self) { try profile(name: "") }
        #expect(throws: ProtocolError.self) { try profile(name: "Bob\u{202E}") }
        #expect(throws: ProtocolError.self) { try profile(bio: String(repeating: "x", count: 501)) }
        #expect(throws: ProtocolError.self) { try profile(bio: "tab\there") }
        #expect(throws: ProtocolError.self) { try profile(bio: "\u{2028}") }
        #expect(throws: ProtocolError.self) { try profile(avatar: try avatar(side: 513)) }
        #expect(throws: ProtocolError.self) { try profile(avatar: try avatar(size: 1_048_577)) }
        #expect(throws: ProtocolError.self) {
            try profile(avatar: try Attachment(kind: .photo, mediaType: "image/png", name: "", blob: BlobRef(id: randomBytes(32), key: randomBytes(32), size: 9),
                                               width: 5, height: 5, thumbnail: nil))
        }
        #expect(try profile(avatar: try avatar()).avatar != nil)
    }

    @Test func blobUploadHeadersParseAndRefuseBadCounts() throws {
        let targets = (0..<3).map { _ in DropRequest.Target(mailbox: randomBytes(32), token: randomBytes(32)) }
        let header = BlobUpload.header(targets: DropRequest.Targets(targets))
        let blob = randomBytes(41)
        let parsed = try BlobUpload.parse(header + blob)
        #expect(parsed.targets == targets && parsed.blobStart == header.count && header.count == 3 + 3 * 64)
        #expect(throws: ProtocolError.self) { try BlobUpload.parse(header + blob.dropLast()) }
        #expect(throws: ProtocolError.self) { try BlobUpload.parse(BlobUpload.header(targets: DropRequest.Targets([targets[0], targets[0]])) + blob) }
        #expect(throws: ProtocolError.self) { try BlobUpload.parse([1, 0, 0] + blob) }
        #expect(throws: ProtocolError.self) { try BlobUpload.parse([2] + Array(header.dropFirst()) + blob) }
    }
}
