import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// A friend invitation I made (`kith invite`).
public struct IssuedInvitation: Codable, Sendable {
    /// The text to send: `kith-invite:URL#SECRET`.
    public let invitation: String
    /// The first 8 hex digits of its id, as `kith friend requests` names it.
    public let id: String
    public let relay: String
    /// When the relay forgets it, ISO 8601 UTC.
    public let expiresAt: String

    enum CodingKeys: String, CodingKey {
        case invitation, id, relay
        case expiresAt = "expires_at"
    }
}

/// A friend request waiting for `kith friend accept` or `decline`.
public struct PendingFriendRequest: Codable, Sendable, Equatable {
    /// The name in the requester's card.
    public let name: String
    public let fingerprint: String
    /// The safety number I would share with them (`kith friend verify`).
    public let safetyNumber: String
    /// The invitation it answers (first 8 hex digits of its id, as `kith invite` showed it).
    public let invitation: String
    /// When it arrived, ISO 8601 UTC.
    public let receivedAt: String

    enum CodingKeys: String, CodingKey {
        case name, fingerprint, invitation
        case safetyNumber = "safety_number"
        case receivedAt = "received_at"
    }
}

/// A friend added: by card, by invitation, or by accepting their request.
public struct FriendAdded: Codable, Sendable {
    public let friend: Friend
    /// My own fingerprint, for my friend to compare with what they see.
    public let myFingerprint: String
    public let safetyNumber: String
    /// Whether my friend request to them is queued (added by invitation).
    public let requestQueued: Bool

    enum CodingKeys: String, CodingKey {
        case friend
        case myFingerprint = "my_fingerprint"
        case safetyNumber = "safety_number"
        case requestQueued = "request_queued"
    }
}

/// What declining a friend request did.
public struct FriendDecline: Codable, Sendable {
    /// Drop tokens of the invitation's card revoked at my relays.
    public let revoked: Int
    /// Tokens that could not be revoked now, one line each.
    public let failures: [String]
}

/// One-paste friend invitations (docs/PROTOCOL.md, "Friend invitations"):
/// my card, issued for the invitation, waits sealed on my relay; whoever
/// has the invitation takes it once, adds me, and answers with a friend
/// request carrying their card, which I accept or decline.
extension Node {
    /// The most friend requests that wait at once; more are dropped.
    static let maxFriendRequests = 100
    /// The longest and shortest lifetime of an invitation I make, in seconds.
    public static let invitationLifetimes: ClosedRange<UInt64> = 1...(30 * 24 * 3600)
    /// Answered invitations are forgotten this long after they expire (a
    /// repeated request for one is then dropped).
    static let invitationMemory: UInt64 = 30 * 24 * 3600
    /// A friend request left waiting this long is declined.
    static let requestLifetime: UInt64 = 30 * 24 * 3600

    /// How long after its expiry an unanswered invitation's request may still
    /// arrive (it waits in the taker's outbox while my relay is down); then
    /// the drop tokens of its card are revoked.
    static let answerGrace: UInt64 = 7 * 24 * 3600
    /// Unanswered invitations closed per sync at most (each is a relay request).
    static let closedPerSync = 20

    /// The holder tag of the tokens of an invitation's card, which no friend's name can have.
    func invitationHolder(_ id: [UInt8]) throws -> Data { try atRest.tag("\u{0}invitation \(Hex.encode(id))", .holder) }

