import KithCrypto
import KithProtocol

// Vectors for the rules on names, URLs, integers and certificate windows, the
// audience key derivations, and the relay's wire messages.

/// A card built field by field and signed by alice, as an attacker (or a
/// careless implementation) could build it, bypassing the library's checks.
@MainActor func rawCard(name: String = "alice", sequence: UInt64 = 7, notBefore: UInt64 = now, notAfter: UInt64 = now + 604_800,
                        relay: String = "https://relay.example:8443") -> [UInt8] {
    var w = ByteWriter()
    w.u8(1); w.raw(alice.publicKey)
    EncryptionKeyCertificate(publicKey: aliceBox.publicKey, notBefore: notBefore, notAfter: notAfter, signedBy: alice).write(to: &w)
    w.u64(sequence); w.u64(now)
    w.u8(UInt8(name.utf8.count)); w.raw(Array(name.utf8))
    w.u8(1); w.u16(UInt16(relay.utf8.count)); w.raw(Array(relay.utf8)); w.raw(inbox.mailbox); w.raw(inbox.dropToken)
    return w.bytes + alice.sign(sigMessage("kith/card/v1", w.bytes))
}

@MainActor func writeCardRuleVectors() throws {
    func cardVector(_ file: String, _ expect: String, _ comment: String, _ bytes: [UInt8]) throws {
        try write(file, cardHeader + [("expect", expect), ("comment", comment)], ContactCard.prefix + Base64URL.encode(bytes))
    }
    try cardVector("card-name-bidi.txt", "malformed", "name with U+202E RIGHT-TO-LEFT OVERRIDE (general category Cf)", rawCard(name: "ecila\u{202E}"))
    try cardVector("card-name-control.txt", "malformed", "name with a carriage return (Cc)", rawCard(name: "alice\rbob"))
    try cardVector("card-name-line-separator.txt", "malformed", "name with U+2028 LINE SEPARATOR (Zl)", rawCard(name: "alice\u{2028}bob"))
    try cardVector("card-sequence-overflow.txt", "malformed", "sequence 2^63 (above 2^63 - 1)", rawCard(sequence: 1 << 63))
    try cardVector("card-relay-uppercase-scheme.txt", "malformed", "relay URL HTTPS://... (the scheme must be lower case)", rawCard(relay: "HTTPS://relay.example"))
    try cardVector("card-relay-query.txt", "malformed", "relay URL with a query", rawCard(relay: "https://relay.example/?x=1"))
    try cardVector("card-relay-percent.txt", "malformed", "relay host 127.0.0.%31: no percent-encoding anywhere in a relay URL",
                   rawCard(relay: "http://127.0.0.%31:8080"))
    try cardVector("card-relay-ipv4-shorthand.txt", "malformed", "relay host 127.1: an IP literal must be a dotted quad", rawCard(relay: "http://127.1:8080"))
    try cardVector("card-relay-control.txt", "malformed", "relay URL with an escape character", rawCard(relay: "https://relay.example/\u{1B}[31m"))
    try cardVector("card-key-expired.txt", "not valid now", "well formed and signed, but the encryption key expired a day before the evaluation time",
             rawCard(notBefore: now - 8 * 86_400, notAfter: now - 86_400))
    try cardVector("card-key-not-yet-valid.txt", "not valid now", "the encryption key's window starts an hour after the evaluation time",
             rawCard(notBefore: now + 3600, notAfter: now + 8 * 86_400))
    try write("card-key-skew.txt", cardHeader + [("expect", "success"),
              ("comment", "the window starts 299 s after the evaluation time: within the allowed clock skew"),
              ("identity", hex(alice.publicKey)), ("name", "alice"), ("fingerprint", Fingerprint.of(identity: alice.publicKey))],
              ContactCard.prefix + Base64URL.encode(rawCard(notBefore: now + 299, notAfter: now + 8 * 86_400)))
    try cardVector("card-key-lifetime.txt", "malformed", "encryption key window of 401 days (at most 400)",
             rawCard(notBefore: now - 86_400, notAfter: now + 400 * 86_400))
    // The last character of base64url carries leftover bits; a canonical encoding has them zero.
    // A 325-byte card: its last character carries four leftover bits.
    var text = Base64URL.encode(rawCard(name: "alice!"))
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    if let last = text.last, let i = alphabet.firstIndex(of: last) { text = String(text.dropLast()) + String(alphabet[i ^ 1]) }
    try write("card-base64-noncanonical.txt", cardHeader + [("expect", "malformed"), ("comment", "last base64url character with a non-zero leftover bit")],
              ContactCard.prefix + text)
}

