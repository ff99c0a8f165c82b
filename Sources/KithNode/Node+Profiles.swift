import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// A profile as `kith profile show` gives it: mine, or a friend's.
public struct ProfileView: Codable, Sendable, Equatable {
    /// The name I gave the friend (never replaced by their profile's); nil for my own profile.
    public let friend: String?
    public let fingerprint: String
    public let sequence: UInt64
    /// The name they call themself; nil: none.
    public let name: String?
    public let bio: String
    /// When its author made it (by their clock), Unix seconds.
    public let createdAt: UInt64

    enum CodingKeys: String, CodingKey {
        case friend, fingerprint, sequence, name, bio
        case createdAt = "created_at"
    }
}

/// What `kith profile set` did.
public struct ProfileSent: Codable, Sendable {
    public let sequence: UInt64
    /// How many friends it is queued for.
    public let queuedFor: Int
    /// Friends it could not be sealed to now (no valid encryption key): they get it with the next one.
    public let skipped: [String]

    enum CodingKeys: String, CodingKey {
        case sequence, skipped
        case queuedFor = "queued_for"
    }
}

extension Node {
    /// My profile as stored.
    struct StoredProfile {
        let sequence: UInt64
        let name: String?
        let bio: String
        let createdAt: UInt64
    }

    /// Makes my profile anew (sequence + 1) and queues it for every friend,
    /// sealed to each one's current encryption key. `name` nil keeps the
    /// name, empty removes it; `bio` nil keeps the bio.
    public func setProfile(name: String?, bio: String?) async throws -> ProfileSent {
        guard name != nil || bio != nil else { throw NodeError("nothing to change", hint: "give --name, --bio or both") }
        if let name, !name.isEmpty { try Validate.name(name, what: "the name") }
        if let bio {
            do { try Profile.checkBio(bio) } catch let error as ProtocolError { throw NodeError(error.detail) }
        }
        let atRest = try atRest, now = clock()
        return try await db.writer.write { db in
            let current = try self.myProfile(db)
            let newName = name.map { $0.isEmpty ? nil : $0 } ?? current?.name
            let sequence = (current?.sequence ?? 0) + 1
            try db.execute(sql: "INSERT OR REPLACE INTO my_profile (id, sequence, name, bio, avatar, updated_at) VALUES (1, ?, ?, ?, NULL, ?)",
                           arguments: [Int64(sequence), try newName.map { try atRest.seal($0, .myProfileName) },
                                       try atRest.seal(bio ?? current?.bio ?? "", .myProfileBio), Int64(now)])
            var queued = 0, skipped: [String] = []
            for (friend, card) in try self.friendCards(db).sorted(by: { $0.name < $1.name }) {
                if try self.sendProfile(db, to: card, now: now) { queued += 1 } else { skipped.append(friend) }
            }
            return ProfileSent(sequence: sequence, queuedFor: queued, skipped: skipped)
        }
    }

    func myProfile(_ db: Database) throws -> StoredProfile? {
        let atRest = try atRest
        return try Row.fetchOne(db, sql: "SELECT sequence, name, bio, updated_at FROM my_profile WHERE id = 1").map { row in
            StoredProfile(sequence: UInt64(clamping: row[0] as Int64), name: try (row[1] as Data?).map { try atRest.text($0, .myProfileName) },
                          bio: try atRest.text(row[2], .myProfileBio), createdAt: UInt64(clamping: row[3] as Int64))
        }
    }

    /// Queues my current profile for one friend, sealed to their current
    /// encryption key. False if I have no profile or they have no valid key.
    @discardableResult
    func sendProfile(_ db: Database, to card: ContactCard, now: UInt64) throws -> Bool {
        guard let mine = try myProfile(db), let sealTo = try Self.sealingKey(db, of: card, now: now) else { return false }
        let identity = try requireKeys().identity
        let profile = try Profile(author: identity.publicKey, recipient: card.identity, sequence: mine.sequence, createdAt: mine.createdAt,
                                  name: mine.name, bio: mine.bio, avatar: nil)
        try enqueue(db, envelope: try profile.seal(signer: identity, recipientKey: sealTo.publicKey), to: [card.identity.data], now: now)
        return true
    }

    /// Applies a friend's profile (opened and checked: its signature, that
    /// it is for me). One from someone who is not a friend is dropped: they
    /// send theirs when we become friends. One whose sequence is not higher
    /// than the stored one changes nothing.
    func receive(_ profile: Profile, _ db: Database) throws -> Outcome {
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM friend WHERE identity = ?", arguments: [profile.author.data]) == true else {
            return .reject("profile: from someone who is not a friend (wrong recipient)")
        }
        if let stored = try Int64.fetchOne(db, sql: "SELECT sequence FROM friend_profile WHERE friend = ?", arguments: [profile.author.data]),
           UInt64(clamping: stored) >= profile.sequence {
            return .done(newPosts: 0, newKeys: 0)
        }
        let atRest = try atRest
        try db.execute(sql: """
            INSERT OR REPLACE INTO friend_profile (friend, sequence, name, bio, avatar, created_at, received_at) VALUES (?, ?, ?, ?, NULL, ?, ?)
            """, arguments: [profile.author.data, Int64(profile.sequence), try profile.name.map { try atRest.seal($0, .profileName) },
                             try atRest.seal(profile.bio, .profileBio), Int64(profile.createdAt), Int64(clock())])
        return .done(newPosts: 0, newKeys: 0)
    }

    /// The name a friend's profile gives them, if they sent one with a name.
    static func profileName(_ db: Database, of identity: Data, _ atRest: AtRest) throws -> String? {
        try Data.fetchOne(db, sql: "SELECT name FROM friend_profile WHERE friend = ? AND name IS NOT NULL", arguments: [identity])
            .map { try atRest.text($0, .profileName) }
    }

    /// My profile (`friend` nil), or the one the friend of that name sent me.
    public func profile(of friend: String?) throws -> ProfileView {
        let atRest = try atRest, me = try identity()
        return try db.writer.read { db in
            guard let friend else {
                guard let mine = try self.myProfile(db) else {
                    throw NodeError("you have no profile yet", hint: "make one with: kith profile set --name NAME --bio TEXT")
                }
                return ProfileView(friend: nil, fingerprint: Fingerprint.of(identity: me), sequence: mine.sequence,
                                   name: mine.name, bio: mine.bio, createdAt: mine.createdAt)
            }
            guard let identity = try Data.fetchOne(db, sql: "SELECT identity FROM friend WHERE name_tag = ?", arguments: [atRest.tag(friend, .friendName)]) else {
                throw NodeError("no friend named \"\(friend)\"", hint: "`kith friend list` shows your friends")
            }
            guard let row = try Row.fetchOne(db, sql: "SELECT sequence, name, bio, created_at FROM friend_profile WHERE friend = ?", arguments: [identity]) else {
                throw NodeError("\(friend) has not sent you a profile", hint: "`kith sync` fetches what friends sent")
            }
            return ProfileView(friend: friend, fingerprint: Fingerprint.of(identity: [UInt8](identity)), sequence: UInt64(clamping: row[0] as Int64),
                               name: try (row[1] as Data?).map { try atRest.text($0, .profileName) }, bio: try atRest.text(row[2], .profileBio),
                               createdAt: UInt64(clamping: row[3] as Int64))
        }
    }
}
