import Foundation
import KithCrypto
@testable import KithProtocol
import Testing

/// One vector file: `key: value` lines, a blank line, the structure.
struct Vector: CustomStringConvertible {
    let file: String
    let fields: [String: String]
    let body: String

    var description: String { file }

    init(path: String) throws {
        file = (path as NSString).lastPathComponent
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let parts = text.components(separatedBy: "\n\n")
        var fields: [String: String] = [:]
        for line in parts[0].split(separator: "\n") {
            let kv = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            fields[kv[0]] = kv[1]
        }
        self.fields = fields
        body = parts.dropFirst().joined(separator: "\n\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func hex(_ key: String) -> [UInt8] {
        guard let value = fields[key].flatMap({ Hex.decode($0) }) else { Issue.record("\(file): no hex field \(key)"); return [] }
        return value
    }

    /// The `attachment-N` lines, in order.
    var attachments: [String] {
        (1...KithProtocol.Attachment.maxCount).compactMap { fields["attachment-\($0)"] }
    }

    static func all() throws -> [Vector] {
        let dir = Bundle.module.resourceURL!.appendingPathComponent("Vectors").path
        return try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".txt") }.sorted()
            .map { try Vector(path: (dir as NSString).appendingPathComponent($0)) }
    }
}

/// Runs a vector's decoder; returns the failure kind, or "success" after
/// checking every expected field.
func outcome(of v: Vector) throws -> String {
    let now = UInt64(v.fields["now"]!)!
    do {
        switch v.fields["kind"] {
        case "card":
            let card = try ContactCard(text: v.body)
            try card.checkValid(at: now)
            #expect(card.identity == v.hex("identity"))
            #expect(card.name == v.fields["name"])
            #expect(Fingerprint.of(identity: card.identity) == v.fields["fingerprint"])
            #expect(card.text == v.body, "re-encoding must give the same card")
        case "key-message":
            let envelope = try Envelope(bytes: Hex.decode(v.body)!)
            let key = try BoxKey(secretKey: v.hex("recipient-encryption-secret"))
            let message = try KeyMessage.open(envelope, keys: [key], me: v.hex("recipient-identity"))
            #expect(message.audience.owner == v.hex("owner"))
            #expect(message.audience.audienceID == v.hex("audience-id"))
            #expect(message.audience.epoch == UInt32(v.fields["epoch"]!))
            #expect(message.audience.key.copyBytes() == v.hex("epoch-key"))
            #expect(message.audienceName == v.fields["audience-name"])
            #expect(message.flags.rawValue == UInt8(v.fields["flags"] ?? "0"), "flags: 1 direct, 2 sharing members; a vector without the line says 0")
        case "key-update":
            let envelope = try Envelope(bytes: Hex.decode(v.body)!)
            let key = try BoxKey(secretKey: v.hex("recipient-encryption-secret"))
            guard case .keyUpdate(let update) = try KeyChannel.open(envelope, keys: [key], me: v.hex("recipient-identity")) else {
                Issue.record("\(v.file): a key message, not a key update"); return "key message"
            }
            #expect(update.sender == v.hex("sender"))
            #expect(update.recipient == v.hex("recipient-identity"))
            #expect(update.certificate.publicKey == v.hex("encryption-public"))
            #expect(update.certificate.notBefore == UInt64(v.fields["not-before"]!))
            #expect(update.certificate.notAfter == UInt64(v.fields["not-after"]!))
            #expect(update.createdAt == UInt64(v.fields["created-at"]!))
        case "inbox-update":
            let envelope = try Envelope(bytes: Hex.decode(v.body)!)
            let key = try BoxKey(secretKey: v.hex("recipient-encryption-secret"))
            guard case .inboxUpdate(let update) = try KeyChannel.open(envelope, keys: [key], me: v.hex("recipient-identity")) else {
                Issue.record("\(v.file): not an inbox update"); return "other"
            }
            #expect(update.sender == v.hex("sender"))
            #expect(update.sequence == UInt64(v.fields["sequence"]!))
            #expect(update.change == (v.fields["change"] == "add" ? .add : .remove))
            #expect(update.relay == v.fields["relay"])
            #expect(update.mailbox == v.hex("mailbox"))
            #expect(update.dropToken == (update.change == .add ? v.hex("drop-token") : []))
            #expect(try InboxUpdate.open(envelope, keys: [key], me: v.hex("recipient-identity")) == update)
        case "post":
            let envelope = try Envelope(bytes: Hex.decode(v.body)!)
            var key = v.hex("epoch-key")
            let audience = AudienceKey(owner: v.hex("owner"), audienceID: v.hex("audience-id"),
                                       epoch: UInt32(v.fields["epoch"]!)!, key: SecretBytes(consuming: &key))
            let post = try Post.open(envelope, audience: audience, now: now)
            #expect(post.author == v.hex("author"))
            #expect(post.id == v.hex("post-id"))
            #expect(post.createdAt == UInt64(v.fields["created-at"]!))
            #expect(post.text == v.fields["text"])
            #expect(post.attachments.map(attachmentSummary) == v.attachments)
            #expect(envelope.payload.count == 16 + 24 + Int(v.fields["padded-length"]!)! + 16)
        case "member-list":
            let envelope = try Envelope(bytes: Hex.decode(v.body)!)
            var key = v.hex("epoch-key")
            let audience = AudienceKey(owner: v.hex("owner"), audienceID: v.hex("audience-id"),
                                       epoch: UInt32(v.fields["epoch"]!)!, key: SecretBytes(consuming: &key))
            guard case .memberList(let list) = try AudienceMessage.open(envelope, audience: audience, now: now) else {
                Issue.record("\(v.file): opened as another kind"); return "other"
            }
            #expect(list.revision == UInt64(v.fields["revision"]!))
            #expect(list.members.map { "\(Hex.encode($0.identity)) \($0.name)" }.joined(separator: ", ") == v.fields["members"])
        case "note", "fan-out":
            let envelope = try Envelope(bytes: Hex.decode(v.body)!)
            var key = v.hex("epoch-key")
            let audience = AudienceKey(owner: v.hex("owner"), audienceID: v.hex("audience-id"),
                                       epoch: UInt32(v.fields["epoch"]!)!, key: SecretBytes(consuming: &key))
            let note: Note
            switch try AudienceMessage.open(envelope, audience: audience, now: now) {
            case .note(let n) where v.fields["kind"] == "note": note = n
            case .fanOut(let n) where v.fields["kind"] == "fan-out": note = n
            default: Issue.record("\(v.file): opened as another kind"); return "other"
            }
            #expect(String(describing: note.action) == v.fields["action"])
            #expect(note.writer == v.hex("writer"))
            #expect(note.postID == v.hex("post-id"))
            #expect(note.targetWriter == v.hex("target-writer"))
            #expect(note.targetID == v.hex("target-id"))
            #expect(note.revision == UInt64(v.fields["revision"]!))
            #expect(note.createdAt == UInt64(v.fields["created-at"]!))
            #expect(note.text == (v.fields["text"] ?? ""))
            #expect(note.attachments.map(attachmentSummary) == v.attachments)
        case "profile":
            let envelope = try Envelope(bytes: Hex.decode(v.body)!)
            let key = try BoxKey(secretKey: v.hex("recipient-encryption-secret"))
            let profile = try Profile.open(envelope, keys: [key], me: v.hex("recipient-identity"), now: now)
            #expect(profile.author == v.hex("author"))
            #expect(profile.sequence == UInt64(v.fields["sequence"]!))
            #expect(profile.createdAt == UInt64(v.fields["created-at"]!))
            #expect((profile.name ?? "") == v.fields["name"])
            #expect(profile.bio == v.fields["bio"])
            #expect([profile.avatar].compactMap { $0 }.map(attachmentSummary) == v.attachments)
            #expect(envelope.bytes.count == 1_078)
        case "blob":
            let ref = BlobRef(id: v.hex("id"), key: v.hex("key"), size: UInt64(v.fields["size"]!)!)
            let plain = try AttachmentCipher.decrypt(Hex.decode(v.body)!, ref: ref)
            #expect(plain == v.hex("plaintext"))
        case "request":
            let message = SignedRequest.message(method: v.fields["method"]!, path: v.fields["path"]!,
                                                timestamp: UInt64(v.fields["timestamp"]!)!, nonce: v.hex("nonce"), body: v.hex("body"))
            guard SigningKey.verify(signature: Hex.decode(v.body)!, message: message, publicKey: v.hex("mailbox")) else {
                throw ProtocolError(.badSignature, "request signature")
            }
        case "audience-key":
            var key = v.hex("epoch-key")
            let audience = AudienceKey(owner: v.hex("owner"), audienceID: v.hex("audience-id"), epoch: UInt32(v.fields["epoch"]!)!,
                                       key: SecretBytes(consuming: &key))
            #expect(audience.keyID == Hex.decode(v.body)!)
            #expect(audience.postKey.copyBytes() == v.hex("post-key"))
        case "drop":
            let drop = try DropRequest(bytes: Hex.decode(v.body)!)
            #expect(drop.targets.count == v.fields["targets"].flatMap { Int($0) })
            #expect(Envelope.id(of: drop.envelope) == v.hex("envelope-id"))
        case "blob-upload":
            let body = Hex.decode(v.body)!
            let upload = try BlobUpload.parse(body)
            #expect(upload.targets.count == v.fields["targets"].flatMap { Int($0) })
            #expect(Hash.blake2b(Array(body[upload.blobStart...]), length: 32) == v.hex("blob-id"))
        case "batch":
            let batch = try FetchedBatch(bytes: Hex.decode(v.body)!)
            #expect(batch.items.count == v.fields["items"].flatMap { Int($0) })
            #expect(batch.more == (v.fields["more"] == "1"))
            #expect(batch.items.map { String($0.sequence) }.joined(separator: ",") == v.fields["sequences"])
        case "ack":
            #expect(try AckRequest(bytes: Hex.decode(v.body)!).ids.count == v.fields["ids"].flatMap { Int($0) })
        case "keystore":
            let (header, ciphertext) = try KeystoreFile.Header.parse(file: Hex.decode(v.body)!)
            let key = try PasswordKDF.deriveKey(passphrase: Array(v.fields["passphrase"]!.utf8), salt: header.salt,
                                                opsLimit: header.opsLimit, memLimit: header.memLimit)
            guard let plain = try? AEAD.open(ciphertext, key: key, nonce: header.nonce, associatedData: header.bytes) else {
                throw ProtocolError(.decryptionFailed, "keystore: wrong passphrase or tampered")
            }
            let secrets = try KeystoreFile.Secrets.decode(plain)
            #expect(secrets.identity.publicKey == v.hex("identity"))
            #expect(secrets.encryptionKeys.map(\.key.publicKey) == [v.hex("encryption-public")])
            #expect(secrets.mailboxKeys[v.fields["mailbox-relay"] ?? ""]?.publicKey == v.hex("mailbox"))
        case "invitation":
            let invitation = try FriendInvitation(text: v.body)
            #expect(invitation.relay == v.fields["relay"])
            #expect(invitation.id == v.hex("id"))
            #expect(invitation.secret.copyBytes() == v.hex("secret"))
            #expect(invitation.sealKey().copyBytes() == v.hex("seal-key"))
            #expect(invitation.answerKey().copyBytes() == v.hex("answer-key"))
        case "sealed-invitation":
            let taken = try FriendInvitation(relay: v.fields["relay"]!, secret: v.hex("secret")).open(Hex.decode(v.body)!)
            #expect(taken.card.identity == v.hex("identity"))
            #expect(taken.requestKey.copyBytes() == v.hex("request-key"))
        case "friend-request":
            let invitation = try FriendInvitation(relay: v.fields["relay"]!, secret: v.hex("secret"))
            let request = try FriendRequest.open(try Envelope(bytes: Hex.decode(v.body)!), keys: [try BoxKey(secretKey: v.hex("recipient-encryption-secret"))])
            #expect(request.card.identity == v.hex("identity"))
            #expect(request.invitationID == v.hex("id"))
            #expect(invitation.requestKey(takerNonce: v.hex("taker-nonce")).copyBytes() == v.hex("request-key"))
            #expect(request.isProven(by: invitation.requestKey(takerNonce: v.hex("taker-nonce"))) == (v.fields["proven"] == "1"))
        default:
            Issue.record("unknown vector kind in \(v.file)")
        }
        return "success"
    } catch let error as ProtocolError {
        return error.kind.rawValue
    }
}