/// Keyed BLAKE2b of a label and `owner || audience_id || u32 epoch`, straight from the spec.
@MainActor func derive(_ label: String, owner: [UInt8], length: Int) -> [UInt8] {
    Hash.blake2b(Array(label.utf8) + [0] + owner + audienceID + [0, 0, 0, 3], length: length, key: audience.key)
}

@MainActor func writeAudienceKeyVectors() throws {
    // Two owners with the same K: different key ids and post keys.
    for (file, owner, comment) in [("audience-key-derivation.txt", alice.publicKey, "alice's audience, epoch 3"),
                                   ("audience-key-other-owner.txt", mallory.publicKey, "the same K, audience id and epoch under another owner")] {
        try write(file, [("kind", "audience-key"), ("expect", "success"), ("comment", comment), ("owner", hex(owner)),
                         ("audience-id", hex(audienceID)), ("epoch", "3"), ("epoch-key", hex(audience.key.copyBytes())),
                         ("post-key", hex(derive("kith/post-key/v2", owner: owner, length: 32)))],
                  hex(derive("kith/epoch-key-id/v2", owner: owner, length: 16)))
    }
}

@MainActor func writeRelayMessageVectors() throws {
    let post = Array(postEnvelope)
    let target1 = inbox.mailbox + inbox.dropToken
    let target2 = try SigningKey(seed: seed(0xc1)).publicKey + seed(0xc2)
    func drop(_ count: UInt16, _ targets: [UInt8], _ envelope: [UInt8], version: UInt8 = 1) -> String {
        var w = ByteWriter(); w.u8(version); w.u16(count); w.raw(targets); w.u32(UInt32(envelope.count)); w.raw(envelope)
        return hex(w.bytes)
    }
    let dropHeader: [(String, String)] = [("kind", "drop")]
    try write("drop-valid.txt", dropHeader + [("expect", "success"), ("comment", "alice's post for two mailboxes"), ("targets", "2"),
              ("envelope-id", hex(Envelope.id(of: post)))], drop(2, target1 + target2, post))
    try write("drop-no-targets.txt", dropHeader + [("expect", "malformed"), ("comment", "count 0")], drop(0, [], post))
    try write("drop-duplicate-target.txt", dropHeader + [("expect", "malformed"), ("comment", "the same mailbox twice")], drop(2, target1 + target1, post))
    try write("drop-unsupported-version.txt", dropHeader + [("expect", "unsupported version"), ("comment", "version 2")], drop(1, target1, post, version: 2))
    try write("drop-length-mismatch.txt", dropHeader + [("expect", "malformed"), ("comment", "envelope length one more than the bytes")],
              String(drop(1, target1, post).dropLast(2)))
    try write("drop-post-bad-size.txt", dropHeader + [("expect", "malformed"), ("comment", "a 7-byte \"post\" envelope: sizes are fixed by type")],
              drop(1, target1, Array("KITH".utf8) + [1, 2, 0]))

    // A blob upload's header: the blob is the rest of the body, at least 41 bytes.
    func upload(_ count: UInt16, _ targets: [UInt8], _ blob: [UInt8], version: UInt8 = 1) -> String {
        var w = ByteWriter(); w.u8(version); w.u16(count); w.raw(targets); w.raw(blob)
        return hex(w.bytes)
    }
    let blob = [UInt8](repeating: 0x5b, count: BlobUpload.minBlobLength)
    let uploadHeader: [(String, String)] = [("kind", "blob-upload")]
    try write("blob-upload-valid.txt", uploadHeader + [("expect", "success"), ("comment", "a 41-byte blob for two mailboxes"), ("targets", "2"),
              ("blob-id", hex(Hash.blake2b(blob, length: 32)))], upload(2, target1 + target2, blob))
    try write("blob-upload-no-targets.txt", uploadHeader + [("expect", "malformed"), ("comment", "count 0")], upload(0, [], blob))
    try write("blob-upload-duplicate-target.txt", uploadHeader + [("expect", "malformed"), ("comment", "the same mailbox twice")],
              upload(2, target1 + target1, blob))
    try write("blob-upload-unsupported-version.txt", uploadHeader + [("expect", "unsupported version"), ("comment", "version 2")],
              upload(1, target1, blob, version: 2))
    try write("blob-upload-short-blob.txt", uploadHeader + [("expect", "malformed"), ("comment", "a blob of 40 bytes")],
              upload(1, target1, Array(blob.dropLast())))
    try write("blob-upload-count-over-body.txt", uploadHeader + [("expect", "malformed"), ("comment", "count 2 with one target and no blob")],
              upload(2, target1, []))

    func batch(more: UInt8, _ items: [(UInt64, UInt64, [UInt8])], count: UInt32? = nil) -> String {
        var w = ByteWriter(); w.u8(more); w.u32(count ?? UInt32(items.count))
        for (seq, at, env) in items { w.u64(seq); w.u64(at); w.u32(UInt32(env.count)); w.raw(env) }
        return hex(w.bytes)
    }
    let batchHeader: [(String, String)] = [("kind", "batch")]
    try write("batch-valid.txt", batchHeader + [("expect", "success"), ("comment", "two envelopes, more waiting"), ("items", "2"), ("more", "1"),
              ("sequences", "41,42")], batch(more: 1, [(41, now, post), (42, now, post)]))
    try write("batch-bad-flag.txt", batchHeader + [("expect", "malformed"), ("comment", "more = 2")], batch(more: 2, []))
    try write("batch-count-mismatch.txt", batchHeader + [("expect", "malformed"), ("comment", "count 3, two items")], batch(more: 0, [(1, now, post), (2, now, post)], count: 3))
    try write("batch-sequence-overflow.txt", batchHeader + [("expect", "malformed"), ("comment", "sequence 2^63")], batch(more: 0, [(1 << 63, now, post)]))

    func ack(_ count: UInt32, _ ids: [[UInt8]], extra: [UInt8] = []) -> String {
        var w = ByteWriter(); w.u32(count); for id in ids { w.raw(id) }
        return hex(w.bytes + extra)
    }
    let ackHeader: [(String, String)] = [("kind", "ack")]
    try write("ack-valid.txt", ackHeader + [("expect", "success"), ("comment", "one envelope id"), ("ids", "1")], ack(1, [Envelope.id(of: post)]))
    try write("ack-empty.txt", ackHeader + [("expect", "malformed"), ("comment", "count 0")], ack(0, []))
    try write("ack-trailing.txt", ackHeader + [("expect", "malformed"), ("comment", "a byte after the ids")], ack(1, [Envelope.id(of: post)], extra: [0]))
}

