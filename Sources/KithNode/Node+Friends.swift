import Foundation
import GRDB
import KithCrypto
import KithProtocol

/// A friend as listed by `kith friend list`.
public struct Friend: Codable, Sendable, Equatable {
    public let name: String
    public let fingerprint: String
    /// The display name the friend gave in their card.
    public let cardName: String
    public let relays: [String]
    /// Whether I marked this friend verified after comparing safety numbers
    /// (`kith friend verify NAME --confirm`).
    public let verified: Bool
    /// The name the friend's profile gives them, if they sent one: shown
    /// beside `name`, never instead of it.
    public let profileName: String?

    enum CodingKeys: String, CodingKey {
        case name, fingerprint, relays, verified
        case cardName = "card_name"
        case profileName = "profile_name"
    }
}

extension Node {
    /// My encryption key certificate, as stored at init.
    func encryptionCertificate() throws -> EncryptionKeyCertificate {
        guard let v = try db.profileValue("encryption_key") else { throw NodeError("node database has no encryption key") }
        var r = ByteReader([UInt8](v), what: "stored encryption key")
        return try EncryptionKeyCertificate.read(from: &r)
    }

    /// Issues my contact card: a fresh drop token per mailbox (its hash
    /// registered with the relay), signed with my identity key. `holder`
    /// names whom the card is for, so that `removeFriend` can revoke its
    /// tokens alone later.
    public func issueCard(for holder: String? = nil) async throws -> ContactCard {
        if let holder { try Validate.name(holder, what: "the name after --for") }
        return try await issueCard(holderTag: try holder.map { try atRest.tag($0, .holder) })
    }

