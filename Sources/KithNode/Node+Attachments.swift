import Foundation
import GRDB
import KithCrypto
import KithImage
import KithProtocol
import NIOCore

/// When friends' full attachments are fetched (thumbnails always come with the sync).
public enum AttachmentFetch: String, Codable, Sendable, CaseIterable {
    /// By each sync, after the thumbnails (the default).
    case background
    /// Only when asked for, by `kith photo get`.
    case onDemand = "on-demand"
}

/// Reports the progress of one upload or download of a blob: what it is
/// (e.g. "uploading photo 3f2a9c1e to https://relay"), bytes done, total.
public typealias TransferProgress = @Sendable (_ what: String, _ done: UInt64, _ total: UInt64) -> Void

/// A file to attach to a post, comment or direct message, as the command line gave it.
public struct AttachmentSource: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case photo, file }
    public let kind: Kind
    /// An absolute path (the daemon runs elsewhere than the command line).
    public let path: String

    public init(kind: Kind, path: String) { (self.kind, self.path) = (kind, path) }
}

/// What preparing one attachment did, for the command to tell.
public struct PreparedAttachment: Codable, Sendable, Equatable {
    public let kind: AttachmentSource.Kind
    /// The file's name, as sent.
    public let name: String
    /// For a photo, the metadata removed, human-readable (e.g. "EXIF (GPS, camera)", "XMP"); empty if none was found or it was kept.
    public let removedMetadata: [String]
    /// Whether a photo's metadata was kept (`--keep-metadata`).
    public let keptMetadata: Bool

    enum CodingKeys: String, CodingKey {
        case kind, name
        case removedMetadata = "removed_metadata"
        case keptMetadata = "kept_metadata"
    }
}

/// An attachment as the feed shows it. Its number (for `kith photo get`)
/// is its place in the list, from 1.
public struct FeedAttachment: Codable, Sendable, Equatable {
    /// "photo" or "file".
    public let kind: String
    /// The file's name as its sender gave it (may be empty).
    public let name: String
    public let mediaType: String
    /// Bytes of the file.
    public let size: UInt64
    /// As displayed, for a photo; 0 for a file.
    public let width: Int
    public let height: Int
    /// Whether the file is on this machine, verified.
    public let fetched: Bool
    /// Whether the thumbnail is on this machine, verified (false for a file, which has none).
    public let thumbnailFetched: Bool
    /// Why the attachment was refused ("decryption failure", "malformed"), or nil.
    public let damaged: String?

    enum CodingKeys: String, CodingKey {
        case kind, name, size, width, height, fetched, damaged
        case mediaType = "media_type"
        case thumbnailFetched = "thumbnail_fetched"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(name, forKey: .name)
        try c.encode(mediaType, forKey: .mediaType)
        try c.encode(size, forKey: .size)
        try c.encode(width, forKey: .width)
        try c.encode(height, forKey: .height)
        try c.encode(fetched, forKey: .fetched)
        try c.encode(thumbnailFetched, forKey: .thumbnailFetched)
        try c.encode(damaged, forKey: .damaged)
    }
}

/// Bounds on what friends' attachments may take without being asked for;
/// beyond them attachments stay on demand (`kith photo get` fetches them).
public struct AttachmentLimits: Sendable, Equatable {
    /// Blob bytes fetched automatically from one friend in a day (thumbnails count).
    public var friendBytesPerDay: UInt64 = 1 << 30
    /// No automatic fetching while the node's file system has less free.
    public var minFreeBytes: UInt64 = 1 << 30
    /// Attachment bytes (files and thumbnails) one writer's comments on one
    /// post may carry: the post's author passes each on to the audience's
    /// relays; a comment beyond it is refused.
    public static let commentBytesPerWriter: UInt64 = 100 << 20

    public init() {}
}

/// What `kith photo get` saved.
public struct SavedAttachment: Codable, Sendable, Equatable {
    public let path: String
    public let bytes: UInt64
}

extension Node {
    var blobs: BlobDirectory { BlobDirectory(home: home) }

    // MARK: Preparing

    /// Prepares attachments for sending: each photo through KithImage
    /// (metadata removed unless `keepMetadata`, turned the right way up, a
    /// thumbnail made), each encrypted under a fresh key into `HOME/blobs/`.
    /// Any failure (a photo KithImage cannot read, a file too large) removes
    /// what was written, so nothing is left of a refused post.
    func prepareAttachments(_ sources: [AttachmentSource], keepMetadata: Bool) throws -> (attachments: [Attachment], prepared: [PreparedAttachment]) {
        guard sources.count <= Attachment.maxCount else {
            throw NodeError("\(sources.count) attachments: at most \(Attachment.maxCount) go with one post, comment or message")
        }
        let blobs = self.blobs
        if !sources.isEmpty { try blobs.prepare() }
        var written: [[UInt8]] = []
        do {
            var attachments: [Attachment] = [], prepared: [PreparedAttachment] = []
            for (index, source) in sources.enumerated() {
                let (attachment, report) = try prepare(source, number: index + 1, keepMetadata: keepMetadata, into: blobs, written: &written)
                attachments.append(attachment)
                prepared.append(report)
            }
            return (attachments, prepared)
        } catch {
            for id in written { blobs.remove(id) }
            throw error
        }
    }