/// Keystores built field by field from the spec (header, Argon2id, XChaCha20-Poly1305), at
/// libsodium's INTERACTIVE limits so that checking them stays quick.
@MainActor func writeKeystoreVectors() throws {
    let passphrase = "correct horse battery staple"
    func secrets(mailboxRelay: String = "https://relay.example:8443") -> [UInt8] {
        var w = ByteWriter()
        w.u8(1); w.raw(seed(0xa1)); w.raw(seed(0x5e))
        w.u16(1); w.raw(aliceBox.publicKey); w.raw(aliceBox.exportSecret()); w.u64(now + 604_800)
        w.u16(1); w.u16(UInt16(mailboxRelay.utf8.count)); w.raw(Array(mailboxRelay.utf8)); w.raw(seed(0xa3))
        return w.bytes
    }
    func file(_ secrets: [UInt8], version: UInt8 = 1, ops: UInt64 = 2, mem: UInt64 = 67_108_864) throws -> [UInt8] {
        let salt = [UInt8](repeating: 0x53, count: 16), nonce = [UInt8](repeating: 0x4e, count: 24)
        var w = ByteWriter()
        w.raw(Array("KITHKEYS".utf8)); w.u8(version); w.u64(ops); w.u64(mem); w.raw(salt); w.raw(nonce)
        let key = try PasswordKDF.deriveKey(passphrase: Array(passphrase.utf8), salt: salt, opsLimit: 2, memLimit: 67_108_864)
        return w.bytes + (try AEAD.seal(secrets, key: key, nonce: nonce, associatedData: w.bytes))
    }
    let header: [(String, String)] = [("kind", "keystore")]
    let good = try file(secrets())
    try write("keystore-valid.txt", header + [("expect", "success"), ("comment", "alice's keystore, Argon2id at 2 passes and 64 MiB"),
              ("passphrase", passphrase), ("identity", hex(alice.publicKey)), ("encryption-public", hex(aliceBox.publicKey)),
              ("mailbox-relay", "https://relay.example:8443"), ("mailbox", hex(try SigningKey(seed: seed(0xa3)).publicKey))], hex(good))
    try write("keystore-wrong-passphrase.txt", header + [("expect", "decryption failure"), ("comment", "opened with another passphrase"),
              ("passphrase", "Correct horse battery staple")], hex(good))
    var tampered = good
    tampered[tampered.count - 1] ^= 1
    try write("keystore-tampered.txt", header + [("expect", "decryption failure"), ("comment", "last tag byte flipped"),
              ("passphrase", passphrase)], hex(tampered))
    try write("keystore-unsupported-version.txt", header + [("expect", "unsupported version"), ("comment", "header version 2"),
              ("passphrase", passphrase)], hex(try file(secrets(), version: 2)))
    try write("keystore-bad-magic.txt", header + [("expect", "malformed"), ("comment", "magic KITHKEYZ"), ("passphrase", passphrase)],
              hex(Array("KITHKEYZ".utf8) + good.dropFirst(8)))
    try write("keystore-limits-out-of-range.txt", header + [("expect", "malformed"), ("comment", "memlimit of 64 GiB: refused before any work"),
              ("passphrase", passphrase)], hex(Array(good.prefix(17)) + [0, 0, 0, 16, 0, 0, 0, 0] + good.dropFirst(25)))
    try write("keystore-secrets-mismatch.txt", header + [("expect", "malformed"),
              ("comment", "decrypts, but the stored encryption public key is not the secret key's"), ("passphrase", passphrase)],
              hex(try file({ var b = secrets(); b[1 + 32 + 32 + 2] ^= 1; return b }())))
}

