import Foundation
import GRDB
import KithCrypto
@testable import KithNode
import KithProtocol
import Testing

/// alice, bob and mallory, each friends with the other two, on one live relay;
/// alice's clock is `aliceClock`.
func withRotatingFriends(aliceClock: TestClock,
                         _ body: @escaping @Sendable (_ alice: Node, _ bob: Node, _ mallory: Node, _ relay: String) async throws -> Void) async throws {
    try await withRelayAndDirectory { url, dir in
        let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive) { aliceClock.now }
        let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
        let mallory = try await Node.create(home: dir + "/mallory", name: "mallory", relays: [url], passphrase: passphrase, kdf: .interactive)
        for (a, b) in [(alice, bob), (bob, alice), (alice, mallory), (mallory, alice), (bob, mallory), (mallory, bob)] {
            try await b.addFriend(cardText: try await a.issueCard().text)
        }
        try await body(alice, bob, mallory, url)
    }
}

extension Node {
    /// The certificate the last key update from a friend brought, if any.
    func updatedCertificate(ofFriendNamed name: String) async throws -> EncryptionKeyCertificate? {
        try await db.writer.read { db in try Self.updatedCertificate(db, of: try self.card(ofFriendNamed: name, db).identity) }
    }

    /// A friend's current encryption key, as this node seals to it.
    func sealingKey(ofFriendNamed name: String, now: UInt64 = Node.now()) async throws -> EncryptionKeyCertificate? {
        try await db.writer.read { db in try Self.sealingKey(db, of: try self.card(ofFriendNamed: name, db), now: now) }
    }
}

/// A key update built field by field and signed by `signer`, whoever it claims to be from.
func rawKeyUpdate(sender: [UInt8], recipient: [UInt8], certificate: EncryptionKeyCertificate, signer: SigningKey, to encryptionKey: [UInt8]) throws -> [UInt8] {
    var w = ByteWriter()
    w.u8(KeyUpdate.type); w.raw(sender); w.raw(recipient); certificate.write(to: &w); w.u64(Node.now())
    let signed = w.bytes + signer.sign(Array("kith/key-update/v1".utf8) + [0] + w.bytes)
    return Envelope(kind: .keyMessage, payload: try BoxKey.seal(Padding.pad(signed, blockSize: KeyMessage.paddedLength), to: encryptionKey)).bytes
}

/// Every regular file under `dir`, recursively.
func filesUnder(_ dir: String) -> [String] {
    let fm = FileManager.default
    return (fm.enumerator(atPath: dir)?.allObjects as? [String] ?? []).map { (dir as NSString).appendingPathComponent($0) }
        .filter { var isDir: ObjCBool = false; return fm.fileExists(atPath: $0, isDirectory: &isDir) && !isDir.boolValue }
}

extension Array where Element == UInt8 {
    func contains(bytes needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, count >= needle.count else { return false }
        return (0...(count - needle.count)).contains { self[$0..<$0 + needle.count].elementsEqual(needle) }
    }
}

