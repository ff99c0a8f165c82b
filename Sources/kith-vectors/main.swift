// Writes Kith's test vectors: small files with a `key: value` header, a blank
// line and the structure (a card's text, or an envelope in hex). Each names
// the failure a decoder must report (`expect:`). Keys come from fixed seeds;
// the hostile cases are built straight from libsodium primitives, as an
// attacker would build them.
import Foundation
import KithCrypto
import KithProtocol

let dir = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "Tests/KithProtocolTests/Vectors"
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)

func seed(_ b: UInt8) -> [UInt8] { [UInt8](repeating: b, count: 32) }
func hex(_ b: [UInt8]) -> String { Hex.encode(b) }
func sigMessage(_ context: String, _ fields: [UInt8]) -> [UInt8] { Array(context.utf8) + [0] + fields }

var written = 0
/// Writes one vector. Every vector is evaluated at the time `now`.
@MainActor func write(_ name: String, _ header: [(String, String)], _ body: String) throws {
    var text = (header.prefix(1) + [("now", String(now))] + header.dropFirst()).map { "\($0.0): \($0.1)" }.joined(separator: "\n")
    text += "\n\n" + body + "\n"
    try text.write(toFile: (dir as NSString).appendingPathComponent(name), atomically: true, encoding: .utf8)
    written += 1
}

let now: UInt64 = 1_790_000_000
let alice = try SigningKey(seed: seed(0xa1))
let bob = try SigningKey(seed: seed(0xb0))
let mallory = try SigningKey(seed: seed(0x66))
let bobBox = try BoxKey(seed: seed(0xb1))
let otherBox = try BoxKey(seed: seed(0xb2))
let aliceBox = try BoxKey(seed: seed(0xa2))

// MARK: Cards

let cert = EncryptionKeyCertificate(publicKey: aliceBox.publicKey, notBefore: now, notAfter: now + 604_800, signedBy: alice)
let inbox = Inbox(relay: "https://relay.example:8443", mailbox: try SigningKey(seed: seed(0xa3)).publicKey, dropToken: seed(0xa4))
let card = try ContactCard(identity: alice, encryptionKey: cert, sequence: 7, createdAt: now, name: "alice", inboxes: [inbox])
let cardHeader: [(String, String)] = [("kind", "card")]
try write("card-valid.txt", cardHeader + [("expect", "success"), ("comment", "alice's card with one inbox"),
    ("identity", hex(alice.publicKey)), ("name", "alice"), ("fingerprint", Fingerprint.of(identity: alice.publicKey))], card.text)

var raw = card.bytes
raw[raw.count - 1] ^= 0x01
try write("card-bad-signature.txt", cardHeader + [("expect", "bad signature"), ("comment", "last signature byte flipped")],
          ContactCard.prefix + Base64URL.encode(raw))

raw = card.bytes
let nameOffset = 1 + 32 + EncryptionKeyCertificate.length + 8 + 8 + 1
raw[nameOffset] = UInt8(ascii: "A")
try write("card-tampered-name.txt", cardHeader + [("expect", "bad signature"), ("comment", "name changed to Alice after signing")],
          ContactCard.prefix + Base64URL.encode(raw))

raw = card.bytes
raw[0] = 2
try write("card-unsupported-version.txt", cardHeader + [("expect", "unsupported version"), ("comment", "version byte 2")],
          ContactCard.prefix + Base64URL.encode(raw))

try write("card-truncated.txt", cardHeader + [("expect", "malformed"), ("comment", "last 10 bytes cut")],
          ContactCard.prefix + Base64URL.encode(Array(card.bytes.dropLast(10))))

try write("card-trailing-bytes.txt", cardHeader + [("expect", "malformed"), ("comment", "two bytes after the signature")],
          ContactCard.prefix + Base64URL.encode(card.bytes + [0, 0]))

try write("card-bad-prefix.txt", cardHeader + [("expect", "malformed"), ("comment", "wrong prefix")],
          "kith-kard:" + Base64URL.encode(card.bytes))

try write("card-bad-base64.txt", cardHeader + [("expect", "malformed"), ("comment", "padding and a character outside base64url")],
          ContactCard.prefix + Base64URL.encode(card.bytes) + "+=")

