import Foundation
import KithCrypto
import Testing

/// The keystore file as docs/PROTOCOL.md ("Keystore (on disk)") defines it,
/// opened here independently of kith, so tests can read its limits, write an
/// older keystore and look for its secrets in what kith prints.
private struct KeystoreFile {
    static let headerLength = 8 + 1 + 8 + 8 + 16 + 24
    let opsLimit: UInt64
    let memLimit: UInt64

    init(path: String) throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        opsLimit = Self.u64(bytes, at: 9)
        memLimit = Self.u64(bytes, at: 17)
    }

    static func u64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        bytes[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The decrypted secrets of the keystore at `path`.
    static func secrets(path: String, passphrase: String) throws -> [UInt8] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let header = Array(bytes[0..<headerLength])
        let key = try PasswordKDF.deriveKey(passphrase: Array(passphrase.utf8), salt: Array(bytes[25..<41]),
                                            opsLimit: u64(bytes, at: 9), memLimit: u64(bytes, at: 17))
        return try AEAD.open(Array(bytes[headerLength...]), key: key, nonce: Array(header[41..<65]), associatedData: header)
    }

    /// Every 32-byte secret in the keystore: identity seed, storage key,
    /// encryption secret keys, mailbox seeds.
    static func secretKeys(path: String, passphrase: String) throws -> [[UInt8]] {
        let s = try secrets(path: path, passphrase: passphrase)
        var keys = [Array(s[1..<33]), Array(s[33..<65])]
        var at = 65
        let n = Int(s[at]) << 8 | Int(s[at + 1]); at += 2
        for _ in 0..<n { keys.append(Array(s[at + 32..<at + 64])); at += 72 }
        let m = Int(s[at]) << 8 | Int(s[at + 1]); at += 2
        for _ in 0..<m {
            let length = Int(s[at]) << 8 | Int(s[at + 1]); at += 2 + length
            keys.append(Array(s[at..<at + 32])); at += 32
        }
        #expect(at == s.count)
        return keys
    }

    /// Rewrites the keystore at `path` as an older kith did: the same
    /// secrets under libsodium's INTERACTIVE limits.
    static func rewriteWithInteractiveLimits(path: String, passphrase: String) throws {
        var secrets = try secrets(path: path, passphrase: passphrase)
        defer { wipe(&secrets) }
        let salt = randomBytes(16), nonce = randomBytes(24)
        var header = Array("KITHKEYS".utf8) + [1]
        for value in [PasswordKDF.interactiveOps, PasswordKDF.interactiveMem] {
            header += (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
        }
        header += salt + nonce
        let key = try PasswordKDF.deriveKey(passphrase: Array(passphrase.utf8), salt: salt,
                                            opsLimit: PasswordKDF.interactiveOps, memLimit: PasswordKDF.interactiveMem)
        let file = header + (try AEAD.seal(secrets, key: key, nonce: nonce, associatedData: header))
        #expect(FileManager.default.createFile(atPath: path + ".old", contents: Data(file), attributes: [.posixPermissions: 0o600]))
        #expect(rename(path + ".old", path) == 0)
    }
}

private func expectFailure(_ r: Output, _ message: String, hint: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status != 0, sourceLocation: sourceLocation)
    let lines = r.stderr.split(separator: "\n").map(String.init)
    #expect(lines.first?.hasPrefix("kith: error: ") == true && lines.first?.contains(message) == true, "stderr: \(r.stderr)",
            sourceLocation: sourceLocation)
    if let hint {
        #expect(lines.contains { $0.hasPrefix("kith: hint: ") && $0.contains(hint) }, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
    }
    #expect(r.stdout.isEmpty, sourceLocation: sourceLocation)
}

/// `kith key passwd`, the passphrase minimum, `kith key show` and `kith whoami`, through the binary.
@Suite(.serialized) struct KeyCommandTests {
    let newPassphrase = "a much longer new passphrase"

