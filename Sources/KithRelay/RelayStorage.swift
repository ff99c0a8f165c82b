import KithProtocol

/// Where a relay keeps mailboxes, drop tokens, envelopes and the nonces of
/// signed requests. The routes (`RelayController`) and the collector use
/// only this, so that another engine can take the place of the embedded
/// SQLite store (`SQLiteRelayStore`) without touching them. Every
/// implementation must pass the contract suite in the relay's tests
/// (`RelayStorageContract`).
///
/// A write that returns has been made durable: an answer sent after it
/// survives a crash or a power cut.
public protocol RelayStorage: Sendable {
    /// Registers a mailbox under `policy`, consuming `invite` in the same
    /// transaction when the policy needs one. Returns false if the mailbox
    /// existed already (no check is made and no code is consumed then).
    /// Throws `RegistrationRefusal` with nothing stored.
    func register(mailbox: [UInt8], now: UInt64, policy: RegistrationPolicy, invite: RelayInvite?, maxMailboxes: Int) async throws -> Bool

    func mailboxExists(_ mailbox: [UInt8]) async throws -> Bool

    /// Records a nonce of a signed request. Returns false if it was used
    /// already (a replay).
    func useNonce(mailbox: [UInt8], nonce: [UInt8], expiresAt: UInt64) async throws -> Bool

    /// Allows drops into `mailbox` with the token whose hash this is.
    func addToken(hash: [UInt8], mailbox: [UInt8], now: UInt64) async throws

    /// Revokes a token. Returns false if the mailbox had no such token.
    func removeToken(hash: [UInt8], mailbox: [UInt8]) async throws -> Bool

    /// Stores the envelope once and references it from every target whose
    /// token is valid for its mailbox, all at once. Idempotent: a mailbox
    /// holds an envelope (by its id) at most once. A body is shared by the
    /// mailboxes of one drop (and by a later drop to a mailbox that holds
    /// it still), not looked up among all drops, so that no drop searches
    /// an index of everything the relay holds. With a quota,
    /// a target whose mailbox a new reference would take over it is left
    /// out and listed in the result's `full`; if that leaves no target,
    /// nothing is stored and it throws `MailboxFull`. Returns only once what
    /// it stored is durable; the quota holds however many drops run at the
    /// same time.
    func drop(_ request: DropRequest, now: UInt64, ttl: UInt64, quota: MailboxQuota?) async throws -> DropResult

    /// Which deliveries a fetch returns, without their bodies: up to `limit`
    /// envelopes waiting in `mailbox` after sequence number `after`, oldest
    /// first, no more than `maxBytes` of them (but always at least one, if
    /// any is waiting).
    func listBatch(mailbox: [UInt8], after: UInt64, limit: Int, maxBytes: Int) async throws -> BatchListing

    /// The bodies of these listed deliveries, in order. Throws
    /// `BatchListing.Vanished` if any was acknowledged or expired since it
    /// was listed, or changed size.
    func readPage(mailbox: [UInt8], _ page: ArraySlice<BatchListing.Entry>) async throws -> [[UInt8]]

    /// Removes the mailbox's references to these envelopes and every body no
    /// mailbox references any more. Returns how many references were removed.
    func acknowledge(mailbox: [UInt8], ids: [[UInt8]]) async throws -> Int

    /// Records a new invite code (only its hash) that can register one mailbox.
    func addInvite(_ invite: RelayInvite, now: UInt64) async throws

    /// Invite codes minted and not used yet.
    func unusedInvites() async throws -> Int

    /// A mailbox's envelopes and their bytes, as its quota counts them.
    func usage(of mailbox: [UInt8]) async throws -> (envelopes: Int, bytes: Int)?

    /// Counts for status output and tests.
    func counts() async throws -> RelayCounts

    /// Stores a friend invitation's sealed card under `id` for `mailbox`
    /// until `expiresAt`. Storing the same id for the same mailbox again
    /// changes nothing (a retried request). Throws `InvitationRefusal` with
    /// nothing stored: `tooMany` when the mailbox holds `maxLive`
    /// invitations that have not expired (its expired ones are deleted
    /// first), `idTaken` when another mailbox holds the id.
    func putInvitation(id: [UInt8], mailbox: [UInt8], sealed: [UInt8], now: UInt64, expiresAt: UInt64, maxLive: Int) async throws

