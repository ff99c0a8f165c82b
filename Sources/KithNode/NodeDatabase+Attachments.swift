import GRDB

extension NodeDatabase {
    /// Attachments (Node+Attachments.swift):
    ///
    /// - `attachment`: one row per attachment of a post, comment or direct
    ///   message, by its item (`post_author`, `post_id`: the post; `writer`,
    ///   `item_id`: the post itself or the comment) and its place (1 to 10).
    ///   The descriptor's fields are kept as signed; the file's name, media
    ///   type and both keys are sealed at rest (`attachment.name`,
    ///   `attachment.media_type`, `attachment.blob_key`, `attachment.thumb_key`).
    ///   Blob ids stay in the clear: they name the files in `HOME/blobs/`,
    ///   which hold only ciphertext. `fetched` and `thumb_fetched` are 1 once
    ///   the blob is in `HOME/blobs/` and verified under this row's key
    ///   (another row may name the same blob id under another key: each
    ///   row's state is its own); `damaged` is the failure kind of a blob
    ///   that failed verification under this row's key (it is never shown);
    ///   `fetch_failures` counts the syncs that found it on none of my relays
    ///   (after `Node.maxFetchFailures` only `kith photo get` tries again).
    /// - `outbox.blob_id`: for a blob upload (`POST /v1/blobs`), the blob;
    ///   NULL for an envelope. Its `request` is the sealed upload header
    ///   (version, targets), its `part` below 0.
    /// - `outbox.blob_batch`: for a blob upload, the batch it belongs to;
    ///   for an envelope, the batch whose uploads to the same relay must
    ///   succeed before it is sent (NULL: none).
    static func createAttachmentTables(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE attachment (post_author BLOB NOT NULL, post_id BLOB NOT NULL, writer BLOB NOT NULL, item_id BLOB NOT NULL,
                position INTEGER NOT NULL, kind INTEGER NOT NULL, media_type BLOB NOT NULL, name BLOB NOT NULL, size INTEGER NOT NULL,
                width INTEGER NOT NULL, height INTEGER NOT NULL, blob_id BLOB NOT NULL, blob_key BLOB NOT NULL,
                thumb_id BLOB, thumb_key BLOB, thumb_size INTEGER, fetched INTEGER NOT NULL DEFAULT 0,
                thumb_fetched INTEGER NOT NULL DEFAULT 0, damaged TEXT, fetch_failures INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (post_author, post_id, writer, item_id, position));
            CREATE INDEX attachment_blob ON attachment(blob_id);
            CREATE INDEX attachment_thumb ON attachment(thumb_id) WHERE thumb_id IS NOT NULL;
            CREATE INDEX attachment_due ON attachment(fetched, thumb_fetched) WHERE damaged IS NULL;
            ALTER TABLE outbox ADD COLUMN blob_id BLOB;
            ALTER TABLE outbox ADD COLUMN blob_batch BLOB;
            CREATE INDEX outbox_batch ON outbox(blob_batch, relay) WHERE blob_batch IS NOT NULL;
            """)
    }

    /// `attachment_fetched`: the bytes of blobs fetched without being asked
    /// for (thumbnails, and attachments in the background setting) from each
    /// friend (the attachment's writer) on each day (days since 1970, UTC),
    /// for `AttachmentLimits.friendBytesPerDay`; days before yesterday are deleted.
    static func createAttachmentBudgetTable(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE attachment_fetched (friend BLOB NOT NULL, day INTEGER NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY (friend, day));
            """)
    }
}