    private func prepare(_ source: AttachmentSource, number: Int, keepMetadata: Bool, into blobs: BlobDirectory,
                         written: inout [[UInt8]]) throws -> (Attachment, PreparedAttachment) {
        let name = (source.path as NSString).lastPathComponent
        let label = "\(source.kind.rawValue) \(number) (\(name))"
        var st = stat()
        guard stat(source.path, &st) == 0 else { throw NodeError("\(label): cannot read \(source.path): \(String(cString: strerror(errno)))") }
        guard st.st_mode & S_IFMT == S_IFREG else { throw NodeError("\(label): \(source.path) is not a file") }
        let size = UInt64(clamping: st.st_size)
        guard (1...Attachment.maxSize).contains(size) else {
            throw NodeError("\(label): a file of \(size) bytes cannot be sent: attachments are 1 byte to \(Attachment.maxSize) bytes (32 MiB)")
        }
        switch source.kind {
        case .photo:
            guard let data = FileManager.default.contents(atPath: source.path) else { throw NodeError("\(label): cannot read \(source.path)") }
            let photo: PreparedPhoto
            do { photo = try Photo.prepare([UInt8](data), keepMetadata: keepMetadata) } catch { throw NodeError("\(label): \(error)") }
            guard (1...Attachment.maxSize).contains(UInt64(photo.bytes.count)) else {
                throw NodeError("\(label): the prepared photo is larger than \(Attachment.maxSize) bytes")
            }
            guard let width = UInt16(exactly: photo.width), let height = UInt16(exactly: photo.height), width > 0, height > 0 else {
                throw NodeError("\(label): a photo of \(photo.width) x \(photo.height) pixels cannot be sent (at most 65,535 on a side)")
            }
            let ref = try storeBlob(photo.bytes)
            written.append(ref.id)
            let thumbRef = try storeBlob(photo.thumbnail.bytes)
            written.append(thumbRef.id)
            let attachment = try attachment(label: label) {
                try Attachment(kind: .photo, mediaType: photo.mediaType, name: name, blob: ref, width: width, height: height, thumbnail: thumbRef)
            }
            return (attachment, PreparedAttachment(kind: .photo, name: name, removedMetadata: keepMetadata ? [] : photo.removedMetadata,
                                                   keptMetadata: keepMetadata))
        case .file:
            let temporary = try blobs.temporary()
            let ref: BlobRef
            do { ref = try AttachmentCipher.encrypt(file: source.path, to: temporary, progress: nil) } catch {
                unlink(temporary)
                throw NodeError("\(label): \(error)")
            }
            try blobs.place(temporary, id: ref.id)
            written.append(ref.id)
            let attachment = try attachment(label: label) {
                try Attachment(kind: .file, mediaType: Self.mediaType(of: name), name: name, blob: ref, width: 0, height: 0, thumbnail: nil)
            }
            return (attachment, PreparedAttachment(kind: .file, name: name, removedMetadata: [], keptMetadata: false))
        }
    }

    /// Encrypts `plaintext` under a fresh key into `HOME/blobs/` and returns
    /// its reference (id, key, size), for `enqueueBlobs` to send.
    func storeBlob(_ plaintext: [UInt8]) throws -> BlobRef {
        let (ref, blob) = try AttachmentCipher.encrypt(plaintext)
        try blobs.store(blob, id: ref.id)
        return ref
    }

    /// Makes a descriptor, naming the attachment in what the protocol refuses (a file name it does not take).
    private func attachment(label: String, _ make: () throws -> Attachment) throws -> Attachment {
        do { return try make() } catch let error as ProtocolError {
            throw NodeError("\(label) cannot be sent: \(error.detail)", hint: "a file name is at most 128 bytes of printable text: rename the file")
        }
    }

    /// The media type a file's extension stands for; application/octet-stream for any other.
    static func mediaType(of name: String) -> String {
        switch (name as NSString).pathExtension.lowercased() {
        case "pdf": "application/pdf"
        case "txt": "text/plain"
        case "md": "text/markdown"
        case "csv": "text/csv"
        case "zip": "application/zip"
        case "jpg", "jpeg": "image/jpeg"
        case "png": "image/png"
        case "webp": "image/webp"
        case "gif": "image/gif"
        case "mp3": "audio/mpeg"
        case "mp4": "video/mp4"
        case "odt": "application/vnd.oasis.opendocument.text"
        case "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        default: "application/octet-stream"
        }
    }

