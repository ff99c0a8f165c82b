import KithCrypto

/// A one-paste friend invitation (docs/PROTOCOL.md, "Friend invitations"):
/// the inviter's relay and a 16-byte secret. From the secret come, by keyed
/// BLAKE2b, the id the relay keeps the sealed card under, the key that
/// seals it, and the answer key. The sealed card holds a random taker
/// nonce; the answer key and that nonce make the request key, which binds
/// the friend request answering it, so only whoever took the card can
/// answer. The relay sees only the id and the ciphertext, always of one size.
///
/// Text form: `kith-invite:` + relay URL + `#` + base64url(secret), e.g.
/// `kith-invite:https://relay.example.org#3q2-7wAAAAAAAAAAAAAAAA` (60 characters).
public struct FriendInvitation: Sendable {
    public static let prefix = "kith-invite:"
    public static let secretLength = 16
    public static let idLength = 32
    /// The longest text form: the prefix, the longest relay URL, `#`, 22 characters.
    public static let maxTextLength = prefix.utf8.count + RelayURL.maxBytes + 1 + 22
    public static let takerNonceLength = 32
    /// The taker nonce and the card are padded to this length, whatever the card.
    public static let paddedLength = 5120
    /// The size of every sealed card: version, nonce, the padded taker nonce and card, tag.
    public static let sealedLength = 1 + AEAD.nonceLength + paddedLength + AEAD.tagLength
    /// The largest sealed card a relay stores.
    public static let maxSealedBytes = sealedLength
    static let sealedVersion: UInt8 = 2
    static let sealContext = "kith/invitation/v1"
    static let requestKeyContext = "kith/invitation/request-key/v1"

    public let relay: String
    let secret: SecretBytes

    /// A new invitation with a fresh random secret.
    public init(relay: String) throws {
        try RelayURL.check(relay)
        self.relay = relay
        self.secret = SecretBytes(random: Self.secretLength)
    }

    /// An invitation with a given secret (for test vectors).
    public init(relay: String, secret: [UInt8]) throws {
        try RelayURL.check(relay)
        guard secret.count == Self.secretLength else { throw ProtocolError.malformed("invitation: the secret must be \(Self.secretLength) bytes") }
        var copy = secret
        self.relay = relay
        self.secret = SecretBytes(consuming: &copy)
    }

    /// Parses the exact text form (no white space; see `Pasted` for text as pasted).
    public init(text: String) throws {
        guard text.utf8.count <= Self.maxTextLength else { throw ProtocolError.malformed("invitation: longer than \(Self.maxTextLength) bytes") }
        guard text.hasPrefix(Self.prefix) else { throw ProtocolError.malformed("invitation: does not start with \(Self.prefix)") }
        let rest = text.dropFirst(Self.prefix.count)
        guard let hash = rest.lastIndex(of: "#") else { throw ProtocolError.malformed("invitation: no # before the secret") }
        let relay = String(rest[..<hash]), encoded = rest[rest.index(after: hash)...]
        do { try RelayURL.check(relay) } catch let error as ProtocolError { throw ProtocolError.malformed("invitation: \(error.detail)") }
        guard encoded.utf8.count == 22, var secret = Base64URL.decode(encoded), secret.count == Self.secretLength else {
            throw ProtocolError.malformed("invitation: the secret must be 22 characters of base64url (16 bytes)")
        }
        self.relay = relay
        self.secret = SecretBytes(consuming: &secret)
    }

    public var text: String { Self.prefix + relay + "#" + secret.withBytes { Base64URL.encode($0) } }

    private func derive(_ label: String) -> [UInt8] {
        Hash.blake2b(Array("kith/invitation/\(label)/v1".utf8), length: 32, key: secret)
    }

    /// Where the relay keeps the sealed card: keyed BLAKE2b-256 of `kith/invitation/id/v1`.
    public var id: [UInt8] { derive("id") }

    /// The key of the sealed card: keyed BLAKE2b-256 of `kith/invitation/key/v1`.
    func sealKey() -> SecretBytes { var k = derive("key"); return SecretBytes(consuming: &k) }

    /// The answer key: keyed BLAKE2b-256 of `kith/invitation/answer/v1`.
    func answerKey() -> SecretBytes { var k = derive("answer"); return SecretBytes(consuming: &k) }

    /// The key a friend request's proof is made with, for the card sealed
    /// with `takerNonce`: keyed BLAKE2b-256, under the answer key, of
    /// `kith/invitation/request-key/v1 || 0 || taker nonce`.
    public func requestKey(takerNonce: [UInt8]) -> SecretBytes {
        var k = Hash.blake2b(signedMessage(context: Self.requestKeyContext, takerNonce), length: 32, key: answerKey())
        return SecretBytes(consuming: &k)
    }

    /// The card sealed for the relay (version 2, a random nonce, then
    /// XChaCha20-Poly1305 of a random taker nonce and the card's bytes padded
    /// to `paddedLength`, with `kith/invitation/v1 || 0 || id` as associated
    /// data), and the request key that checks the answer of whoever takes it.
    public func seal(_ card: ContactCard) throws -> (sealed: [UInt8], requestKey: SecretBytes) {
        let takerNonce = randomBytes(Self.takerNonceLength)
        return (try seal(card, takerNonce: takerNonce, nonce: randomBytes(AEAD.nonceLength)), requestKey(takerNonce: takerNonce))
    }

