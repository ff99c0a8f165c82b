import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// Who is in an audience, as `kith group show` tells it.
public struct AudienceDetails: Codable, Sendable, Equatable {
    /// Someone who holds the audience's key.
    public struct Person: Codable, Sendable, Equatable {
        /// My name for them; for someone who is not my friend, the name
        /// the audience's owner gave them.
        public let name: String
        public let fingerprint: String
        /// Whether I compared safety numbers with them (`kith friend verify`), or it is me.
        public let verified: Bool
        /// Whether they are my friend (false for me).
        public let friend: Bool
        /// Whether it is me.
        public let you: Bool
    }

    public let name: String
    public let owner: Person
    public let epoch: UInt32
    /// Whether the owner sends members the member list.
    public let membersShared: Bool
    /// Whether `members` is everyone the current key went to: always for
    /// my own audience; for a friend's, once its shared list has arrived.
    public let membersComplete: Bool
    /// The members but the owner, sorted by name: for a friend's audience
    /// whose list is hidden (or has not arrived), only me.
    public let members: [Person]

    enum CodingKeys: String, CodingKey {
        case name, owner, epoch, members
        case membersShared = "members_shared"
        case membersComplete = "members_complete"
    }
}

/// Member lists: the owner of an audience that shares its members sends
/// them, signed, under each epoch's key to that epoch's members, after every
/// change of members; a member keeps the newest for each epoch. A commenter
/// can so see who will read a comment (it goes to every member).
extension Node {
    /// Sets whether an audience of mine shares its member list. A change
    /// starts a new epoch, whose key messages say it (and, when shared, a
    /// list follows them). Returns nil if nothing changed. Hiding cannot
    /// take back a list members already received.
    public func setShareMembers(audience name: String, _ share: Bool) async throws -> MembershipChange? {
        let now = clock()
        return try await db.writer.write { db in
            let current = try self.currentKey(audienceNamed: name, db)
            if share, try Int.fetchOne(db, sql: "SELECT count(*) FROM audience_member WHERE audience = ?",
                                       arguments: [current.audienceID.data]) ?? 0 > MemberList.maxMembers {
                throw NodeError("\"\(name)\" has more than \(MemberList.maxMembers) members, more than a member list can name")
            }
            try db.execute(sql: "UPDATE audience SET share_members = ? WHERE id = ? AND share_members != ?",
                           arguments: [share, current.audienceID.data, share])
            guard db.changesCount == 1 else { return nil }
            return try self.startEpoch(after: current, name: name, db, now: now)
        }
    }

    /// Queues the member list of an epoch of my audience for that epoch's
    /// members, if the audience shares it: everyone who was sent the
    /// epoch's key and still is a member, by my names for them.
    func sendMemberList(_ db: Database, _ key: AudienceKey, now: UInt64) throws {
        guard try Self.flags(ofAudience: key.audienceID, db).contains(.sharesMembers) else { return }
        let recipients = try Self.threadMembers(db, audienceID: key.audienceID, epoch: key.epoch, except: [])
        guard !recipients.isEmpty else { return }
        let atRest = try atRest
        let members = try recipients.map { identity in
            MemberList.Member(identity: [UInt8](identity), name: try atRest.text(
                try Data.fetchOne(db, sql: "SELECT name FROM friend WHERE identity = ?", arguments: [identity]) ?? Data(), .friendName))
        }
        try db.execute(sql: "UPDATE audience SET member_list_revision = member_list_revision + 1 WHERE id = ?", arguments: [key.audienceID.data])
        let revision = try Int64.fetchOne(db, sql: "SELECT member_list_revision FROM audience WHERE id = ?", arguments: [key.audienceID.data]) ?? 1
        let list = try MemberList(owner: try requireKeys().identity, audience: key, revision: UInt64(clamping: revision), members: members)
        try enqueue(db, envelope: try list.seal(audience: key), to: recipients, now: now)
    }

    /// A member list from an audience's owner: kept if its key says the
    /// audience shares its members and it is newer than the one I hold for
    /// its epoch.
    func receive(_ list: MemberList, keyID: [UInt8], _ db: Database, now: UInt64) throws -> Outcome {
        guard try Self.keyFlags(db, keyID: keyID).contains(.sharesMembers) else {
            throw ProtocolError(.wrongRecipient, "member list: for an audience whose key does not share its members")
        }
        try db.execute(sql: """
            INSERT INTO member_list (owner, audience, epoch, revision, list, received_at) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (owner, audience, epoch) DO UPDATE SET revision = excluded.revision, list = excluded.list, received_at = excluded.received_at
            WHERE excluded.revision > member_list.revision
            """, arguments: [list.owner.data, list.audienceID.data, Int64(list.epoch), Int64(list.revision),
                             try atRest.seal(list.bytes, .memberList), Int64(clamping: now)])
        return .done(newPosts: 0, newKeys: 0)
    }

