import Foundation
import KithCrypto
import KithProtocol

/// The node's secrets, encrypted at rest in `keystore` (see docs/PROTOCOL.md,
/// "Keystore"): a key from the passphrase with Argon2id, then
/// XChaCha20-Poly1305 over the secrets. The file must be mode 0600.
public struct Keystore: Sendable {
    public static let fileName = "keystore"

    /// An encryption key pair with the end of its validity.
    public typealias EncryptionKey = KeystoreFile.EncryptionKey

    public let identity: SigningKey
    /// Encrypts secrets kept in the node database (audience keys).
    public let storageKey: SecretBytes
    public var encryptionKeys: [EncryptionKey]
    /// Mailbox keys by relay URL.
    public var mailboxKeys: [String: SigningKey]
    /// Seals what is personal in the node database (subkeys of `storageKey`).
    let atRest: AtRest

    public init(identity: SigningKey, storageKey: SecretBytes, encryptionKeys: [EncryptionKey], mailboxKeys: [String: SigningKey]) {
        self.identity = identity
        self.storageKey = storageKey
        self.encryptionKeys = encryptionKeys
        self.mailboxKeys = mailboxKeys
        self.atRest = AtRest(storageKey: storageKey)
    }

    // MARK: Encoding (the format itself is KithProtocol's KeystoreFile)

    func encodeSecrets() -> [UInt8] {
        KeystoreFile.Secrets(identity: identity, storageKey: storageKey, encryptionKeys: encryptionKeys, mailboxKeys: mailboxKeys).encode()
    }

    static func decodeSecrets(_ bytes: [UInt8]) throws -> Keystore {
        let s: KeystoreFile.Secrets
        do { s = try KeystoreFile.Secrets.decode(bytes) } catch let error as ProtocolError {
            if error.kind == .unsupportedVersion { throw NodeError("keystore: unsupported secrets version") }
            throw NodeError(error.detail)
        }
        return Keystore(identity: s.identity, storageKey: s.storageKey, encryptionKeys: s.encryptionKeys, mailboxKeys: s.mailboxKeys)
    }

    // MARK: Files

    /// The key the keystore file is encrypted under, derived from the
    /// passphrase with the file's salt and Argon2id limits. A node keeps it
    /// after unlocking, so that it can rewrite its keystore (a rotation, an
    /// erased encryption key) without asking for the passphrase again.
    public struct FileKey: Sendable {
        let opsLimit: UInt64
        let memLimit: UInt64
        let salt: [UInt8]
        let key: SecretBytes
    }

    /// Encrypts and writes the keystore atomically (temporary file, fsync, rename), mode 0600,
    /// under a key derived from `passphrase` with a fresh salt. Returns that key.
    @discardableResult
    public func write(to path: String, passphrase: [UInt8],
                      opsLimit: UInt64 = PasswordKDF.interactiveOps, memLimit: UInt64 = PasswordKDF.interactiveMem) throws -> FileKey {
        guard !passphrase.isEmpty else { throw NodeError("the passphrase must not be empty") }
        let salt = randomBytes(PasswordKDF.saltLength)
        let key = try PasswordKDF.deriveKey(passphrase: passphrase, salt: salt, opsLimit: opsLimit, memLimit: memLimit)
        let fileKey = FileKey(opsLimit: opsLimit, memLimit: memLimit, salt: salt, key: key)
        try write(to: path, under: fileKey)
        return fileKey
    }

    /// Encrypts and writes the keystore atomically under a key an unlock or
    /// an earlier write derived: the same salt and limits, a fresh random
    /// nonce (XChaCha20's 24-byte nonces may be drawn at random for any
    /// number of messages under one key). The old file is replaced by
    /// `rename`, so its bytes leave the directory.
    public func write(to path: String, under fileKey: FileKey) throws {
        let header = try KeystoreFile.Header(opsLimit: fileKey.opsLimit, memLimit: fileKey.memLimit,
                                             salt: fileKey.salt, nonce: randomBytes(AEAD.nonceLength))
        var secrets = encodeSecrets()
        defer { wipe(&secrets) }
        let headerBytes = header.bytes
        let ct = try AEAD.seal(secrets, key: fileKey.key, nonce: header.nonce, associatedData: headerBytes)
        try SecureFile.writeAtomically(headerBytes + ct, to: path)
    }

    /// Reads and decrypts the keystore; refuses a file others can read or write.
    public static func open(path: String, passphrase: [UInt8]) throws -> Keystore {
        try unlock(path: path, passphrase: passphrase).keys
    }

    /// Reads and decrypts the keystore, and returns the key it is encrypted
    /// under with it; refuses a file others can read or write.
    public static func unlock(path: String, passphrase: [UInt8]) throws -> (keys: Keystore, fileKey: FileKey) {
        let (header, ct) = try read(path)
        let key: SecretBytes
        do { key = try PasswordKDF.deriveKey(passphrase: passphrase, salt: header.salt, opsLimit: header.opsLimit, memLimit: header.memLimit) } catch {
            throw NodeError("\(path): keystore has unusable key-derivation parameters")
        }
        let fileKey = FileKey(opsLimit: header.opsLimit, memLimit: header.memLimit, salt: header.salt, key: key)
        return (try decrypt(ct, header: header, under: fileKey), fileKey)
    }

    /// Reads the keystore again under the key an unlock derived, as it is now
    /// on disk: another command may have rewritten it since (a rotation, an
    /// added relay). One re-encrypted under another passphrase since is refused.
    static func reread(path: String, under fileKey: FileKey) throws -> Keystore {
        let (header, ct) = try read(path)
        guard header.salt == fileKey.salt, header.opsLimit == fileKey.opsLimit, header.memLimit == fileKey.memLimit else {
            throw NodeError("another command changed the keystore's passphrase meanwhile: nothing was changed",
                            hint: "run the command again with the new passphrase")
        }
        return try decrypt(ct, header: header, under: fileKey)
    }

    private static func read(_ path: String) throws -> (KeystoreFile.Header, [UInt8]) {
        let bytes = try SecureFile.readPrivate(path, what: "keystore")
        do { return try KeystoreFile.Header.parse(file: bytes) } catch let error as ProtocolError {
            if error.kind == .unsupportedVersion { throw NodeError("\(path): unsupported keystore version") }
            throw NodeError("\(path) is not a usable Kith keystore (\(error.detail))")
        }
    }

    private static func decrypt(_ ct: [UInt8], header: KeystoreFile.Header, under fileKey: FileKey) throws -> Keystore {
        var secrets: [UInt8]
        do { secrets = try AEAD.open(ct, key: fileKey.key, nonce: header.nonce, associatedData: header.bytes) } catch {
            throw NodeError("wrong passphrase (or a damaged keystore): the keystore could not be decrypted",
                            hint: "the passphrase comes from KITH_PASSPHRASE, KITH_PASSPHRASE_FILE or the prompt")
        }
        defer { wipe(&secrets) }
        return try decodeSecrets(secrets)
    }
}
