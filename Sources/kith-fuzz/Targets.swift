import KithCrypto
import KithImage
import KithProtocol

/// One decoder under fuzzing. Every target feeds the fuzzer's bytes to a
/// decoder that must either succeed or throw a `ProtocolError`: a trap, an
/// out-of-bounds access, an overflow, another error type, or a success that
/// does not re-encode to the same structure is a finding (`fail`).
enum FuzzTarget: String, CaseIterable, Sendable {
    /// `ContactCard(text:)`: prefix, white space, base64url, then the card.
    case cardText = "card-text"
    /// `Base64URL.decode`: strict, so whatever it accepts is the canonical
    /// encoding of what it returns (cards and request headers rely on it).
    case base64
    /// `ContactCard(bytes:)`, past the base64url layer (certificate included).
    case cardBytes = "card-bytes"
    /// The encoder's checks against the decoder's and the spec's: a card made
    /// with a fuzzed name and relay URL must hold no control character and
    /// must decode to itself. Input: name length u8, name, then the relay URL.
    case cardFields = "card-fields"
    /// `EncryptionKeyCertificate.read(from:)` and `verify(identity:)`.
    case certificate
    /// `Envelope(bytes:)`, its id and a post's key id.
    case envelope
    /// `Envelope(bytes:)` then `KeyChannel.open` with bob's fixed key: key
    /// messages and key updates.
    case keyMessage = "key-message"
    /// The sealed plaintext of a key-channel envelope: the harness seals the
    /// input to bob's key, so `KeyChannel.open` parses it whole, as a key
    /// message (inner type 1 or 4), a key update (type 2) or an inbox update (3).
    case keyMessageInner = "key-message-inner"
    /// The encoder against the decoder: a key message sealed with a fuzzed
    /// audience name must open to the same name. Input: the name.
    case keyMessageFields = "key-message-fields"
    /// `Envelope(bytes:)` then `Post.open` with the fixed audience key.
    case post
    /// The padded plaintext of a post: the harness encrypts the input under
    /// the audience key, so `Post.open` checks its padding and parses it.
    case postInner = "post-inner"
    /// `Envelope(bytes:)` then `AudienceMessage.open` with the fixed
    /// audience key: posts, members' notes, owners' fan-outs and member lists.
    case thread
    /// The padded plaintext of a post envelope, encrypted by the harness
    /// under the audience key, so `AudienceMessage.open` parses it whole
    /// (a post, a note, a fan-out or a member list, by its kind byte).
    case threadInner = "thread-inner"
    /// `MemberList.parse` of a list as its owner signed it (as a node
    /// reads one back from its database); it must round-trip.
    case memberList = "member-list"
    case drop
    case batch
    case ack
    /// `SignedRequest(header:)` and `verify(method:path:body:now:)`; the input
    /// is lines: now, the four headers, method, path, then the body.
    case request
    /// `KeystoreFile.Header.parse(file:)`.
    case keystoreHeader = "keystore-header"
    /// `KeystoreFile.Secrets.decode(_:)`.
    case keystoreSecrets = "keystore-secrets"
    /// `Backup.header(of:)`, then `Backup.open` of the rest under a fixed key
    /// (so the contents' parsing is reached when the input is a sealed backup's plaintext).
    case backup
    /// `FriendInvitation(text:)`: prefix, relay URL, `#`, the secret.
    case invitationText = "invitation-text"
    /// `FriendInvitation.open` with the fixed invitation: a sealed card as a relay hands it out.
    case sealedInvitation = "sealed-invitation"
    /// `Envelope(bytes:)` then `FriendRequest.open` with alice's fixed key.
    case friendRequest = "friend-request"
    /// `FriendRequest.parse(inner:)`: the unpadded plaintext of a friend request.
    case friendRequestInner = "friend-request-inner"
    /// `Pasted.find(in:)`: a card or invitation in text as pasted (quoted,
    /// wrapped, among words); refusals are `PasteRefusal`s.
    case pasted
    /// `Attachment.decode`: one attachment descriptor, which must round-trip.
    /// (Descriptors inside posts and comments are reached by post-inner and thread-inner.)
    case attachment
    /// `Envelope(bytes:)` then `Profile.open` with bob's fixed key.
    case profile
    /// The signed bytes of a profile: the harness pads the input and seals
    /// it to bob's key, so `Profile.open` parses it whole.
    case profileInner = "profile-inner"
    /// `BlobUpload.parse`: the header of a relay's blob upload.
    case blobUpload = "blob-upload"
    /// `AttachmentCipher.decrypt` of a blob under the fixed blob key; the
    /// input is size u32 || blob, and the id is the blob's own hash, so the
    /// chunks, their tags and the padding are what gets checked.
    case blobDecrypt = "blob-decrypt"
    /// `Photo.prepare` (metadata removal, decoding by libjpeg, libpng or
    /// libwebp, the thumbnail) and `Photo.thumbnail`: refusals are
    /// `PhotoError`s; a prepared photo must prepare again to the same bytes
    /// with nothing left to remove.
    case photo