    // MARK: Recording

    /// Records the attachments of a post or comment (`writer`, `itemID`;
    /// for a post the same as `postAuthor`, `postID`), their names, media
    /// types and keys sealed. My own attachments (their blobs written here
    /// by `prepareAttachments`) count as fetched; a friend's counts as
    /// fetched only once its blob verified under its own key (`fetchBlob`),
    /// even when a file of the same id is here already.
    func storeAttachments(_ db: Database, _ attachments: [Attachment], postAuthor: [UInt8], postID: [UInt8], writer: [UInt8], itemID: [UInt8]) throws {
        guard !attachments.isEmpty else { return }
        let atRest = try atRest, blobs = self.blobs
        let mine = try Data.fetchOne(db, sql: "SELECT value FROM profile WHERE key = 'identity'") == writer.data
        let insert = try db.cachedStatement(sql: """
            INSERT OR IGNORE INTO attachment (post_author, post_id, writer, item_id, position, kind, media_type, name, size, width, height,
                blob_id, blob_key, thumb_id, thumb_key, thumb_size, fetched, thumb_fetched)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for (index, a) in attachments.enumerated() {
            let thumb = a.thumbnail
            try insert.execute(arguments: [
                postAuthor.data, postID.data, writer.data, itemID.data, index + 1, Int64(a.kind.rawValue),
                try atRest.seal(a.mediaType, .attachmentMediaType), try atRest.seal(a.name, .attachmentName), Int64(clamping: a.blob.size),
                Int64(a.width), Int64(a.height), a.blob.id.data, try atRest.seal(a.blob.key, .attachmentKey),
                thumb?.id.data, try thumb.map { try atRest.seal($0.key, .thumbnailKey) }, thumb.map { Int64(clamping: $0.size) },
                mine && blobs.has(a.blob.id), mine && (thumb.map { blobs.has($0.id) } ?? false),
            ])
        }
    }

    /// The attachments of a post or comment, as the feed shows them.
    static func feedAttachments(_ db: Database, atRest: AtRest, postAuthor: [UInt8], postID: [UInt8], writer: [UInt8], itemID: [UInt8]) throws -> [FeedAttachment] {
        try Row.fetchAll(db, sql: """
            SELECT kind, media_type, name, size, width, height, fetched, thumb_fetched, damaged FROM attachment
            WHERE post_author = ? AND post_id = ? AND writer = ? AND item_id = ? ORDER BY position
            """, arguments: [postAuthor.data, postID.data, writer.data, itemID.data]).map { row in
            FeedAttachment(kind: (row[0] as Int64) == Int64(Attachment.Kind.photo.rawValue) ? "photo" : "file",
                           name: try atRest.text(row[2], .attachmentName), mediaType: try atRest.text(row[1], .attachmentMediaType),
                           size: UInt64(clamping: row[3] as Int64), width: row[4], height: row[5],
                           fetched: row[6], thumbnailFetched: row[7], damaged: row[8])
        }
    }

    // MARK: Queueing

    /// Queues one upload of each blob (a file in `HOME/blobs/`) per relay
    /// that hosts a mailbox of these friends, naming those mailboxes (at
    /// most 1,000 per upload), as part of `batch`. An envelope queued with
    /// `enqueue(_:envelope:to:now:after: batch)` waits, relay by relay,
    /// until that relay's uploads of the batch succeeded (or were refused
    /// for good). A blob whose file is not there yet (a friend's, still to
    /// be fetched) waits for it.
    func enqueueBlobs(_ db: Database, _ ids: [[UInt8]], batch: [UInt8], to friends: [Data], now: UInt64) throws {
        guard !ids.isEmpty else { return }
        let atRest = try atRest
        for (relay, targets) in try targetsByRelay(db, friends) {
            var part = min(0, try Int.fetchOne(db, sql: "SELECT min(part) FROM outbox WHERE envelope_id = ? AND relay = ?",
                                               arguments: [batch.data, relay]) ?? 0)
            for id in ids {
                for start in stride(from: 0, to: targets.count, by: DropRequest.maxTargets) {
                    part -= 1
                    let header = BlobUpload.header(targets: DropRequest.Targets(Array(targets[start..<min(start + DropRequest.maxTargets, targets.count)])))
                    try db.execute(sql: """
                        INSERT INTO outbox (envelope_id, relay, part, request, state, next_attempt_at, created_at, blob_id, blob_batch)
                        VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?)
                        """, arguments: [batch.data, relay, part, try atRest.seal(header, .request), Int64(now), Int64(now), id.data, batch.data])
                }
            }
        }
    }

    /// The blobs of these attachments: each file and its thumbnail.
    static func blobIDs(_ attachments: [Attachment]) -> [[UInt8]] {
        attachments.flatMap { [$0.blob.id] + ($0.thumbnail.map { [$0.id] } ?? []) }
    }

    /// The targets of an upload header (`BlobUpload`): version, count, count × (mailbox || token).
    static func uploadTargets(_ header: [UInt8]) throws -> [DropRequest.Target] {
        var r = ByteReader(header, what: "blob upload")
        guard try r.u8() == BlobUpload.version else { throw ProtocolError.malformed("blob upload: unknown version") }
        let count = Int(try r.u16())
        var targets: [DropRequest.Target] = []
        for _ in 0..<count { targets.append(.init(mailbox: try r.raw(32), token: try r.raw(32))) }
        return targets
    }

    // MARK: Fetching

    /// One attachment's blob (the file or its thumbnail) to fetch.
    struct BlobFetch: Sendable {
        let ref: BlobRef
        let thumbnail: Bool
        /// How to name it in progress lines.
        let label: String
        /// The attachment it is for (its rowid): what it verifies, or finds damaged, is this row's alone.
        let row: Int64
        /// Who sent it (the post's or comment's writer).
        let writer: [UInt8]
    }

    /// Blobs of friends' attachments to fetch: every thumbnail not here,
    /// and the files too when `full` (background fetching), or when they
    /// belong to a comment on my post that I pass on to its audience.
    /// Blobs that syncs found on none of my relays this many times are left
    /// to `kith photo get` (they may have expired, or never been uploaded).
    static let maxFetchFailures = 5

    func dueBlobs(full: Bool) async throws -> [BlobFetch] {
        let atRest = try atRest, me = try identity()
        return try await db.writer.read { db in
            var due: [BlobFetch] = []
            for row in try Row.fetchAll(db, sql: """
                SELECT thumb_id, thumb_key, thumb_size, NULL, rowid, writer FROM attachment
                WHERE thumb_fetched = 0 AND thumb_id IS NOT NULL AND damaged IS NULL AND fetch_failures < ?3
                UNION ALL
                SELECT blob_id, blob_key, size, name, rowid, writer FROM attachment
                WHERE fetched = 0 AND damaged IS NULL AND fetch_failures < ?3 AND (?1 OR (post_author = ?2 AND writer != ?2))
                """, arguments: [full, me.data, Self.maxFetchFailures]) {
                let id = [UInt8](row[0] as Data), thumbnail = (row[3] as Data?) == nil
                due.append(BlobFetch(ref: BlobRef(id: id, key: try atRest.open(row[1], thumbnail ? .thumbnailKey : .attachmentKey),
                                                  size: UInt64(clamping: row[2] as Int64)),
                                     thumbnail: thumbnail, label: thumbnail ? "thumbnail" : "attachment", row: row[4],
                                     writer: [UInt8](row[5] as Data)))
            }
            return due
        }
    }

    /// The time each relay of mine may spend sending blobs: its own share,
    /// so a relay that sends slowly uses up its own time and not the others'.
    struct RelayShares: Sendable {
        /// Each relay's time; nil: no limit.
        let share: TimeAmount?
        private var used: [String: TimeAmount] = [:]

        init(share: TimeAmount?) { self.share = share }

        /// When a request to `relay` must end; nil when its time is used up.
        func deadline(_ relay: String) -> NIODeadline? {
            guard let share else { return .distantFuture }
            let left = share - (used[relay] ?? .zero)
            return left > .zero ? .now() + left : nil
        }

        mutating func charge(_ relay: String, since start: NIODeadline) {
            used[relay, default: .zero] = (used[relay] ?? .zero) + (NIODeadline.now() - start)
        }
    }

    /// Fetches, by one sync, the thumbnails of friends' attachments and (in
    /// the background setting) the attachments themselves, each relay within
    /// `budget`'s time, each friend within `attachmentLimits`, and none while
    /// the disk is short of space: those are left to `kith photo get`. A blob
    /// none of my relays sent counts a fetch failure for its attachment.
    func fetchAttachments(_ report: inout SyncReport, budget: RelayBudget) async throws {
        let due = try await dueBlobs(full: attachmentFetch == .background)
        guard !due.isEmpty else { return }
        let day = Int64(clock() / 86_400), limits = attachmentLimits
        var shares = RelayShares(share: budget.time)
        var missing = Set<[UInt8]>(), overBudget = 0
        let relays = try await myRelays()
        for item in due where !missing.contains(item.ref.id) {
            guard relays.contains(where: { shares.deadline($0) != nil }) else { break }
            let bytes = AttachmentCipher.blobLength(size: item.ref.size)
            if !blobs.has(item.ref.id) {
                guard let free = blobs.freeBytes(), free >= limits.minFreeBytes, free - limits.minFreeBytes >= bytes else {
                    report.note("friends' attachments are left to kith photo get: less than \(limits.minFreeBytes >> 20) MiB is free for \(blobs.path)")
                    break
                }
                guard try await fetchedToday(from: item.writer, day: day) + bytes <= limits.friendBytesPerDay else {
                    overBudget += 1
                    continue
                }
            }
            do {
                if try await fetchBlob(item, shares: &shares) { try await chargeFetched(bytes, from: item.writer, day: day) }
            } catch let error as BlobNotFetched {
                report.note(error.description)
                missing.insert(item.ref.id)
                try await db.writer.write { db in
                    try db.execute(sql: "UPDATE attachment SET fetch_failures = fetch_failures + 1 WHERE rowid = ?", arguments: [item.row])
                }
            } catch let error as NodeError {
                report.note(error.description)
            }
        }
        if overBudget > 0 {
            report.note("\(overBudget) attachment\(overBudget == 1 ? " is" : "s are") left to kith photo get: their sender's attachments "
                        + "fetched today reached \(limits.friendBytesPerDay >> 20) MiB")
        }
    }

    private func fetchedToday(from friend: [UInt8], day: Int64) async throws -> UInt64 {
        try await db.writer.read { db in
            UInt64(clamping: try Int64.fetchOne(db, sql: "SELECT bytes FROM attachment_fetched WHERE friend = ? AND day = ?",
                                                arguments: [friend.data, day]) ?? 0)
        }
    }

    private func chargeFetched(_ bytes: UInt64, from friend: [UInt8], day: Int64) async throws {
        try await db.writer.write { db in
            try db.execute(sql: "DELETE FROM attachment_fetched WHERE day < ?", arguments: [day - 1])
            try db.execute(sql: """
                INSERT INTO attachment_fetched (friend, day, bytes) VALUES (?1, ?2, ?3)
                ON CONFLICT (friend, day) DO UPDATE SET bytes = bytes + ?3
                """, arguments: [friend.data, day, Int64(clamping: bytes)])
        }
    }

    /// A blob none of my relays sent whole, with the length and hash its id names.
    struct BlobNotFetched: Error, CustomStringConvertible {
        let description: String
    }

    /// Fetches one attachment's blob, if no file of its id is here, from the
    /// relays of my mailboxes: a relay that sends a blob of the wrong length
    /// or hash (not the blob the id names) has failed, and the next is
    /// tried. The blob is then verified under this attachment's key,
    /// without writing its plaintext: only then does this attachment count
    /// as fetched, and my references on my relays are deleted. A blob that
    /// is the one named but does not decrypt under this key makes this
    /// attachment damaged (thrown as an error), and no other.
    /// Returns whether the blob was downloaded (not here before).
    @discardableResult
    func fetchBlob(_ item: BlobFetch, shares: inout RelayShares) async throws -> Bool {
        let blobs = self.blobs, shown = "\(item.label) \(Hex.encode(item.ref.id).prefix(8))"
        let downloaded = !blobs.has(item.ref.id)
        if downloaded { try await download(item, shown: shown, shares: &shares) }
        do { try AttachmentCipher.verify(file: blobs.file(item.ref.id), ref: item.ref) } catch let error as ProtocolError {
            // Whether the file is the blob its id names is decided by its hash
            // alone: this row's size or key, a friend's word, cannot condemn it.
            let isBlob: Bool
            do { isBlob = try AttachmentCipher.isBlob(file: blobs.file(item.ref.id), id: item.ref.id) } catch {
                throw NodeError("\(shown) cannot be checked: \(error)")
            }
            if !isBlob {
                // Not the blob the id names (changed on this disk): gone, to be fetched again.
                blobs.remove(item.ref.id)
                try await db.writer.write { db in
                    try db.execute(sql: "UPDATE attachment SET fetched = 0 WHERE blob_id = ?1", arguments: [item.ref.id.data])
                    try db.execute(sql: "UPDATE attachment SET thumb_fetched = 0 WHERE thumb_id = ?1", arguments: [item.ref.id.data])
                }
                throw NodeError("\(shown): the stored copy is not the blob its id names; it will be fetched again")
            }
            try await markDamaged(item, kind: error.kind.rawValue)
            throw NodeError("\(shown) refused: \(error.kind.rawValue)")
        } catch {
            throw NodeError("\(shown) cannot be checked: \(error)")
        }
        try await db.writer.write { db in
            try db.execute(sql: "UPDATE attachment SET \(item.thumbnail ? "thumb_fetched" : "fetched") = 1 WHERE rowid = ?", arguments: [item.row])
        }
        // Here now: my relays' copies are no longer needed for me.
        if downloaded { await releaseBlob(item.ref.id) }
        return downloaded
    }

    func fetchBlob(_ item: BlobFetch) async throws {
        var shares = RelayShares(share: nil)
        try await fetchBlob(item, shares: &shares)
    }

    /// Downloads a blob into `HOME/blobs/` from the first relay of mine that
    /// sends it whole, with the length and hash its id names.
    func download(_ item: BlobFetch, shown: String, shares: inout RelayShares) async throws {
        let keys = try requireKeys(), blobs = self.blobs
        try blobs.prepare()
        let length = AttachmentCipher.blobLength(size: item.ref.size)
        var lastFailure: String?, outOfTime = false
        for relay in try await myRelays() {
            guard let mailboxKey = keys.mailboxKeys[relay] else { continue }
            guard let deadline = shares.deadline(relay) else { outOfTime = true; continue }
            let client = RelayClient(baseURL: relay, timeout: .seconds(600), deadline: deadline)
            let temporary = try blobs.temporary()
            let progress = transferProgress.map { report in { @Sendable (done: UInt64, total: UInt64) in report("downloading \(shown)", done, total) } }
            let start = NIODeadline.now()
            defer { shares.charge(relay, since: start) }
            do {
                try await client.fetchBlob(mailboxKey: mailboxKey, id: item.ref.id, length: length, to: temporary, progress: progress)
                try AttachmentCipher.checkHash(file: temporary, ref: item.ref)
            } catch let failure as RelayClient.Failure {
                lastFailure = "\(RelayClient.clean(relay)): \(failure.description)"
                continue
            } catch let error as ProtocolError {
                unlink(temporary)
                lastFailure = "\(RelayClient.clean(relay)) sent another blob than the one named (\(error.kind.rawValue): \(error.detail))"
                continue
            }
            try blobs.place(temporary, id: item.ref.id)
            return
        }
        // A relay this sync had no time left for may hold it: not a failure of the blob.
        if outOfTime { throw NodeError("\(shown) is left for the next sync: the relays that may hold it used up their time") }
        throw BlobNotFetched(description: "\(shown) could not be fetched: " + (lastFailure ?? "no relay of yours holds it"))
    }

    /// The relays of my mailboxes.
    private func myRelays() async throws -> [String] {
        try await db.writer.read { db in try String.fetchAll(db, sql: "SELECT relay FROM mailbox ORDER BY relay") }
    }

    /// Deletes my references to a blob on every relay of mine (those it was
    /// not sent to answer 404); failures are left to the relay's expiry.
    func releaseBlob(_ id: [UInt8]) async {
        guard let keys = try? requireKeys(), let relays = try? await myRelays() else { return }
        for relay in relays {
            guard let mailboxKey = keys.mailboxKeys[relay] else { continue }
            try? await RelayClient(baseURL: relay, timeout: .seconds(30)).deleteBlob(mailboxKey: mailboxKey, id: id)
        }
    }

    /// Releases, on each relay of mine, the blob references that no
    /// attachment of mine waits for (none names the blob, or those that do
    /// have it here or found it damaged), once `releaseAfter` old: an upload
    /// that arrives long before its post (its sender's other uploads held
    /// back by a full mailbox, or a laptop closed halfway) is not released.
    /// Relays that do not list blobs are left to their expiry.
    static let releaseAfter: UInt64 = 7 * 86_400
    static let maxReleasesPerSync = 100

    func releaseUnneededBlobs() async {
        let blobs = self.blobs
        guard let keys = try? requireKeys(), let relays = try? await myRelays(),
              let waiting = try? await db.writer.read({ db in
                  Set(try Data.fetchAll(db, sql: """
                      SELECT blob_id FROM attachment WHERE fetched = 0 AND damaged IS NULL
                      UNION SELECT thumb_id FROM attachment WHERE thumb_id IS NOT NULL AND thumb_fetched = 0 AND damaged IS NULL
                      """).map { [UInt8]($0) })
                  // Friends' avatars are fetched when asked for (`profile show --save-avatar`).
                  .union(try Data.fetchAll(db, sql: "SELECT avatar_id FROM friend_profile WHERE avatar_id IS NOT NULL")
                      .map { [UInt8]($0) }.filter { !blobs.has($0) })
              }) else { return }
        let now = clock(), before = now > Self.releaseAfter ? now - Self.releaseAfter : 0
        for relay in relays {
            guard let mailboxKey = keys.mailboxKeys[relay] else { continue }
            // One relay's listing and releases end within 30 seconds and 100 releases a
            // sync (the rest wait for the next), so a slow or hostile relay costs little.
            let client = RelayClient(baseURL: relay, timeout: .seconds(30), deadline: .now() + .seconds(30))
            guard let held = try? await client.listBlobs(mailboxKey: mailboxKey) else { continue }
            for blob in held.filter({ $0.receivedAt < before && !waiting.contains($0.id) }).prefix(Self.maxReleasesPerSync) {
                try? await client.deleteBlob(mailboxKey: mailboxKey, id: blob.id)
            }
        }
    }

    /// Records that an attachment's blob failed verification under its key:
    /// this attachment is damaged. The file goes unless another attachment
    /// verified it or a queued upload needs it; my references on my relays
    /// go unless another attachment still waits for that blob.
    func markDamaged(_ item: BlobFetch, kind: String) async throws {
        let id = item.ref.id.data
        let (keep, waiting) = try await db.writer.write { db in
            try db.execute(sql: "UPDATE attachment SET damaged = ?, \(item.thumbnail ? "thumb_fetched" : "fetched") = 0 WHERE rowid = ?",
                           arguments: [kind, item.row])
            let keep = try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM attachment WHERE blob_id = ?1 AND fetched = 1)
                    OR EXISTS (SELECT 1 FROM attachment WHERE thumb_id = ?1 AND thumb_fetched = 1)
                    OR EXISTS (SELECT 1 FROM outbox WHERE blob_id = ?1 AND state = 'queued')
                    OR EXISTS (SELECT 1 FROM my_profile WHERE avatar_id = ?1)
                    OR EXISTS (SELECT 1 FROM friend_profile WHERE avatar_id = ?1)
                """, arguments: [id]) ?? true
            let waiting = try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM attachment WHERE damaged IS NULL AND
                    ((blob_id = ?1 AND fetched = 0) OR (thumb_id = ?1 AND thumb_fetched = 0)))
                """, arguments: [id]) ?? true
            return (keep, waiting)
        }
        if !keep { blobs.remove(item.ref.id) }
        if !keep && !waiting { await releaseBlob(item.ref.id) }
    }

    // MARK: Saving

    /// Saves attachment `number` (from 1) of a post (or a comment, by its
    /// id) to `out`: fetched first if it is not here, verified, decrypted
    /// into a temporary file beside `out` and renamed over it only once every
    /// check passed. An existing `out` is refused unless `force`.
    public func saveAttachment(of id: String, number: Int, to out: String, force: Bool, thumbnail: Bool) async throws -> SavedAttachment {
        let atRest = try atRest
        guard number >= 1, number <= Attachment.maxCount else { throw NodeError("attachment numbers are 1 to \(Attachment.maxCount)") }
        if !force, FileManager.default.fileExists(atPath: out) {
            throw NodeError("\(out) exists", hint: "choose another --out, or pass --force to replace it")
        }
        let found = try await db.writer.read { db -> (count: Int, row: Row?) in
            let item = try self.attachmentOwner(id, db)
            let all = try Row.fetchAll(db, sql: """
                SELECT position, blob_id, blob_key, size, thumb_id, thumb_key, thumb_size, damaged, fetched, thumb_fetched, rowid, writer FROM attachment
                WHERE post_author = ? AND post_id = ? AND writer = ? AND item_id = ? ORDER BY position
                """, arguments: [item.owner.data, item.postID.data, item.writer.data, item.id.data])
            return (all.count, all.first { ($0[0] as Int) == number })
        }
        guard let row = found.row else {
            throw NodeError(found.count == 0 ? "\(id.prefix(32)) has no attachments" : "\(id.prefix(32)) has \(found.count) attachment\(found.count == 1 ? "" : "s"), not \(number)")
        }
        if let damaged = row[7] as String? { throw NodeError("attachment \(number) is damaged: \(damaged); it is not shown") }
        let ref: BlobRef
        if thumbnail {
            guard let thumbID = row[4] as Data?, let key = row[5] as Data?, let size = row[6] as Int64? else {
                throw NodeError("attachment \(number) has no thumbnail (only photos have one)")
            }
            ref = BlobRef(id: [UInt8](thumbID), key: try atRest.open(key, .thumbnailKey), size: UInt64(clamping: size))
        } else {
            ref = BlobRef(id: [UInt8](row[1] as Data), key: try atRest.open(row[2], .attachmentKey), size: UInt64(clamping: row[3] as Int64))
        }
        let label = thumbnail ? "thumbnail" : "attachment"
        let item = BlobFetch(ref: ref, thumbnail: thumbnail, label: label, row: row[10], writer: [UInt8](row[11] as Data))
        if !(row[thumbnail ? 9 : 8] as Bool) {
            do { try await fetchBlob(item) } catch let error as BlobNotFetched { throw NodeError(error.description) }
        }
        let directory = (out as NSString).deletingLastPathComponent
        let temporary = ((directory.isEmpty ? "." : directory) as NSString).appendingPathComponent(".\((out as NSString).lastPathComponent).kith-\(Hex.encode(randomBytes(6)))")
        let progress = transferProgress.map { report in { @Sendable (done: UInt64, total: UInt64) in report("decrypting \(label) \(number)", done, total) } }
        do { try AttachmentCipher.decrypt(file: blobs.file(ref.id), ref: ref, to: temporary, progress: progress) } catch {
            unlink(temporary)
            let kind = (error as? ProtocolError)?.kind.rawValue ?? ProtocolError.Kind.decryptionFailed.rawValue
            if error is ProtocolError {
                try await markDamaged(item, kind: kind)
                throw NodeError("\(label) \(number) refused: \(kind); nothing was written")
            }
            throw NodeError("cannot save \(label) \(number): \(error)")
        }
        if !force, FileManager.default.fileExists(atPath: out) {
            unlink(temporary)
            throw NodeError("\(out) exists", hint: "choose another --out, or pass --force to replace it")
        }
        guard rename(temporary, out) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw NodeError("cannot write \(out): \(reason)")
        }
        return SavedAttachment(path: out, bytes: ref.size)
    }

    /// The post or comment an id (a post's id or unique prefix, or a comment's whole id) names.
    func attachmentOwner(_ id: String, _ db: Database) throws -> ThreadItem {
        if id.utf8.count == Post.idLength * 2, let bytes = Hex.decode(id.lowercased()),
           let row = try Row.fetchOne(db, sql: "SELECT post_author, post_id, writer FROM comment WHERE id = ? LIMIT 1", arguments: [bytes.data]) {
            return ThreadItem(owner: [UInt8](row[0] as Data), audienceID: [], epoch: 0, postID: [UInt8](row[1] as Data),
                              writer: [UInt8](row[2] as Data), id: bytes)
        }
        let found = try post(prefix: id, db)
        guard let row = try Row.fetchOne(db, sql: "SELECT author, id FROM post WHERE rowid = ?", arguments: [found.rowid]) else {
            throw NodeError("no post \(id.prefix(32)) in your feed")
        }
        let author = [UInt8](row[0] as Data), postID = [UInt8](row[1] as Data)
        return ThreadItem(owner: author, audienceID: [], epoch: 0, postID: postID, writer: author, id: postID)
    }

    // MARK: Removing

    /// Removes the blobs in `HOME/blobs/` that no attachment and no queued
    /// upload needs any more (those of deleted posts, comments and messages):
    /// `ids` (those of a post just deleted or refused) at once, any other
    /// only when older than an hour, so a blob written for a post not yet
    /// recorded (being prepared, perhaps by another process) is not taken.
    func removeUnreferencedBlobs(_ ids: [[UInt8]] = []) async throws {
        let keep = try await db.writer.read { db in
            Set(try Data.fetchAll(db, sql: """
                SELECT blob_id FROM attachment UNION SELECT thumb_id FROM attachment WHERE thumb_id IS NOT NULL
                UNION SELECT blob_id FROM outbox WHERE blob_id IS NOT NULL AND state = 'queued'
                UNION SELECT avatar_id FROM my_profile WHERE avatar_id IS NOT NULL UNION SELECT avatar_id FROM friend_profile WHERE avatar_id IS NOT NULL
                """).map { Hex.encode([UInt8]($0)) })
        }
        for id in ids where !keep.contains(Hex.encode(id)) { blobs.remove(id) }
        blobs.sweep(keeping: keep)
    }

    /// The blobs of the attachments a post (with its comments') or a comment holds, by its id as `attachmentOwner` takes it.
    func attachmentBlobIDs(of id: String) async throws -> [[UInt8]] {
        try await db.writer.read { db in
            guard let item = try? self.attachmentOwner(id, db) else { return [] }
            let wholePost = item.writer == item.owner && item.id == item.postID
            return try Row.fetchAll(db, sql: """
                SELECT blob_id, thumb_id FROM attachment WHERE post_author = ? AND post_id = ? AND (? OR (writer = ? AND item_id = ?))
                """, arguments: [item.owner.data, item.postID.data, wholePost, item.writer.data, item.id.data]).flatMap { row in
                [[UInt8](row[0] as Data)] + ((row[1] as Data?).map { [[UInt8]($0)] } ?? [])
            }
        }
    }
}
