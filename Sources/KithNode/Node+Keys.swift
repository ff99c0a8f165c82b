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
    /// Replaced keys whose secrets are kept for the grace period, oldest first.
    public let oldKeys: [OldKeyInfo]
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

    /// When the encryption key changes: every `everyDays`, at the first
    /// `kith sync` after it is due (or at once with `kith key rotate`).
    public struct RotationInfo: Codable, Sendable, Equatable {
        /// Always true: `sync` rotates when the schedule says so.
        public let automatic: Bool
        public let everyDays: Int
        /// How long a replaced secret still opens late envelopes before it is erased.
        public let graceDays: Int
        /// ISO 8601, UTC: when the current key was made (by rotation or `kith init`).
        public let lastRotation: String
        /// ISO 8601, UTC: from when the next `sync` replaces the key.
        public let nextRotation: String
        /// How long a new key's certificate is valid.
        public let keyLifetimeDays: Int
    }

    /// A replaced encryption key whose secret is still kept: public halves only.
    public struct OldKeyInfo: Codable, Sendable, Equatable {
        /// base64url.
        public let publicKey: String
        /// ISO 8601, UTC: when it was replaced (or expired).
        public let retiredAt: String
        /// ISO 8601, UTC: its secret is erased by the first sync from then on.
        public let erasedAfter: String
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
        let (schedule, last, next) = try rotationState()
        let oldKeys = try requireKeys().encryptionKeys.filter { $0.key.publicKey != cert.publicKey }.map { old in
            KeyInfo.OldKeyInfo(publicKey: Base64URL.encode(old.key.publicKey), retiredAt: Self.iso8601(old.notAfter),
                               erasedAfter: Self.iso8601(old.notAfter.addingReportingOverflow(schedule.grace).partialValue))
        }
        return KeyInfo(
            name: try name(), identity: Base64URL.encode(me), fingerprint: Fingerprint.of(identity: me),
            encryptionKey: .init(publicKey: Base64URL.encode(cert.publicKey), notBefore: Self.iso8601(cert.notBefore),
                                 notAfter: Self.iso8601(cert.notAfter), validNow: cert.isValid(at: clock())),
            rotation: .init(automatic: true, everyDays: Int(schedule.period / 86_400), graceDays: Int(schedule.grace / 86_400),
                            lastRotation: Self.iso8601(last), nextRotation: Self.iso8601(next), keyLifetimeDays: Int(Self.encryptionKeyLifetime / 86_400)),
            oldKeys: oldKeys, mailboxes: mailboxes)
    }

    /// Re-encrypts the keystore under `newPassphrase`; the old passphrase
    /// no longer opens it. The new one must be long enough
    /// (`Keystore.checkNewPassphrase`). The keystore is written with the
    /// current Argon2id limits (`Keystore.opsLimit`, `Keystore.memLimit`)
    /// and a fresh salt, so an older keystore is upgraded too; later
    /// rewrites by this node (rotation, erasure) keep the new key.
    public func changePassphrase(to newPassphrase: [UInt8]) throws {
        try Keystore.checkNewPassphrase(newPassphrase)
        guard let unlocked else { throw NodeError("this operation needs the keystore unlocked") }
        try unlocked.rewrite(passphrase: newPassphrase, limits: .standard)
    }
}