    func run(_ data: [UInt8]) {
        switch self {
        case .photo:
            runPhoto(data)
        case .cardText:
            decode {
                let text = String(decoding: data, as: UTF8.self)
                let card = try ContactCard(text: text)
                // Only white space may differ: the base64url must be the canonical one.
                var trimmed = Substring(text)
                while let f = trimmed.first, f.isWhitespace { trimmed = trimmed.dropFirst() }
                while let l = trimmed.last, l.isWhitespace { trimmed = trimmed.dropLast() }
                check(card.text == trimmed, "an accepted card text is not the card's own text")
                check((try? ContactCard(text: card.text)) == card, "card text does not round-trip")
            }
        case .base64:
            let text = String(decoding: data, as: UTF8.self)
            if let bytes = Base64URL.decode(text) { check(Base64URL.encode(bytes) == text, "base64url accepted a non-canonical encoding") }
        case .cardBytes:
            decode { let card = try ContactCard(bytes: data); check(card.bytes == data, "card bytes do not round-trip") }
        case .cardFields:
            guard let n = data.first.map(Int.init), data.count > n else { return }
            let name = String(decoding: data[1..<1 + n], as: UTF8.self)
            let relay = String(decoding: data[(1 + n)...], as: UTF8.self)
            decode {
                let card = try ContactCard(identity: Fixtures.alice, encryptionKey: Fixtures.aliceCert, sequence: 1, createdAt: Fixtures.now,
                                           name: name, inboxes: [Inbox(relay: relay, mailbox: Fixtures.mailboxKey.publicKey,
                                                                       dropToken: [UInt8](repeating: 0xa4, count: 32))])
                check(!name.unicodeScalars.contains { $0.properties.generalCategory == .control },
                      "a card name with a control character was accepted")
                check((try? ContactCard(text: card.text)) == card, "a card the encoder made does not decode")
            }
        case .certificate:
            decode {
                var r = ByteReader(data, what: "certificate")
                let cert = try EncryptionKeyCertificate.read(from: &r)
                try r.finish()
                var w = ByteWriter()
                cert.write(to: &w)
                check(w.bytes == data, "certificate does not round-trip")
                try cert.verify(identity: Fixtures.alice.publicKey)
            }
        case .envelope:
            decode {
                let e = try Envelope(bytes: data)
                check(e.bytes == data && e.id == Envelope.id(of: data), "envelope does not round-trip")
                if e.kind == .post { _ = try Post.keyID(of: e) }
            }
        case .keyMessage:
            decode { try openKeyChannel(try Envelope(bytes: data)) }
        case .keyMessageInner:
            decode { try openKeyChannel(Fixtures.keyMessageEnvelope(inner: data)) }
        case .keyMessageFields:
            let name = String(decoding: data, as: UTF8.self)
            let sent = KeyMessage(audience: Fixtures.audience, recipient: Fixtures.bob.publicKey, audienceName: name, createdAt: Fixtures.now)
            decode {
                let envelope = try sent.seal(owner: Fixtures.alice, to: Fixtures.bobBox.publicKey)
                guard let got = try? KeyMessage.open(envelope, keys: [Fixtures.bobBox], me: Fixtures.bob.publicKey) else {
                    fatalError("kith-fuzz: a key message the encoder sealed does not open")
                }
                check(got.audienceName == name && got.audience.epoch == 3 && got.createdAt == Fixtures.now, "key message does not round-trip")
            }
        case .post:
            decode { _ = try Post.open(try Envelope(bytes: data), audience: Fixtures.audience, now: Fixtures.now) }
        case .postInner:
            decode {
                let post = try Post.open(Fixtures.postEnvelope(padded: data), audience: Fixtures.audience, now: Fixtures.now)
                check((!post.text.isEmpty || !post.attachments.isEmpty) && post.text.utf8.count <= Post.maxTextBytes
                      && post.attachments.count <= Attachment.maxCount, "post text or attachments out of range")
            }
        case .invitationText:
            decode {
                let text = String(decoding: data, as: UTF8.self)
                check(try FriendInvitation(text: text).text == text, "an accepted invitation is not its own text")
            }
        case .sealedInvitation:
            decode {
                let card = try Fixtures.invitation.open(data).card
                check((try? ContactCard(bytes: card.bytes)) == card, "the card of a sealed invitation does not round-trip")
            }
        case .friendRequest:
            decode { checkRequest(try FriendRequest.open(try Envelope(bytes: data), keys: [Fixtures.aliceBox])) }
        case .friendRequestInner:
            decode { checkRequest(try FriendRequest.parse(inner: data)) }
        case .pasted:
            let text = String(decoding: data, as: UTF8.self)
            do {
                switch try Pasted.find(in: text) {
                case .card(let card): check((try? ContactCard(text: card.text)) == card, "a pasted card does not round-trip")
                case .invitation(let found): check((try? FriendInvitation(text: found))?.text == found, "a pasted invitation does not parse again")
                }
            } catch {}
        case .thread:
            decode { checkThread(try AudienceMessage.open(try Envelope(bytes: data), audience: Fixtures.audience, now: Fixtures.now)) }
        case .threadInner:
            decode { checkThread(try AudienceMessage.open(Fixtures.postEnvelope(padded: data), audience: Fixtures.audience, now: Fixtures.now)) }
        case .memberList:
            decode { checkThread(.memberList(try MemberList.parse(data))) }
        case .drop:
            decode {
                let d = try DropRequest(bytes: data)
                check(d.bytes == data && DropRequest.Targets(d.targets.list) == d.targets, "drop does not round-trip")
            }
        case .batch:
            decode { let b = try FetchedBatch(bytes: data); check(b.bytes == data, "batch does not round-trip") }
        case .ack:
            decode { let a = try AckRequest(bytes: data); check(a.bytes == data, "ack does not round-trip") }
        case .request:
            runRequest(data)
        case .backup:
            decode {
                let (header, ciphertext) = try Backup.header(of: data)
                check(header.bytes + ciphertext == data, "backup header does not round-trip")
            }
            decode {
                // The input as a backup's plaintext, sealed under a fixed key, then opened.
                let header = try Backup.Header(opsLimit: PasswordKDF.minOps, memLimit: PasswordKDF.minMem, salt: Fixtures.seed(1).prefix(16).map { $0 },
                                               nonce: [UInt8](repeating: 2, count: 24))
                let sealed = try AEAD.seal(data, key: Fixtures.postKey, nonce: header.nonce, associatedData: header.bytes)
                _ = try Backup.open(sealed, header: header, key: Fixtures.postKey)
            }
        case .attachment:
            decode { let a = try Attachment.decode(data); check(a.bytes == data, "attachment descriptor does not round-trip") }
        case .profile:
            decode { checkProfile(try Profile.open(try Envelope(bytes: data), keys: [Fixtures.bobBox], me: Fixtures.bob.publicKey, now: Fixtures.now)) }
        case .profileInner:
            guard data.count < Profile.paddedLength else { return }
            decode {
                let envelope = Envelope(kind: .profile, payload: try! BoxKey.seal(Padding.pad(data, blockSize: Profile.paddedLength), to: Fixtures.bobBox.publicKey))
                checkProfile(try Profile.open(envelope, keys: [Fixtures.bobBox], me: Fixtures.bob.publicKey, now: Fixtures.now))
            }
        case .blobUpload:
            decode {
                let (targets, start) = try BlobUpload.parse(data)
                check(BlobUpload.header(targets: DropRequest.Targets(targets)) == Array(data[0..<start]), "blob upload header does not round-trip")
                check(data.count - start >= BlobUpload.minBlobLength, "blob upload with a short blob accepted")
            }
        case .blobDecrypt:
            guard data.count >= 4 else { return }
            let size = data[0..<4].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let blob = Array(data[4...])
            decode {
                let plain = try AttachmentCipher.decrypt(blob, ref: BlobRef(id: Hash.blake2b(blob, length: 32), key: Fixtures.blobKey, size: size))
                check(UInt64(plain.count) == size && UInt64(blob.count) == AttachmentCipher.blobLength(size: size), "a blob decrypted to the wrong size")
            }
        case .keystoreHeader:
            decode {
                let (header, ct) = try KeystoreFile.Header.parse(file: data)
                check(header.bytes + ct == data, "keystore header does not round-trip")
            }
        case .keystoreSecrets:
            decode {
                let s = try KeystoreFile.Secrets.decode(data)
                // Not byte for byte: mailboxes are re-encoded sorted and a repeated relay keeps its last key.
                guard let again = try? KeystoreFile.Secrets.decode(s.encode()) else { fatalError("kith-fuzz: re-encoded keystore secrets do not decode") }
                check(again.identity.publicKey == s.identity.publicKey && again.mailboxKeys.count == s.mailboxKeys.count
                      && again.encryptionKeys.map(\.key.publicKey) == s.encryptionKeys.map(\.key.publicKey),
                      "keystore secrets do not round-trip")
            }
        }
    }