@Suite struct RotationTests {
    @Test func friendsSealToTheNewKeyAfterTheirNextSync() async throws {
        try await withRotatingFriends(aliceClock: TestClock()) { alice, bob, _, _ in
            let old = try alice.requireKeys().encryptionKeys.map(\.key)
            #expect(old.count == 1)
            let rotation = try await alice.rotateEncryptionKey()
            #expect(rotation.updatesQueuedFor == 2 && rotation.skipped.isEmpty)
            let keys = try alice.requireKeys().encryptionKeys
            #expect(keys.count == 2 && keys[1].key.publicKey == rotation.certificate.publicKey)
            #expect(try alice.keyInfo().encryptionKey.publicKey == Base64URL.encode(rotation.certificate.publicKey))
            #expect(try alice.keyInfo().oldKeys.map(\.publicKey) == [Base64URL.encode(old[0].publicKey)])
            // The update travels like a key message: same envelope type and size.
            let queued = try await alice.queuedEnvelopes().map { try Envelope(bytes: $0) }
            #expect(queued.count == 2 && queued.allSatisfy { $0.kind == .keyMessage && $0.payload.count == KeyMessage.payloadLength })
            // A new card carries the new key.
            #expect(try await alice.issueCard().encryptionKey == rotation.certificate)

            #expect(try await bob.sealingKey(ofFriendNamed: "alice")?.publicKey == old[0].publicKey)
            #expect(try await alice.sync().delivered == 2)
            let report = try await bob.sync()
            #expect(report.rejected == 0 && report.waiting == 0, "\(report.problems)")
            #expect(try await bob.updatedCertificate(ofFriendNamed: "alice") == rotation.certificate)
            #expect(try await bob.sealingKey(ofFriendNamed: "alice") == rotation.certificate)

            // bob's next key message to alice is sealed to her new key, and to it alone.
            try await bob.createAudience(name: "book club")
            try await bob.addMember(audience: "book club", friend: "alice")
            let keyMessages = try await bob.queuedEnvelopes().map { try Envelope(bytes: $0) }
            #expect(keyMessages.count == 1)
            let me = try alice.identity()
            #expect(try KeyMessage.open(keyMessages[0], keys: [keys[1].key], me: me).audienceName == "book club")
            #expect(throws: ProtocolError.self) { try KeyMessage.open(keyMessages[0], keys: old, me: me) }
            _ = try await bob.sync()
            #expect(try await alice.sync().newAudienceKeys == 1)
            _ = try await bob.post(to: "book club", text: "chapter one")
            _ = try await bob.sync()
            #expect(try await alice.sync().newPosts == 1)
            #expect(try alice.feed().map(\.text) == ["chapter one"])
        }
    }

    @Test func anOldSecretOpensDuringTheGracePeriodThenIsErasedFromEveryFile() async throws {
        let clock = TestClock()
        try await withRotatingFriends(aliceClock: clock) { alice, bob, _, _ in
            // bob seals a key message to alice's key of the day; alice does not fetch it yet.
            try await bob.createAudience(name: "family")
            try await bob.addMember(audience: "family", friend: "alice")
            _ = try await bob.sync()
            let oldKey = try alice.requireKeys().encryptionKeys[0].key
            var oldSecret = oldKey.exportSecret()
            defer { wipe(&oldSecret) }

            try await alice.rotateEncryptionKey()
            let keystorePath = (alice.home as NSString).appendingPathComponent(Keystore.fileName)
            let keystoreWithOldKey = [UInt8](try Data(contentsOf: URL(fileURLWithPath: keystorePath)))
            #expect(try Keystore.open(path: keystorePath, passphrase: passphrase).encryptionKeys.count == 2)

            // A day later, within the grace period, the late key message still opens.
            clock.advance(86_400)
            let late = try await alice.sync()
            #expect(late.newAudienceKeys == 1 && late.rejected == 0 && late.erasedEncryptionKeys == 0, "\(late.problems)")
            #expect(try alice.requireKeys().encryptionKeys.count == 2)

            // Another sealed to the old key, after the grace period: nothing opens it.
            let stale = try KeyMessage(audience: AudienceKey(owner: try bob.identity(), audienceID: randomBytes(16), epoch: 1, key: SecretBytes(random: 32)),
                                       recipient: try alice.identity(), audienceName: "stale", createdAt: Node.now())
                .seal(owner: try bob.requireKeys().identity, to: oldKey.publicKey)
            try await bob.dropRaw(stale.bytes, to: "alice")
            clock.advance(RotationSchedule.standard.grace)
            let after = try await alice.sync()
            #expect(after.erasedEncryptionKeys == 1)
            #expect(after.rejected == 1 && after.newAudienceKeys == 0)
            #expect(after.problems.contains { $0.contains("no matching key") }, "\(after.problems)")
            // The keystore, decrypted with the passphrase, no longer holds the old secret...
            let reopened = try Keystore.open(path: keystorePath, passphrase: passphrase)
            #expect(!reopened.encryptionKeys.contains { $0.key.publicKey == oldKey.publicKey })
            #expect(!reopened.encryptionKeys.contains { $0.key.exportSecret() == oldSecret })
            #expect(try alice.keyInfo().oldKeys.allSatisfy { $0.publicKey != Base64URL.encode(oldKey.publicKey) })
            // ...and no file of the node directory holds the secret's bytes, or any
            // part of the keystore that held it (which the same passphrase opens).
            let oldCiphertext = Array(keystoreWithOldKey[KeystoreFile.headerLength + 16..<KeystoreFile.headerLength + 80])
            let files = filesUnder(alice.home)
            #expect(files.contains(keystorePath) && files.contains { $0.hasSuffix(NodeDatabase.fileName) })
            for file in files {
                let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
                #expect(!bytes.contains(bytes: oldSecret), "\(file)")
                #expect(!bytes.contains(bytes: oldCiphertext), "\(file)")
            }
        }
    }

