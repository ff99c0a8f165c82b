import KithCrypto

/// The keystore's bytes (docs/PROTOCOL.md, "Keystore"): the clear header and
/// the secrets that are encrypted under it. Only the format lives here, so
/// that it can be tested and fuzzed without files, Argon2id or a database;
/// `KithNode.Keystore` derives the key, encrypts, and reads and writes the file.
public enum KeystoreFile {
    public static let magic: [UInt8] = Array("KITHKEYS".utf8)
    public static let version: UInt8 = 1
    public static let secretsVersion: UInt8 = 1
    public static let saltLength = 16
    public static let nonceLength = 24
    /// magic || version u8 || opslimit u64 || memlimit u64 || salt (16) || nonce (24)
    public static let headerLength = 8 + 1 + 8 + 8 + 16 + 24

    /// The clear header: Argon2id parameters, salt and AEAD nonce. Its bytes
    /// are also the AEAD's associated data, so none of it can be changed
    /// without the file failing to decrypt.
    public struct Header: Equatable, Sendable {
        /// Argon2id's opslimit (libsodium's minimum to 16) and
        /// memlimit (libsodium's minimum to 4 GiB). Out of range is
        /// `malformed`, so a damaged or hostile file cannot make a node spend
        /// minutes or gigabytes before the passphrase is even tried.
        public static let opsRange = PasswordKDF.minOps...16
        public static let memRange = PasswordKDF.minMem...PasswordKDF.maxMem
        public let opsLimit: UInt64
        public let memLimit: UInt64
        public let salt: [UInt8]
        public let nonce: [UInt8]

        public init(opsLimit: UInt64, memLimit: UInt64, salt: [UInt8], nonce: [UInt8]) throws {
            guard salt.count == KeystoreFile.saltLength, nonce.count == KeystoreFile.nonceLength else {
                throw ProtocolError.malformed("keystore: salt must be \(KeystoreFile.saltLength) bytes and nonce \(KeystoreFile.nonceLength)")
            }
            guard Self.opsRange.contains(opsLimit), Self.memRange.contains(memLimit) else {
                throw ProtocolError.malformed("keystore: Argon2id limits out of range")
            }
            self.opsLimit = opsLimit
            self.memLimit = memLimit
            self.salt = salt
            self.nonce = nonce
        }

        public var bytes: [UInt8] {
            var w = ByteWriter(capacity: KeystoreFile.headerLength)
            w.raw(KeystoreFile.magic); w.u8(KeystoreFile.version); w.u64(opsLimit); w.u64(memLimit); w.raw(salt); w.raw(nonce)
            return w.bytes
        }

        /// Splits a whole keystore file into its header and the ciphertext
        /// after it. `malformed` if the file is no longer than a header or
        /// lacks the magic, `unsupported version` for another version.
        public static func parse(file: [UInt8]) throws -> (header: Header, ciphertext: [UInt8]) {
            var r = ByteReader(file, what: "keystore")
            guard file.count > KeystoreFile.headerLength, try r.raw(KeystoreFile.magic.count) == KeystoreFile.magic else {
                throw ProtocolError.malformed("keystore: not a Kith keystore")
            }
            let version = try r.u8()
            guard version == KeystoreFile.version else { throw ProtocolError(.unsupportedVersion, "keystore: version \(version) is not supported") }
            let ops = try r.u64(), mem = try r.u64()
            let salt = try r.raw(KeystoreFile.saltLength), nonce = try r.raw(KeystoreFile.nonceLength)
            return (try Header(opsLimit: ops, memLimit: mem, salt: salt, nonce: nonce), r.rest())
        }
    }

    /// An encryption key pair with the end of its validity.
    public struct EncryptionKey: Sendable {
        public let key: BoxKey
        public let notAfter: UInt64

        public init(key: BoxKey, notAfter: UInt64) {
            self.key = key
            self.notAfter = notAfter
        }
    }

    /// The decrypted contents of a keystore.
    public struct Secrets: Sendable {
        public let identity: SigningKey
        public let storageKey: SecretBytes
        public let encryptionKeys: [EncryptionKey]
        /// Mailbox keys by relay URL.
        public let mailboxKeys: [String: SigningKey]

        public init(identity: SigningKey, storageKey: SecretBytes, encryptionKeys: [EncryptionKey], mailboxKeys: [String: SigningKey]) {
            self.identity = identity
            self.storageKey = storageKey
            self.encryptionKeys = encryptionKeys
            self.mailboxKeys = mailboxKeys
        }

        /// The plaintext to encrypt. Mailboxes are written sorted by relay so
        /// the same keys always give the same bytes. The caller must wipe it.
        public func encode() -> [UInt8] {
            var w = ByteWriter()
            w.u8(KeystoreFile.secretsVersion)
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

        /// Parses decrypted secrets. Every key is rebuilt from its secret, and
        /// an encryption key must match the public key stored beside it.
        public static func decode(_ bytes: [UInt8]) throws -> Secrets {
            var r = ByteReader(bytes, what: "keystore")
            let version = try r.u8()
            guard version == KeystoreFile.secretsVersion else {
                throw ProtocolError(.unsupportedVersion, "keystore: secrets version \(version) is not supported")
            }
            var seed = try r.raw(32)
            defer { wipe(&seed) }
            var storage = try r.raw(32)
            defer { wipe(&storage) }
            let identity = try SigningKey(seed: seed)
            var enc: [EncryptionKey] = []
            for _ in 0..<Int(try r.u16()) {
                let pk = try r.raw(32)
                var sk = try r.raw(32)
                defer { wipe(&sk) }
                let key = try BoxKey(secretKey: sk)
                guard key.publicKey == pk else { throw ProtocolError.malformed("keystore: encryption key does not match its public key") }
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
            return Secrets(identity: identity, storageKey: SecretBytes(consuming: &storage), encryptionKeys: enc, mailboxKeys: mailboxes)
        }
    }
}
