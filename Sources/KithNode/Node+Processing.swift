import Foundation
import GRDB
import KithCrypto
import KithProtocol

extension Node {
    // MARK: Processing

    enum Outcome {
        /// Applied; counts what was new (a duplicate adds nothing).
        case done(newPosts: Int, newKeys: Int)
        case wait(Waiting)
        case reject(String)
    }

    /// Why an envelope cannot be applied yet, and what it waits for: the key
    /// id of its audience key (a post) or its owner's identity (a key message
    /// from someone who is not a friend yet). It is only tried again once
    /// that key or friend is known, so junk that waits costs nothing per sync.
    struct Waiting {
        let reason: String
        let key: [UInt8]
        let kind: Envelope.Kind
    }

    /// Envelopes that may wait at once, per kind (posts waiting for their
    /// audience key; key messages waiting for their owner to become a
    /// friend), in all and for one key or owner. Kinds have their own room,
    /// so junk of one kind cannot crowd out the other. A post envelope is at
    /// most 65,598 bytes, so waiting envelopes take at most about 64 MiB of
    /// disk whatever friends send.
    static func maxPending(_ kind: Envelope.Kind) -> Int { kind == .post ? 1000 : 100 }
    static func maxPendingPerKey(_ kind: Envelope.Kind) -> Int { kind == .post ? 100 : 10 }
    /// Notes wait for a post or comment: `owner || post id` (48 bytes) or longer.
    static let noteWaitKeyLength = 48
    /// At most this many records of processed envelopes are kept (about 10 MB).
    static let maxSeen = 100_000
    /// An envelope that has waited this long (30 days) is dropped.
    static let pendingLifetime: UInt64 = 30 * 24 * 3600
    /// The ids of processed envelopes are kept this long (60 days, well past
    /// any relay's TTL) to drop redeliveries, then forgotten, so that the
    /// record of what others sent does not grow without end. A later copy of
    /// a post is still dropped by (author, post id), of a key by its key id.
    static let seenLifetime: UInt64 = 60 * 24 * 3600

    /// Audience keys opened during one transaction, by key id.
    typealias AudienceKeyCache = [[UInt8]: (key: AudienceKey, name: String)]

    /// Envelopes processed per write transaction.
    static let processingBatch = 256