    /// Opens a key-channel envelope as a node does; a key message must open
    /// the same through `KeyMessage.open`, and a key update must name bob
    /// and carry a certificate its sender signed.
    private func openKeyChannel(_ envelope: Envelope) throws {
        switch try KeyChannel.open(envelope, keys: [Fixtures.bobBox], me: Fixtures.bob.publicKey) {
        case .keyMessage(let message):
            let again = try? KeyMessage.open(envelope, keys: [Fixtures.bobBox], me: Fixtures.bob.publicKey)
            check(again?.audience.keyID == message.audience.keyID, "KeyChannel.open and KeyMessage.open disagree")
        case .keyUpdate(let update):
            check(update.recipient == Fixtures.bob.publicKey, "a key update for someone else was accepted")
            check((try? update.certificate.verify(identity: update.sender)) != nil, "a key update's certificate does not verify")
            check((try? KeyMessage.open(envelope, keys: [Fixtures.bobBox], me: Fixtures.bob.publicKey)) == nil,
                  "KeyMessage.open accepted a key update")
        case .inboxUpdate(let update):
            check(update.recipient == Fixtures.bob.publicKey, "an inbox update for someone else was accepted")
            check((try? InboxUpdate.open(envelope, keys: [Fixtures.bobBox], me: Fixtures.bob.publicKey)) == update,
                  "KeyChannel.open and InboxUpdate.open disagree")
        }
    }

