import Foundation
import KithCrypto
import Testing

/// The encryption secret keys in the keystore at `path`, decrypted as
/// docs/PROTOCOL.md ("Keystore (on disk)") says.
func keystoreSecrets(path: String, passphrase: String = "test passphrase") throws -> [[UInt8]] {
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    func u64(_ at: Int) -> UInt64 { bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
    let header = Array(bytes[0..<65])
    let key = try PasswordKDF.deriveKey(passphrase: Array(passphrase.utf8), salt: Array(bytes[25..<41]), opsLimit: u64(9), memLimit: u64(17))
    let s = try AEAD.open(Array(bytes[65...]), key: key, nonce: Array(header[41..<65]), associatedData: header)
    let n = Int(s[65]) << 8 | Int(s[66])
    return (0..<n).map { Array(s[67 + 72 * $0 + 32..<67 + 72 * $0 + 64]) }
}

/// `kith key rotate` and `kith key schedule` through the binary.
@Suite(.serialized) struct RotationCommandTests {
    func keyShow(_ home: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(try kithOK(["key", "show", "--home", home, "--json"]).utf8)) as? [String: Any] ?? [:]
    }

    func encryptionKey(_ info: [String: Any]) -> String? { (info["encryptionKey"] as? [String: Any])?["publicKey"] as? String }

    @Test func rotateGivesANewKeyAndFriendsStillRead() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let (alice, bob) = try aliceBobAndFamily(in: dir, relay: relay)
        try kithOK(["sync", "--home", alice])
        let before = try keyShow(alice)
        #expect((before["oldKeys"] as? [Any])?.isEmpty == true)

        let rotated = try kith(["key", "rotate", "--home", alice])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        let after = try keyShow(alice)
        let newKey = try #require(encryptionKey(after))
        #expect(newKey != encryptionKey(before))
        #expect(rotated.stdout == "encryption key  \(newKey)\n")
        #expect(rotated.stderr.contains("an update is queued for 1 friend, sent by your next `kith sync`"), "\(rotated.stderr)")
        #expect(rotated.stderr.contains("friends seal to the new key after their next sync"))
        let old = try #require(after["oldKeys"] as? [[String: Any]])
        #expect(old.count == 1 && old.first?["publicKey"] as? String == encryptionKey(before))
        let text = try kithOK(["key", "show", "--home", alice])
        #expect(text.contains("rotation        every 7 days") && text.contains("old key         \(encryptionKey(before)!)"), "\(text)")
        // Both encryption secrets are in the keystore; neither is shown.
        let secrets = try keystoreSecrets(path: alice + "/keystore")
        #expect(secrets.count == 2)
        let json = try kithOK(["key", "show", "--home", alice, "--json"])
        for secret in secrets {
            for encoded in [Hex.encode(secret), Base64URL.encode(secret)] {
                #expect(!json.contains(encoded) && !text.contains(encoded) && !rotated.stdout.contains(encoded) && !rotated.stderr.contains(encoded))
            }
        }

        // bob learns the key; alice's post still reads, and so does bob's new key for alice.
        try kithOK(["sync", "--home", alice])
        try kithOK(["sync", "--home", bob])
        try kithOK(["post", "--home", alice, "--to", "family", "after the rotation"])
        try kithOK(["group", "create", "--home", bob, "mine"])
        try kithOK(["group", "add", "--home", bob, "mine", "alice"])
        try kithOK(["post", "--home", bob, "--to", "mine", "sealed to alice's new key"])
        try kithOK(["sync", "--home", alice])
        try kithOK(["sync", "--home", bob])
        let synced = try kith(["sync", "--home", alice])
        #expect(synced.status == 0 && !synced.stderr.contains("refused"), "\(synced.stderr)")
        #expect(try feed(bob).map(\.text).contains("after the rotation"))
        #expect(try feed(alice).map(\.text).contains("sealed to alice's new key"))
        relay.stop()
    }

    @Test func scheduleRefusesOutOfRangeAndChangesNothing() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let home = dir + "/alice"
        try kithOK(["init", "--home", home, "--name", "alice", "--relay", relay.url])
        let shown = try kithOK(["key", "schedule", "--home", home])
        #expect(shown.hasPrefix("rotation  every 7 days; next at the first sync after ") && shown.contains("grace     14 days"), "\(shown)")
        let before = try keyShow(home)

        for (args, message) in [(["--every", "0"], "--every must be from 1 to 365 days, not 0"),
                                (["--grace", "1000"], "--grace must be from 1 to 90 days, not 1000"),
                                (["--every", "3", "--grace", "0"], "--grace must be from 1 to 90 days, not 0")] {
            let r = try kith(["key", "schedule", "--home", home] + args)
            #expect(r.status != 0 && r.stdout.isEmpty)
            #expect(r.stderr.hasPrefix("kith: error: \(message)"), "\(r.stderr)")
        }
        #expect(try keyShow(home)["rotation"] as? NSDictionary == before["rotation"] as? NSDictionary)

        try kithOK(["key", "schedule", "--home", home, "--every", "3", "--grace", "5"])
        let rotation = try #require(try keyShow(home)["rotation"] as? [String: Any])
        #expect(rotation["everyDays"] as? Int == 3 && rotation["graceDays"] as? Int == 5)
        relay.stop()
    }
}
