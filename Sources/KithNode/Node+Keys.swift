import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// What `kith key show` prints: the public half of my keys, read from the
/// node database (the name sealed there, so it needs the keystore); no secret.
public struct KeyInfo: Codable, Sendable, Equatable {
    /// My display name.
    public let name: String
    /// My Ed25519 identity public key, base64url.
    public let identity: String
    public let fingerprint: String
    public let encryptionKey: EncryptionKeyInfo
    public let rotation: RotationInfo
    /// My mailbox on each relay.
    public let mailboxes: [MailboxInfo]

    /// My current X25519 encryption public key and its signed validity window.
    public struct EncryptionKeyInfo: Codable, Sendable, Equatable {
        /// base64url.
        public let publicKey: String
        /// ISO 8601, UTC.
        public let notBefore: String
        /// ISO 8601, UTC.
        public let notAfter: String
        /// Whether friends may seal to it now.
        public let validNow: Bool
    }

    /// When the encryption key changes. Rotation is not built: this says so
    /// rather than show a schedule nothing follows.
    public struct RotationInfo: Codable, Sendable, Equatable {
        /// Always false for now: nothing replaces the encryption key.
        public let automatic: Bool
        /// How long a key made by `kith init` is valid.
        public let keyLifetimeDays: Int
        public let note: String
    }

    /// One of my mailboxes: the relay and the mailbox id (its public key, base64url).
    public struct MailboxInfo: Codable, Sendable, Equatable {
        public let relay: String
        public let mailbox: String
    }
}

extension Node {
    /// The public half of my keys for inspection. Reads only the database
    /// (the `profile` and `mailbox` tables); no secret.
    public func keyInfo() throws -> KeyInfo {
        let me = try identity()
        let cert = try encryptionCertificate()
        let mailboxes = try db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT relay, mailbox FROM mailbox ORDER BY relay").map {
                KeyInfo.MailboxInfo(relay: $0[0], mailbox: Base64URL.encode([UInt8]($0[1] as Data)))
            }
        }
        func iso(_ t: UInt64) -> String { Date(timeIntervalSince1970: TimeInterval(t)).formatted(.iso8601) }
        let lifetimeDays = Int(Self.encryptionKeyLifetime / 86_400)
        return KeyInfo(
            name: try name(), identity: Base64URL.encode(me), fingerprint: Fingerprint.of(identity: me),
            encryptionKey: .init(publicKey: Base64URL.encode(cert.publicKey), notBefore: iso(cert.notBefore),
                                 notAfter: iso(cert.notAfter), validNow: cert.isValid(at: clock())),
            rotation: .init(automatic: false, keyLifetimeDays: lifetimeDays,
                            note: "not built yet: nothing replaces the encryption key; the one made by `kith init` is valid for \(lifetimeDays) days"),
            mailboxes: mailboxes)
    }

    /// Re-encrypts the keystore under `newPassphrase`; the old passphrase
    /// no longer opens it. The new one must be long enough
    /// (`Keystore.checkNewPassphrase`). The keystore is written with the
    /// current Argon2id limits, so an older keystore is upgraded too.
    public func changePassphrase(to newPassphrase: [UInt8]) throws {
        try Keystore.checkNewPassphrase(newPassphrase)
        try writeKeystore(try requireKeys(), passphrase: newPassphrase)
    }

    /// Writes `keys` as this node's keystore, atomically (temporary file,
    /// fsync, rename), with the current Argon2id limits
    /// (`Keystore.opsLimit`, `Keystore.memLimit`). Every rewrite of the
    /// keystore goes through here, so each one upgrades an older keystore.
    func writeKeystore(_ keys: Keystore, passphrase: [UInt8]) throws {
        try keys.write(to: keystorePath, passphrase: passphrase, opsLimit: Keystore.opsLimit, memLimit: Keystore.memLimit)
    }
}