@Suite struct VectorTests {
    @Test func vectorsCoverEveryStructureAndFailureKind() throws {
        let vectors = try Vector.all()
        #expect(vectors.count >= 63)
        #expect(vectors.allSatisfy { $0.fields["now"] != nil }, "every vector names its evaluation time")
        let kinds = Set(vectors.compactMap { $0.fields["kind"] })
        #expect(kinds == ["card", "key-message", "key-update", "inbox-update", "post", "note", "fan-out", "member-list", "request", "audience-key", "drop",
                          "batch", "ack", "keystore", "invitation", "sealed-invitation", "friend-request", "profile", "blob", "blob-upload"])
        let expects = Set(vectors.compactMap { $0.fields["expect"] })
        for kind in ProtocolError.Kind.allCases {
            #expect(expects.contains(kind.rawValue), "no vector expects \(kind.rawValue)")
        }
    }

    @Test(arguments: try Vector.all())
    func vector(_ v: Vector) throws {
        #expect(try outcome(of: v) == v.fields["expect"])
    }

    /// A node opens every key-channel envelope with `KeyChannel.open`: for a
    /// key message it must fail (or succeed) exactly as `KeyMessage.open` does.
    @Test(arguments: try Vector.all().filter { $0.fields["kind"] == "key-message" })
    func keyChannelAgreesOnKeyMessages(_ v: Vector) throws {
        let result: String
        do {
            let envelope = try Envelope(bytes: Hex.decode(v.body)!)
            let key = try BoxKey(secretKey: v.hex("recipient-encryption-secret"))
            guard case .keyMessage = try KeyChannel.open(envelope, keys: [key], me: v.hex("recipient-identity")) else {
                Issue.record("\(v.file): opened as a key update"); return
            }
            result = "success"
        } catch let error as ProtocolError { result = error.kind.rawValue }
        #expect(result == v.fields["expect"])
    }
}

/// An attachment as a vector's `attachment-N` line gives it: kind, media
/// type, name (- for none), size, width x height, blob id and key, then the
/// thumbnail's size (0: none) and, if any, its id and key.
func attachmentSummary(_ a: KithProtocol.Attachment) -> String {
    var s = "\(a.kind == .photo ? "photo" : "file") \(a.mediaType) \(a.name.isEmpty ? "-" : a.name) \(a.blob.size) \(a.width)x\(a.height)"
    s += " \(Hex.encode(a.blob.id)) \(Hex.encode(a.blob.key))"
    if let t = a.thumbnail { s += " \(t.size) \(Hex.encode(t.id)) \(Hex.encode(t.key))" } else { s += " 0" }
    return s
}
