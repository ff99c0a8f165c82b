import GRDB

extension NodeDatabase {
    /// The tables of friend invitations (Node+Invitations.swift).
    ///
    /// - `friend_invitation`: the invitations I made, by id, with the key
    ///   that checks the friend request answering one (the request key of
    ///   its card, sealed at rest, `friend_invitation.answer_key`) and
    ///   whether one was answered.
    /// - `friend_request`: requests waiting for `kith friend accept` or
    ///   `decline`, one per requester's identity, with their card (sealed,
    ///   `friend_request.card`).
    static func createInvitationTables(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE friend_invitation (id BLOB PRIMARY KEY NOT NULL, answer_key BLOB NOT NULL, relay TEXT NOT NULL,
                created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, answered INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE friend_request (identity BLOB PRIMARY KEY NOT NULL, invitation BLOB NOT NULL, card BLOB NOT NULL,
                received_at INTEGER NOT NULL);
            """)
    }
}