    private func runRequest(_ data: [UInt8]) {
        var lines: [String] = []
        var rest = data[...]
        while lines.count < 7, let nl = rest.firstIndex(of: 0x0a) {
            lines.append(String(decoding: rest[..<nl], as: UTF8.self))
            rest = rest[(nl + 1)...]
        }
        guard lines.count == 7 else { return }
        let names = [SignedRequest.mailboxHeader, SignedRequest.timestampHeader, SignedRequest.nonceHeader, SignedRequest.signatureHeader]
        let headers = Dictionary(zip(names, lines[1...4]), uniquingKeysWith: { a, _ in a }).filter { !$0.value.isEmpty }
        let now = UInt64(lines[0]) ?? Fixtures.now
        let method = lines[5], path = lines[6]
        decode {
            let request = try SignedRequest(header: { headers[$0] })
            try request.verify(method: method, path: path, body: Array(rest), now: now)
        }
    }
}

private func runPhoto(_ data: [UInt8]) {
    func photo(_ body: () throws -> Void) {
        do { try body() } catch is PhotoError {} catch {
            fatalError("kith-fuzz: a photo call threw \(type(of: error)), not a PhotoError: \(error)")
        }
    }
    func checkThumbnail(_ thumbnail: Thumbnail, maxSide: Int) {
        check(thumbnail.bytes.count <= Photo.maxThumbnailBytes, "a thumbnail over its size limit")
        check((1 ... maxSide).contains(thumbnail.width) && (1 ... maxSide).contains(thumbnail.height), "a thumbnail out of size")
    }
    photo {
        let prepared = try Photo.prepare(data, keepMetadata: false)
        checkThumbnail(prepared.thumbnail, maxSide: Photo.thumbnailSide)
        let again = try? Photo.prepare(prepared.bytes, keepMetadata: false)
        check(again?.bytes == prepared.bytes && again?.removedMetadata == [], "a prepared photo does not prepare to itself")
    }
    photo {
        let kept = try Photo.prepare(data, keepMetadata: true)
        check(kept.bytes == data && kept.removedMetadata.isEmpty, "keeping metadata changed the photo")
    }
    photo { checkThumbnail(try Photo.thumbnail(data, maxSide: 16), maxSide: 16) }
}