    @Test func syncRotatesOnTheSchedule() async throws {
        let clock = TestClock()
        try await withRotatingFriends(aliceClock: clock) { alice, bob, _, _ in
            let first = try alice.keyInfo()
            #expect(first.rotation.automatic && first.rotation.everyDays == 7 && first.rotation.graceDays == 14 && first.oldKeys.isEmpty)
            #expect(try await alice.sync().rotatedEncryptionKey == false)
            #expect(try alice.keyInfo().encryptionKey == first.encryptionKey)

            clock.advance(RotationSchedule.standard.period)
            let due = try await alice.sync()
            #expect(due.rotatedEncryptionKey && due.delivered == 2, "the updates go out in the same sync")
            let second = try alice.keyInfo()
            #expect(second.encryptionKey.publicKey != first.encryptionKey.publicKey && second.oldKeys.count == 1)
            _ = try await bob.sync()
            #expect(try await bob.sealingKey(ofFriendNamed: "alice", now: clock.now).map { Base64URL.encode($0.publicKey) } == second.encryptionKey.publicKey)

            // Not again until the next period; a shorter one applies at once.
            clock.advance(86_400)
            #expect(try await alice.sync().rotatedEncryptionKey == false)
            let schedule = try await alice.setRotationSchedule(everyDays: 1, graceDays: 3)
            #expect(schedule == RotationSchedule(period: 86_400, grace: 3 * 86_400))
            #expect(try await alice.sync().rotatedEncryptionKey)
            #expect(try alice.keyInfo().oldKeys.count == 2)
            // Out of range changes nothing.
            await #expect(throws: NodeError.self) { try await alice.setRotationSchedule(everyDays: 0, graceDays: nil) }
            await #expect(throws: NodeError.self) { try await alice.setRotationSchedule(everyDays: 366, graceDays: nil) }
            await #expect(throws: NodeError.self) { try await alice.setRotationSchedule(everyDays: 2, graceDays: 91) }
            #expect(try alice.keyInfo().rotation.everyDays == 1 && alice.keyInfo().rotation.graceDays == 3)
            // Past the grace, the first key's secret is erased; the second's waits its own grace.
            clock.advance(3 * 86_400)
            let later = try await alice.sync()
            #expect(later.rotatedEncryptionKey && later.erasedEncryptionKeys == 2)
            #expect(try alice.requireKeys().encryptionKeys.count == 2)
            #expect(try alice.keyInfo().oldKeys.count == 1)
        }
    }

