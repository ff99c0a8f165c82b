import GRDB

extension NodeDatabase {
    /// Direct messages and shared member lists (Node+Direct.swift, Node+Members.swift):
    ///
    /// - `post.direct`: 1 for a direct message (a post to a direct audience).
    /// - `audience_key.flags`: what the key message said of the audience
    ///   (`KeyMessage.Flags`: 1 direct, 2 sharing its member list); 0 for
    ///   keys from before, which said neither.
    /// - `audience.direct_friend`: for my direct audience with a friend, the
    ///   friend's identity (such an audience has no name tag: no command
    ///   finds it by name); kept when they stop being a friend, so the
    ///   conversation comes back if they are added again.
    /// - `audience.share_members`: whether members are sent the member list.
    ///   Audiences from before keep their members hidden: their owner never
    ///   chose to show them.
    /// - `audience.member_list_revision`: the revision of the last list sent.
    /// - `member_list`: the newest member list each owner sent me per
    ///   audience and epoch, as signed, sealed at rest (`member_list.list`).
    static func createDirectTables(_ db: Database) throws {
        try db.execute(sql: """
            ALTER TABLE post ADD COLUMN direct INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX post_direct ON post(author, audience) WHERE direct = 1;
            ALTER TABLE audience_key ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX audience_key_audience ON audience_key(owner, audience);
            ALTER TABLE audience ADD COLUMN direct_friend BLOB;
            CREATE UNIQUE INDEX audience_direct ON audience(direct_friend) WHERE direct_friend IS NOT NULL;
            ALTER TABLE audience ADD COLUMN share_members INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE audience ADD COLUMN member_list_revision INTEGER NOT NULL DEFAULT 0;
            CREATE TABLE member_list (owner BLOB NOT NULL, audience BLOB NOT NULL, epoch INTEGER NOT NULL, revision INTEGER NOT NULL,
                list BLOB NOT NULL, received_at INTEGER NOT NULL, PRIMARY KEY (owner, audience, epoch));
            """)
    }
}