    /// Makes a friend invitation: my card, issued for it, sealed and stored
    /// on my first relay for `lifetime` seconds, to be taken once.
    public func invite(lifetime: UInt64) async throws -> IssuedInvitation {
        guard Self.invitationLifetimes.contains(lifetime) else {
            throw NodeError("an invitation lasts 1 second to 30 days, not \(lifetime) seconds")
        }
        let keys = try requireKeys()
        guard let relay = try await db.writer.read({ db in try String.fetchOne(db, sql: "SELECT relay FROM mailbox ORDER BY relay") }),
              let mailboxKey = keys.mailboxKeys[relay] else {
            throw NodeError("this node has no relay to keep the invitation", hint: "add one with `kith relay add URL`")
        }
        let invitation = try FriendInvitation(relay: relay)
        let holder = try invitationHolder(invitation.id)
        let (sealed, requestKey) = try invitation.seal(try await issueCard(holderTag: holder))
        do {
            try await RelayClient(baseURL: relay).putInvitation(id: invitation.id, sealed: sealed, lifetime: UInt32(lifetime),
                                                                mailboxKey: mailboxKey)
        } catch let failure as RelayClient.Failure {
            _ = try? await revokeTokens(issuedTo: holder)
            throw NodeError("storing the invitation failed: \(failure.description)")
        }
        let now = clock()
        let expires = now + lifetime
        let sealedKey = try requestKey.withBytes { try keys.atRest.seal($0, .invitationKey) }
        try await db.writer.write { db in
            try db.execute(sql: "INSERT INTO friend_invitation (id, answer_key, relay, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [invitation.id.data, sealedKey, relay, Int64(clamping: now), Int64(clamping: expires)])
        }
        return IssuedInvitation(invitation: invitation.text, id: Self.shortID(invitation.id), relay: relay, expiresAt: Self.iso8601(expires))
    }

    /// Closes invitations that expired `answerGrace` ago with no request:
    /// whoever took one (if anyone did) holds a drop token of mine and never
    /// asked to be a friend, so its tokens are revoked and the invitation
    /// forgotten. Declines, the same way, friend requests that waited
    /// `requestLifetime`, and forgets answered invitations `invitationMemory`
    /// after they expired. A token that cannot be revoked now is tried again
    /// at the next sync.
    func closeUnansweredInvitations() async throws {
        let now = Int64(clamping: clock())
        let ids = try await db.writer.read { db in
            try Data.fetchAll(db, sql: "SELECT id FROM friend_invitation WHERE answered = 0 AND expires_at < ? ORDER BY expires_at LIMIT ?",
                              arguments: [now - Int64(Self.answerGrace), Self.closedPerSync])
        }
        for id in ids {
            guard try await revokeTokens(issuedTo: try invitationHolder([UInt8](id))).failures.isEmpty else { continue }
            // Unless a request came meanwhile: it then holds those tokens (revoked, so the request is declined at its time).
            try await db.writer.write { db in try db.execute(sql: "DELETE FROM friend_invitation WHERE id = ? AND answered = 0", arguments: [id]) }
        }
        let stale = try await db.writer.read { db in
            try Data.fetchAll(db, sql: "SELECT invitation FROM friend_request WHERE received_at < ? ORDER BY received_at LIMIT ?",
                              arguments: [now - Int64(Self.requestLifetime), Self.closedPerSync])
        }
        for invitation in stale {
            guard try await revokeTokens(issuedTo: try invitationHolder([UInt8](invitation))).failures.isEmpty else { continue }
            try await db.writer.write { db in try db.execute(sql: "DELETE FROM friend_request WHERE invitation = ?", arguments: [invitation]) }
        }
        try await db.writer.write { db in
            try db.execute(sql: "DELETE FROM friend_invitation WHERE answered = 1 AND expires_at < ?", arguments: [now - Int64(Self.invitationMemory)])
        }
    }

    static func shortID(_ id: [UInt8]) -> String { String(Hex.encode(id).prefix(8)) }

    /// Adds a friend from pasted text: a contact card (as `addFriend`) or a
    /// friend invitation, whose card is taken from the inviter's relay (once:
    /// the relay deletes it) and whose answer, my card issued for them, is
    /// queued as a friend request for the next sync.
    public func addFriend(pasted text: String, as localName: String? = nil, allowLocalRelays: Bool = false) async throws -> FriendAdded {
        let found: Pasted
        do { found = try Pasted.find(in: text) } catch { throw NodeError(error.message, hint: error.hint) }
        if let localName { try Validate.name(localName, what: "friend name") }
        switch found {
        case .card(let card):
            return try await added(try await addFriend(try await checked(card, allowLocalRelays: allowLocalRelays), as: localName), identity: card.identity)
        case .invitation(let text):
            return try await addFriend(invitation: try FriendInvitation(text: text), as: localName, allowLocalRelays: allowLocalRelays)
        }
    }

    private func addFriend(invitation: FriendInvitation, as localName: String?, allowLocalRelays: Bool) async throws -> FriendAdded {
        if !allowLocalRelays, Validate.isLocalNetwork(relay: invitation.relay),
           try await db.writer.read({ db in try Bool.fetchOne(db, sql: "SELECT 1 FROM mailbox WHERE relay = ?", arguments: [invitation.relay]) }) != true {
            throw NodeError("the invitation names a relay on a local network that is not yours: \(invitation.relay)",
                            hint: "if you trust this invitation, set KITH_ALLOW_LOCAL_RELAYS=1 and add it again")
        }
        let sealed: [UInt8]?
        do { sealed = try await RelayClient(baseURL: invitation.relay).takeInvitation(id: invitation.id) } catch let failure as RelayClient.Failure {
            throw NodeError("fetching the invitation failed: \(failure.description)", hint: "try again later")
        }
        guard let sealed else {
            throw NodeError("this invitation was used or has expired", hint: "ask the person who sent it for a new one (`kith invite`)")
        }
        let (card, requestKey): (ContactCard, SecretBytes)
        do { (card, requestKey) = try invitation.open(sealed) } catch let error as ProtocolError {
            throw NodeError("the invitation's card is not valid: \(error.description)", hint: "ask the person who sent it for a new one (`kith invite`)")
        }
        let friend: Friend
        do { friend = try await addFriend(try await checked(card, allowLocalRelays: allowLocalRelays), as: localName) } catch let error as NodeError {
            // The relay has forgotten the invitation: say so, or the user would paste it again.
            throw NodeError(error.description + " (the invitation is used up)", hint: error.hint.map { "\($0), with a new invitation" })
        }
        let mine = try await issueCard(for: friend.name)
        let envelope = try FriendRequest(invitationID: invitation.id, requestKey: requestKey, card: mine).seal(to: card.encryptionKey.publicKey)
        let now = clock()
        try await db.writer.write { db in try self.enqueue(db, envelope: envelope, to: [card.identity.data], now: now) }
        return FriendAdded(friend: friend, myFingerprint: Fingerprint.of(identity: try identity()),
                           safetyNumber: try SafetyNumber.of(try identity(), card.identity), requestQueued: true)
    }

    private func added(_ friend: Friend, identity: [UInt8]) async throws -> FriendAdded {
        FriendAdded(friend: friend, myFingerprint: Fingerprint.of(identity: try self.identity()),
                    safetyNumber: try SafetyNumber.of(try self.identity(), identity), requestQueued: false)
    }

    /// Applies a friend request envelope: kept if it answers an invitation
    /// of mine (checked by its proof, which only whoever took the card can
    /// make) that no one else answered, at most
    /// `maxFriendRequests` at once; a request from the same identity for the
    /// same invitation again replaces its earlier one, one for another
    /// invitation is refused while the first waits.
    func receiveFriendRequest(_ envelope: Envelope, _ db: Database) throws -> Outcome {
        let atRest = try atRest
        let request = try FriendRequest.open(envelope, keys: try openingKeys(db))
        guard let row = try Row.fetchOne(db, sql: "SELECT answer_key, answered FROM friend_invitation WHERE id = ?",
                                         arguments: [request.invitationID.data]) else {
            return .reject("a friend request for no invitation of mine")
        }
        var key = try atRest.open(row[0], .invitationKey)
        guard request.isProven(by: SecretBytes(consuming: &key)) else { return .reject("a friend request whose proof does not match its invitation") }
        let identity = request.card.identity.data
        if (row[1] as Int64) != 0 {
            let same = try Bool.fetchOne(db, sql: "SELECT 1 FROM friend_request WHERE invitation = ? AND identity = ?",
                                         arguments: [request.invitationID.data, identity]) == true
            guard same else { return .reject("a second friend request for one invitation") }
        }
        guard request.card.identity != (try self.identity()) else { return .reject("a friend request with my own card") }
        // One request per identity: another invitation it answers stays unanswered (and is closed in time),
        // so the drop tokens of both cards stay revocable.
        if let earlier = try Data.fetchOne(db, sql: "SELECT invitation FROM friend_request WHERE identity = ?", arguments: [identity]),
           earlier != request.invitationID.data {
            return .reject("a friend request from someone whose request for another invitation waits")
        }
        let waiting = try Int.fetchOne(db, sql: "SELECT count(*) FROM friend_request WHERE identity != ?", arguments: [identity]) ?? 0
        guard waiting < Self.maxFriendRequests else {
            return .reject("dropped for lack of room: \(Self.maxFriendRequests) friend requests wait already")
        }
        // A request sent again replaces the card but keeps its first arrival, from which it is declined after 30 days.
        try db.execute(sql: """
            INSERT INTO friend_request (identity, invitation, card, received_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (identity) DO UPDATE SET card = excluded.card
            """, arguments: [identity, request.invitationID.data, try atRest.seal(request.card.text, .requestCard), Int64(clamping: clock())])
        try db.execute(sql: "UPDATE friend_invitation SET answered = 1 WHERE id = ?", arguments: [request.invitationID.data])
        return .done(newPosts: 0, newKeys: 0)
    }

    /// The friend requests waiting, oldest first.
    public func friendRequests() throws -> [PendingFriendRequest] {
        let atRest = try atRest, me = try identity()
        return try db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT identity, invitation, card, received_at FROM friend_request ORDER BY received_at, rowid").map { row in
                let card = try ContactCard(text: try atRest.text(row[2], .requestCard))
                return PendingFriendRequest(name: card.name, fingerprint: Fingerprint.of(identity: card.identity),
                                            safetyNumber: try SafetyNumber.of(me, card.identity), invitation: Self.shortID([UInt8](row[1] as Data)),
                                            receivedAt: Self.iso8601(UInt64(clamping: row[3] as Int64)))
            }
        }
    }

    /// The waiting request by its fingerprint (with or without spaces), or
    /// else by the name in its card: input shaped like a fingerprint is
    /// matched only as one, so a name that looks like someone's fingerprint
    /// cannot stand for them, not even once their request is gone. There
    /// are at most `maxFriendRequests`, so all are read.
    private func friendRequest(named name: String) throws -> (card: ContactCard, invitation: [UInt8]) {
        let atRest = try atRest
        let compact = name.filter { $0 != " " }.lowercased()
        let rows = try db.writer.read { db in try Row.fetchAll(db, sql: "SELECT card, invitation FROM friend_request") }
        let all = try rows.map { (card: try ContactCard(text: try atRest.text($0[0], .requestCard)), invitation: [UInt8]($0[1] as Data)) }
        if compact.count == 32, compact.allSatisfy(\.isHexDigit) {
            guard let match = all.first(where: { Fingerprint.of(identity: $0.card.identity).filter { $0 != " " } == compact }) else {
                throw NodeError("no friend request with the fingerprint \(name)", hint: "`kith friend requests` lists them")
            }
            return match
        }
        let byName = all.filter { $0.card.name == name }
        if byName.count == 1 { return byName[0] }
        if byName.count > 1 {
            throw NodeError("\(byName.count) friend requests are from someone named \"\(name)\"",
                            hint: "name the one you mean by its fingerprint, as `kith friend requests` shows it")
        }
        throw NodeError("no friend request from \"\(name)\"", hint: "`kith friend requests` lists them")
    }

    /// Accepts a friend request: its card becomes a friend (named `as`, by
    /// default the name in it), and the drop tokens of the invitation's card
    /// count as issued to them, so `removeFriend` revokes them.
    public func acceptFriendRequest(named name: String, as localName: String?, allowLocalRelays: Bool) async throws -> FriendAdded {
        let request = try friendRequest(named: name)
        if try friend(identity: request.card.identity) == nil {
            // A request never replaces a friend's identity: one that claims a friend's name is accepted under another.
            do { try await db.writer.read { db in try self.refuseDifferentIdentity(db, card: request.card, localName: localName) } } catch let error as NodeError {
                throw NodeError(error.description, hint: "if it is someone else, accept the request under another name with --as NAME")
            }
        }
        let friend = try await addFriend(try await checked(request.card, allowLocalRelays: allowLocalRelays), as: localName)
        let holder = try invitationHolder(request.invitation), keys = try requireKeys()
        try await db.writer.write { db in
            try db.execute(sql: "UPDATE issued_token SET issued_to = ? WHERE issued_to = ?", arguments: [keys.atRest.tag(friend.name, .holder), holder])
            try db.execute(sql: "DELETE FROM friend_request WHERE identity = ?", arguments: [request.card.identity.data])
        }
        return try await added(friend, identity: request.card.identity)
    }

    /// Declines a friend request: the drop tokens of the invitation's card
    /// are revoked, so the requester can send nothing more, then the request
    /// is forgotten. If a token cannot be revoked now, the request is kept,
    /// to decline again later.
    public func declineFriendRequest(named name: String) async throws -> FriendDecline {
        let request = try friendRequest(named: name)
        let (revoked, failures) = try await revokeTokens(issuedTo: try invitationHolder(request.invitation))
        if failures.isEmpty {
            try await db.writer.write { db in
                try db.execute(sql: "DELETE FROM friend_request WHERE identity = ?", arguments: [request.card.identity.data])
            }
        }
        return FriendDecline(revoked: revoked, failures: failures)
    }
}
