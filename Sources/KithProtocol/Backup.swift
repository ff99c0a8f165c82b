import KithCrypto

/// An identity's backup (docs/PROTOCOL.md, "Backup"): the keystore's secrets
/// and a copy of the node database, encrypted under a key from a passphrase
/// of its own (Argon2id, then XChaCha20-Poly1305), so that a node can be
/// brought back on another machine and go on as if nothing had happened.
public enum Backup {
    public static let magic: [UInt8] = Array("KITHBACK".utf8)
    public static let version: UInt8 = 1
    /// The largest backup Kith writes or reads.
    public static let maxLength = 1 << 30

    /// The clear header; its bytes are the AEAD's associated data.
    public struct Header: Equatable, Sendable {
        public let opsLimit: UInt64
        public let memLimit: UInt64
        public let salt: [UInt8]
        public let nonce: [UInt8]

        public init(opsLimit: UInt64, memLimit: UInt64, salt: [UInt8], nonce: [UInt8]) throws {
            guard salt.count == KeystoreFile.saltLength, nonce.count == KeystoreFile.nonceLength else { throw ProtocolError.malformed("backup: bad salt or nonce") }
            guard KeystoreFile.Header.opsRange.contains(opsLimit), KeystoreFile.Header.memRange.contains(memLimit) else {
                throw ProtocolError.malformed("backup: Argon2id limits out of range")
            }
            self.opsLimit = opsLimit; self.memLimit = memLimit; self.salt = salt; self.nonce = nonce
        }

        public var bytes: [UInt8] {
            var w = ByteWriter(capacity: KeystoreFile.headerLength)
            w.raw(Backup.magic); w.u8(Backup.version); w.u64(opsLimit); w.u64(memLimit); w.raw(salt); w.raw(nonce)
            return w.bytes
        }
    }

    /// What a backup holds once opened.
    public struct Contents: Sendable {
        /// The keystore's secrets, encoded as in the keystore.
        public let secrets: [UInt8]
        /// The node database: a SQLite file.
        public let database: [UInt8]
        public init(secrets: [UInt8], database: [UInt8]) { self.secrets = secrets; self.database = database }
    }

    /// Encrypts `contents` under `key` (derived from the backup passphrase with `header`'s limits and salt).
    public static func seal(_ contents: Contents, header: Header, key: SecretBytes) throws -> [UInt8] {
        var w = ByteWriter(capacity: 4 + contents.secrets.count + contents.database.count)
        w.u32(UInt32(contents.secrets.count)); w.raw(contents.secrets); w.raw(contents.database)
        var plain = w.bytes
        defer { wipe(&plain) }
        let head = header.bytes
        return head + (try AEAD.seal(plain, key: key, nonce: header.nonce, associatedData: head))
    }

    /// Splits a backup file into its header and ciphertext (`malformed`, `unsupported version`).
    public static func header(of file: [UInt8]) throws -> (Header, [UInt8]) {
        guard file.count <= maxLength else { throw ProtocolError.malformed("backup: larger than 1 GiB") }
        var r = ByteReader(file, what: "backup")
        guard file.count > KeystoreFile.headerLength + AEAD.tagLength, try r.raw(magic.count) == magic else {
            throw ProtocolError.malformed("backup: not a Kith backup (or cut short)")
        }
        let v = try r.u8()
        guard v == version else { throw ProtocolError(.unsupportedVersion, "backup: format version \(v) is newer than this kith knows (\(version))") }
        let ops = try r.u64(), mem = try r.u64()
        let salt = try r.raw(KeystoreFile.saltLength), nonce = try r.raw(KeystoreFile.nonceLength)
        return (try Header(opsLimit: ops, memLimit: mem, salt: salt, nonce: nonce), r.rest())
    }

    /// Decrypts a backup's ciphertext (`decryption failure`: wrong passphrase, or an altered file) and splits it.
    public static func open(_ ciphertext: [UInt8], header: Header, key: SecretBytes) throws -> Contents {
        var plain: [UInt8]
        do { plain = try AEAD.open(ciphertext, key: key, nonce: header.nonce, associatedData: header.bytes) } catch {
            throw ProtocolError(.decryptionFailed, "backup: wrong backup passphrase, or the file was altered")
        }
        defer { wipe(&plain) }
        var r = ByteReader(plain, what: "backup")
        let n = Int(try r.u32())
        let secrets = try r.raw(n)
        let database = r.rest()
        guard database.starts(with: Array("SQLite format 3\u{0}".utf8)) else { throw ProtocolError.malformed("backup: the database is not a SQLite file") }
        return Contents(secrets: secrets, database: database)
    }
}