    /// The sealed card stored under `id`, deleted in the same transaction:
    /// nil if there is none, it was taken already or it expired (the three
    /// cannot be told apart).
    func takeInvitation(id: [UInt8], now: UInt64) async throws -> [UInt8]?

    /// Stores a blob (an encrypted attachment) under its id, BLAKE2b-256 of
    /// its bytes, once: not again if a blob with that id is stored. It is
    /// referenced from each target whose token is valid and whose mailbox
    /// has room, each reference counting in its mailbox's blob quota
    /// (`MailboxQuota.blobs` and `blobBytes`, apart from its envelopes) as
    /// one blob of the blob's size and expiring `ttl` seconds from `now`, all in one
    /// transaction; a mailbox that references it already is accepted and
    /// counted once. Checked and answered like `drop`: a full mailbox is
    /// named in `full`, and `MailboxFull` is thrown, with nothing stored,
    /// when no target with a valid token has room. The result's id is the
    /// blob's id in hex.
    func storeBlob(_ blob: ArraySlice<UInt8>, for targets: [DropRequest.Target], now: UInt64, ttl: UInt64,
                   quota: MailboxQuota?) async throws -> DropResult

    /// Whether the token of any target is valid for its mailbox (nothing is
    /// counted or stored).
    func anyValidToken(_ targets: [DropRequest.Target]) async throws -> Bool

    /// The mailbox's blob references, oldest first, at most `limit` of them.
    func blobs(of mailbox: [UInt8], limit: Int) async throws -> [BlobListing]

    /// The blob's size, if `mailbox` holds a reference to it; nil otherwise.
    func blobSize(id: [UInt8], mailbox: [UInt8]) async throws -> Int?

    /// Up to `length` bytes of the blob from `offset`, reading no more than
    /// those. Throws `BlobVanished` if it is no longer stored.
    func readBlob(id: [UInt8], offset: Int, length: Int) async throws -> [UInt8]

    /// Removes the mailbox's reference to the blob, and the blob at once if
    /// no mailbox references it any more. Returns false if the mailbox held
    /// no reference to it.
    func releaseBlob(id: [UInt8], mailbox: [UInt8]) async throws -> Bool

    /// Deletes expired references (to envelopes and to blobs), the bodies
    /// and blobs no mailbox references any more, expired nonces and expired
    /// friend invitations, at most `batch` rows at a time so that drops and
    /// fetches are never held up long.
    func collect(now: UInt64, batch: Int) async throws -> CollectedGarbage

    /// Runs what the store needs in the background (a connection pool, a
    /// listener for other processes' drops) until the task is cancelled.
    /// The default waits until cancelled.
    func run() async throws

    /// Mailboxes that received mail through another relay process sharing
    /// this store, as they arrive (after the drop committed), for waking
    /// waiters (`GET /v1/mailboxes/{m}/wait`). nil (the default) for a store
    /// that only one process uses. The stream may yield a mailbox its own
    /// process dropped into too; waking a waiter twice is harmless.
    var arrivals: AsyncStream<[UInt8]>? { get }
}

extension RelayStorage {
    /// Waits until cancelled: an embedded store needs nothing in the background.
    public func run() async throws {
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(1_000_000_000)) } catch is CancellationError { return }
        }
    }

    /// None: only this process uses the store.
    public var arrivals: AsyncStream<[UInt8]>? { nil }

    /// Registers a mailbox, whoever asks and however many there are. Returns
    /// false if it existed already.
    public func register(mailbox: [UInt8], now: UInt64) async throws -> Bool {
        try await register(mailbox: mailbox, now: now, policy: .open, invite: nil, maxMailboxes: .max)
    }

    /// A drop with no quota.
    public func drop(_ request: DropRequest, now: UInt64, ttl: UInt64) async throws -> DropResult {
        try await drop(request, now: now, ttl: ttl, quota: nil)
    }

    public func collect(now: UInt64) async throws -> CollectedGarbage {
        try await collect(now: now, batch: 1000)
    }

    /// Collects, and returns how many bodies were deleted.
    @discardableResult
    public func collectGarbage(now: UInt64, batch: Int = 1000) async throws -> Int {
        try await collect(now: now, batch: batch).bodies
    }

    /// A whole batch read into memory: the relay's handler streams it
    /// instead (`listBatch`, `readPage`).
    public func fetch(mailbox: [UInt8], after: UInt64 = 0, limit: Int, maxBytes: Int = FetchedBatch.maxBytes) async throws -> FetchedBatch {
        let listing = try await listBatch(mailbox: mailbox, after: after, limit: limit, maxBytes: maxBytes)
        var items: [FetchedBatch.Item] = []
        for page in listing.pages(maxBytes: maxBytes) {
            for (entry, body) in zip(page, try await readPage(mailbox: mailbox, page)) {
                items.append(FetchedBatch.Item(sequence: entry.sequence, receivedAt: entry.receivedAt, envelope: body))
            }
        }
        return FetchedBatch(items: items, more: listing.more)
    }
}

