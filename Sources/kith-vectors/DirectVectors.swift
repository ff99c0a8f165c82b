import KithCrypto
import KithProtocol

// Vectors for key messages with flags (inner type 4: a direct audience, a
// shared member list) and for member lists (post envelope, inner kind 4),
// under epoch 3 of alice's "family" as the other key message and post vectors.

/// A key message of inner type 4 built field by field, padded to 256 bytes.
@MainActor func flaggedKeyMessageInner(flags: UInt8, signer: SigningKey = alice, name: String = "family") -> [UInt8] {
    var w = ByteWriter()
    w.u8(4); w.raw(alice.publicKey); w.raw(bob.publicKey); w.raw(audienceID); w.u32(3); w.raw(seed(0xe1)); w.u64(now)
    w.u8(flags); w.u8(UInt8(name.utf8.count)); w.raw(Array(name.utf8))
    return Padding.pad(w.bytes + signer.sign(sigMessage("kith/key-message/v2", w.bytes)), blockSize: 256)
}

/// A member list's inner plaintext built field by field.
@MainActor func rawMemberList(members: [([UInt8], String)], owner: [UInt8] = alice.publicKey, epoch: UInt32 = 3, revision: UInt64 = 1,
                              signer: SigningKey = alice) -> [UInt8] {
    var w = ByteWriter()
    w.u8(1); w.u8(4); w.raw(owner); w.raw(audienceID); w.u32(epoch); w.u64(revision); w.u16(UInt16(members.count))
    for (identity, name) in members { w.raw(identity); w.u8(UInt8(name.utf8.count)); w.raw(Array(name.utf8)) }
    return w.bytes + signer.sign(sigMessage("kith/member-list/v1", w.bytes))
}

@MainActor func writeDirectVectors() throws {
    let fields = successExtras
    try write("key-message-v1-valid.txt", keyMessageHeader("success", "inner type 1, without flags, as earlier revisions wrote it: still accepted")
              + fields + [("flags", "0")], try sealedKeyMessage(keyMessageInner(owner: alice.publicKey, signer: alice)))
    let direct = KeyMessage(audience: audience, recipient: bob.publicKey, audienceName: "direct", createdAt: now, flags: .direct)
    try write("key-message-direct.txt", keyMessageHeader("success", "inner type 4: alice's direct audience with bob")
              + fields.filter { $0.0 != "audience-name" } + [("audience-name", "direct"), ("flags", "1")],
              hex(try direct.seal(owner: alice, to: bobBox.publicKey).bytes))
    try write("key-message-unknown-flag.txt", keyMessageHeader("malformed", "inner type 4, validly signed, flag bit 2 set"),
              try sealedKeyMessage(flaggedKeyMessageInner(flags: 4)))
    try write("key-message-direct-sharing-members.txt", keyMessageHeader("malformed", "inner type 4, validly signed, direct and sharing a member list"),
              try sealedKeyMessage(flaggedKeyMessageInner(flags: 3)))
    try write("key-message-v2-bad-signature.txt", keyMessageHeader("bad signature", "inner type 4 signed under the type 1 context"), try sealedKeyMessage({
        var w = ByteWriter()
        w.u8(4); w.raw(alice.publicKey); w.raw(bob.publicKey); w.raw(audienceID); w.u32(3); w.raw(seed(0xe1)); w.u64(now)
        w.u8(2); w.u8(6); w.raw(Array("family".utf8))
        return Padding.pad(w.bytes + alice.sign(sigMessage("kith/key-message/v1", w.bytes)), blockSize: 256)
    }()))

    func header(_ expect: String, _ comment: String) -> [(String, String)] {
        [("kind", "member-list"), ("expect", expect), ("comment", comment), ("owner", hex(alice.publicKey)),
         ("audience-id", hex(audienceID)), ("epoch", "3"), ("epoch-key", hex(audience.key.copyBytes()))]
    }
    func sealed(_ inner: [UInt8]) throws -> String { hex(try sealPadded(Padding.pad(inner, blockSize: 512))) }
    let list = try MemberList(owner: alice, audience: audience, revision: 7,
                              members: [.init(identity: bob.publicKey, name: "bob"), .init(identity: carol.publicKey, name: "Carol 🦊")])
    try write("member-list-valid.txt", header("success", "alice tells the members of family epoch 3: bob and carol") + [
        ("revision", "7"), ("members", "\(hex(bob.publicKey)) bob, \(hex(carol.publicKey)) Carol 🦊")],
              hex(try list.seal(audience: audience, nonce: postNonce).bytes))
    let members = [(bob.publicKey, "bob")]
    try write("member-list-bad-signature.txt", header("bad signature", "claims alice as owner, signed by mallory"),
              try sealed(rawMemberList(members: members, signer: mallory)))
    try write("member-list-other-epoch.txt", header("wrong recipient", "validly signed for epoch 4, encrypted under epoch 3's key"),
              try sealed(rawMemberList(members: members, epoch: 4)))
    try write("member-list-empty.txt", header("malformed", "validly signed, no members"), try sealed(rawMemberList(members: [])))
    try write("member-list-owner-listed.txt", header("malformed", "validly signed, the owner among the members"),
              try sealed(rawMemberList(members: members + [(alice.publicKey, "alice")])))
    try write("member-list-twice.txt", header("malformed", "validly signed, bob listed twice"),
              try sealed(rawMemberList(members: members + members)))
    try write("member-list-name-bidi.txt", header("malformed", "validly signed, a name with U+202E RIGHT-TO-LEFT OVERRIDE"),
              try sealed(rawMemberList(members: [(bob.publicKey, "b\u{202E}ob")])))
    try write("member-list-revision-zero.txt", header("malformed", "validly signed, revision 0"),
              try sealed(rawMemberList(members: members, revision: 0)))
    try write("member-list-trailing-bytes.txt", header("malformed", "two bytes after the signature"),
              try sealed(rawMemberList(members: members) + [0, 0]))
}
