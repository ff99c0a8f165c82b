import Foundation
import KithCrypto
@testable import KithNode
import Testing

/// Two processes with the same node unlocked, as two commands run at once:
/// each keystore rewrite starts from the file as it is, so neither undoes
/// the other's change, and one made under an older passphrase is refused.
@Suite struct KeystoreLockTests {
    @Test func rewritesFromTwoUnlockedCopiesKeepBothChanges() async throws {
        try await withRelayAndDirectory { url, dir in
            let home = dir + "/alice"
            _ = try await Node.create(home: home, name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive)
            let first = try Node.open(home: home).unlock(passphrase: passphrase)
            let second = try Node.open(home: home).unlock(passphrase: passphrase)
            try await first.rotateEncryptionKey()
            try await second.rotateEncryptionKey()
            let onDisk = try Keystore.open(path: home + "/" + Keystore.fileName, passphrase: passphrase)
            // The key made at init and both new ones: the second rotation kept the first's key.
            #expect(onDisk.encryptionKeys.count == 3)
            #expect(Set(onDisk.encryptionKeys.map(\.key.publicKey)) == Set(try second.requireKeys().encryptionKeys.map(\.key.publicKey)))
            #expect(FileManager.default.fileExists(atPath: home + "/" + NodeLock.fileName))

            let newPassphrase = Array("another test passphrase".utf8)
            try first.changePassphrase(to: newPassphrase)
            await #expect(throws: NodeError.self) { try await second.rotateEncryptionKey() }
            // Refused before writing: the keystore opens with the new passphrase and holds the same keys.
            #expect(try Keystore.open(path: home + "/" + Keystore.fileName, passphrase: newPassphrase).encryptionKeys.count == 3)
        }
    }
}