    @Test func passwdChangesThePassphraseAndTheOldOneStopsWorking() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let home = dir + "/alice", keystore = dir + "/alice/keystore"
        try kithOK(["init", "--home", home, "--name", "alice", "--relay", relay.url])
        let before = try Data(contentsOf: URL(fileURLWithPath: keystore))

        // Refused: a wrong current passphrase, a new one too short or empty. Nothing changes.
        expectFailure(try kith(["key", "passwd", "--home", home], passphrase: "not the passphrase",
                               env: ["KITH_NEW_PASSPHRASE": newPassphrase]), "wrong passphrase")
        expectFailure(try kith(["key", "passwd", "--home", home], env: ["KITH_NEW_PASSPHRASE": "short"]),
                      "the passphrase is too short: it needs at least 10 characters", hint: "words")
        expectFailure(try kith(["key", "passwd", "--home", home], env: ["KITH_NEW_PASSPHRASE": ""]), "KITH_NEW_PASSPHRASE is empty")
        // No new passphrase and no terminal to ask on.
        expectFailure(try kith(["key", "passwd", "--home", home]), "no new passphrase", hint: "KITH_NEW_PASSPHRASE")
        #expect(try Data(contentsOf: URL(fileURLWithPath: keystore)) == before)
        #expect(try kith(["card", "--home", home]).status == 0)

