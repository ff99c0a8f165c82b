import Foundation
import KithCrypto
import KithProtocol

/// The node's secrets, encrypted at rest in `keystore` (see docs/PROTOCOL.md,
/// "Keystore"): a key from the passphrase with Argon2id, then
/// XChaCha20-Poly1305 over the secrets. The file must be mode 0600.
public struct Keystore: Sendable {
    public static let fileName = "keystore"
    static let magic = Array("KITHKEYS".utf8)
    static let version: UInt8 = 1
    static let secretsVersion: UInt8 = 1

    /// An encryption key pair with the end of its validity.
    public struct EncryptionKey: Sendable {
        public let key: BoxKey
        public let notAfter: UInt64
    }

    public let identity: SigningKey
    /// Encrypts secrets kept in the node database (audience keys).
    public let storageKey: SecretBytes
    public var encryptionKeys: [EncryptionKey]
    /// Mailbox keys by relay URL.
    public var mailboxKeys: [String: SigningKey]

    public init(identity: SigningKey, storageKey: SecretBytes, encryptionKeys: [EncryptionKey], mailboxKeys: [String: SigningKey]) {
        self.identity = identity
        self.storageKey = storageKey
        self.encryptionKeys = encryptionKeys
        self.mailboxKeys = mailboxKeys
    }

    // MARK: Encoding

    func encodeSecrets() -> [UInt8] {
        var w = ByteWriter()
        w.u8(Self.secretsVersion)
        var seed = identity.exportSeed()
        w.raw(seed); wipe(&seed)
        storageKey.withBytes { w.raw($0) }
        w.u16(UInt16(encryptionKeys.count))
        for k in encryptionKeys {
            var sk = k.key.exportSecret()
            w.raw(k.key.publicKey); w.raw(sk); w.u64(k.notAfter); wipe(&sk)
        }
        w.u16(UInt16(mailboxKeys.count))
        for (relay, key) in mailboxKeys.sorted(by: { $0.key < $1.key }) {
            var s = key.exportSeed()
            w.string16(relay); w.raw(s); wipe(&s)
        }
        return w.bytes
    }

    static func decodeSecrets(_ bytes: [UInt8]) throws -> Keystore {
        var r = ByteReader(bytes, what: "keystore secrets")
        guard try r.u8() == secretsVersion else { throw NodeError("keystore: unsupported secrets version") }
        var seed = try r.raw(32)
        defer { wipe(&seed) }
        var storage = try r.raw(32)
        let identity = try SigningKey(seed: seed)
        var enc: [EncryptionKey] = []
        for _ in 0..<Int(try r.u16()) {
            let pk = try r.raw(32)
            var sk = try r.raw(32)
            defer { wipe(&sk) }
            let key = try BoxKey(secretKey: sk)
            guard key.publicKey == pk else { throw NodeError("keystore: encryption key does not match its public key") }
            enc.append(EncryptionKey(key: key, notAfter: try r.u64()))
        }
        var mailboxes: [String: SigningKey] = [:]
        for _ in 0..<Int(try r.u16()) {
            let relay = try r.string16(field: "relay", max: ContactCard.maxURLBytes)
            var s = try r.raw(32)
            defer { wipe(&s) }
            mailboxes[relay] = try SigningKey(seed: s)
        }
        try r.finish()
        return Keystore(identity: identity, storageKey: SecretBytes(consuming: &storage), encryptionKeys: enc, mailboxKeys: mailboxes)
    }

    // MARK: Files

    /// Encrypts and writes the keystore atomically (temporary file, fsync, rename), mode 0600.
    public func write(to path: String, passphrase: [UInt8],
                      opsLimit: UInt64 = PasswordKDF.interactiveOps, memLimit: UInt64 = PasswordKDF.interactiveMem) throws {
        guard !passphrase.isEmpty else { throw NodeError("the passphrase must not be empty") }
        let salt = randomBytes(PasswordKDF.saltLength)
        let nonce = randomBytes(AEAD.nonceLength)
        var header = ByteWriter()
        header.raw(Self.magic); header.u8(Self.version); header.u64(opsLimit); header.u64(memLimit); header.raw(salt); header.raw(nonce)
        let key = try PasswordKDF.deriveKey(passphrase: passphrase, salt: salt, opsLimit: opsLimit, memLimit: memLimit)
        var secrets = encodeSecrets()
        defer { wipe(&secrets) }
        let ct = try AEAD.seal(secrets, key: key, nonce: nonce, associatedData: header.bytes)
        try SecureFile.writeAtomically(header.bytes + ct, to: path)
    }

    /// Reads and decrypts the keystore; refuses a file others can read or write.
    public static func open(path: String, passphrase: [UInt8]) throws -> Keystore {
        let bytes = try SecureFile.readPrivate(path, what: "keystore")
        var r = ByteReader(bytes, what: "keystore")
        let headerLength = magic.count + 1 + 8 + 8 + PasswordKDF.saltLength + AEAD.nonceLength
        guard bytes.count > headerLength, try r.raw(magic.count) == magic else { throw NodeError("\(path) is not a Kith keystore") }
        guard try r.u8() == version else { throw NodeError("\(path): unsupported keystore version") }
        let ops = try r.u64(), mem = try r.u64()
        let salt = try r.raw(PasswordKDF.saltLength), nonce = try r.raw(AEAD.nonceLength)
        let header = r.consumed
        let ct = r.rest()
        let key: SecretBytes
        do { key = try PasswordKDF.deriveKey(passphrase: passphrase, salt: salt, opsLimit: ops, memLimit: mem) } catch {
            throw NodeError("\(path): keystore has unusable key-derivation parameters")
        }
        var secrets: [UInt8]
        do { secrets = try AEAD.open(ct, key: key, nonce: nonce, associatedData: header) } catch {
            throw NodeError("wrong passphrase (or a damaged keystore): the keystore could not be decrypted",
                            hint: "the passphrase comes from KITH_PASSPHRASE, KITH_PASSPHRASE_FILE or the prompt")
        }
        defer { wipe(&secrets) }
        return try decodeSecrets(secrets)
    }
}