    /// The member list I hold for an epoch of a friend's audience, if any.
    func memberList(_ db: Database, owner: [UInt8], audienceID: [UInt8], epoch: UInt32) throws -> MemberList? {
        guard let sealed = try Data.fetchOne(db, sql: "SELECT list FROM member_list WHERE owner = ? AND audience = ? AND epoch = ?",
                                             arguments: [owner.data, audienceID.data, Int64(epoch)]) else { return nil }
        return try MemberList.parse(try atRest.open(sealed, .memberList))
    }

    /// Who is in an audience: one of mine by default, or, given `owner`
    /// (a friend's name), that friend's audience of that name, as their
    /// key messages and member lists tell me.
    public func audienceDetails(name: String, owner ownerName: String? = nil) throws -> AudienceDetails {
        let me = try identity(), myName = try self.name(), atRest = try atRest
        return try db.writer.read { db in
            func person(_ identity: [UInt8], listedAs listed: String? = nil) throws -> AudienceDetails.Person {
                let fingerprint = Fingerprint.of(identity: identity)
                if identity == me { return .init(name: myName, fingerprint: fingerprint, verified: true, friend: false, you: true) }
                guard let row = try Row.fetchOne(db, sql: "SELECT name, verified_at FROM friend WHERE identity = ?", arguments: [identity.data]) else {
                    return .init(name: listed ?? "unknown", fingerprint: fingerprint, verified: false, friend: false, you: false)
                }
                return .init(name: try atRest.text(row[0], .friendName), fingerprint: fingerprint, verified: (row[1] as Int64?) != nil,
                             friend: true, you: false)
            }
            guard let ownerName else {
                let key = try self.currentKey(audienceNamed: name, db)
                let members = try Data.fetchAll(db, sql: "SELECT friend FROM audience_member WHERE audience = ?", arguments: [key.audienceID.data])
                return AudienceDetails(name: name, owner: try person(me), epoch: key.epoch,
                                       membersShared: try Self.flags(ofAudience: key.audienceID, db).contains(.sharesMembers), membersComplete: true,
                                       members: try members.map { try person([UInt8]($0)) }.sorted { $0.name < $1.name })
            }
            let owner = try self.card(ofFriendNamed: ownerName, db).identity
            // The owner's audience of that name whose key came last (names are the owner's), at its highest epoch:
            // an older epoch's key that arrives late does not count as the current one.
            let keys = try Row.fetchAll(db, sql: """
                SELECT audience, name FROM audience_key WHERE owner = ? AND flags & 1 = 0 ORDER BY received_at DESC, epoch DESC
                """, arguments: [owner.data])
            guard let named = try keys.first(where: { try atRest.text($0[1], .keyName) == name }),
                  let key = try Row.fetchOne(db, sql: """
                    SELECT audience, epoch, flags FROM audience_key WHERE owner = ? AND audience = ? ORDER BY epoch DESC LIMIT 1
                    """, arguments: [owner.data, named[0] as Data]) else {
                throw NodeError("\(ownerName) has not given you the key of an audience named \"\(name)\"",
                                hint: "`kith group show` without --owner shows your own audiences")
            }
            let audienceID = [UInt8](key[0] as Data), epoch = UInt32(clamping: key[1] as Int64)
            let shared = KeyMessage.Flags(rawValue: UInt8(truncatingIfNeeded: key[2] as Int64)).contains(.sharesMembers)
            let list = shared ? try self.memberList(db, owner: owner, audienceID: audienceID, epoch: epoch) : nil
            let members = try list.map { try $0.members.map { try person($0.identity, listedAs: $0.name) } } ?? [try person(me)]
            return AudienceDetails(name: name, owner: try person(owner), epoch: epoch, membersShared: shared, membersComplete: list != nil,
                                   members: members.sorted { $0.name < $1.name })
        }
    }

    /// How the feed shows who can read a post: for a direct message, the
    /// other person's name; otherwise how many people hold its epoch's
    /// key (the owner included) when I know it: always for my own posts,
    /// for a friend's when their member list of that epoch has arrived.
    func readers(_ db: Database, author: [UInt8], audienceID: [UInt8], epoch: UInt32, direct: Bool,
                 name: (_ identity: [UInt8]) throws -> (name: String, verified: Bool)) throws -> (directWith: String?, size: Int?) {
        let me = try identity()
        if direct {
            guard author == me else { return (try name(author).name, 2) }
            let friend = try Data.fetchOne(db, sql: "SELECT direct_friend FROM audience WHERE id = ?", arguments: [audienceID.data])
            return (try friend.map { try name([UInt8]($0)).name } ?? "unknown", 2)
        }
        if author == me {
            let members = try Int.fetchOne(db, sql: "SELECT count(*) FROM audience_epoch_member WHERE audience = ? AND epoch = ?",
                                           arguments: [audienceID.data, Int64(epoch)]) ?? 0
            return (nil, 1 + members)
        }
        return (nil, try memberList(db, owner: author, audienceID: audienceID, epoch: epoch).map { 1 + $0.members.count })
    }
}