// A card whose own signature is valid but whose encryption key was signed by mallory.
do {
    let badCert = EncryptionKeyCertificate(publicKey: aliceBox.publicKey, notBefore: now, notAfter: now + 604_800, signedBy: mallory)
    let c = try ContactCard(identity: alice, encryptionKey: badCert, sequence: 7, createdAt: now, name: "alice", inboxes: [inbox])
    try write("card-encryption-key-bad-signature.txt", cardHeader + [("expect", "bad signature"),
        ("comment", "card signed by alice, but its encryption key signed by another key")], c.text)
}

// MARK: Key messages

let audienceID = [UInt8](repeating: 0x5a, count: 16)
var epochKeyBytes = seed(0xe1)
let audience = AudienceKey(owner: alice.publicKey, audienceID: audienceID, epoch: 3, key: SecretBytes(consuming: &epochKeyBytes))

func keyMessageHeader(_ expect: String, _ comment: String) -> [(String, String)] {
    [("kind", "key-message"), ("expect", expect), ("comment", comment),
     ("recipient-identity", hex(bob.publicKey)), ("recipient-encryption-secret", hex(bobBox.exportSecret()))]
}
let successExtras: [(String, String)] = [("owner", hex(alice.publicKey)), ("audience-id", hex(audienceID)), ("epoch", "3"),
    ("epoch-key", hex(audience.key.copyBytes())), ("audience-name", "family")]

let km = KeyMessage(audience: audience, recipient: bob.publicKey, audienceName: "family", createdAt: now)
try write("key-message-valid.txt", keyMessageHeader("success", "alice gives bob epoch 3 of family") + successExtras,
          hex(try km.seal(owner: alice, to: bobBox.publicKey).bytes))

try write("key-message-no-matching-key.txt", keyMessageHeader("no matching key", "sealed to another encryption key"),
          hex(try km.seal(owner: alice, to: otherBox.publicKey).bytes))

let kmToCarol = KeyMessage(audience: audience, recipient: mallory.publicKey, audienceName: "family", createdAt: now)
try write("key-message-wrong-recipient.txt", keyMessageHeader("wrong recipient", "signed for someone else, re-sealed to bob"),
          hex(try kmToCarol.seal(owner: alice, to: bobBox.publicKey).bytes))

/// A key message's padded inner plaintext, built field by field as the spec says.
func keyMessageInner(owner: [UInt8], signer: SigningKey, version: UInt8 = 1, epoch: UInt32 = 3, name: String = "family") -> [UInt8] {
    var w = ByteWriter()
    w.u8(version); w.raw(owner); w.raw(bob.publicKey); w.raw(audienceID); w.u32(epoch); w.raw(seed(0xe1)); w.u64(now)
    w.u8(UInt8(name.utf8.count)); w.raw(Array(name.utf8))
    return Padding.pad(w.bytes + signer.sign(sigMessage("kith/key-message/v1", w.bytes)), blockSize: 256)
}
func sealedKeyMessage(_ padded: [UInt8]) throws -> String {
    hex(Envelope(kind: .keyMessage, payload: try BoxKey.seal(padded, to: bobBox.publicKey)).bytes)
}
try write("key-message-bad-signature.txt", keyMessageHeader("bad signature", "claims alice as owner, signed by another key"),
          try sealedKeyMessage(keyMessageInner(owner: alice.publicKey, signer: mallory)))
try write("key-message-unsupported-version.txt", keyMessageHeader("unsupported version", "inner version 9"),
          try sealedKeyMessage(keyMessageInner(owner: alice.publicKey, signer: alice, version: 9)))
try write("key-message-epoch-zero.txt", keyMessageHeader("malformed", "validly signed, epoch 0"),
          try sealedKeyMessage(keyMessageInner(owner: alice.publicKey, signer: alice, epoch: 0)))
try write("key-message-name-bidi.txt", keyMessageHeader("malformed", "validly signed, audience name with U+202E RIGHT-TO-LEFT OVERRIDE"),
          try sealedKeyMessage(keyMessageInner(owner: alice.publicKey, signer: alice, name: "fam\u{202E}ylimaf")))
