import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// How often the encryption key is replaced, and how long a replaced
/// secret still opens late envelopes before it is erased.
public struct RotationSchedule: Codable, Sendable, Equatable {
    /// Seconds between rotations.
    public let period: UInt64
    /// Seconds a replaced (or expired) encryption secret is kept.
    public let grace: UInt64

    /// Weekly, as the design asks; old secrets are kept two weeks, so that a
    /// key message a friend sealed just before learning the new key still
    /// opens when that friend syncs within two weeks.
    public static let standard = RotationSchedule(period: 7 * 86_400, grace: 14 * 86_400)
    /// The period may be set from 1 to 365 days (a certificate lasts
    /// `Node.encryptionKeyLifetime`, a year, so a key is always replaced
    /// before it expires), the grace from 1 to 90 days.
    public static let periodDays = 1...365
    public static let graceDays = 1...90
}

/// What `rotateEncryptionKey` did.
public struct Rotation: Sendable, Equatable {
    /// The new certificate, now in my cards.
    public let certificate: EncryptionKeyCertificate
    /// Friends a key update is queued for.
    public let updatesQueuedFor: Int
    /// Friends whose own encryption key is not valid now, so that nothing can
    /// be sealed to them: they learn the new key from my next card.
    public let skipped: [String]
}

extension Node {
    /// A new certificate's window starts this long before it is signed, as
    /// at `kith init`, for friends whose clocks are behind mine.
    static let encryptionKeyLead: UInt64 = 3600

    // MARK: Schedule

    /// The schedule, the last rotation (or, before the first one, the start
    /// of the key made at init) and when the next one is due.
    func rotationState() throws -> (schedule: RotationSchedule, last: UInt64, next: UInt64) {
        let cert = try encryptionCertificate()
        return try db.writer.read { db in
            let schedule = try Self.rotationSchedule(db)
            let last = try Self.profileNumber(db, "rotated_at") ?? cert.notBefore
            let (next, overflow) = last.addingReportingOverflow(schedule.period)
            return (schedule, last, overflow ? UInt64.max : next)
        }
    }

    static func rotationSchedule(_ db: Database) throws -> RotationSchedule {
        RotationSchedule(period: try profileNumber(db, "rotation_period") ?? RotationSchedule.standard.period,
                         grace: try profileNumber(db, "rotation_grace") ?? RotationSchedule.standard.grace)
    }

    /// A profile value stored as decimal text (as `card_sequence` is).
    static func profileNumber(_ db: Database, _ key: String) throws -> UInt64? {
        try Data.fetchOne(db, sql: "SELECT value FROM profile WHERE key = ?", arguments: [key]).flatMap { UInt64(String(decoding: $0, as: UTF8.self)) }
    }

    /// Sets the rotation period and grace, in days; nil keeps the current
    /// value. Out of range changes nothing. The next `sync` follows the new
    /// schedule.
    @discardableResult
    public func setRotationSchedule(everyDays: Int?, graceDays: Int?) async throws -> RotationSchedule {
        if let everyDays, !RotationSchedule.periodDays.contains(everyDays) {
            throw NodeError("--every must be from \(RotationSchedule.periodDays.lowerBound) to \(RotationSchedule.periodDays.upperBound) days, not \(everyDays)")
        }
        if let graceDays, !RotationSchedule.graceDays.contains(graceDays) {
            throw NodeError("--grace must be from \(RotationSchedule.graceDays.lowerBound) to \(RotationSchedule.graceDays.upperBound) days, not \(graceDays)")
        }
        return try await db.writer.write { db in
            if let everyDays { try NodeDatabase.setProfile(db, "rotation_period", Data(String(UInt64(everyDays) * 86_400).utf8)) }
            if let graceDays { try NodeDatabase.setProfile(db, "rotation_grace", Data(String(UInt64(graceDays) * 86_400).utf8)) }
            return try Self.rotationSchedule(db)
        }
    }

    // MARK: Rotating

    /// Replaces my encryption key: a new key pair and a certificate signed by
    /// my identity (valid for `encryptionKeyLifetime`) go into the keystore
    /// and my cards, and a key update is queued for every friend, sealed to
    /// their newest valid key. Every older secret is retired now: it still
    /// opens envelopes for the schedule's grace period, then sync erases it.
    ///
    /// The keystore is written first: a crash before the database commits
    /// leaves an extra secret that nobody knows of, retired by the next
    /// rotation (which is then still due), never a key friends seal to
    /// without its secret.
    @discardableResult
    public func rotateEncryptionKey() async throws -> Rotation {
        guard let unlocked else { throw NodeError("this operation needs the keystore unlocked") }
        let identity = unlocked.keys.identity
        let now = clock()
        let current = try encryptionCertificate()
        // Each certificate starts after the one before, so friends can tell the newest.
        let notBefore = max(now > Self.encryptionKeyLead ? now - Self.encryptionKeyLead : 0, current.notBefore + 1)
        let notAfter = now.addingReportingOverflow(Self.encryptionKeyLifetime).partialValue
        guard notBefore < notAfter else {
            throw NodeError("the clock is far behind the current encryption key's start", hint: "check the system clock")
        }
        let key = BoxKey()
        let cert = EncryptionKeyCertificate(publicKey: key.publicKey, notBefore: notBefore, notAfter: notAfter, signedBy: identity)
        try unlocked.rewrite { keys in
            let retired = keys.encryptionKeys.map { Keystore.EncryptionKey(key: $0.key, notAfter: min($0.notAfter, now)) }
            keys.encryptionKeys = retired + [.init(key: key, notAfter: cert.notAfter)]
        }
        var w = ByteWriter()
        cert.write(to: &w)
        let certBytes = w.bytes
        return try await db.writer.write { db in
            try NodeDatabase.setProfile(db, "encryption_key", Data(certBytes))
            try NodeDatabase.setProfile(db, "rotated_at", Data(String(now).utf8))
            var sent = 0, skipped: [String] = []
            for (name, card) in try self.friendCards(db).sorted(by: { $0.name < $1.name }) {
                guard let sealTo = try Self.sealingKey(db, of: card, now: now) else { skipped.append(name); continue }
                let update = KeyUpdate(sender: identity.publicKey, recipient: card.identity, certificate: cert, createdAt: now)
                try self.enqueue(db, envelope: try update.seal(sender: identity, to: sealTo.publicKey), to: [card.identity.data], now: now)
                sent += 1
            }
            return Rotation(certificate: cert, updatesQueuedFor: sent, skipped: skipped)
        }
    }

