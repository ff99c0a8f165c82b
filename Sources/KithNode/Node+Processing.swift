import Foundation
import GRDB
import KithCrypto
import KithProtocol

extension Node {
    // MARK: Processing

    enum Outcome {
        /// Applied; counts what was new (a duplicate adds nothing).
        case done(newPosts: Int, newKeys: Int)
        case wait(String)
        case reject(String)
    }

    /// Audience keys opened during one transaction, by key id.
    typealias AudienceKeyCache = [[UInt8]: (key: AudienceKey, name: String)]

    /// Envelopes processed per write transaction.
    static let processingBatch = 256

    /// Processes pending envelopes until a pass makes no progress, so that a
    /// post fetched before its audience key is opened once the key is in.
    func processPending(_ report: inout SyncReport) async throws {
        var progress = true
        while progress {
            progress = false
            var cursor: Int64 = 0
            while true {
                // Each envelope's outcome is recorded in the transaction that applies it.
                let after = cursor
                let (outcomes, last) = try await db.writer.write { db -> ([Outcome], Int64?) in
                    let rows = try Row.fetchAll(db, sql: """
                        SELECT rowid, envelope_id, data FROM inbox WHERE state = 'pending' AND rowid > ? ORDER BY rowid LIMIT ?
                        """, arguments: [after, Self.processingBatch])
                    var keys: AudienceKeyCache = [:]
                    var outcomes: [Outcome] = []
                    for row in rows {
                        let id: Data = row[1]
                        let outcome = try self.process(envelopeID: [UInt8](id), bytes: [UInt8](row[2] as Data), db, keys: &keys)
                        switch outcome {
                        case .done:
                            try db.execute(sql: "UPDATE inbox SET state = 'done', detail = NULL, data = X'' WHERE envelope_id = ?", arguments: [id])
                        case .reject(let detail):
                            try db.execute(sql: "UPDATE inbox SET state = 'rejected', detail = ?, data = X'' WHERE envelope_id = ?", arguments: [detail, id])
                        case .wait(let detail):
                            try db.execute(sql: "UPDATE inbox SET detail = ? WHERE envelope_id = ?", arguments: [detail, id])
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
        report.waiting = try await db.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM inbox WHERE state = 'pending'") ?? 0 }
    }

    /// Opens one envelope and applies it. Runs inside the write transaction
    /// that records its outcome, so it is applied exactly once.
    func process(envelopeID: [UInt8], bytes: [UInt8], _ db: Database, keys cache: inout AudienceKeyCache) throws -> Outcome {
        let keys = try requireKeys()
        let envelope: Envelope
        do { envelope = try Envelope(bytes: bytes) } catch let error as ProtocolError { return .reject(error.description) }
        do {
            switch envelope.kind {
            case .keyMessage:
                let message = try KeyMessage.open(envelope, keys: keys.encryptionKeys.map(\.key), me: keys.identity.publicKey)
                let owner = message.audience.owner
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM friend WHERE identity = ?", arguments: [owner.data]) == true else {
                    return .wait("audience key from someone who is not a friend (yet)")
                }
                let sealed = try sealStored(message.audience.key, keyID: message.audience.keyID)
                try Self.storeAudienceKey(db, message.audience, name: message.audienceName, sealed: sealed, now: clock())
                return .done(newPosts: 0, newKeys: db.changesCount)
            case .post:
                let keyID = try Post.keyID(of: envelope)
                if cache[keyID] == nil { cache[keyID] = try audienceKey(keyID: keyID, db) }
                guard let (audience, name) = cache[keyID] else { return .wait("its audience key has not arrived") }
                let post = try Post.open(envelope, audience: audience)
                try Self.storePost(db, post, audienceOwner: audience.owner, audienceName: name, envelopeID: envelopeID, now: clock())
                return .done(newPosts: db.changesCount, newKeys: 0)
            }
        } catch let error as ProtocolError {
            return .reject(error.description)
        }
    }
}