        let changed = try kith(["key", "passwd", "--home", home], env: ["KITH_NEW_PASSPHRASE": newPassphrase])
        #expect(changed.status == 0, "\(changed.stderr)")
        #expect(changed.stderr.contains("the old one no longer opens it"))
        #expect(!changed.stderr.contains(newPassphrase) && !changed.stdout.contains(newPassphrase))
        expectFailure(try kith(["card", "--home", home]), "wrong passphrase")
        #expect(try kith(["card", "--home", home], passphrase: newPassphrase).status == 0)
        // Still private, and nothing left beside it.
        var st = stat()
        #expect(stat(keystore, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: home).filter { $0.hasPrefix("keystore.tmp") }.isEmpty)
        relay.stop()
    }

    @Test func initRefusesAShortPassphrase() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let r = try kith(["init", "--home", dir + "/alice", "--name", "alice", "--relay", relay.url], passphrase: "123456789")
        expectFailure(r, "the passphrase is too short: it needs at least 10 characters", hint: "words")
        #expect(!FileManager.default.fileExists(atPath: dir + "/alice"))
        // Ten characters, counted as people count them (ü is one), are enough.
        try kithOK(["init", "--home", dir + "/alice", "--name", "alice", "--relay", relay.url], passphrase: "grüß dich!")
        relay.stop()
    }

    @Test func anOlderKeystoreOpensAndIsUpgradedWhenNextWritten() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let home = dir + "/alice", keystore = dir + "/alice/keystore"
        try kithOK(["init", "--home", home, "--name", "alice", "--relay", relay.url])
        let current = try KeystoreFile(path: keystore)
        #expect(current.opsLimit == 3 && current.memLimit == 256 << 20, "init writes the limits SECURITY.md states (MODERATE)")

        try KeystoreFile.rewriteWithInteractiveLimits(path: keystore, passphrase: "test passphrase")
        #expect(try KeystoreFile(path: keystore).opsLimit == PasswordKDF.interactiveOps)
        #expect(try kith(["card", "--home", home]).status == 0, "an older keystore still opens")
        #expect(try KeystoreFile(path: keystore).memLimit == PasswordKDF.interactiveMem, "opening does not rewrite it")

        let changed = try kith(["key", "passwd", "--home", home], env: ["KITH_NEW_PASSPHRASE": newPassphrase])
        #expect(changed.status == 0, "\(changed.stderr)")
        let upgraded = try KeystoreFile(path: keystore)
        #expect(upgraded.opsLimit == current.opsLimit && upgraded.memLimit == current.memLimit)
        #expect(try kith(["card", "--home", home], passphrase: newPassphrase).status == 0)
        relay.stop()
    }

    @Test func keyShowAndWhoamiPrintPublicKeysOnly() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relayA = try RelayProcess(home: dir + "/relay-a"), relayB = try RelayProcess(home: dir + "/relay-b")
        let home = dir + "/alice"
        let created = try kithOK(["init", "--home", home, "--name", "alice", "--relay", relayA.url, "--relay", relayB.url])

        let whoami = try kithOK(["whoami", "--home", home])
        #expect(whoami == created)

        struct Shown: Decodable {
            struct EncryptionKey: Decodable { let publicKey, notBefore, notAfter: String; let validNow: Bool }
            struct Rotation: Decodable {
                let automatic: Bool
                let everyDays, graceDays, keyLifetimeDays: Int
                let lastRotation, nextRotation: String
            }
            struct OldKey: Decodable { let publicKey, retiredAt, erasedAfter: String }
            struct Mailbox: Decodable { let relay, mailbox: String }
            let name, identity, fingerprint: String
            let encryptionKey: EncryptionKey
            let rotation: Rotation
            let oldKeys: [OldKey]
            let mailboxes: [Mailbox]
        }
        let json = try kithOK(["key", "show", "--home", home, "--json"])
        let shown = try JSONDecoder().decode(Shown.self, from: Data(json.utf8))
        #expect(shown.name == "alice" && "alice  \(shown.fingerprint)" == created)
        #expect(Base64URL.decode(shown.identity)?.count == 32 && Base64URL.decode(shown.encryptionKey.publicKey)?.count == 32)
        #expect(shown.encryptionKey.validNow)
        let window = [shown.encryptionKey.notBefore, shown.encryptionKey.notAfter].compactMap { try? Date(String($0), strategy: .iso8601) }
        #expect(window.count == 2 && window[1].timeIntervalSince(window[0]) > 364 * 86_400)
        #expect(shown.rotation.automatic && shown.rotation.keyLifetimeDays == 365 && shown.oldKeys.isEmpty)
        #expect(shown.rotation.everyDays == 7 && shown.rotation.graceDays == 14)
        let last = try Date(shown.rotation.lastRotation, strategy: .iso8601), next = try Date(shown.rotation.nextRotation, strategy: .iso8601)
        #expect(next.timeIntervalSince(last) == 7 * 86_400 && last == window.first)
        #expect(shown.mailboxes.map(\.relay).sorted() == [relayA.url, relayB.url].sorted())
        #expect(shown.mailboxes.allSatisfy { Base64URL.decode($0.mailbox)?.count == 32 })

        let text = try kithOK(["key", "show", "--home", home])
        for expected in ["identity        \(shown.identity)", "fingerprint     \(shown.fingerprint)",
                         "encryption key  \(shown.encryptionKey.publicKey)", "(valid now)", "rotation        every 7 days, at the first sync after \(shown.rotation.nextRotation)",
                         "  grace         old secrets are kept 14 days, then erased", "old keys        none kept",
                         "mailbox         \(shown.mailboxes[0].mailbox) on \(shown.mailboxes[0].relay)"] {
            #expect(text.contains(expected), "\(expected) missing from \(text)")
        }

        // No secret of the keystore appears, in any encoding kith uses.
        let secrets = try KeystoreFile.secretKeys(path: home + "/keystore", passphrase: "test passphrase")
        #expect(secrets.count == 5)
        for secret in secrets {
            for encoded in [Hex.encode(secret), Base64URL.encode(secret)] {
                #expect(!json.contains(encoded) && !text.contains(encoded) && !whoami.contains(encoded))
            }
        }
        relayA.stop()
        relayB.stop()
    }

    @Test func passwdAsksOnTheTerminalWithoutEcho() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let home = dir + "/alice"
        try kithOK(["init", "--home", home, "--name", "alice", "--relay", relay.url])
        let secret = "typed-" + UUID().uuidString.prefix(8)

        let mismatch = try onTerminal(["key", "passwd", "--home", home],
                                      answers: [("Passphrase: ", "test passphrase"), ("New passphrase: ", String(secret)),
                                                ("New passphrase again: ", "something else")])
        #expect(mismatch.status != 0 && mismatch.screen.contains("kith: error: the new passphrases do not match"))
        #expect(try kith(["card", "--home", home]).status == 0, "a refused change changes nothing")

        let changed = try onTerminal(["key", "passwd", "--home", home],
                                     answers: [("Passphrase: ", "test passphrase"), ("New passphrase: ", String(secret)),
                                               ("New passphrase again: ", String(secret))])
        #expect(changed.status == 0, "\(changed.screen)")
        #expect(!changed.screen.contains(secret) && !changed.screen.contains("test passphrase"), "a passphrase was echoed")
        #expect(try kith(["card", "--home", home], passphrase: String(secret)).status == 0)
        relay.stop()
    }
}