/// Runs a decoder: success and `ProtocolError` are fine, any other error is a finding.
private func decode(_ body: () throws -> Void) {
    do { try body() } catch is ProtocolError {} catch {
        fatalError("kith-fuzz: a decoder threw \(type(of: error)), not a ProtocolError: \(error)")
    }
}

/// A property every successfully decoded input must have.
private func check(_ condition: Bool, _ what: String) {
    if !condition { fatalError("kith-fuzz: \(what)") }
}

/// A friend request that parsed must parse again from its own bytes, its
/// proof made with the fixed request key or not.
private func checkRequest(_ request: FriendRequest) {
    check((try? FriendRequest.parse(inner: [1] + request.invitationID + request.proof + request.card.bytes))?.card == request.card,
          "a friend request does not round-trip")
    _ = request.isProven(by: Fixtures.invitation.requestKey(takerNonce: Fixtures.takerNonce))
}

/// A profile that opened is for bob and follows every field rule (its initializer's).
private func checkProfile(_ p: Profile) {
    check(p.recipient == Fixtures.bob.publicKey, "a profile for someone else was accepted")
    check((try? Profile(author: p.author, recipient: p.recipient, sequence: p.sequence, createdAt: p.createdAt, name: p.name, bio: p.bio,
                        avatar: p.avatar)) == p, "an opened profile breaks a field rule")
}

/// A note (or member list) that opened must parse again, from the bytes its
/// writer signed, to itself, with a text its action allows.
private func checkThread(_ message: AudienceMessage) {
    switch message {
    case .post: break
    case .memberList(let list):
        check((try? MemberList.parse(list.bytes)) == list, "a member list does not round-trip")
        check(!list.members.isEmpty && list.members.count <= MemberList.maxMembers, "member count out of range")
    case .note(let note), .fanOut(let note):
        check((try? Note.parse(note.bytes)) == note, "a note does not round-trip")
        switch note.action {
        case .comment: check((!note.text.isEmpty || !note.attachments.isEmpty) && note.text.utf8.count <= Note.maxTextBytes, "note text out of range")
        case .edit: check(!note.text.isEmpty && note.text.utf8.count <= Note.maxTextBytes, "note text out of range")
        case .reaction: check(note.text.utf8.count <= Note.maxReactionBytes, "reaction out of range")
        case .delete: check(note.text.isEmpty, "a delete with text")
        }
    }
}
