import Foundation
import KithCrypto
import KithProtocol

/// Seed corpora, one folder per target: the test vectors (cards, key
/// messages and key updates, posts, requests) in each target's input form, plus small valid
/// structures made with the library's own encoders for the formats that have
/// no vectors (drops, batches, acks, keystores). Valid seeds let the fuzzer
/// start past the checks that random bytes never pass (signatures, AEAD tags).
enum Seeds {
    /// Writes every target's seeds under `out/<target>/`; returns how many.
    static func write(vectors: String, to out: String) throws -> Int {
        var seeds: [FuzzTarget: [(String, [UInt8])]] = [:]
        func add(_ t: FuzzTarget, _ name: String, _ bytes: [UInt8]) { seeds[t, default: []].append((name, bytes)) }

        var envelopes: [[UInt8]] = []
        let files = try FileManager.default.contentsOfDirectory(atPath: vectors).filter { $0.hasSuffix(".txt") }.sorted()
        for file in files {
            let text = try String(contentsOfFile: (vectors as NSString).appendingPathComponent(file), encoding: .utf8)
            guard let split = text.range(of: "\n\n") else { continue }
            var fields: [String: String] = [:]
            for line in text[..<split.lowerBound].split(separator: "\n") {
                let kv = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if kv.count == 2 { fields[kv[0]] = kv[1] }
            }
            let body = text[split.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines)
            let name = String(file.dropLast(4))
            switch fields["kind"] {
            case "card":
                add(.cardText, name, Array(body.utf8))
                // As a mail quotes it, wrapped at 64 columns.
                let wrapped = stride(from: 0, to: body.count, by: 64).map { "> " + body.dropFirst($0).prefix(64) }.joined(separator: "\n")
                add(.pasted, name, Array(("Here is my card:\n" + wrapped + "\nSee you").utf8))
                if let colon = body.firstIndex(of: ":"), let raw = Base64URL.decode(body[body.index(after: colon)...]) {
                    add(.cardBytes, name, raw)
                    if raw.count >= 33 + EncryptionKeyCertificate.length { add(.certificate, name, Array(raw[33..<33 + EncryptionKeyCertificate.length])) }
                }
            case "key-message", "key-update", "inbox-update":
                guard let env = Hex.decode(body) else { continue }
                envelopes.append(env)
                add(.envelope, name, env); add(.keyMessage, name, env)
                if env.count > Envelope.headerLength, let inner = try? Fixtures.bobBox.open(Array(env[Envelope.headerLength...])) {
                    add(.keyMessageInner, name, inner)
                }
            case "post", "note", "fan-out", "member-list":
                guard let env = Hex.decode(body) else { continue }
                envelopes.append(env)
                add(.envelope, name, env); add(.post, name, env); add(.thread, name, env)
                let start = Envelope.headerLength + AudienceKey.keyIDLength
                if env.count > start + AEAD.nonceLength,
                   let padded = try? AEAD.open(Array(env[(start + AEAD.nonceLength)...]), key: Fixtures.postKey,
                                               nonce: Array(env[start..<start + AEAD.nonceLength]),
                                               associatedData: Fixtures.postHeader + Array(env[Envelope.headerLength..<start])) {
                    add(.postInner, name, padded); add(.threadInner, name, padded)
                    if fields["kind"] == "member-list", let inner = try? Padding.unpad(padded, blockSize: padded.count) { add(.memberList, name, inner) }
                }
            case "invitation":
                add(.invitationText, name, Array(body.utf8))
                add(.pasted, name, Array("> Join me: \(body).".utf8))
                // Shapes that once made the finder slow: a long run of closing marks, a line of prefixes,
                // and the invitation beside a damaged copy.
                add(.pasted, name + "-closing-run", Array((body + String(repeating: ")", count: 4096)).utf8))
                add(.pasted, name + "-prefixes", Array(String(repeating: "kith-card: kith-invite: kith-", count: 256).utf8))
                add(.pasted, name + "-beside-damaged", Array("\(body)\n\(body.dropLast(3))".utf8))
            case "profile":
                guard let env = Hex.decode(body) else { continue }
                add(.envelope, name, env); add(.profile, name, env)
                if env.count > Envelope.headerLength, let padded = try? Fixtures.bobBox.open(Array(env[Envelope.headerLength...])),
                   let inner = try? Padding.unpad(padded, blockSize: Profile.paddedLength) {
                    add(.profileInner, name, inner)
                }
            case "blob":
                guard let blob = Hex.decode(body), let size = fields["size"].flatMap({ UInt32($0) }) else { continue }
                add(.blobDecrypt, name, withUnsafeBytes(of: size.bigEndian) { Array($0) } + blob)
            case "sealed-invitation":
                if let sealed = Hex.decode(body) { add(.sealedInvitation, name, sealed) }
            case "friend-request":
                guard let env = Hex.decode(body) else { continue }
                add(.envelope, name, env); add(.friendRequest, name, env)
                if env.count > Envelope.headerLength, let padded = try? Fixtures.aliceBox.open(Array(env[Envelope.headerLength...])),
                   let inner = try? Padding.unpad(padded, blockSize: FriendRequest.paddedLength) {
                    add(.friendRequestInner, name, inner)
                }
            case "request":
                guard let mailbox = fields["mailbox"].flatMap({ Hex.decode($0) }), let nonce = fields["nonce"].flatMap({ Hex.decode($0) }),
                      let sig = Hex.decode(body), let bodyBytes = fields["body"].flatMap({ Hex.decode($0) }),
                      let ts = fields["timestamp"], let method = fields["method"], let path = fields["path"] else { continue }
                let lines = [ts, Base64URL.encode(mailbox), ts, Base64URL.encode(nonce), Base64URL.encode(sig), method, path]
                add(.request, name, Array(lines.joined(separator: "\n").utf8) + [0x0a] + bodyBytes)
            default:
                continue
            }
        }
        guard envelopes.count >= 2 else { throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: vectors]) }

        // Hand-made seeds for the relay messages and the keystore.
        let target = DropRequest.Target(mailbox: Fixtures.mailboxKey.publicKey, token: [UInt8](repeating: 0xa4, count: 32))
        let other = DropRequest.Target(mailbox: Fixtures.bob.publicKey, token: [UInt8](repeating: 0x42, count: 32))
        let small = Envelope(kind: .post, payload: [0]).bytes
        add(.drop, "one-target", DropRequest(targets: [target], envelope: envelopes[0]).bytes)
        add(.drop, "two-targets", DropRequest(targets: [target, other], envelope: small).bytes)
        add(.batch, "two", FetchedBatch(items: [.init(sequence: 1, receivedAt: Fixtures.now, envelope: envelopes[0]),
                                                 .init(sequence: 2, receivedAt: Fixtures.now + 1, envelope: small)], more: true).bytes)
        add(.batch, "empty", FetchedBatch(items: [], more: false).bytes)
        add(.ack, "two", AckRequest(ids: envelopes.prefix(2).map { Envelope.id(of: $0) }).bytes)
        add(.ack, "one", AckRequest(ids: [Envelope.id(of: small)]).bytes)
        add(.blobUpload, "two-targets", BlobUpload.header(targets: DropRequest.Targets([target, other])) + [UInt8](repeating: 0xb1, count: 4137))
        let blobRef = BlobRef(id: [UInt8](repeating: 0x31, count: 32), key: [UInt8](repeating: 0xce, count: 32), size: 2_345_678)
        if let photo = try? Attachment(kind: .photo, mediaType: "image/jpeg", name: "baby.jpg", blob: blobRef, width: 3024, height: 4032,
                                       thumbnail: BlobRef(id: blobRef.id, key: blobRef.key, size: 34_567)),
           let file = try? Attachment(kind: .file, mediaType: "application/pdf", name: "", blob: blobRef, width: 0, height: 0, thumbnail: nil) {
            add(.attachment, "photo", photo.bytes); add(.attachment, "file", file.bytes)
        }

        // An inbox update (key channel, inner type 3), sealed to bob, whole and opened.
        let inboxUpdate = InboxUpdate(sender: Fixtures.alice.publicKey, recipient: Fixtures.bob.publicKey, sequence: 2,
                                      adding: Inbox(relay: "https://relay.example:8443", mailbox: Fixtures.mailboxKey.publicKey,
                                                    dropToken: [UInt8](repeating: 0xa4, count: 32)))
        if let sealed = try? inboxUpdate.seal(sender: Fixtures.alice, to: Fixtures.bobBox.publicKey) {
            add(.envelope, "inbox-update", sealed.bytes); add(.keyMessage, "inbox-update", sealed.bytes)
            if let inner = try? Fixtures.bobBox.open(sealed.payload) { add(.keyMessageInner, "inbox-update", inner) }
        }

        add(.keyMessageFields, "family", Array("family".utf8))
        add(.keyMessageFields, "emoji", Array("Zoë's 🦊 friends".utf8))
        add(.base64, "mailbox", Array(Base64URL.encode(Fixtures.mailboxKey.publicKey).utf8))
        add(.base64, "nonce", Array(Base64URL.encode([UInt8](repeating: 0x0d, count: 16)).utf8))
        for (name, relay) in [("alice", "https://relay.example:8443"), ("Zoë 🦊", "http://127.0.0.1:8080")] {
            add(.cardFields, name.filter(\.isLetter), [UInt8(name.utf8.count)] + Array(name.utf8) + Array(relay.utf8))
        }

        let header = try KeystoreFile.Header(opsLimit: PasswordKDF.interactiveOps, memLimit: PasswordKDF.interactiveMem,
                                             salt: [UInt8](repeating: 0x5a, count: 16), nonce: [UInt8](repeating: 0x24, count: 24))
        add(.keystoreHeader, "interactive", header.bytes + [UInt8](repeating: 0xee, count: 48))
        var backupPlain = ByteWriter(); backupPlain.u32(3); backupPlain.raw([1, 2, 3]); backupPlain.raw(Array("SQLite format 3\u{0}".utf8))
        add(.backup, "contents", backupPlain.bytes)
        add(.backup, "header", Backup.magic + [1] + header.bytes.dropFirst(9) + [UInt8](repeating: 0xee, count: 48))
        var storage = Fixtures.seed(0x57)
        let secrets = KeystoreFile.Secrets(identity: Fixtures.alice, storageKey: SecretBytes(consuming: &storage),
                                           encryptionKeys: [.init(key: Fixtures.bobBox, notAfter: Fixtures.now)],
                                           mailboxKeys: ["https://relay.example:8443": Fixtures.mailboxKey, "http://r": Fixtures.bob])
        add(.keystoreSecrets, "full", secrets.encode())
        var storage2 = Fixtures.seed(0x58)
        add(.keystoreSecrets, "empty", KeystoreFile.Secrets(identity: Fixtures.bob, storageKey: SecretBytes(consuming: &storage2),
                                                            encryptionKeys: [], mailboxKeys: [:]).encode())

        // The photos of the KithImage tests, beside the vectors' folder.
        let photos = URL(fileURLWithPath: vectors).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("KithImageTests/Fixtures")
        for name in ["phone.jpg", "photo.png", "photo.webp"] {
            add(.photo, name, try Array(Data(contentsOf: photos.appendingPathComponent(name))))
        }

        var written = 0
        for t in FuzzTarget.allCases {
            let dir = (out as NSString).appendingPathComponent(t.rawValue)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (name, bytes) in seeds[t] ?? [] {
                try Data(bytes).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent(name)))
                written += 1
            }
        }
        return written
    }
}