/// `kith friend verify`, the verified marks, refusal of a card that claims a
/// known friend's name with another identity, and `kith friend replace`.
@Suite(.serialized) struct VerifyCommandTests {
    func friends(_ home: String) throws -> [(name: String, fingerprint: String, verified: Bool)] {
        struct Listed: Decodable { let name, fingerprint: String; let verified: Bool }
        return try JSONDecoder().decode([Listed].self, from: Data(try kithOK(["friend", "list", "--home", home, "--json"]).utf8))
            .map { ($0.name, $0.fingerprint, $0.verified) }
    }

    @Test func bothSidesSeeOneSafetyNumberAndVerifiedFriendsAreMarked() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let (alice, bob) = try aliceAndBob(in: dir, relay: relay)

        let onAlice = try kith(["friend", "verify", "--home", alice, "bob"])
        let onBob = try kithOK(["friend", "verify", "--home", bob, "alice"])
        #expect(onAlice.status == 0 && onAlice.stdout == onBob + "\n")
        let groups = onBob.split(separator: " ")
        #expect(groups.count == 12 && groups.allSatisfy { $0.count == 5 && $0.allSatisfy(\.isNumber) })
        #expect(onAlice.stderr.contains("kith friend verify bob --confirm"))
        #expect(try friends(alice).map(\.verified) == [false])
        let fingerprint = try friends(alice)[0].fingerprint
        #expect(try kithOK(["friend", "list", "--home", alice]) == "bob  \(fingerprint)")

        // alice compared the number with bob and confirms.
        let confirmed = try kith(["friend", "verify", "--home", alice, "bob", "--confirm"])
        #expect(confirmed.status == 0 && confirmed.stdout == onAlice.stdout && confirmed.stderr.contains("marked bob verified"))
        #expect(try friends(alice).map(\.verified) == [true])
        #expect(try kithOK(["friend", "list", "--home", alice]) == "bob ✓  \(fingerprint)")
        #expect(try kith(["friend", "verify", "--home", alice, "bob"]).stderr.contains("bob is verified"))

        // The feed marks posts of verified friends.
        try kithOK(["group", "create", "--home", alice, "family"])
        try kithOK(["group", "add", "--home", alice, "family", "bob"])
        try kithOK(["post", "--home", alice, "--to", "family", "hello bob"])
        try kithOK(["sync", "--home", alice])
        try kithOK(["sync", "--home", bob])
        struct Item: Decodable { let author: String; let verified: Bool }
        func items() throws -> [Item] { try feedPosts(bob, as: Item.self) }
        #expect(try items().map(\.verified) == [false])
        #expect(try kithOK(["feed", "--home", bob]).hasPrefix("alice → family (alice's group, 2 people)  "))
        try kithOK(["friend", "verify", "--home", bob, "alice", "--confirm"])
        #expect(try items().map(\.verified) == [true])
        #expect(try kithOK(["feed", "--home", bob]).hasPrefix("alice ✓ → family (alice's group, 2 people)  "))
        try kithOK(["friend", "verify", "--home", bob, "alice", "--clear"])
        #expect(try items().map(\.verified) == [false])

