import Foundation
import GRDB
import KithCrypto
import KithProtocol
import NIOCore

/// What `addRelay` or `removeRelay` did.
public struct RelayChange: Codable, Sendable, Equatable {
    /// The relay, as stored.
    public let relay: String
    /// Friends an inbox update is queued for.
    public let updatesQueuedFor: Int
    /// Friends who get no update (their encryption key is not valid now, or
    /// the relay's URL is too long for an update): they learn of the change
    /// from my next card.
    public let skipped: [String]
    /// Drop tokens revoked at a removed relay.
    public let revoked: Int
    /// What could not be done at the relay (a removed relay that is down), one line each.
    public let failures: [String]
}

extension Node {
    /// Friends' inbox changes kept per friend (the newest changes win); an
    /// older one beyond this is forgotten, so that a friend cannot grow my
    /// database with updates about ever new mailboxes.
    static let maxInboxChangesPerFriend = 64

    // MARK: Adding and removing my relays

    /// Registers a new mailbox on `url` and adds it to my inboxes: its key
    /// goes into the keystore (written first, so no mailbox row is ever
    /// without its key), every friend gets a drop token of their own for it
    /// (recorded for them, so that removing the friend revokes it) in an
    /// inbox update, and my next cards carry it.
    public func addRelay(_ url: String, invite: RelayInvite? = nil) async throws -> RelayChange {
        guard let unlocked else { throw NodeError("this operation needs the keystore unlocked") }
        let relay = try Validate.relayURL(url)
        let mine = try await db.writer.read { db in try String.fetchAll(db, sql: "SELECT relay FROM mailbox") }
        guard !mine.contains(relay) else { throw NodeError("\(relay) is one of your relays already") }
        guard mine.count < ContactCard.maxInboxes else {
            throw NodeError("you have \(ContactCard.maxInboxes) relays, as many as a card holds", hint: "remove one with `kith relay remove URL` first")
        }
        guard relay.utf8.count <= InboxUpdate.maxRelayBytes(.add) else {
            throw NodeError("the relay URL is longer than \(InboxUpdate.maxRelayBytes(.add)) bytes, the most an inbox update carries to friends")
        }
        // A key left by an interrupted `relay add` is used again (its mailbox may be registered already).
        let key = unlocked.keys.mailboxKeys[relay] ?? SigningKey()
        let client = RelayClient(baseURL: relay)
        do { try await client.register(mailboxKey: key, invite: invite) } catch let failure as RelayClient.Failure {
            throw NodeError("registering a mailbox failed: \(failure.description)", hint: failure.hint)
        }
        // Checked again under the node's lock, on the keystore as it is now: another `relay add` may have
        // kept a key for this relay meanwhile, and a mailbox key once kept is never replaced.
        try unlocked.rewrite { keys in
            switch keys.mailboxKeys[relay] {
            case nil: keys.mailboxKeys[relay] = key
            case let kept? where kept.publicKey == key.publicKey: break
            case _?: throw NodeError("another command is adding \(relay) at the same time", hint: "run `kith relay add` again once it has finished")
            }
        }
        let friends = try await db.writer.read { db in try self.friendCards(db) }
        var tokens: [[UInt8]: [UInt8]] = [:]
        for (_, card) in friends {
            let token = randomBytes(DropToken.length)
            do { try await client.addToken(token, mailboxKey: key) } catch let failure as RelayClient.Failure {
                throw NodeError("issuing a drop token failed: \(failure.description)", hint: "run the command again")
            }
            tokens[card.identity] = token
        }
        let identity = unlocked.keys.identity, atRest = unlocked.keys.atRest, now = clock(), issued = tokens
        return try await db.writer.write { db in
            try db.execute(sql: "INSERT INTO mailbox (relay, mailbox) VALUES (?, ?)", arguments: [relay, key.publicKey.data])
            let sequence = try Self.nextCardSequence(db)
            var sent = 0, skipped: [String] = []
            for (name, card) in try self.friendCards(db).sorted(by: { $0.name < $1.name }) {
                guard let token = issued[card.identity] else { skipped.append(name); continue }
                try db.execute(sql: "INSERT INTO issued_token (hash, relay, created_at, issued_to) VALUES (?, ?, ?, ?)",
                               arguments: [DropToken.hash(token).data, relay, Int64(now), atRest.tag(name, .holder)])
                guard let sealTo = try Self.sealingKey(db, of: card, now: now) else { skipped.append(name); continue }
                let update = InboxUpdate(sender: identity.publicKey, recipient: card.identity, sequence: sequence,
                                         adding: Inbox(relay: relay, mailbox: key.publicKey, dropToken: token))
                try self.enqueue(db, envelope: try update.seal(sender: identity, to: sealTo.publicKey), to: [card.identity.data], now: now)
                sent += 1
            }
            return RelayChange(relay: relay, updatesQueuedFor: sent, skipped: skipped, revoked: 0, failures: [])
        }
    }