try write("key-message-bad-padding.txt", keyMessageHeader("malformed", "validly signed, padded with zeros instead of 0x80 00 ..."),
          try sealedKeyMessage({ let p = keyMessageInner(owner: alice.publicKey, signer: alice); let n = try! Padding.unpad(p, blockSize: 256).count
                                 return Array(p[0..<n]) + [UInt8](repeating: 0, count: 256 - n) }()))
try write("key-message-wrong-size.txt", keyMessageHeader("malformed", "sealed without padding: the payload is not 304 bytes"),
          hex(Envelope(kind: .keyMessage, payload: try BoxKey.seal(try! Padding.unpad(keyMessageInner(owner: alice.publicKey, signer: alice), blockSize: 256),
                                                                    to: bobBox.publicKey)).bytes))

var tampered = try km.seal(owner: alice, to: bobBox.publicKey).bytes
tampered[tampered.count - 5] ^= 0x80
try write("key-message-tampered.txt", keyMessageHeader("no matching key", "a ciphertext byte flipped: the sealed box opens with no key"), hex(tampered))

// MARK: Posts

func postHeader(_ expect: String, _ comment: String) -> [(String, String)] {
    [("kind", "post"), ("expect", expect), ("comment", comment), ("owner", hex(alice.publicKey)),
     ("audience-id", hex(audienceID)), ("epoch", "3"), ("epoch-key", hex(audience.key.copyBytes()))]
}
let post = try Post(author: alice.publicKey, audienceID: audienceID, epoch: 3, id: [UInt8](repeating: 0x11, count: 16),
                    createdAt: now, text: "The baby is here!")
let postNonce = [UInt8](repeating: 0x24, count: 24)
let postEnvelope = try post.seal(author: alice, audience: audience, nonce: postNonce).bytes
try write("post-valid.txt", postHeader("success", "alice posts to family, epoch 3") + [("author", hex(alice.publicKey)),
    ("post-id", hex(post.id)), ("created-at", String(now)), ("text", post.text), ("padded-length", "512")], hex(postEnvelope))

var bad = postEnvelope
bad[bad.count - 20] ^= 0x01
try write("post-tampered-ciphertext.txt", postHeader("decryption failure", "one ciphertext byte flipped"), hex(bad))

bad = postEnvelope
bad[Envelope.headerLength] ^= 0x01
try write("post-tampered-key-id.txt", postHeader("no matching key", "key id changed"), hex(bad))

bad = postEnvelope
bad[4] = 2
try write("post-unsupported-envelope-version.txt", postHeader("unsupported version", "envelope version 2"), hex(bad))

bad = postEnvelope
bad[0] = UInt8(ascii: "X")
try write("post-bad-magic.txt", postHeader("malformed", "magic XITH"), hex(bad))

try write("post-truncated.txt", postHeader("malformed", "cut below the smallest bucket"), hex(Array(postEnvelope.prefix(300))))

/// Encrypts an already padded inner plaintext under the audience key, as the spec says.
func sealPadded(_ padded: [UInt8]) throws -> [UInt8] {
    let binding = alice.publicKey + audienceID + [0, 0, 0, 3]
    let keyID = Hash.blake2b(Array("kith/epoch-key-id/v2".utf8) + [0] + binding, length: 16, key: audience.key)
    var postKeyBytes = Hash.blake2b(Array("kith/post-key/v2".utf8) + [0] + binding, length: 32, key: audience.key)
    let postKey = SecretBytes(consuming: &postKeyBytes)
    let header = Array("KITH".utf8) + [1, 2] + keyID
    return header + postNonce + (try AEAD.seal(padded, key: postKey, nonce: postNonce, associatedData: header))
}
func postInner(author: [UInt8], audienceID aid: [UInt8], epoch: UInt32, signer: SigningKey, createdAt: UInt64 = now) -> [UInt8] {
    var w = ByteWriter()
    w.u8(1); w.u8(1); w.raw(author); w.raw(aid); w.u32(epoch); w.raw([UInt8](repeating: 0x11, count: 16)); w.u64(createdAt)
    let t = Array("The baby is here!".utf8); w.u32(UInt32(t.count)); w.raw(t)
    return w.bytes + signer.sign(sigMessage("kith/post/v1", w.bytes))
}
try write("post-bad-signature.txt", postHeader("bad signature", "claims alice as author, signed by another key"),
          hex(try sealPadded(Padding.pad(postInner(author: alice.publicKey, audienceID: audienceID, epoch: 3, signer: mallory), blockSize: 512))))
