import Foundation
import GRDB

extension SQLiteRelayStore {
    /// Friend invitations: the sealed card of each, by id, with the mailbox
    /// that stored it and its expiry. A taken invitation is deleted, so a
    /// second take finds nothing, as for an unknown or expired one.
    static func createInvitationTable(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE friend_invitation (id BLOB PRIMARY KEY NOT NULL, mailbox BLOB NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
                sealed BLOB NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
            CREATE INDEX friend_invitation_mailbox ON friend_invitation(mailbox, expires_at);
            CREATE INDEX friend_invitation_expiry ON friend_invitation(expires_at);
            """)
    }

    public func putInvitation(id: [UInt8], mailbox: [UInt8], sealed: [UInt8], now: UInt64, expiresAt: UInt64, maxLive: Int) async throws {
        try await writer.write { db in
            if let owner = try Data.fetchOne(db, sql: "SELECT mailbox FROM friend_invitation WHERE id = ?", arguments: [Data(id)]) {
                guard owner == Data(mailbox) else { throw InvitationRefusal.idTaken }
                return
            }
            // The mailbox's expired ones go first, so short-lived ones cannot pile up between collections.
            try db.execute(sql: "DELETE FROM friend_invitation WHERE mailbox = ? AND expires_at <= ?", arguments: [Data(mailbox), Int64(clamping: now)])
            let live = try Int.fetchOne(db, sql: "SELECT count(*) FROM friend_invitation WHERE mailbox = ?", arguments: [Data(mailbox)]) ?? 0
            guard live < maxLive else { throw InvitationRefusal.tooMany }
            try db.execute(sql: "INSERT INTO friend_invitation (id, mailbox, sealed, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [Data(id), Data(mailbox), Data(sealed), Int64(clamping: now), Int64(clamping: expiresAt)])
        }
    }

    public func takeInvitation(id: [UInt8], now: UInt64) async throws -> [UInt8]? {
        try await writer.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT sealed, expires_at FROM friend_invitation WHERE id = ?", arguments: [Data(id)]) else {
                return nil
            }
            try db.execute(sql: "DELETE FROM friend_invitation WHERE id = ?", arguments: [Data(id)])
            guard (row[1] as Int64) > Int64(clamping: now) else { return nil }
            return [UInt8](row[0] as Data)
        }
    }

    /// Deletes expired invitations, `batch` at a time; returns how many.
    func collectInvitations(now: Int64, batch: Int) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await writer.write { db -> Int in
                try db.execute(sql: "DELETE FROM friend_invitation WHERE id IN (SELECT id FROM friend_invitation WHERE expires_at <= ? LIMIT ?)",
                               arguments: [now, batch])
                return db.changesCount
            }
            total += deleted
            if deleted < batch { return total }
        }
    }
}