    /// Issues my card for the holder whose tag (`AtRest.Field.holder`) this is, if any.
    func issueCard(holderTag: Data?) async throws -> ContactCard {
        let keys = try requireKeys()
        let name = try name()
        let cert = try encryptionCertificate()
        let mailboxes = try await db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT relay, mailbox FROM mailbox ORDER BY relay").map { (relay: $0[0] as String, mailbox: [UInt8]($0[1] as Data)) }
        }
        var inboxes: [Inbox] = []
        for m in mailboxes {
            guard let key = keys.mailboxKeys[m.relay] else { throw NodeError("the keystore has no key for the mailbox on \(m.relay)") }
            let token = randomBytes(DropToken.length)
            do { try await RelayClient(baseURL: m.relay).addToken(token, mailboxKey: key) } catch let failure as RelayClient.Failure {
                throw NodeError("issuing a drop token failed: \(failure.description)")
            }
            inboxes.append(Inbox(relay: m.relay, mailbox: m.mailbox, dropToken: token))
        }
        let now = clock()
        let hashes = inboxes.map { (Data(DropToken.hash($0.dropToken)), $0.relay) }
        let sequence = try await db.writer.write { db -> UInt64 in
            let current = try Data.fetchOne(db, sql: "SELECT value FROM profile WHERE key = 'card_sequence'").flatMap { UInt64(String(decoding: $0, as: UTF8.self)) } ?? 0
            try NodeDatabase.setProfile(db, "card_sequence", Data(String(current + 1).utf8))
            for (hash, relay) in hashes {
                try db.execute(sql: "INSERT INTO issued_token (hash, relay, created_at, issued_to) VALUES (?, ?, ?, ?)",
                               arguments: [hash, relay, now, holderTag])
            }
            return current + 1
        }
        return try ContactCard(identity: keys.identity, encryptionKey: cert, sequence: sequence, createdAt: now, name: name, inboxes: inboxes)
    }

    /// Verifies a card and adds (or, for a newer card, updates) the friend.
    /// `as` names the friend locally; by default the name in their card.
    /// A card whose relay is on a local network (loopback, private or
    /// link-local addresses, `localhost`) is refused unless that relay is one
    /// of mine or `allowLocalRelays` is set: a stranger's card must not point
    /// my node at machines of my own network.
    ///
    /// A card with a new identity is never taken for a friend I already
    /// know: if its name (or `as`) is a known friend's local name, or, without
    /// `as`, the name in a known friend's card, it is refused as a possible
    /// impostor; only `replaceFriend` replaces a friend's identity.
    @discardableResult
    public func addFriend(cardText: String, as localName: String? = nil, allowLocalRelays: Bool = false) async throws -> Friend {
        try await addFriend(try await checkedCard(cardText, allowLocalRelays: allowLocalRelays), as: localName)
    }

    /// Adds (or updates) the friend of a card that `checkedCard` passed.
    func addFriend(_ card: ContactCard, as localName: String?) async throws -> Friend {
        let name = localName ?? card.name
        try Validate.name(name, what: "friend name")
        let now = clock()
        let atRest = try atRest
        try await db.writer.write { db in
            let existing = try Row.fetchOne(db, sql: "SELECT name, card_sequence, card FROM friend WHERE identity = ?", arguments: [card.identity.data])
            if let existing {
                let known = try atRest.text(existing[0], .friendName), seq: Int64 = existing[1], stored = try atRest.text(existing[2], .card)
                // Only a higher sequence replaces a card; the same card again may only rename the friend.
                guard UInt64(clamping: seq) <= card.sequence else { throw NodeError("this card is older than the one you have for \(known)") }
                guard UInt64(clamping: seq) < card.sequence || stored == card.text else {
                    throw NodeError("this card differs from the one you have for \(known) but has the same sequence number")
                }
                let newName = localName ?? known
                try Self.refuseMyName(newName, db, atRest)
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM friend WHERE name_tag = ? AND identity != ?",
                                     arguments: [atRest.tag(newName, .friendName), card.identity.data]) == true {
                    throw NodeError("another friend is already named \"\(newName)\"", hint: "choose a name with --as NAME")
                }
                try db.execute(sql: "UPDATE friend SET name = ?, name_tag = ?, card = ?, card_sequence = ? WHERE identity = ?",
                               arguments: [try atRest.seal(newName, .friendName), atRest.tag(newName, .friendName), try atRest.seal(card.text, .card),
                                           Int64(card.sequence), card.identity.data])
            } else {
                try self.refuseDifferentIdentity(db, card: card, localName: localName)
                try self.insertFriend(db, card: card, name: name, now: now)
            }
            try Self.storeInboxes(db, of: card, atRest: atRest)
            // A new friend gets my current profile, if I have one.
            if existing == nil { try self.sendProfile(db, to: card, now: now) }
        }
        guard let friend = try friend(identity: card.identity) else { throw NodeError("the friend was not stored") }
        return friend
    }

    /// Finds a card in pasted text (`Pasted`: quoting, wrapping and words
    /// around it are passed over) and checks it before it may become a friend: its
    /// signatures, not my own, its encryption key valid now, and no relay on
    /// a local network unless that relay is mine or `allowLocalRelays`.
    func checkedCard(_ cardText: String, allowLocalRelays: Bool) async throws -> ContactCard {
        let card: ContactCard
        do { card = try Pasted.card(in: cardText) } catch { throw NodeError(error.message, hint: error.hint) }
        return try await checked(card, allowLocalRelays: allowLocalRelays)
    }

    /// `checkedCard` for a card in hand.
    func checked(_ card: ContactCard, allowLocalRelays: Bool) async throws -> ContactCard {
        guard card.identity != (try identity()) else { throw NodeError("that is your own card") }
        do { try card.checkValid(at: clock()) } catch {
            throw NodeError("the card's encryption key is not valid now (expired or not yet valid)", hint: "ask your friend for a new card")
        }
        if !allowLocalRelays {
            let mine = Set(try await db.writer.read { db in try String.fetchAll(db, sql: "SELECT relay FROM mailbox") })
            if let local = card.inboxes.first(where: { !mine.contains($0.relay) && Validate.isLocalNetwork(relay: $0.relay) }) {
                throw NodeError("the card names a relay on a local network that is not yours: \(local.relay)",
                                hint: "if you trust this card, set KITH_ALLOW_LOCAL_RELAYS=1 and add it again")
            }
        }
        return card
    }

    /// Stores a new friend: name and card sealed, the name's tag beside them.
    func insertFriend(_ db: Database, card: ContactCard, name: String, now: UInt64) throws {
        let atRest = try atRest
        try Self.refuseMyName(name, db, atRest)
        try db.execute(sql: "INSERT INTO friend (identity, name, name_tag, card, card_sequence, added_at) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [card.identity.data, try atRest.seal(name, .friendName), atRest.tag(name, .friendName),
                                   try atRest.seal(card.text, .card), Int64(card.sequence), Int64(now)])
    }

    /// A friend may not be named as I am, or `me` (the feed's name for me):
    /// the feed and chats would show them as me.
    static func refuseMyName(_ name: String, _ db: Database, _ atRest: AtRest) throws {
        let mine = try Data.fetchOne(db, sql: "SELECT value FROM profile WHERE key = 'name'").map { try atRest.text($0, .myName) }
        guard name != FeedQuery.me, name != mine else {
            throw NodeError("a friend cannot be named \"\(name)\": that is how Kith shows you", hint: "choose another name with --as NAME")
        }
    }

    /// The card's inboxes, where envelopes for this friend go, replace any older card's.
    static func storeInboxes(_ db: Database, of card: ContactCard, atRest: AtRest) throws {
        // The card's inboxes, where envelopes for this friend go, replace any older card's. A drop token
        // I already hold for the same mailbox is kept: every card carries the token issued to whoever got
        // that card, so a newer card passed on by someone else must not swap my token for theirs.
        let held = try Row.fetchAll(db, sql: "SELECT relay, mailbox, drop_token FROM friend_inbox WHERE friend = ?", arguments: [card.identity.data])
        var tokens: [String: Data] = [:]
        for row in held { tokens["\(row[0] as String) \(Hex.encode([UInt8](row[1] as Data)))"] = row[2] }
        try db.execute(sql: "DELETE FROM friend_inbox WHERE friend = ?", arguments: [card.identity.data])
        for inbox in card.inboxes {
            let token = try tokens["\(inbox.relay) \(Hex.encode(inbox.mailbox))"] ?? atRest.seal(inbox.dropToken, .dropToken)
            try db.execute(sql: "INSERT OR REPLACE INTO friend_inbox (friend, relay, mailbox, drop_token) VALUES (?, ?, ?, ?)",
                           arguments: [card.identity.data, inbox.relay, inbox.mailbox.data, token])
        }
        try reapplyInboxChanges(db, friend: card.identity.data, cardSequence: card.sequence)
    }

    /// My friends, by name.
    public func friends() throws -> [Friend] {
        let atRest = try atRest
        return try db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT identity, name, card, verified_at FROM friend").map { try Self.friend(row: $0, atRest, db) }
        }.sorted { $0.name < $1.name }
    }

    func friend(identity: [UInt8]) throws -> Friend? {
        let atRest = try atRest
        return try db.writer.read { db in
            try Row.fetchOne(db, sql: "SELECT identity, name, card, verified_at FROM friend WHERE identity = ?",
                             arguments: [identity.data]).map { try Self.friend(row: $0, atRest, db) }
        }
    }

    /// A friend from a row of `identity, name, card, verified_at`; with `db`,
    /// the relays are those I deliver to (the card's, and their inbox updates').
    static func friend(row: Row, _ atRest: AtRest, _ db: Database? = nil) throws -> Friend {
        let card = try ContactCard(text: try atRest.text(row[2], .card))
        let relays = try db.map { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT relay FROM friend_inbox WHERE friend = ? ORDER BY relay", arguments: [row[0] as Data])
        } ?? card.inboxes.map(\.relay)
        return Friend(name: try atRest.text(row[1], .friendName), fingerprint: Fingerprint.of(identity: [UInt8](row[0] as Data)), cardName: card.name,
                      relays: relays, verified: (row[3] as Int64?) != nil, profileName: try db.flatMap { try profileName($0, of: row[0], atRest) })
    }

    /// A friend's stored card, by local name.
    func card(ofFriendNamed name: String, _ db: Database) throws -> ContactCard {
        let atRest = try atRest
        guard let sealed = try Data.fetchOne(db, sql: "SELECT card FROM friend WHERE name_tag = ?", arguments: [atRest.tag(name, .friendName)]) else {
            throw NodeError("no friend named \"\(name)\"", hint: "`kith friend list` shows your friends")
        }
        return try ContactCard(text: try atRest.text(sealed, .card))
    }

    /// Every friend's local name and stored card.
    func friendCards(_ db: Database, where condition: String = "1", arguments: StatementArguments = []) throws -> [(name: String, card: ContactCard)] {
        let atRest = try atRest
        return try Row.fetchAll(db, sql: "SELECT name, card FROM friend WHERE \(condition)", arguments: arguments).map { row in
            (try atRest.text(row[0], .friendName), try ContactCard(text: try atRest.text(row[1], .card)))
        }
    }
}
