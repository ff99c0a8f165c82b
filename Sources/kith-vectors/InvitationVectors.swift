import KithCrypto
import KithProtocol

// Vectors for friend invitations: the text form, the sealed card a relay
// keeps (under keys derived from the secret), and the friend request that
// answers it (bob's card, sealed to alice's encryption key).

/// A friend request envelope around `inner`, built from primitives: padded and sealed to alice.
func sealedRequest(_ inner: [UInt8]) throws -> [UInt8] {
    Envelope(kind: .friendRequest, payload: try BoxKey.seal(Padding.pad(inner, blockSize: FriendRequest.paddedLength), to: aliceBox.publicKey)).bytes
}

/// `bytes` as a secret key.
func secretCopy(_ bytes: [UInt8]) -> SecretBytes { var copy = bytes; return SecretBytes(consuming: &copy) }

@MainActor func writeInvitationVectors() throws {
    let secret = [UInt8](repeating: 0x1f, count: 16)
    let invitation = try FriendInvitation(relay: "https://relay.example", secret: secret)
    let answerKey = Hash.blake2b(Array("kith/invitation/answer/v1".utf8), length: 32, key: secret)
    var sealKey = Hash.blake2b(Array("kith/invitation/key/v1".utf8), length: 32, key: secret)
    let derived: [(String, String)] = [("secret", hex(secret)), ("relay", invitation.relay), ("id", hex(invitation.id)),
        ("seal-key", hex(sealKey)), ("answer-key", hex(answerKey))]
    let takerNonce = [UInt8](repeating: 0x42, count: 32)
    let requestKey = Hash.blake2b(sigMessage("kith/invitation/request-key/v1", takerNonce), length: 32, key: answerKey)
    let taken: [(String, String)] = [("taker-nonce", hex(takerNonce)), ("request-key", hex(requestKey))]

    let text: [(String, String)] = [("kind", "invitation")]
    try write("invitation-valid.txt", text + [("expect", "success"), ("comment", "alice's invitation: relay URL, #, base64url of the secret")]
              + derived, invitation.text)
    try write("invitation-short-secret.txt", text + [("expect", "malformed"), ("comment", "a secret of 21 characters")],
              String(invitation.text.dropLast()))
    try write("invitation-relay-query.txt", text + [("expect", "malformed"), ("comment", "a relay URL with a query")],
              "kith-invite:https://relay.example?x=1#" + Base64URL.encode(secret))
    try write("invitation-no-separator.txt", text + [("expect", "malformed"), ("comment", "no # before the secret")],
              "kith-invite:https://relay.example" + Base64URL.encode(secret))

    let nonce = [UInt8](repeating: 0x24, count: 24)
    let sealed = try invitation.seal(card, takerNonce: takerNonce, nonce: nonce)
    let sealedHeader: [(String, String)] = [("kind", "sealed-invitation")] + derived.prefix(3)
    /// A sealed card built from primitives: `plain` sealed under seal-key, version 2.
    func sealedFromPrimitives(_ plain: [UInt8]) throws -> [UInt8] {
        [2] + nonce + (try AEAD.seal(plain, key: secretCopy(sealKey), nonce: nonce,
                                      associatedData: sigMessage("kith/invitation/v1", invitation.id)))
    }
    try write("sealed-invitation-valid.txt", sealedHeader + taken + [("expect", "success"), ("identity", hex(alice.publicKey)),
        ("comment", "alice's card, sealed: version 2, nonce, XChaCha20-Poly1305 under seal-key with kith/invitation/v1 || 0 || id"
                    + " of the taker nonce and the card padded to 5120 bytes")], hex(sealed))
    try write("sealed-invitation-unpadded.txt", sealedHeader + [("expect", "malformed"),
        ("comment", "the taker nonce and card sealed without padding: not 5161 bytes")], hex(try sealedFromPrimitives(takerNonce + card.bytes)))
    try write("sealed-invitation-bad-padding.txt", sealedHeader + [("expect", "malformed"),
        ("comment", "5120 bytes sealed, the taker nonce and card followed by zeros without the 0x80 marker")],
              hex(try sealedFromPrimitives(takerNonce + card.bytes + [UInt8](repeating: 0, count: 5120 - 32 - card.bytes.count))))
    try write("sealed-invitation-no-card.txt", sealedHeader + [("expect", "malformed"),
        ("comment", "only a taker nonce, padded: no card")], hex(try sealedFromPrimitives(Padding.pad(takerNonce, blockSize: 5120))))
    wipe(&sealKey)
    var tampered = sealed
    tampered[tampered.count - 1] ^= 0x01
    try write("sealed-invitation-tampered.txt", sealedHeader + [("expect", "decryption failure"), ("comment", "last tag byte flipped")],
              hex(tampered))
    try write("sealed-invitation-version.txt", sealedHeader + [("expect", "unsupported version"), ("comment", "version byte 3")],
              hex([3] + sealed.dropFirst()))
    let other = try FriendInvitation(relay: "https://relay.example", secret: [UInt8](repeating: 0x2e, count: 16))
    try write("sealed-invitation-other-secret.txt", sealedHeader + [("expect", "decryption failure"),
        ("comment", "sealed under another invitation's keys")], hex(try other.seal(card, takerNonce: takerNonce, nonce: nonce)))

    let bobCert = EncryptionKeyCertificate(publicKey: bobBox.publicKey, notBefore: now, notAfter: now + 604_800, signedBy: bob)
    let bobInbox = Inbox(relay: "https://relay.example", mailbox: try SigningKey(seed: seed(0xb3)).publicKey, dropToken: seed(0xb4))
    let bobCard = try ContactCard(identity: bob, encryptionKey: bobCert, sequence: 1, createdAt: now, name: "bob", inboxes: [bobInbox])
    let requestHeader: [(String, String)] = [("kind", "friend-request"), ("recipient-encryption-secret", hex(aliceBox.exportSecret()))]
        + derived.prefix(3) + taken + [("identity", hex(bob.publicKey))]
    let request = FriendRequest(invitationID: invitation.id, requestKey: secretCopy(requestKey), card: bobCard)
    try write("friend-request-valid.txt", requestHeader + [("expect", "success"), ("proven", "1"),
        ("comment", "bob took alice's card and answers: type 1, id, proof under request-key, his card, padded to 5120 bytes, sealed to alice")],
              hex(try request.seal(to: aliceBox.publicKey).bytes))
    try write("friend-request-other-invitation.txt", requestHeader + [("expect", "success"), ("proven", "0"),
        ("comment", "a request whose proof was made with another invitation's request key: parses, and the inviter drops it")],
              hex(try sealedRequest([1] + invitation.id + FriendRequest.proof(requestKey: other.requestKey(takerNonce: takerNonce),
                                                                              invitationID: invitation.id, card: bobCard) + bobCard.bytes)))
    try write("friend-request-without-card.txt", requestHeader + [("expect", "success"), ("proven", "0"),
        ("comment", "a request whose proof was made with answer-key, by someone who read the invitation but never took its card: dropped")],
              hex(try sealedRequest([1] + invitation.id + FriendRequest.proof(requestKey: secretCopy(answerKey), invitationID: invitation.id,
                                                                              card: bobCard) + bobCard.bytes)))
    try write("friend-request-wrong-recipient.txt", requestHeader + [("expect", "no matching key"),
        ("comment", "sealed to another encryption key")], hex(try request.seal(to: otherBox.publicKey).bytes))
    try write("friend-request-unsupported-type.txt", requestHeader + [("expect", "unsupported version"), ("comment", "inner type 2")],
              hex(try sealedRequest([2] + invitation.id + request.proof + bobCard.bytes)))
    let short = Envelope(kind: .friendRequest, payload: try BoxKey.seal(Padding.pad([1], blockSize: 4096), to: aliceBox.publicKey))
    try write("friend-request-wrong-size.txt", requestHeader + [("expect", "malformed"), ("comment", "a payload of 4144 bytes, not 5168")],
              hex(short.bytes))
}