/// Encryption-key updates: inner type 2 of a key-channel envelope, built field by
/// field from the spec and sealed to bob's encryption key like key messages.
@MainActor func writeKeyUpdateVectors() throws {
    let newBox = try BoxKey(seed: seed(0xa5))
    func certificate(notBefore: UInt64 = now - 3600, notAfter: UInt64 = now + 365 * 86_400, signer: SigningKey = alice) -> [UInt8] {
        var w = ByteWriter()
        EncryptionKeyCertificate(publicKey: newBox.publicKey, notBefore: notBefore, notAfter: notAfter, signedBy: signer).write(to: &w)
        return w.bytes
    }
    func inner(type: UInt8 = 2, sender: [UInt8] = alice.publicKey, recipient: [UInt8] = bob.publicKey, cert: [UInt8] = certificate(),
               createdAt: UInt64 = now, signer: SigningKey = alice, trailing: [UInt8] = []) -> [UInt8] {
        var w = ByteWriter()
        w.u8(type); w.raw(sender); w.raw(recipient); w.raw(cert); w.u64(createdAt)
        return Padding.pad(w.bytes + signer.sign(sigMessage("kith/key-update/v1", w.bytes)) + trailing, blockSize: 256)
    }
    func sealed(_ padded: [UInt8]) throws -> String {
        hex(Envelope(kind: .keyMessage, payload: try BoxKey.seal(padded, to: bobBox.publicKey)).bytes)
    }
    func header(_ expect: String, _ comment: String) -> [(String, String)] {
        [("kind", "key-update"), ("expect", expect), ("comment", comment),
         ("recipient-identity", hex(bob.publicKey)), ("recipient-encryption-secret", hex(bobBox.exportSecret()))]
    }
    try write("key-update-valid.txt", header("success", "alice tells bob her new encryption key") + [
        ("sender", hex(alice.publicKey)), ("encryption-public", hex(newBox.publicKey)),
        ("not-before", String(now - 3600)), ("not-after", String(now + 365 * 86_400)), ("created-at", String(now))],
              try sealed(inner()))
    try write("key-update-bad-signature.txt", header("bad signature", "claims alice as sender, signed by another key"),
              try sealed(inner(signer: mallory)))
    try write("key-update-wrong-recipient.txt", header("wrong recipient", "signed by alice for someone else, re-sealed to bob"),
              try sealed(inner(recipient: mallory.publicKey)))
    try write("key-update-certificate-bad-signature.txt", header("bad signature", "update signed by alice, its certificate by another key"),
              try sealed(inner(cert: certificate(signer: mallory))))
    try write("key-update-certificate-window.txt", header("malformed", "validly signed, but the certificate's window is empty (not_before = not_after)"),
              try sealed(inner(cert: certificate(notBefore: now, notAfter: now))))
    try write("key-update-time-overflow.txt", header("malformed", "validly signed, created_at 2^63"),
              try sealed(inner(createdAt: 1 << 63)))
    try write("key-update-trailing-bytes.txt", header("malformed", "a byte after the signature"),
              try sealed(inner(trailing: [0])))
    try write("key-update-unknown-type.txt", header("unsupported version", "inner type 4, otherwise a valid key update"),
              try sealed(inner(type: 4)))
}

