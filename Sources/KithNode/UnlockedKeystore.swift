import Foundation
import KithCrypto

/// An unlocked node's keystore and the key its file is encrypted under,
/// shared by every copy of the `Node` value: a rotation or an erased key is
/// seen at once by all of them, and rewrites of the file are serialised.
final class UnlockedKeystore: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Keystore
    private var fileKey: Keystore.FileKey
    let path: String

    init(_ keys: Keystore, fileKey: Keystore.FileKey, path: String) {
        current = keys
        self.fileKey = fileKey
        self.path = path
    }

    var keys: Keystore { lock.withLock { current } }

    /// Applies `change` to the keys and writes the keystore file under the
    /// key it was unlocked with (the same salt and limits, a fresh nonce),
    /// atomically. The keys in memory change only once the file is written.
    func rewrite<R>(_ change: (inout Keystore) throws -> R) throws -> R {
        try lock.withLock {
            var keys = current
            let result = try change(&keys)
            try keys.write(to: path, under: fileKey)
            current = keys
            return result
        }
    }

    /// Writes the keystore under a new passphrase (Argon2id with `limits`
    /// and a fresh salt), and keeps the new key for later rewrites.
    func rewrite(passphrase: [UInt8], limits: Keystore.Limits) throws {
        try lock.withLock {
            fileKey = try current.write(to: path, passphrase: passphrase, opsLimit: limits.ops, memLimit: limits.mem)
        }
    }
}