        // Refused: an unknown friend, contradictory flags.
        expectFailure(try kith(["friend", "verify", "--home", alice, "zed"]), "no friend named \"zed\"")
        expectFailure(try kith(["friend", "verify", "--home", alice, "bob", "--confirm", "--clear"]), "cannot be used together")
        relay.stop()
    }

    @Test func aCardWithAnotherIdentityForAKnownNameIsRefusedAndOnlyReplaceTakesIt() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let alice = dir + "/alice", bob = dir + "/bob", newBob = dir + "/new-bob", carol = dir + "/carol"
        for (name, home) in [("alice", alice), ("bob", bob), ("bob", newBob), ("carol", carol)] {
            try kithOK(["init", "--home", home, "--name", name, "--relay", relay.url])
        }
        try kithOK(["friend", "add", "--home", alice, try kithOK(["card", "--home", bob])])
        try kithOK(["friend", "add", "--home", alice, try kithOK(["card", "--home", carol])])
        try kithOK(["friend", "add", "--home", bob, try kithOK(["card", "--home", alice])])
        try kithOK(["friend", "verify", "--home", alice, "bob", "--confirm"])
        try kithOK(["group", "create", "--home", alice, "family"])
        try kithOK(["group", "add", "--home", alice, "family", "bob"])
        let before = try friends(alice)
        let oldFingerprint = before.first { $0.name == "bob" }!.fingerprint

        // A card named "bob" with another identity: an impostor, or bob's new identity.
        let newCard = try kithOK(["card", "--home", newBob])
        let refused = try kith(["friend", "add", "--home", alice, newCard])
        expectFailure(refused, "this card has a different identity than the friend you know as \"bob\": it may be an impostor, or bob may have made a new identity",
                      hint: "kith friend replace bob CARD")
        #expect(refused.stderr.contains(oldFingerprint))
        // Known by another local name, the name in bob's card still counts.
        let other = dir + "/other"
        try kithOK(["init", "--home", other, "--name", "alice", "--relay", relay.url])
        try kithOK(["friend", "add", "--home", other, try kithOK(["card", "--home", bob]), "--as", "robert"])
        expectFailure(try kith(["friend", "add", "--home", other, try kithOK(["card", "--home", newBob])]),
                      "different identity than the friend you know as \"robert\"")
        #expect(try friends(alice).map(\.fingerprint) == before.map(\.fingerprint))

        // replace: refused for an unknown friend, for the same identity, for a card already a friend.
        expectFailure(try kith(["friend", "replace", "--home", alice, "zed", newCard]), "no friend named \"zed\"")
        expectFailure(try kith(["friend", "replace", "--home", alice, "bob", try kithOK(["card", "--home", bob])]), "nothing to replace")
        expectFailure(try kith(["friend", "replace", "--home", alice, "bob", try kithOK(["card", "--home", carol])]),
                      "already your friend \"carol\"")
        #expect(try friends(alice).map(\.fingerprint) == before.map(\.fingerprint))

        // After checking with bob, alice replaces him. The new identity starts unverified and in no audience.
        let replaced = try kith(["friend", "replace", "--home", alice, "bob", newCard])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        let newFingerprint = try kithOK(["whoami", "--home", newBob])
        #expect(replaced.stdout == newFingerprint + "\n")
        #expect(replaced.stderr.contains(oldFingerprint) && replaced.stderr.contains("\"family\""))
        let after = try friends(alice)
        #expect(after.map(\.name) == ["bob", "carol"])
        #expect(after[0].fingerprint != oldFingerprint && !after[0].verified)
        #expect(try kithOK(["group", "list", "--home", alice]) == "family: (no members)")

        // Posts now reach the new bob, and not the old.
        try kithOK(["friend", "add", "--home", newBob, try kithOK(["card", "--home", alice])])
        try kithOK(["group", "add", "--home", alice, "family", "bob"])
        try kithOK(["post", "--home", alice, "--to", "family", "for the new bob"])
        try kithOK(["sync", "--home", alice])
        for home in [bob, newBob] { try kithOK(["sync", "--home", home]) }
        #expect(try feed(newBob).map(\.text) == ["for the new bob"])
        #expect(try feed(bob).isEmpty)
        relay.stop()
    }
}
