import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// An audience I own, as listed by `kith group list`.
public struct Audience: Codable, Sendable, Equatable {
    public let name: String
    public let epoch: UInt32
    public let members: [String]
}

extension Node {
    /// Creates an audience with a fresh epoch-1 key. With `shareMembers`
    /// its members are sent its member list, so they see who else reads
    /// what they comment (`kith group show`); `kith group create` shares by
    /// default and says so.
    public func createAudience(name: String, shareMembers: Bool = false) async throws {
        let keys = try requireKeys()
        try Validate.name(name, what: "audience name")
        let audience = AudienceKey(owner: keys.identity.publicKey, audienceID: randomBytes(AudienceKey.audienceIDLength),
                                   epoch: 1, key: SecretBytes(random: 32))
        let now = clock()
        let sealed = try sealStored(audience.key, keyID: audience.keyID)
        let atRest = keys.atRest
        try await db.writer.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM audience WHERE name_tag = ?", arguments: [atRest.tag(name, .audienceName)]) == true {
                throw NodeError("an audience named \"\(name)\" exists already")
            }
            try db.execute(sql: "INSERT INTO audience (id, name, name_tag, epoch, created_at, share_members) VALUES (?, ?, ?, 1, ?, ?)",
                           arguments: [audience.audienceID.data, try atRest.seal(name, .audienceName), atRest.tag(name, .audienceName), now,
                                       shareMembers])
            try self.storeAudienceKey(db, audience, name: name, sealed: sealed, now: now, flags: shareMembers ? .sharesMembers : [])
        }
    }

    /// What changing an audience's members did.
    public struct MembershipChange: Codable, Sendable, Equatable {
        /// The audience's epoch from now on.
        public let epoch: UInt32
        /// Members the new key is queued for.
        public let keyQueuedFor: Int
        /// Members whose encryption key is not valid now: they get no key
        /// (and read nothing new) until you have a newer card of theirs.
        public let skipped: [String]
    }

    /// Adds a friend to an audience. By default this starts a new epoch, whose
    /// key goes to every member, the new one included, so that the newcomer
    /// reads what is posted from now on and nothing posted before, even
    /// given those envelopes. With `shareHistory` the newcomer is sent the
    /// current epoch's key instead, and can read what was posted in it.
    /// Returns nil if they were a member already.
    @discardableResult
    public func addMember(audience name: String, friend friendName: String, shareHistory: Bool = false) async throws -> MembershipChange? {
        let now = clock()
        return try await db.writer.write { db in
            try self.addMember(db, audience: try self.currentKey(audienceNamed: name, db), name: name,
                               friend: friendName, shareHistory: shareHistory, now: now)
        }
    }

    /// Adds a friend to one of my audiences (refused for a direct one).
    func addMember(_ db: Database, audience: AudienceKey, name: String, friend friendName: String, shareHistory: Bool,
                   now: UInt64) throws -> MembershipChange? {
        try Self.refuseIfDirect(audience.audienceID, db)
        let card = try self.card(ofFriendNamed: friendName, db)
        guard try Self.sealingKey(db, of: card, now: now) != nil else {
            throw NodeError("\(friendName)'s encryption key is not valid now", hint: "ask \(friendName) for a new card")
        }
        let flags = try Self.flags(ofAudience: audience.audienceID, db)
        if flags.contains(.sharesMembers),
           try Int.fetchOne(db, sql: "SELECT count(*) FROM audience_member WHERE audience = ?", arguments: [audience.audienceID.data]) ?? 0
            >= MemberList.maxMembers {
            throw NodeError("\"\(name)\" has \(MemberList.maxMembers) members, as many as a shared member list can name",
                            hint: "hide its members (`kith group share-members \(name) no`) to add more")
        }
        try db.execute(sql: "INSERT OR IGNORE INTO audience_member (audience, friend, added_at) VALUES (?, ?, ?)",
                       arguments: [audience.audienceID.data, card.identity.data, now])
        guard db.changesCount == 1 else { return nil }
        guard shareHistory else { return try self.startEpoch(after: audience, name: name, db, now: now) }
        _ = try self.sendKey(db, audience, name: name, flags: flags, to: card, now: now)
        try self.sendMemberList(db, audience, now: now)
        return MembershipChange(epoch: audience.epoch, keyQueuedFor: 1, skipped: [])
    }

    /// Removes a friend from an audience and starts a new epoch, whose key
    /// goes to the remaining members only: the removed friend keeps what they
    /// already received and can read nothing posted from now on, even given
    /// the envelopes. Returns nil if they were not a member.
    @discardableResult
    public func removeMember(audience name: String, friend friendName: String) async throws -> MembershipChange? {
        _ = try requireKeys()
        let now = clock()
        return try await db.writer.write { db in
            let audience = try self.currentKey(audienceNamed: name, db)
            let card = try self.card(ofFriendNamed: friendName, db)
            try db.execute(sql: "DELETE FROM audience_member WHERE audience = ? AND friend = ?", arguments: [audience.audienceID.data, card.identity.data])
            guard db.changesCount == 1 else { return nil }
            return try self.startEpoch(after: audience, name: name, db, now: now)
        }
    }

    /// A fresh key for the next epoch of one of my audiences, stored and
    /// queued (sealed and signed) for every current member whose encryption
    /// key is valid now. Posts from now on use it.
    func startEpoch(after current: AudienceKey, name: String, _ db: Database, now: UInt64) throws -> MembershipChange {
        guard current.epoch < UInt32.max else { throw NodeError("audience \"\(name)\" has run out of epochs", hint: "create a new audience") }
        let next = AudienceKey(owner: current.owner, audienceID: current.audienceID, epoch: current.epoch + 1, key: SecretBytes(random: 32))
        let flags = try Self.flags(ofAudience: current.audienceID, db)
        try storeAudienceKey(db, next, name: name, sealed: try sealStored(next.key, keyID: next.keyID), now: now, flags: flags)
        try db.execute(sql: "UPDATE audience SET epoch = ? WHERE id = ?", arguments: [Int64(next.epoch), next.audienceID.data])
        let members = try friendCards(db, where: "identity IN (SELECT friend FROM audience_member WHERE audience = ?)",
                                      arguments: [next.audienceID.data]).sorted { $0.name < $1.name }
        var sent = 0, skipped: [String] = []
        for (memberName, card) in members {
            if try sendKey(db, next, name: name, flags: flags, to: card, now: now) { sent += 1 } else { skipped.append(memberName) }
        }
        try sendMemberList(db, next, now: now)
        return MembershipChange(epoch: next.epoch, keyQueuedFor: sent, skipped: skipped)
    }

    /// Queues a key message of `key` for a friend and records them as a
    /// member of its epoch; false if their encryption key is not valid now.
    func sendKey(_ db: Database, _ key: AudienceKey, name: String, flags: KeyMessage.Flags, to card: ContactCard, now: UInt64) throws -> Bool {
        guard let sealTo = try Self.sealingKey(db, of: card, now: now) else { return false }
        let message = KeyMessage(audience: key, recipient: card.identity, audienceName: name, createdAt: now, flags: flags)
        try enqueue(db, envelope: try message.seal(owner: try requireKeys().identity, to: sealTo.publicKey), to: [card.identity.data], now: now)
        try Self.recordEpochMember(db, key, card.identity)
        return true
    }

    /// What the key messages of one of my audiences say of it: direct
    /// (a conversation with one friend), or sharing its member list.
    static func flags(ofAudience id: [UInt8], _ db: Database) throws -> KeyMessage.Flags {
        guard let row = try Row.fetchOne(db, sql: "SELECT direct_friend IS NOT NULL, share_members FROM audience WHERE id = ?", arguments: [id.data]) else {
            return []
        }
        if row[0] as Bool { return .direct }
        return (row[1] as Bool) ? .sharesMembers : []
    }

    /// My audiences, by name, with their members by name.
    public func audiences() throws -> [Audience] {
        let atRest = try atRest
        return try db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, epoch FROM audience WHERE direct_friend IS NULL").map { row in
                let members = try Data.fetchAll(db, sql: """
                    SELECT f.name FROM audience_member m JOIN friend f ON f.identity = m.friend WHERE m.audience = ?
                    """, arguments: [row[0] as Data]).map { try atRest.text($0, .friendName) }
                return Audience(name: try atRest.text(row[1], .audienceName), epoch: UInt32(row[2] as Int64), members: members.sorted())
            }
        }.sorted { $0.name < $1.name }
    }

    /// The names of my audiences that a friend is a member of, sorted (not
    /// my direct conversation with them, which has no name).
    func audienceNames(ofMember identity: [UInt8], _ db: Database) throws -> [String] {
        let atRest = try atRest
        return try Data.fetchAll(db, sql: """
            SELECT a.name FROM audience_member m JOIN audience a ON a.id = m.audience WHERE m.friend = ? AND a.direct_friend IS NULL
            """,
                                 arguments: [identity.data]).map { try atRest.text($0, .audienceName) }.sorted()
    }

    // MARK: Audience keys at rest

    /// The current epoch key of one of my audiences.
    func currentKey(audienceNamed name: String, _ db: Database) throws -> AudienceKey {
        guard let id = try Data.fetchOne(db, sql: "SELECT id FROM audience WHERE name_tag = ?", arguments: [try atRest.tag(name, .audienceName)]) else {
            throw NodeError("no audience named \"\(name)\"", hint: "create it with `kith group create \(name)`")
        }
        return try currentKey(audienceID: [UInt8](id), db)
    }

    /// The current epoch key of one of my audiences, by id.
    func currentKey(audienceID: [UInt8], _ db: Database) throws -> AudienceKey {
        let me = try requireKeys().identity.publicKey
        guard let epoch = try Int64.fetchOne(db, sql: "SELECT epoch FROM audience WHERE id = ?", arguments: [audienceID.data]),
              let stored = try Row.fetchOne(db, sql: "SELECT key_id, sealed_key FROM audience_key WHERE owner = ? AND audience = ? AND epoch = ?",
                                            arguments: [me.data, audienceID.data, epoch]) else {
            throw NodeError("the key of an audience is missing from the database")
        }
        let key = try openStored(stored[1], keyID: [UInt8](stored[0] as Data))
        return AudienceKey(owner: me, audienceID: audienceID, epoch: UInt32(clamping: epoch), key: key)
    }

    /// A known audience key (mine or a friend's) by its public key id.
    func audienceKey(keyID: [UInt8], _ db: Database) throws -> (key: AudienceKey, name: String)? {
        guard let row = try Row.fetchOne(db, sql: "SELECT owner, audience, epoch, name, sealed_key FROM audience_key WHERE key_id = ?",
                                         arguments: [keyID.data]) else { return nil }
        let key = try openStored(row[4], keyID: keyID)
        return (AudienceKey(owner: [UInt8](row[0] as Data), audienceID: [UInt8](row[1] as Data), epoch: UInt32(row[2] as Int64), key: key),
                try atRest.text(row[3], .keyName))
    }

    func storeAudienceKey(_ db: Database, _ key: AudienceKey, name: String, sealed: Data, now: UInt64, flags: KeyMessage.Flags) throws {
        try db.execute(sql: """
            INSERT OR IGNORE INTO audience_key (key_id, owner, audience, epoch, name, sealed_key, received_at, flags) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [key.keyID.data, key.owner.data, key.audienceID.data, Int64(key.epoch), try atRest.seal(name, .keyName), sealed, now,
                             Int64(flags.rawValue)])
    }


    /// Audience keys are stored encrypted under the keystore's storage key,
    /// bound to their key id: nonce || XChaCha20-Poly1305(key).
    func sealStored(_ key: SecretBytes, keyID: [UInt8]) throws -> Data {
        let nonce = randomBytes(AEAD.nonceLength)
        var plain = key.copyBytes()
        defer { wipe(&plain) }
        return Data(nonce + (try AEAD.seal(plain, key: try requireKeys().storageKey, nonce: nonce, associatedData: Self.storedKeyAD(keyID))))
    }

    func openStored(_ sealed: Data, keyID: [UInt8]) throws -> SecretBytes {
        let bytes = [UInt8](sealed)
        guard bytes.count > AEAD.nonceLength else { throw NodeError("a stored audience key is corrupt") }
        var plain: [UInt8]
        do {
            plain = try AEAD.open(Array(bytes[AEAD.nonceLength...]), key: try requireKeys().storageKey,
                                  nonce: Array(bytes[0..<AEAD.nonceLength]), associatedData: Self.storedKeyAD(keyID))
        } catch { throw NodeError("a stored audience key does not decrypt (database and keystore do not match?)") }
        return SecretBytes(consuming: &plain)
    }

    private static func storedKeyAD(_ keyID: [UInt8]) -> [UInt8] { Array("kith/stored-audience-key/v1".utf8) + [0] + keyID }
}