    /// Why a newly fetched envelope may not wait, if the limits are reached.
    /// Such an envelope is not recorded as seen, so a later copy (from
    /// another relay, or sent again) can still be taken once there is room.
    ///
    /// Notes (whose wait key starts with the post's owner, who fans them
    /// out: `noteWaitKeyLength` bytes or more) have a room for each owner,
    /// so one friend's notes cannot crowd out another's.
    static func pendingRefusal(_ db: Database, _ waiting: Waiting) throws -> String? {
        let total: Int
        if waiting.key.count >= noteWaitKeyLength {
            total = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM inbox WHERE state = 'pending' AND length(wait_key) >= ? AND substr(wait_key, 1, 32) = ?
                """, arguments: [noteWaitKeyLength, Data(waiting.key.prefix(32))]) ?? 0
        } else {
            total = try Int.fetchOne(db, sql: "SELECT count(*) FROM inbox WHERE state = 'pending' AND length(wait_key) = ?",
                                     arguments: [waiting.key.count]) ?? 0
        }
        let limit = maxPending(waiting.kind), perKey = maxPendingPerKey(waiting.kind)
        if total >= limit {
            return waiting.key.count >= noteWaitKeyLength
                ? "dropped for lack of room: \(limit) notes of the same friend's threads wait already (\(waiting.reason))"
                : "dropped for lack of room: \(limit) envelopes like it wait already (\(waiting.reason))"
        }
        let same = try Int.fetchOne(db, sql: "SELECT count(*) FROM inbox WHERE state = 'pending' AND wait_key = ?", arguments: [waiting.key.data]) ?? 0
        if same >= perKey { return "dropped for lack of room: \(perKey) envelopes wait for the same key or sender already" }
        return nil
    }

    /// Drops envelopes that have waited longer than `pendingLifetime`, then
    /// processes those whose key or sender has become known, until a pass
    /// makes no progress (a key that arrives can open posts that waited for it).
    func processPending(_ report: inout SyncReport) async throws {
        let now = Int64(clamping: clock())
        report.expired += try await db.writer.write { db in
            try db.execute(sql: """
                UPDATE inbox SET state = 'expired', data = X'', detail = 'waited 30 days: ' || coalesce(detail, '')
                WHERE state = 'pending' AND received_at < ?
                """, arguments: [now - Int64(Self.pendingLifetime)])
            let expired = db.changesCount
            try db.execute(sql: "DELETE FROM inbox WHERE state != 'pending' AND received_at < ?", arguments: [now - Int64(Self.seenLifetime)])
            // And at most `maxSeen` of them, the oldest forgotten first.
            let seen = try Int.fetchOne(db, sql: "SELECT count(*) FROM inbox WHERE state != 'pending'") ?? 0
            if seen > Self.maxSeen {
                try db.execute(sql: """
                    DELETE FROM inbox WHERE rowid IN (SELECT rowid FROM inbox WHERE state != 'pending' ORDER BY rowid LIMIT ?)
                    """, arguments: [seen - Self.maxSeen])
            }
            return expired
        }
        var progress = true
        while progress {
            progress = false
            var cursor: Int64 = 0
            while true {
                // Each envelope's outcome is recorded in the transaction that applies it.
                let after = cursor
                let (outcomes, last) = try await db.writer.write { db -> ([Outcome], Int64?) in
                    let rows = try Row.fetchAll(db, sql: """
                        SELECT rowid, envelope_id, data FROM inbox WHERE state = 'pending' AND rowid > ?
                        AND (wait_key IS NULL OR wait_key IN (SELECT key_id FROM audience_key) OR wait_key IN (SELECT identity FROM friend)
                             OR \(Self.threadItemArrived("wait_key")))
                        ORDER BY rowid LIMIT ?
                        """, arguments: [after, Self.processingBatch])
                    var keys: AudienceKeyCache = [:]
                    var outcomes: [Outcome] = []
                    for row in rows {
                        let id: Data = row[1]
                        let outcome = try self.process(envelopeID: [UInt8](id), bytes: [UInt8](row[2] as Data), db, keys: &keys)
                        switch outcome {
                        case .done:
                            try db.execute(sql: "UPDATE inbox SET state = 'done', detail = NULL, data = X'', wait_key = NULL WHERE envelope_id = ?", arguments: [id])
                        case .reject(let detail):
                            try db.execute(sql: "UPDATE inbox SET state = 'rejected', detail = ?, data = X'', wait_key = NULL WHERE envelope_id = ?", arguments: [detail, id])
                        case .wait(let waiting):
                            try db.execute(sql: "UPDATE inbox SET detail = ?, wait_key = ? WHERE envelope_id = ?", arguments: [waiting.reason, waiting.key.data, id])
                        }
                        outcomes.append(outcome)
                    }
                    return (outcomes, rows.last?[0])
                }
                for outcome in outcomes {
                    report.count(outcome)
                    if case .wait = outcome {} else { progress = true }
                }
                guard let last else { break }
                cursor = last
            }
        }
        let waiting = try await db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT detail, count(*) FROM inbox WHERE state = 'pending' GROUP BY detail ORDER BY detail")
                .map { (reason: ($0[0] as String?) ?? "not processed yet", count: $0[1] as Int) }
        }
        report.waiting = waiting.reduce(0) { $0 + $1.count }
        try wipeFreedContentIfPending()
        report.waitingReasons = waiting.map { "\($0.count) waiting: \($0.reason)" }
    }

    /// Opens one envelope and applies it. Runs inside the write transaction
    /// that records its outcome, so it is applied exactly once. `opened` is
    /// what `openAhead` made of it, used once its key is found here.
    func process(envelopeID: [UInt8], bytes: [UInt8], _ db: Database, keys cache: inout AudienceKeyCache,
                 opened: Result<AudienceMessage, ProtocolError>? = nil) throws -> Outcome {
        let keys = try requireKeys()
        let envelope: Envelope
        do { envelope = try Envelope(bytes: bytes) } catch let error as ProtocolError { return .reject(error.description) }
        do {
            switch envelope.kind {
            case .keyMessage:
                let message: KeyMessage
                switch try KeyChannel.open(envelope, keys: try openingKeys(db), me: keys.identity.publicKey) {
                case .keyMessage(let opened): message = opened
                case .keyUpdate(let update): return try apply(update, db)
                case .inboxUpdate(let update): return try apply(update, db)
                }
                return try receive(message, db)
            case .post:
                let keyID = try Post.keyID(of: envelope)
                if cache[keyID] == nil { cache[keyID] = try audienceKey(keyID: keyID, db) }
                guard let (audience, name) = cache[keyID] else { return .wait(Waiting(reason: "a post whose audience key has not arrived", key: keyID, kind: .post)) }
                switch try opened?.get() ?? AudienceMessage.open(envelope, audience: audience, now: clock()) {
                case .post(let post):
                    if try Self.isDeletedPost(db, author: post.author, id: post.id) { return .done(newPosts: 0, newKeys: 0) }
                    let new = try storePost(db, post, audienceOwner: audience.owner, audienceName: name,
                                            direct: try Self.keyFlags(db, keyID: keyID).contains(.direct), envelopeID: envelopeID, now: clock())
                    return .done(newPosts: new, newKeys: 0)
                case .note(let note): return try receive(note, audience: audience, db, now: clock())
                case .fanOut(let note): return try receiveFanOut(note, db, now: clock())
                case .memberList(let list): return try receive(list, keyID: keyID, db, now: clock())
                }
            case .friendRequest:
                return try receiveFriendRequest(envelope, db)
            case .profile:
                return try receive(try Profile.open(envelope, keys: try openingKeys(db), me: keys.identity.publicKey, now: clock()), db)
            }
        } catch let error as ProtocolError {
            return .reject(error.description)
        }
    }
}