    /// Stops using my mailbox on `url`: friends are told in an inbox update
    /// (sent to my other inboxes' friends' relays like any envelope), the
    /// drop tokens I issued there are revoked (if the relay answers), and
    /// the mailbox is forgotten, its key erased from the keystore. The last
    /// relay cannot be removed.
    public func removeRelay(_ url: String) async throws -> RelayChange {
        guard let unlocked else { throw NodeError("this operation needs the keystore unlocked") }
        let mine = try await db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT relay, mailbox FROM mailbox").map { (relay: $0[0] as String, mailbox: [UInt8]($0[1] as Data)) }
        }
        let normalized = (try? Validate.relayURL(url)) ?? url
        guard let relay = mine.first(where: { $0.relay == normalized || $0.relay == url }) else { throw NodeError("\(url) is not one of your relays", hint: "`kith key show` lists your mailboxes") }
        guard mine.count > 1 else { throw NodeError("\(relay.relay) is your only relay", hint: "add another with `kith relay add URL` first") }

        // Revoke what I issued there, while the key exists; a relay that is down is not tried again.
        var revoked = 0, failures: [String] = []
        if let key = unlocked.keys.mailboxKeys[relay.relay] {
            let hashes = try await db.writer.read { db in
                try Data.fetchAll(db, sql: "SELECT hash FROM issued_token WHERE relay = ?", arguments: [relay.relay]).map { [UInt8]($0) }
            }
            let client = RelayClient(baseURL: relay.relay, timeout: .seconds(10))
            for hash in hashes {
                do { try await client.removeToken(hash: hash, mailboxKey: key); revoked += 1 } catch let failure as RelayClient.Failure {
                    if failure.status == 404 { continue }
                    failures.append("\(hashes.count - revoked) drop tokens not revoked: \(failure.description)")
                    break
                }
            }
        }
        let identity = unlocked.keys.identity, now = clock(), revokedCount = revoked, problems = failures
        let fits = relay.relay.utf8.count <= InboxUpdate.maxRelayBytes(.remove)
        let change = try await db.writer.write { db in
            let sequence = try Self.nextCardSequence(db)
            var sent = 0, skipped: [String] = []
            for (name, card) in try self.friendCards(db).sorted(by: { $0.name < $1.name }) {
                guard fits, let sealTo = try Self.sealingKey(db, of: card, now: now) else { skipped.append(name); continue }
                let update = InboxUpdate(sender: identity.publicKey, recipient: card.identity, sequence: sequence, removingRelay: relay.relay, mailbox: relay.mailbox)
                try self.enqueue(db, envelope: try update.seal(sender: identity, to: sealTo.publicKey), to: [card.identity.data], now: now)
                sent += 1
            }
            try db.execute(sql: "DELETE FROM issued_token WHERE relay = ?", arguments: [relay.relay])
            try db.execute(sql: "DELETE FROM mailbox WHERE relay = ?", arguments: [relay.relay])
            return RelayChange(relay: relay.relay, updatesQueuedFor: sent, skipped: skipped, revoked: revokedCount, failures: problems)
        }
        try unlocked.rewrite { $0.mailboxKeys[relay.relay] = nil }
        return change
    }

    /// The next sequence number of my cards and inbox updates (one counter, so they are ordered together).
    static func nextCardSequence(_ db: Database) throws -> UInt64 {
        let next = (try profileNumber(db, "card_sequence") ?? 0) + 1
        try NodeDatabase.setProfile(db, "card_sequence", Data(String(next).utf8))
        return next
    }

    // MARK: Friends' inbox updates

    /// Applies a friend's inbox update (already opened and checked: its
    /// signature, and that it is for me). One from someone who is not a
    /// friend waits, like a key update. A change applies only if its
    /// sequence is above the friend's card's and above the last change I
    /// applied to the same inbox, so updates can arrive in any order; the
    /// change is kept, to be applied again over an older card that arrives
    /// later. An added relay on a local network is refused unless it is one
    /// of mine or local relays are allowed, as for a card.
    func apply(_ update: InboxUpdate, _ db: Database) throws -> Outcome {
        guard let cardSequence = try Int64.fetchOne(db, sql: "SELECT card_sequence FROM friend WHERE identity = ?", arguments: [update.sender.data]) else {
            return .wait(Waiting(reason: "an inbox update from someone who is not a friend (yet)", key: update.sender, kind: .keyMessage))
        }
        guard update.sequence > UInt64(clamping: cardSequence) else { return .done(newPosts: 0, newKeys: 0) }
        let friend = update.sender.data, mailbox = update.mailbox.data
        if let held = try Int64.fetchOne(db, sql: "SELECT sequence FROM friend_inbox_change WHERE friend = ? AND relay = ? AND mailbox = ?",
                                         arguments: [friend, update.relay, mailbox]), UInt64(clamping: held) >= update.sequence {
            return .done(newPosts: 0, newKeys: 0)
        }
        var token: Data? = nil
        if let inbox = update.inbox {
            if Validate.isLocalNetwork(relay: inbox.relay), !allowsLocalRelays,
               !(try String.fetchAll(db, sql: "SELECT relay FROM mailbox").contains(inbox.relay)) {
                return .reject("inbox update: names a relay on a local network that is not mine")
            }
            let inboxes = try Int.fetchOne(db, sql: "SELECT count(*) FROM friend_inbox WHERE friend = ?", arguments: [friend]) ?? 0
            guard inboxes < ContactCard.maxInboxes else { return .reject("inbox update: the friend has \(ContactCard.maxInboxes) inboxes already") }
            token = try atRest.seal(inbox.dropToken, .dropToken)
        }
        try db.execute(sql: """
            INSERT OR REPLACE INTO friend_inbox_change (friend, relay, mailbox, sequence, change, drop_token) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [friend, update.relay, mailbox, Int64(update.sequence), Int(update.change.rawValue), token])
        try db.execute(sql: """
            DELETE FROM friend_inbox_change WHERE friend = ? AND rowid NOT IN
                (SELECT rowid FROM friend_inbox_change WHERE friend = ? ORDER BY sequence DESC LIMIT ?)
            """, arguments: [friend, friend, Self.maxInboxChangesPerFriend])
        try Self.applyInboxChange(db, friend: friend, relay: update.relay, mailbox: mailbox, change: update.change, token: token)
        return .done(newPosts: 0, newKeys: 0)
    }

    /// An addition keeps a drop token I already hold for the inbox; a removal deletes the inbox.
    static func applyInboxChange(_ db: Database, friend: Data, relay: String, mailbox: Data, change: InboxUpdate.Change, token: Data?) throws {
        switch change {
        case .add:
            guard let token else { return }
            try db.execute(sql: "INSERT OR IGNORE INTO friend_inbox (friend, relay, mailbox, drop_token) VALUES (?, ?, ?, ?)",
                           arguments: [friend, relay, mailbox, token])
        case .remove:
            try db.execute(sql: "DELETE FROM friend_inbox WHERE friend = ? AND relay = ? AND mailbox = ?", arguments: [friend, relay, mailbox])
        }
    }

    /// After a card of `sequence` replaced a friend's inboxes: changes it
    /// supersedes are forgotten, newer ones applied again over it.
    static func reapplyInboxChanges(_ db: Database, friend: Data, cardSequence: UInt64) throws {
        try db.execute(sql: "DELETE FROM friend_inbox_change WHERE friend = ? AND sequence <= ?", arguments: [friend, Int64(clamping: cardSequence)])
        for row in try Row.fetchAll(db, sql: "SELECT relay, mailbox, change, drop_token FROM friend_inbox_change WHERE friend = ? ORDER BY sequence",
                                    arguments: [friend]) {
            guard let change = InboxUpdate.Change(rawValue: UInt8(clamping: row[2] as Int64)) else { continue }
            try applyInboxChange(db, friend: friend, relay: row[0], mailbox: row[1], change: change, token: row[3])
        }
    }
}
