import Foundation
import KithCrypto

/// An unlocked node's keystore and the key its file is encrypted under,
/// shared by every copy of the `Node` value: a rotation or an erased key is
/// seen at once by all of them. Rewrites of the file are serialised, within
/// the process and with other processes (`NodeLock`), and each starts from
/// the file as it is then.
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

    /// Reads the keystore file again (another process may have changed it),
    /// applies `change` to the keys and writes the file under the key it was
    /// unlocked with (the same salt and limits, a fresh nonce), atomically.
    /// The keys in memory change only once the file is written.
    func rewrite<R>(_ change: (inout Keystore) throws -> R) throws -> R {
        try exclusively {
            var keys = try Keystore.reread(path: path, under: fileKey)
            let result = try change(&keys)
            try keys.write(to: path, under: fileKey)
            current = keys
            return result
        }
    }

    /// Writes the keystore, as it is now on disk, under a new passphrase
    /// (Argon2id with `limits` and a fresh salt), and keeps the new key for
    /// later rewrites.
    func rewrite(passphrase: [UInt8], limits: Keystore.Limits) throws {
        try exclusively {
            let keys = try Keystore.reread(path: path, under: fileKey)
            fileKey = try keys.write(to: path, passphrase: passphrase, opsLimit: limits.ops, memLimit: limits.mem)
            current = keys
        }
    }

    /// Holds this process's lock, then the node's.
    private func exclusively<R>(_ body: () throws -> R) throws -> R {
        try lock.withLock { try NodeLock.withExclusive(home: (path as NSString).deletingLastPathComponent, body) }
    }
}