    @Test func forgedMisaddressedAndOlderUpdatesChangeNothing() async throws {
        try await withRotatingFriends(aliceClock: TestClock()) { alice, bob, mallory, _ in
            let bobsKey = try await alice.sealingKey(ofFriendNamed: "bob")!.publicKey
            let bobID = try bob.identity(), aliceID = try alice.identity(), malloryID = try mallory.identity()
            let aliceKeys = try alice.requireKeys().identity, malloryKeys = try mallory.requireKeys().identity
            func cert(_ signer: SigningKey, notBefore: UInt64 = Node.now()) -> EncryptionKeyCertificate {
                EncryptionKeyCertificate(publicKey: BoxKey().publicKey, notBefore: notBefore, notAfter: Node.now() + 86_400, signedBy: signer)
            }
            // Claims alice, signed by mallory; alice's update for mallory, re-sealed to bob;
            // alice's update carrying a certificate mallory signed.
            try await mallory.dropRaw(try rawKeyUpdate(sender: aliceID, recipient: bobID, certificate: cert(aliceKeys), signer: malloryKeys, to: bobsKey), to: "bob")
            try await mallory.dropRaw(try KeyUpdate(sender: aliceID, recipient: malloryID, certificate: cert(aliceKeys), createdAt: Node.now())
                .seal(sender: aliceKeys, to: bobsKey).bytes, to: "bob")
            try await mallory.dropRaw(try rawKeyUpdate(sender: aliceID, recipient: bobID, certificate: cert(malloryKeys), signer: aliceKeys, to: bobsKey), to: "bob")
            let refused = try await bob.sync()
            #expect(refused.rejected == 3, "\(refused.problems)")
            #expect(refused.problems.contains { $0.contains("bad signature") } && refused.problems.contains { $0.contains("wrong recipient") })
            #expect(try await bob.updatedCertificate(ofFriendNamed: "alice") == nil)

            // mallory's own valid update changes mallory's key, never alice's.
            let mallorysNew = cert(malloryKeys)
            try await mallory.dropRaw(try KeyUpdate(sender: malloryID, recipient: bobID, certificate: mallorysNew, createdAt: Node.now())
                .seal(sender: malloryKeys, to: bobsKey).bytes, to: "bob")
            #expect(try await bob.sync().rejected == 0)
            #expect(try await bob.updatedCertificate(ofFriendNamed: "mallory") == mallorysNew)
            #expect(try await bob.updatedCertificate(ofFriendNamed: "alice") == nil)

            // alice rotates; an update older than (or the same as) the one bob holds is ignored.
            let rotation = try await alice.rotateEncryptionKey()
            _ = try await alice.sync()
            _ = try await bob.sync()
            #expect(try await bob.updatedCertificate(ofFriendNamed: "alice") == rotation.certificate)
            for older in [cert(aliceKeys, notBefore: rotation.certificate.notBefore - 1), rotation.certificate] {
                try await alice.dropRaw(try KeyUpdate(sender: aliceID, recipient: bobID, certificate: older, createdAt: Node.now())
                    .seal(sender: aliceKeys, to: bobsKey).bytes, to: "bob")
            }
            let ignored = try await bob.sync()
            #expect(ignored.fetched == 2 && ignored.rejected == 0 && ignored.waiting == 0, "\(ignored.problems)")
            #expect(try await bob.updatedCertificate(ofFriendNamed: "alice") == rotation.certificate)
        }
    }

    @Test func anUpdateFromAStrangerWaitsLikeTheirKeyMessages() async throws {
        try await withRotatingFriends(aliceClock: TestClock()) { _, bob, mallory, _ in
            let bobsKey = try await mallory.sealingKey(ofFriendNamed: "bob")!.publicKey
            let zed = SigningKey()
            let cert = EncryptionKeyCertificate(publicKey: BoxKey().publicKey, notBefore: Node.now(), notAfter: Node.now() + 86_400, signedBy: zed)
            try await mallory.dropRaw(try KeyUpdate(sender: zed.publicKey, recipient: try bob.identity(), certificate: cert, createdAt: Node.now())
                .seal(sender: zed, to: bobsKey).bytes, to: "bob")
            let report = try await bob.sync()
            #expect(report.waiting == 1 && report.rejected == 0)
            #expect(report.waitingReasons == ["1 waiting: an encryption key from someone who is not a friend (yet)"])
            // Once zed is a friend (with an older card), the update applies.
            let older = EncryptionKeyCertificate(publicKey: BoxKey().publicKey, notBefore: Node.now() - 60, notAfter: Node.now() + 86_400, signedBy: zed)
            let card = try ContactCard(identity: zed, encryptionKey: older, sequence: 1, createdAt: Node.now(), name: "zed",
                                       inboxes: [Inbox(relay: "https://relay.example", mailbox: randomBytes(32), dropToken: randomBytes(32))])
            try await bob.addFriend(cardText: card.text)
            #expect(try await bob.sync().waiting == 0)
            #expect(try await bob.updatedCertificate(ofFriendNamed: "zed") == cert)
            #expect(try await bob.sealingKey(ofFriendNamed: "zed") == cert)
        }
    }
}
