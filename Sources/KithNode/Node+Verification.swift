import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// What `replaceFriend` did, for the command to tell the user.
public struct FriendReplacement: Codable, Sendable, Equatable {
    /// The friend as now known: the new identity, unverified.
    public let friend: Friend
    /// The fingerprint of the identity that was replaced.
    public let oldFingerprint: String
    /// Whether I had verified the old identity.
    public let oldWasVerified: Bool
    /// The audiences the old identity was a member of, and is no longer.
    public let removedFromAudiences: [String]
}

/// Checking that a friend's identity key is really theirs, and replacing it
/// only when the user says so.
///
/// A card is trusted on first use; comparing the safety number (the same on
/// both sides, see `SafetyNumber`) over a channel the two people trust, in
/// person or by a call, checks it. A card that claims a known friend's name
/// with another identity is refused by `addFriend`: it may be an impostor,
/// or the friend may have lost their keys and made a new identity. Only
/// `replaceFriend` puts the new identity in the old one's place.
extension Node {
    /// The safety number I share with a friend (by local name): the same
    /// digits `kith friend verify` shows on their side for me.
    public func safetyNumber(withFriendNamed name: String) throws -> (friend: Friend, number: String) {
        let (friendIdentity, friend) = try friendNamed(name)
        return (friend, try SafetyNumber.of(try identity(), friendIdentity))
    }

    /// Marks a friend verified (the user compared safety numbers) or, with
    /// `false`, not verified any more.
    @discardableResult
    public func setVerified(friendNamed name: String, _ verified: Bool) async throws -> Friend {
        let (friendIdentity, _) = try friendNamed(name)
        let now = clock()
        try await db.writer.write { db in
            try db.execute(sql: "UPDATE friend SET verified_at = ? WHERE identity = ?",
                           arguments: [verified ? Int64(now) : nil, friendIdentity.data])
        }
        guard let friend = try friend(identity: friendIdentity) else { throw NodeError("no friend named \"\(name)\"") }
        return friend
    }

    /// Replaces the friend known as `name` by the identity in a new card,
    /// for when the friend made a new identity (they lost their keys, say)
    /// and the user has checked with them that the card is theirs.
    ///
    /// The old identity stops being a friend: its card, the inboxes I
    /// deliver to and its audience memberships are removed, so nothing new is
    /// sent to it; and the keys of its audiences that I hold are dropped, so
    /// nothing new from it is shown (its posts already in the feed stay, as
    /// an unknown author's). Every audience of mine it was in gets a new
    /// epoch, as when a member is removed: it keeps what it received and
    /// reads nothing posted from now on. The new identity is
    /// added under the same name, unverified, and in no audience.
    public func replaceFriend(named name: String, cardText: String, allowLocalRelays: Bool = false) async throws -> FriendReplacement {
        let card = try await checkedCard(cardText, allowLocalRelays: allowLocalRelays)
        let now = clock()
        let atRest = try atRest
        let (oldIdentity, old, audiences) = try await db.writer.write { db -> ([UInt8], Friend, [String]) in
            guard let row = try Row.fetchOne(db, sql: "SELECT identity, name, card, verified_at FROM friend WHERE name_tag = ?",
                                             arguments: [atRest.tag(name, .friendName)]) else {
                throw NodeError("no friend named \"\(name)\"", hint: "`kith friend list` shows your friends; `kith friend add CARD` adds a new one")
            }
            let oldIdentity = [UInt8](row[0] as Data)
            guard oldIdentity != card.identity else {
                throw NodeError("this card has the same identity as the \(name) you know: there is nothing to replace",
                                hint: "to take a newer card of the same identity, run: kith friend add CARD")
            }
            if let other = try Data.fetchOne(db, sql: "SELECT name FROM friend WHERE identity = ?", arguments: [card.identity.data]) {
                throw NodeError("this card's identity is already your friend \"\(try atRest.text(other, .friendName))\"",
                                hint: "`kith friend list` shows your friends and their fingerprints")
            }
            let audiences = try self.audienceNames(ofMember: oldIdentity, db)
            try db.execute(sql: "DELETE FROM audience_member WHERE friend = ?", arguments: [oldIdentity.data])
            // Each audience it leaves gets a new epoch, so it reads nothing posted there from now on.
            for audience in audiences { _ = try self.startEpoch(after: try self.currentKey(audienceNamed: audience, db), name: audience, db, now: now) }
            try db.execute(sql: "DELETE FROM audience_key WHERE owner = ?", arguments: [oldIdentity.data])
            try db.execute(sql: "DELETE FROM friend_inbox WHERE friend = ?", arguments: [oldIdentity.data])
            try db.execute(sql: "DELETE FROM friend WHERE identity = ?", arguments: [oldIdentity.data])
            try self.insertFriend(db, card: card, name: name, now: now)
            try Self.storeInboxes(db, of: card, atRest: atRest)
            try self.sendProfile(db, to: card, now: now)
            return (oldIdentity, try Self.friend(row: row, atRest), audiences)
        }
        guard let friend = try friend(identity: card.identity) else { throw NodeError("the friend was not stored") }
        return FriendReplacement(friend: friend, oldFingerprint: Fingerprint.of(identity: oldIdentity),
                                 oldWasVerified: old.verified, removedFromAudiences: audiences)
    }

    /// A friend's identity key and listing, by local name.
    func friendNamed(_ name: String) throws -> ([UInt8], Friend) {
        let atRest = try atRest
        let row = try db.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT identity, name, card, verified_at FROM friend WHERE name_tag = ?", arguments: [atRest.tag(name, .friendName)])
        }
        guard let row else { throw NodeError("no friend named \"\(name)\"", hint: "`kith friend list` shows your friends") }
        return ([UInt8](row[0] as Data), try Self.friend(row: row, atRest))
    }

    /// Refuses, as a possible impostor, a card with a new identity that
    /// claims the name of a friend I know: `localName` (or, without it, the
    /// card's name) is a friend's local name, or, without `localName`, the
    /// card's name is the name in a known friend's card. Names in cards are
    /// compared exactly as written.
    func refuseDifferentIdentity(_ db: Database, card: ContactCard, localName: String?) throws {
        let name = localName ?? card.name
        var known: (name: String, identity: [UInt8])?
        // Local names compare as the database's tags do, byte for byte.
        for (friendName, stored) in try friendCards(db) {
            let sameLocalName = friendName.utf8.elementsEqual(name.utf8)
            guard sameLocalName || (localName == nil && stored.name == card.name) else { continue }
            known = (friendName, stored.identity)
            if sameLocalName { break }
        }

        guard let known else { return }
        throw NodeError(
            "this card has a different identity than the friend you know as \"\(known.name)\": it may be an impostor, or \(known.name) may have made a new identity",
            hint: "its fingerprint is \(Fingerprint.of(identity: card.identity)), not \(Fingerprint.of(identity: known.identity)); "
                + "ask \(known.name) in person or by a call, and only if it is theirs run: kith friend replace \(known.name) CARD "
                + "(or, if it is someone else, add it under another name with --as NAME)")
    }
}
