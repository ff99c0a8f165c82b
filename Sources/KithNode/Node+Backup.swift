import Foundation
import GRDB
import KithCrypto
import KithProtocol

extension Node {
    /// Writes an encrypted backup of everything needed to bring this node
    /// back: the keystore's secrets (identity, storage, encryption and mailbox
    /// keys) and a consistent copy of the database (friends and their drop
    /// tokens, audiences and their keys, the tokens I issued, the feed), under
    /// a key from `passphrase` (Argon2id at the keystore's limits). The file
    /// is written atomically, mode 0600. `progress` is told each step.
    public func backup(to path: String, passphrase: [UInt8], kdf: Keystore.Limits = .standard,
                       progress: (String) -> Void = { _ in }) throws {
        let keys = try requireKeys()
        try Keystore.checkNewPassphrase(passphrase)
        progress("copying the database")
        let copy = (home as NSString).appendingPathComponent("backup-copy.sqlite")
        unlink(copy)
        defer { unlink(copy) }
        try db.writer.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [copy]) }
        guard let database = FileManager.default.contents(atPath: copy), database.count < Backup.maxLength / 2 else {
            throw NodeError("cannot read the database copy for the backup")
        }
        progress("deriving the backup key (Argon2id)")
        let header = try Backup.Header(opsLimit: kdf.ops, memLimit: kdf.mem, salt: randomBytes(KeystoreFile.saltLength),
                                       nonce: randomBytes(KeystoreFile.nonceLength))
        let key = try PasswordKDF.deriveKey(passphrase: passphrase, salt: header.salt, opsLimit: header.opsLimit, memLimit: header.memLimit)
        progress("encrypting and writing \(path)")
        var secrets = keys.encodeSecrets()
        defer { wipe(&secrets) }
        let file = try Backup.seal(Backup.Contents(secrets: secrets, database: [UInt8](database)), header: header, key: key)
        try SecureFile.writeAtomically(file, to: path)
    }

    /// Reads and decrypts a backup. A wrong backup passphrase, a newer
    /// format, or a truncated or altered file is a clear error.
    public static func openBackup(_ path: String, passphrase: [UInt8], progress: (String) -> Void = { _ in }) throws -> Backup.Contents {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw NodeError("cannot read the backup \(path): not a file") }
        guard st.st_size <= Backup.maxLength else { throw NodeError("\(path): not a Kith backup (larger than 1 GiB)") }
        guard let data = FileManager.default.contents(atPath: path) else { throw NodeError("cannot read the backup \(path)") }
        do {
            let (header, ciphertext) = try Backup.header(of: [UInt8](data))
            progress("deriving the backup key (Argon2id)")
            let key = try PasswordKDF.deriveKey(passphrase: passphrase, salt: header.salt, opsLimit: header.opsLimit, memLimit: header.memLimit)
            return try Backup.open(ciphertext, header: header, key: key)
        } catch let error as ProtocolError {
            throw NodeError("\(path): \(error.detail)", hint: error.kind == .decryptionFailed ? "check the backup passphrase (KITH_BACKUP_PASSPHRASE or the prompt)" : nil)
        }
    }

    /// Brings a node back in `home` (which must not hold one) from an opened
    /// backup: the database as it was, and a keystore with its secrets under
    /// the new `passphrase`. Mailboxes stay where they were, so friends go on
    /// sending as before and nothing needs registering. On any failure
    /// nothing is left behind.
    public static func restore(home: String, from contents: Backup.Contents, passphrase: [UInt8],
                               kdf: Keystore.Limits = .standard, progress: (String) -> Void = { _ in }) throws -> Node {
        try Keystore.checkNewPassphrase(passphrase)
        let keys = try Keystore.decodeSecrets(contents.secrets)
        let fm = FileManager.default
        let keystorePath = (home as NSString).appendingPathComponent(Keystore.fileName)
        let dbPath = (home as NSString).appendingPathComponent(NodeDatabase.fileName)
        guard !fm.fileExists(atPath: keystorePath), !fm.fileExists(atPath: dbPath) else { throw NodeError("\(home) already holds a Kith node") }
        let createdHome = !fm.fileExists(atPath: home)
        do { try fm.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
            throw NodeError("cannot create \(home): \(error.localizedDescription)")
        }
        do {
            try makePrivate(home: home, databasePath: dbPath)
            progress("writing the database and the keystore")
            try SecureFile.writeAtomically(contents.database, to: dbPath)
            let db = try NodeDatabase(path: dbPath)
            let stored = try db.profileValue("identity").map { [UInt8]($0) }
            guard stored == keys.identity.publicKey else { throw NodeError("the backup's database and keys do not belong together") }
            try db.completeMigrations(atRest: keys.atRest)
            let fileKey = try keys.write(to: keystorePath, passphrase: passphrase, opsLimit: kdf.ops, memLimit: kdf.mem)
            return Node(home: home, db: db, unlocked: UnlockedKeystore(keys, fileKey: fileKey, path: keystorePath), clock: Node.now)
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? fm.removeItem(atPath: dbPath + suffix) }
            try? fm.removeItem(atPath: keystorePath)
            if createdHome { try? fm.removeItem(atPath: home) }
            throw error
        }
    }
}