    /// Rotates if the schedule says it is time (`sync` calls this first).
    func rotateIfDue() async throws -> Rotation? {
        guard clock() >= (try rotationState().next) else { return nil }
        return try await rotateEncryptionKey()
    }

    // MARK: Erasing

    /// Erases from the keystore every encryption secret, other than the
    /// current one, whose grace period has ended: the keystore is rewritten
    /// atomically without it (the old file is replaced by `rename`), and the
    /// database never held it. Returns how many were erased.
    @discardableResult
    func eraseRetiredEncryptionKeys() async throws -> Int {
        guard let unlocked else { throw NodeError("this operation needs the keystore unlocked") }
        let expired = try await pastGrace()
        guard unlocked.keys.encryptionKeys.contains(where: expired) else { return 0 }
        return try unlocked.rewrite { keys in
            let before = keys.encryptionKeys.count
            keys.encryptionKeys.removeAll(where: expired)
            return before - keys.encryptionKeys.count
        }
    }

    /// Whether an encryption secret is retired and its grace period over.
    private func pastGrace() async throws -> @Sendable (Keystore.EncryptionKey) -> Bool {
        let now = clock()
        let grace = try await db.writer.read { db in try Self.rotationSchedule(db) }.grace
        let current = try encryptionCertificate().publicKey
        return { k in k.key.publicKey != current && k.notAfter.addingReportingOverflow(grace).partialValue <= now }
    }

    /// Whether the key schedule has work for the next sync, which does it
    /// first: a key to replace, or an old secret whose grace period is over.
    /// For the daemon, which wakes its sync then.
    public func keyScheduleDue() async throws -> Bool {
        let keys = try requireKeys()
        if clock() >= (try rotationState().next) { return true }
        return keys.encryptionKeys.contains(where: try await pastGrace())
    }

    // MARK: Using keys

    /// My encryption secrets that may open a key-channel envelope now: those
    /// valid, or retired less than the grace period ago.
    func openingKeys(_ db: Database) throws -> [BoxKey] {
        let now = clock(), grace = try Self.rotationSchedule(db).grace
        // The key my cards publish always opens, even if a crash between the keystore
        // and the database left it marked retired.
        let published = try encryptionCertificate().publicKey
        return try requireKeys().encryptionKeys
            .filter { $0.key.publicKey == published || now < $0.notAfter.addingReportingOverflow(grace).partialValue }.map(\.key)
    }

    /// The key to seal to a friend: the newest (latest `not_before`) of the
    /// certificate in their card and the one their last key update brought,
    /// among those valid now; nil if neither is.
    static func sealingKey(_ db: Database, of card: ContactCard, now: UInt64) throws -> EncryptionKeyCertificate? {
        var candidates = [card.encryptionKey]
        if let updated = try updatedCertificate(db, of: card.identity) { candidates.append(updated) }
        return candidates.filter { $0.isValid(at: now) }.max { $0.notBefore < $1.notBefore }
    }

    /// The certificate a friend's key update brought, if any.
    static func updatedCertificate(_ db: Database, of identity: [UInt8]) throws -> EncryptionKeyCertificate? {
        guard let data = try Data.fetchOne(db, sql: "SELECT encryption_key FROM friend WHERE identity = ?", arguments: [identity.data]) else { return nil }
        var r = ByteReader([UInt8](data), what: "stored encryption key")
        return try? EncryptionKeyCertificate.read(from: &r)
    }

    /// Applies a friend's key update (already opened and checked: its
    /// signature, that it is for me, and its certificate's signature by the
    /// sender). One from someone who is not a friend waits, like a key
    /// message from them. A certificate no newer than the one I hold is
    /// ignored; an expired one is refused.
    func apply(_ update: KeyUpdate, _ db: Database) throws -> Outcome {
        guard let (_, card) = try friendCards(db, where: "identity = ?", arguments: [update.sender.data]).first else {
            return .wait(Waiting(reason: "an encryption key from someone who is not a friend (yet)", key: update.sender, kind: .keyMessage))
        }
        let held = max(card.encryptionKey.notBefore, try Self.updatedCertificate(db, of: update.sender)?.notBefore ?? 0)
        guard update.certificate.notBefore > held else { return .done(newPosts: 0, newKeys: 0) }
        guard update.certificate.notAfter > clock() else { return .reject("key update: the encryption key has expired (not valid now)") }
        var w = ByteWriter()
        update.certificate.write(to: &w)
        try db.execute(sql: "UPDATE friend SET encryption_key = ? WHERE identity = ?", arguments: [w.bytes.data, update.sender.data])
        return .done(newPosts: 0, newKeys: 0)
    }
}