/// Inbox updates: inner type 3 of a key-channel envelope, built field by field
/// from the spec and sealed to bob's encryption key like key messages.
@MainActor func writeInboxUpdateVectors() throws {
    let added = Inbox(relay: "https://second.example:8443", mailbox: try SigningKey(seed: seed(0xa6)).publicKey, dropToken: seed(0xa7))
    func inner(sender: [UInt8] = alice.publicKey, recipient: [UInt8] = bob.publicKey, sequence: UInt64 = 8, change: UInt8 = 1,
               relay: String = added.relay, token: [UInt8]? = nil, signer: SigningKey = alice) -> [UInt8] {
        var w = ByteWriter()
        w.u8(3); w.raw(sender); w.raw(recipient); w.u64(sequence); w.u8(change)
        w.u16(UInt16(relay.utf8.count)); w.raw(Array(relay.utf8)); w.raw(added.mailbox); w.raw(token ?? (change == 1 ? added.dropToken : []))
        return Padding.pad(w.bytes + signer.sign(sigMessage("kith/inbox-update/v1", w.bytes)), blockSize: 256)
    }
    func sealed(_ padded: [UInt8]) throws -> String {
        hex(Envelope(kind: .keyMessage, payload: try BoxKey.seal(padded, to: bobBox.publicKey)).bytes)
    }
    func header(_ expect: String, _ comment: String) -> [(String, String)] {
        [("kind", "inbox-update"), ("expect", expect), ("comment", comment),
         ("recipient-identity", hex(bob.publicKey)), ("recipient-encryption-secret", hex(bobBox.exportSecret()))]
    }
    func success(_ change: String) -> [(String, String)] {
        [("sender", hex(alice.publicKey)), ("sequence", "8"), ("change", change), ("relay", added.relay), ("mailbox", hex(added.mailbox))]
    }
    try write("inbox-update-add.txt", header("success", "alice tells bob of her mailbox on a second relay, with his drop token for it")
              + success("add") + [("drop-token", hex(added.dropToken))], try sealed(inner()))
    try write("inbox-update-remove.txt", header("success", "alice tells bob to drop into that mailbox no more") + success("remove"),
              try sealed(inner(change: 2)))
    let longest = "https://" + String(repeating: "r", count: 51 - 8)
    try write("inbox-update-longest-relay.txt", header("success", "an addition with a 51-byte relay URL, the longest that fits") + [
        ("sender", hex(alice.publicKey)), ("sequence", "8"), ("change", "add"), ("relay", longest), ("mailbox", hex(added.mailbox)),
        ("drop-token", hex(added.dropToken))], try sealed(inner(relay: longest)))
    try write("inbox-update-bad-signature.txt", header("bad signature", "claims alice as sender, signed by another key"),
              try sealed(inner(signer: mallory)))
    try write("inbox-update-wrong-recipient.txt", header("wrong recipient", "signed by alice for someone else, re-sealed to bob"),
              try sealed(inner(recipient: mallory.publicKey)))
    try write("inbox-update-unknown-change.txt", header("malformed", "change 3 (only 1, add, and 2, remove, exist)"),
              try sealed(inner(change: 3, token: [])))
    try write("inbox-update-removal-with-token.txt", header("malformed", "a removal followed by a drop token: trailing bytes"),
              try sealed(inner(change: 2, token: added.dropToken)))
    try write("inbox-update-relay-uppercase-scheme.txt", header("malformed", "relay URL HTTPS://... (the URL rule of cards)"),
              try sealed(inner(relay: "HTTPS://second.example")))
    try write("inbox-update-sequence-overflow.txt", header("malformed", "sequence 2^63"), try sealed(inner(sequence: 1 << 63)))
}