try write("post-retargeted-epoch.txt", postHeader("wrong recipient", "signed by alice for epoch 2, encrypted under epoch 3's key"),
          hex(try sealPadded(Padding.pad(postInner(author: alice.publicKey, audienceID: audienceID, epoch: 2, signer: alice), blockSize: 512))))
try write("post-retargeted-audience.txt", postHeader("wrong recipient", "signed by alice for another audience"),
          hex(try sealPadded(Padding.pad(postInner(author: alice.publicKey, audienceID: [UInt8](repeating: 0x77, count: 16), epoch: 3, signer: alice), blockSize: 512))))
try write("post-not-owner.txt", postHeader("wrong recipient", "validly signed by a member who is not the audience owner"),
          hex(try sealPadded(Padding.pad(postInner(author: bob.publicKey, audienceID: audienceID, epoch: 3, signer: bob), blockSize: 512))))
let goodInner = postInner(author: alice.publicKey, audienceID: audienceID, epoch: 3, signer: alice)
try write("post-bad-padding.txt", postHeader("malformed", "inner plaintext padded with zeros instead of 0x80 00 ..."),
          hex(try sealPadded(goodInner + [UInt8](repeating: 0, count: 512 - goodInner.count))))
try write("post-epoch-zero.txt", postHeader("malformed", "validly signed for epoch 0 (and encrypted under epoch 3's key)"),
          hex(try sealPadded(Padding.pad(postInner(author: alice.publicKey, audienceID: audienceID, epoch: 0, signer: alice), blockSize: 512))))
try write("post-time-overflow.txt", postHeader("malformed", "validly signed, created_at 2^64 - 1 (above 2^63 - 1)"),
          hex(try sealPadded(Padding.pad(postInner(author: alice.publicKey, audienceID: audienceID, epoch: 3, signer: alice, createdAt: .max), blockSize: 512))))
try write("post-from-the-future.txt", postHeader("not valid now", "validly signed, dated 2 days after the evaluation time"),
          hex(try sealPadded(Padding.pad(postInner(author: alice.publicKey, audienceID: audienceID, epoch: 3, signer: alice, createdAt: now + 2 * 86_400), blockSize: 512))))
try write("post-bad-bucket.txt", postHeader("malformed", "padded to 640 bytes, not a power of two"),
          hex(try sealPadded(Padding.pad(goodInner, blockSize: 640))))

// MARK: Signed relay requests

let mailboxKey = try SigningKey(seed: seed(0xc0))
let body = Array("example body".utf8)
let request = SignedRequest(method: "POST", path: "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/ack", body: body,
                            mailboxKey: mailboxKey, timestamp: now, nonce: [UInt8](repeating: 0x0d, count: 16))
let requestHeader: [(String, String)] = [("kind", "request"), ("method", "POST"),
    ("path", "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/ack"), ("timestamp", String(now)),
    ("nonce", hex(request.nonce)), ("body", hex(body)), ("mailbox", hex(mailboxKey.publicKey))]
try write("request-valid.txt", requestHeader + [("expect", "success"), ("comment", "signature over method, path, timestamp, nonce, BLAKE2b-256(body)")],
          hex(request.signature))
var badSig = request.signature
badSig[0] ^= 0x01
try write("request-bad-signature.txt", requestHeader + [("expect", "bad signature"), ("comment", "first signature byte flipped")], hex(badSig))

try writeCardRuleVectors()
try writeAudienceKeyVectors()
try writeRelayMessageVectors()
try writeKeystoreVectors()
try writeKeyUpdateVectors()
try writeInboxUpdateVectors()
try writeThreadVectors()
try writeDirectVectors()
try writeInvitationVectors()
try writeAttachmentVectors()

print("wrote \(written) vectors to \(dir)")