    /// `seal` with given nonces (for test vectors).
    public func seal(_ card: ContactCard, takerNonce: [UInt8], nonce: [UInt8]) throws -> [UInt8] {
        precondition(takerNonce.count == Self.takerNonceLength)
        var plain = Padding.pad(takerNonce + card.bytes, blockSize: Self.paddedLength)
        defer { wipe(&plain) }
        return [Self.sealedVersion] + nonce + (try AEAD.seal(plain, key: sealKey(), nonce: nonce, associatedData: associatedData))
    }

    private var associatedData: [UInt8] { signedMessage(context: Self.sealContext, id) }

    /// Opens what the relay returned and verifies the card in it; with the
    /// request key that proves the taker's friend request.
    public func open(_ sealed: [UInt8]) throws -> (card: ContactCard, requestKey: SecretBytes) {
        guard sealed.count == Self.sealedLength else { throw ProtocolError.malformed("sealed invitation: not \(Self.sealedLength) bytes") }
        guard sealed[0] == Self.sealedVersion else { throw ProtocolError(.unsupportedVersion, "sealed invitation: version \(sealed[0]) is not supported") }
        let nonce = Array(sealed[1..<1 + AEAD.nonceLength])
        var plain: [UInt8]
        do { plain = try AEAD.open(Array(sealed[(1 + AEAD.nonceLength)...]), key: sealKey(), nonce: nonce, associatedData: associatedData) } catch {
            throw ProtocolError(.decryptionFailed, "sealed invitation: does not open with this invitation's key")
        }
        defer { wipe(&plain) }
        var unpadded: [UInt8]
        do { unpadded = try Padding.unpad(plain, blockSize: Self.paddedLength) } catch { throw ProtocolError.malformed("sealed invitation: bad padding") }
        defer { wipe(&unpadded) }
        guard unpadded.count > Self.takerNonceLength else { throw ProtocolError.malformed("sealed invitation: truncated") }
        let card = try ContactCard(bytes: Array(unpadded[Self.takerNonceLength...]))
        return (card, requestKey(takerNonce: Array(unpadded[..<Self.takerNonceLength])))
    }
}

/// A friend request: the answer to a friend invitation, dropped into the
/// inviter's mailbox with the drop token of the invitation's card, sealed
/// to the inviter's encryption key (envelope type 3). It carries the
/// requester's card, the invitation's id and a proof that the requester
/// took the invitation's card: keyed BLAKE2b-256, under the request key
/// (`FriendInvitation.open`), of `kith/invitation/request/v1 || 0 || id || card`.
public struct FriendRequest: Sendable {
    static let type: UInt8 = 1
    /// The padded plaintext: every request is this long, whatever its card.
    public static let paddedLength = 5120
    public static let payloadLength = paddedLength + BoxKey.sealOverhead
    static let proofContext = "kith/invitation/request/v1"

    public let invitationID: [UInt8]
    public let proof: [UInt8]
    public let card: ContactCard

    public init(invitationID: [UInt8], requestKey: SecretBytes, card: ContactCard) {
        self.invitationID = invitationID
        self.card = card
        self.proof = Self.proof(requestKey: requestKey, invitationID: invitationID, card: card)
    }

    public static func proof(requestKey: SecretBytes, invitationID: [UInt8], card: ContactCard) -> [UInt8] {
        Hash.blake2b(signedMessage(context: proofContext, invitationID + card.bytes), length: 32, key: requestKey)
    }

    /// Whether the proof was made with `requestKey` (compared in constant time).
    public func isProven(by requestKey: SecretBytes) -> Bool {
        constantTimeEqual(proof, Self.proof(requestKey: requestKey, invitationID: invitationID, card: card))
    }

    var inner: [UInt8] { [Self.type] + invitationID + proof + card.bytes }

    /// The envelope, sealed to the inviter's encryption key.
    public func seal(to encryptionKey: [UInt8]) throws -> Envelope {
        Envelope(kind: .friendRequest, payload: try BoxKey.seal(Padding.pad(inner, blockSize: Self.paddedLength), to: encryptionKey))
    }

    /// Opens a friend-request envelope with one of `keys` and parses it,
    /// verifying the card; the proof is the caller's to check.
    public static func open(_ envelope: Envelope, keys: [BoxKey]) throws -> FriendRequest {
        guard envelope.kind == .friendRequest, envelope.payload.count == payloadLength else {
            throw ProtocolError.malformed("friend request: not a \(payloadLength)-byte friend request")
        }
        guard var padded = keys.lazy.compactMap({ try? $0.open(envelope.payload) }).first else {
            throw ProtocolError(.noMatchingKey, "friend request: sealed to none of my encryption keys")
        }
        defer { wipe(&padded) }
        let inner: [UInt8]
        do { inner = try Padding.unpad(padded, blockSize: paddedLength) } catch { throw ProtocolError.malformed("friend request: bad padding") }
        return try parse(inner: inner)
    }

    /// Parses the unpadded plaintext: type 1, id (32), proof (32), card.
    public static func parse(inner: [UInt8]) throws -> FriendRequest {
        var r = ByteReader(inner, what: "friend request")
        let type = try r.u8()
        guard type == Self.type else { throw ProtocolError(.unsupportedVersion, "friend request: type \(type) is not supported") }
        let id = try r.raw(FriendInvitation.idLength), proof = try r.raw(32)
        let card = try ContactCard(bytes: r.rest())
        return FriendRequest(invitationID: id, proof: proof, card: card)
    }

    private init(invitationID: [UInt8], proof: [UInt8], card: ContactCard) {
        (self.invitationID, self.proof, self.card) = (invitationID, proof, card)
    }
}