/// The store cannot be reached now (its database is down or unreachable).
/// What the request asked is undone, or, when the connection was lost
/// during its commit, may have been done; either way it may be retried:
/// drops and acknowledgements are idempotent, and a signed request is
/// signed again with a fresh nonce. The routes answer 503 with a JSON error
/// `store_unavailable` and `Retry-After`. A failure after the answer's head
/// was sent (in the middle of a fetch's or a blob's body) cannot become a
/// 503: the client sees the connection cut.
public struct RelayStoreUnavailable: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A drop refused because the mailbox of every target with a valid token is
/// full; nothing of the drop was stored.
public struct MailboxFull: Error, Equatable {
    /// The index of the first target whose mailbox is full.
    public let target: Int

    public init(target: Int) { self.target = target }
}

/// Why a registration was refused; nothing was stored.
public enum RegistrationRefusal: Error, Equatable {
    /// The relay registers by invitation and the request carried no code.
    case inviteRequired
    /// No such invite code was minted on this relay.
    case inviteUnknown
    /// The code registered a mailbox already.
    case inviteUsed
    /// The relay registers only the mailboxes of its allow-list.
    case notAllowed
    /// The relay holds its most mailboxes.
    case relayFull
}

/// Why a friend invitation was not stored; nothing was.
public enum InvitationRefusal: Error, Equatable {
    /// The mailbox holds as many live invitations as the relay allows.
    case tooMany
    /// Another mailbox's invitation has this id.
    case idTaken
}

/// One of a mailbox's blob references, as an owner's listing shows it:
/// the blob's id in base64url, its size, and the reference's times.
public struct BlobListing: Codable, Equatable, Sendable {
    public let id: String
    public let size: Int
    public let receivedAt: UInt64
    public let expiresAt: UInt64

    public init(id: String, size: Int, receivedAt: UInt64, expiresAt: UInt64) {
        self.id = id; self.size = size; self.receivedAt = receivedAt; self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case id, size
        case receivedAt = "received_at"
        case expiresAt = "expires_at"
    }
}

/// What a relay holds, for status output and tests.
public struct RelayCounts: Sendable, Equatable {
    public let mailboxes: Int, bodies: Int, deliveries: Int, bodyBytes: Int
    /// Blobs stored (each once, however many mailboxes reference it) and their bytes.
    public let blobs: Int, blobBytes: Int

    public init(mailboxes: Int, bodies: Int, deliveries: Int, bodyBytes: Int, blobs: Int = 0, blobBytes: Int = 0) {
        self.mailboxes = mailboxes; self.bodies = bodies; self.deliveries = deliveries; self.bodyBytes = bodyBytes
        self.blobs = blobs; self.blobBytes = blobBytes
    }
}

/// What one collection deleted.
public struct CollectedGarbage: Sendable, Equatable {
    /// Mailbox references past their time to live.
    public var references = 0
    /// Bodies no mailbox referenced any more.
    public var bodies = 0
    /// Nonces of signed requests past their time.
    public var nonces = 0
    /// Friend invitations past their time, never taken.
    public var invitations = 0
    /// Blob references past their time to live.
    public var blobReferences = 0
    /// Blobs no mailbox referenced any more.
    public var blobs = 0

    public init(references: Int = 0, bodies: Int = 0, nonces: Int = 0, invitations: Int = 0, blobReferences: Int = 0, blobs: Int = 0) {
        self.references = references; self.bodies = bodies; self.nonces = nonces; self.invitations = invitations
        self.blobReferences = blobReferences; self.blobs = blobs
    }
}
