import GRDB

extension NodeDatabase {
    /// The tables of posts' threads (Node+Threads.swift). Texts and
    /// reactions are sealed at rest (`AtRest`: `comment.text`,
    /// `reaction.emoji`).
    ///
    /// - `comment`: comments on posts, by (writer, id), with their thread
    ///   (post author and id) and, for my own, the envelope that carries it.
    /// - `reaction`: one row per (post, writer), the newest revision; a
    ///   NULL emoji is a removed reaction, kept so an older one cannot return.
    /// - `item_change`: per post or comment, the newest edit's revision
    ///   (its text replaced the item's; `text` is NULL since v11) or
    ///   a delete (`deleted` 1, no text): a tombstone, kept so that the item
    ///   arriving later is never stored.
    /// - `audience_epoch_member`: who was sent the key of each epoch of my
    ///   audiences: a member's comment on a post is fanned out only if they
    ///   were in the post's epoch. Filled for the current epoch of existing
    ///   audiences; earlier epochs' members are not known.
    static func createConversationTables(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE comment (writer BLOB NOT NULL, id BLOB NOT NULL, post_author BLOB NOT NULL, post_id BLOB NOT NULL,
                text BLOB NOT NULL, created_at INTEGER NOT NULL, received_at INTEGER NOT NULL, envelope_id BLOB,
                PRIMARY KEY (writer, id));
            CREATE INDEX comment_thread ON comment(post_author, post_id, writer);
            CREATE INDEX comment_id ON comment(id);
            CREATE TABLE reaction (post_author BLOB NOT NULL, post_id BLOB NOT NULL, writer BLOB NOT NULL, revision INTEGER NOT NULL,
                emoji BLOB, created_at INTEGER NOT NULL, PRIMARY KEY (post_author, post_id, writer));
            CREATE TABLE item_change (writer BLOB NOT NULL, id BLOB NOT NULL, post_author BLOB NOT NULL, post_id BLOB NOT NULL,
                revision INTEGER NOT NULL, text BLOB, deleted INTEGER NOT NULL, changed_at INTEGER NOT NULL,
                PRIMARY KEY (writer, id, post_author, post_id));
            CREATE INDEX item_change_thread ON item_change(post_author, post_id, writer);
            CREATE INDEX item_change_id ON item_change(id);
            CREATE INDEX post_id ON post(id);
            CREATE TABLE audience_epoch_member (audience BLOB NOT NULL, epoch INTEGER NOT NULL, friend BLOB NOT NULL,
                PRIMARY KEY (audience, epoch, friend));
            INSERT INTO audience_epoch_member (audience, epoch, friend)
                SELECT m.audience, a.epoch, m.friend FROM audience_member m JOIN audience a ON a.id = m.audience;
            """)
    }

    /// `thread_envelope`: the envelopes I queued that carry a comment,
    /// reaction or edit (mine, or a member's that I fanned out), by the
    /// post or comment they are about, so that a delete of it can drop
    /// their queued deliveries. A row goes when the last delivery of its
    /// envelope leaves the outbox (delivered, refused, too old or dropped).
    static func createThreadEnvelopeTable(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE thread_envelope (post_author BLOB NOT NULL, post_id BLOB NOT NULL, writer BLOB NOT NULL, id BLOB NOT NULL,
                envelope_id BLOB NOT NULL, PRIMARY KEY (post_author, post_id, writer, id, envelope_id));
            CREATE INDEX thread_envelope_envelope ON thread_envelope(envelope_id);
            CREATE TRIGGER thread_envelope_sent AFTER DELETE ON outbox
                WHEN NOT EXISTS (SELECT 1 FROM outbox WHERE envelope_id = OLD.envelope_id)
                BEGIN DELETE FROM thread_envelope WHERE envelope_id = OLD.envelope_id; END;
            """)
    }
}
