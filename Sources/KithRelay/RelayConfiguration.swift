import Foundation
import KithCrypto
import KithProtocol

/// A relay's policy. Every key of a config file's `relay` section is read
/// here (`init(file:)`), with its default; the fixed protective limits are
/// documented in docs/PROTOCOL.md ("Relay API", "Limits") and config/README.md.
public struct RelayConfiguration: Sendable {
    /// Who may register a mailbox (`relay.registration`, default `open`).
    public var registration: RegistrationPolicy = .open
    /// Most mailboxes the relay holds (`relay.max_mailboxes`, default 1,000);
    /// a registration beyond gets 507.
    public var maxMailboxes = 1000
    /// What one mailbox may hold (`relay.quota_bytes`, default 128 MiB, and
    /// `relay.quota_envelopes`, default 10,000), and apart from that the blobs
    /// it may reference (`relay.quota_blob_bytes`, default 512 MiB, and
    /// `relay.quota_blobs`, default 1,000); nil for no quota. A drop or blob
    /// upload that would take a mailbox over its own part of it gets 507.
    public var quota: MailboxQuota? = .standard
    /// Drops per drop token (`relay.drop_rate_per_token`, default 1 a
    /// second, and `relay.drop_burst_per_token`, default 200); nil for no limit.
    public var tokenRate: RateLimit? = .perTokenStandard
    /// Drops per client address (`relay.drop_rate_per_address`, default 20
    /// a second, and `relay.drop_burst_per_address`, default 2,000); nil for
    /// no limit. IPv6 clients are counted by their /64.
    public var addressRate: RateLimit? = .perAddressStandard
    /// Registrations per client address: 200 at once, then one a second
    /// (fixed; checking a registration's signature writes its nonce, kept
    /// five minutes, so this bounds the nonces one address can leave).
    public var registrationRate: RateLimit? = RateLimit(perSecond: 1, burst: 200)
    /// Most token buckets kept in memory for each of the two rate limits;
    /// beyond, idle buckets are forgotten first (see `TokenBuckets`).
    public var rateLimitEntries = 65_536
    /// The `Retry-After` of a drop refused because a mailbox is full, in seconds.
    public var mailboxFullRetryAfter: UInt64 = 600
    /// Largest envelope accepted, in bytes (`relay.max_envelope_bytes`, 1024
    /// to 1048576, default 1048576).
    public var maxEnvelopeBytes: Int = Envelope.maxLength
    /// How long an unacknowledged envelope is kept, in seconds
    /// (`relay.ttl_days`, 1 to 3650, default 30). Fixed for each envelope
    /// when it is accepted: a later change of the setting does not shorten it.
    public var ttlSeconds: UInt64 = UInt64(RelayConfiguration.defaultTTLDays) * 24 * 3600
    public static let defaultTTLDays = 30
    /// References (and then bodies) the collector deletes per transaction.
    public var collectionBatch = 1000
    /// Reverse proxies whose `X-Forwarded-For` names the client
    /// (`relay.trusted_proxies`, IP addresses, default none): the limits per
    /// client count that client, and the proxy's own connections are not
    /// limited per client.
    public var trustedProxies: Set<[UInt8]> = []
    /// The directory of the relay's database, whose file system's free space
    /// `DiskSpaceGuard` watches; nil (an in-memory store, or a PostgreSQL one,
    /// whose disk is its server's) watches nothing.
    public var storageDirectory: String?
    /// Drops, registrations and new tokens get 507 while the disk has less
    /// free than this (`relay.min_free_bytes`, default 256 MiB, at least 16 MiB):
    /// the rest is kept for owners to fetch and acknowledge.
    public var minFreeBytes: UInt64 = 256 << 20
    /// The bearer token that `GET /metrics` needs (`relay.metrics_token`);
    /// nil, the default, serves no metrics.
    public var metricsToken: String?
    /// Most envelopes returned by one fetch (`relay.fetch_limit`, 1 to 10000, default 500).
    public var fetchLimit: Int = 500
    /// Most bytes of envelopes in one fetch (but always one envelope, if any waits).
    public var fetchMaxBytes: Int = FetchedBatch.maxBytes
    /// A fetch reads and writes its envelopes in pages of about this many
    /// bytes: what a client that stops reading can hold in the relay's memory.
    public var fetchPageBytes: Int = 256 << 10
    /// Fetches in progress at once for one mailbox (the owner pipelines one
    /// fetch behind another), from one client address, and in all.
    public var maxFetchesPerMailbox = 2
    public var maxFetchesPerClient = 8
    public var maxFetches = 64
    /// Longest request target (path and query) accepted; longer ones get 414.
    public var maxRequestTargetBytes = 4096
    /// Largest header section accepted ("name: value\r\n" per field); larger ones get 431.
    public var maxHeaderBytes = 16 << 10
    /// A connection whose peer reads nothing of a waiting answer for this
    /// long is closed.
    public var writeTimeoutSeconds: Int64 = 30
    /// A request must be received whole and its answer begun within this
    /// many seconds of its first byte, or the connection is closed: a client
    /// that sends its headers or body a byte at a time holds a connection
    /// that long at most.
    public var requestTimeoutSeconds: Int64 = 30
    /// Connections open at once from one client address (an IPv6 client by
    /// its /64) and in all; a connection beyond gets 503 and is closed. The
    /// total also stays 64 below the process's open-file limit.
    public var maxConnectionsPerClient = 64
    public var maxConnections = 4096
    /// A connection with no request in progress (or whose request head is
    /// still incomplete) is closed after this long: longer than
    /// AsyncHTTPClient's 60-second pool idle time, so clients close first.
    public var idleTimeoutSeconds: Int64 = 90
    /// How long an owner's wait for mail (`GET .../wait`) is held open before
    /// 204 (`relay.wait_seconds`, 1 to 28, default 25: under the 30-second
    /// read timeout of Kith's client and of common proxies).
    public var waitSeconds = 25
    /// Waits held open at once for one mailbox (`relay.max_waiters_per_mailbox`,
    /// 1 to 64, default 4) and in all (`relay.max_waiters`, 1 to 1,000,000,
    /// default 4096); more get 429 with `Retry-After`.
    public var maxWaitersPerMailbox = 4
    public var maxWaiters = 4096
    /// Friend invitations one mailbox may hold at once, not yet taken nor
    /// expired (`relay.max_invitations_per_mailbox`, 1 to 1000, default 20);
    /// one more gets 403 `too_many_invitations`.
    public var maxInvitationsPerMailbox = 20
    /// The longest a friend invitation is kept before it expires, in seconds
    /// (`relay.max_invitation_days`, 1 to 30, default 7); a longer one asked
    /// for gets 400 `invitation_lifetime`.
    public var maxInvitationSeconds: UInt64 = 7 * 24 * 3600
    /// Takes of friend invitations per client address: 30 at once, then one
    /// every 10 seconds (fixed; the ids are 32 random-looking bytes, so this
    /// is not what stops guessing, but it bounds what one address costs).
    public var invitationTakeRate = RateLimit(perSecond: 0.1, burst: 30)
    /// Largest blob (an encrypted attachment) accepted, in bytes
    /// (`relay.max_blob_bytes`, 65,536 to 268,435,456, default 41,943,040:
    /// a 32 MiB file once padded and encrypted). A larger one gets 413.
    public var maxBlobBytes = 41_943_040
    /// Blob uploads in progress at once on the relay (`relay.max_blob_uploads`,
    /// 1 to 1,000, default 4): each holds its body in memory until it is
    /// stored, so this bounds that memory. One more gets 503 with `Retry-After`.
    public var maxBlobUploads = 4
    /// Blob uploads in progress at once from one client address (fixed); one more gets 429.
    public var maxBlobUploadsPerClient = 2
    /// Blob downloads in progress at once for one mailbox (fixed); one more
    /// gets 429. From one client address and in all, the numbers of fetches
    /// apply (`maxFetchesPerClient`, `maxFetches`), counted apart from them.
    public var maxBlobDownloadsPerMailbox = 4
    /// The relay's clock, in Unix seconds.
    public var clock: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970) }

    public init() {}

    /// Largest request body: an envelope plus the most targets a drop may name.
    var maxRequestBytes: Int { maxEnvelopeBytes + 16 + DropRequest.maxTargets * 64 }

    /// Largest blob upload body: a blob plus the most targets an upload may name.
    var maxBlobUploadBytes: Int { maxBlobBytes + 3 + DropRequest.maxTargets * 64 }
}

/// Who may register a mailbox on a relay.
public enum RegistrationPolicy: Sendable, Equatable {
    /// Anyone who can reach the relay.
    case open
    /// Only with a one-time code minted by `kith relay invite`.
    case invite
    /// Only these mailbox keys.
    case allowlist(Set<[UInt8]>)
}

/// The most one mailbox may hold: bytes of envelopes (each counted in full
/// in every mailbox that references it) and their number, and apart from
/// them bytes of blobs (each counted in full in every mailbox that
/// references it) and their number, so that blobs never make a mailbox
/// refuse envelopes.
public struct MailboxQuota: Sendable, Equatable {
    public var bytes: Int
    public var envelopes: Int
    public var blobBytes: Int
    public var blobs: Int
    public init(bytes: Int, envelopes: Int, blobBytes: Int = standardBlobBytes, blobs: Int = standardBlobs) {
        self.bytes = bytes; self.envelopes = envelopes; self.blobBytes = blobBytes; self.blobs = blobs
    }
    /// 128 MiB and 10,000 envelopes; 512 MiB and 1,000 blobs.
    public static let standard = MailboxQuota(bytes: 128 << 20, envelopes: 10_000)
    public static let standardBlobBytes = 512 << 20
    public static let standardBlobs = 1000
}

/// A token bucket's rate: `burst` drops at once, then `perSecond` a second.
public struct RateLimit: Sendable, Equatable {
    public var perSecond: Double
    public var burst: Int
    public init(perSecond: Double, burst: Int) { self.perSecond = perSecond; self.burst = burst }
    /// One drop a second per drop token, 200 at once.
    public static let perTokenStandard = RateLimit(perSecond: 1, burst: 200)
    /// Twenty drops a second per client address, 2,000 at once.
    public static let perAddressStandard = RateLimit(perSecond: 20, burst: 2000)
}

extension RelayConfiguration {
    /// The policy keys of a config file's `relay` section over the defaults.
    /// An impossible value is an error naming its key, so that a relay never
    /// starts with a policy its operator did not mean.
    public init(file: RelayFileConfiguration) throws(RelayFileConfiguration.ConfigError) {
        self.init()
        typealias Failure = RelayFileConfiguration.ConfigError
        func check(_ ok: Bool, _ message: @autoclosure () -> String) throws(Failure) {
            if !ok { throw Failure(message()) }
        }

        // relay.ttl_days: 1 to 3650, default 30.
        let ttl = file.ttlDays ?? Self.defaultTTLDays
        try check((1...3650).contains(ttl), "relay.ttl_days must be 1 to 3650, not \(ttl)")
        ttlSeconds = UInt64(ttl) * 24 * 3600

        // relay.max_envelope_bytes: 1024 to 1048576, default 1048576.
        maxEnvelopeBytes = file.maxEnvelopeBytes ?? maxEnvelopeBytes
        try check((1024...Envelope.maxLength).contains(maxEnvelopeBytes),
                  "relay.max_envelope_bytes must be 1024 to \(Envelope.maxLength), not \(maxEnvelopeBytes)")

        // relay.fetch_limit: 1 to 10000, default 500.
        fetchLimit = file.fetchLimit ?? fetchLimit
        try check((1...10_000).contains(fetchLimit), "relay.fetch_limit must be 1 to 10000, not \(fetchLimit)")

        // relay.registration: "open" (default), "invite" or "allowlist";
        // relay.allowed_mailboxes: the mailbox keys (base64url, 43
        // characters) allowed to register, only and always with "allowlist".
        let policy = file.registration ?? "open"
        switch policy {
        case "open", "invite":
            try check(file.allowedMailboxes == nil, "relay.allowed_mailboxes is only read with relay.registration \"allowlist\", not \"\(policy)\"")
            registration = policy == "open" ? .open : .invite
        case "allowlist":
            guard let list = file.allowedMailboxes, !list.isEmpty else {
                throw Failure("relay.registration \"allowlist\" needs relay.allowed_mailboxes, a list of mailbox keys")
            }
            var keys = Set<[UInt8]>()
            for (i, text) in list.enumerated() {
                guard text.utf8.count == 43, let key = Base64URL.decode(text), key.count == 32 else {
                    throw Failure("relay.allowed_mailboxes[\(i)] is not a mailbox key (43 characters of base64url)")
                }
                keys.insert(key)
            }
            registration = .allowlist(keys)
        default:
            throw Failure("relay.registration must be \"open\", \"invite\" or \"allowlist\", not \"\(String(policy.prefix(40)))\"")
        }

        // relay.max_mailboxes: at least 1, default 1000.
        maxMailboxes = file.maxMailboxes ?? maxMailboxes
        try check(maxMailboxes >= 1, "relay.max_mailboxes must be at least 1, not \(maxMailboxes)")

        // relay.quota_bytes: at least max_envelope_bytes (so that any envelope
        // the relay accepts fits an empty mailbox), default 134217728 (128 MiB);
        // relay.quota_envelopes: at least 1, default 10000.
        let quotaBytes = file.quotaBytes ?? MailboxQuota.standard.bytes
        try check(quotaBytes >= maxEnvelopeBytes, "relay.quota_bytes must be at least relay.max_envelope_bytes (\(maxEnvelopeBytes)), not \(quotaBytes)")
        let quotaEnvelopes = file.quotaEnvelopes ?? MailboxQuota.standard.envelopes
        try check(quotaEnvelopes >= 1, "relay.quota_envelopes must be at least 1, not \(quotaEnvelopes)")

        // relay.drop_rate_per_token (drops a second, default 1) and
        // relay.drop_burst_per_token (default 200); relay.drop_rate_per_address
        // (default 20) and relay.drop_burst_per_address (default 2000). Rates
        // are positive numbers up to 1,000,000 (0.1 is one drop every 10
        // seconds); bursts whole numbers from 1 to 1,000,000.
        func rate(_ key: String, _ value: Double?, _ burstKey: String, _ burst: Int?, default fallback: RateLimit) throws(Failure) -> RateLimit {
            let perSecond = value ?? fallback.perSecond
            try check(perSecond.isFinite && perSecond > 0 && perSecond <= 1_000_000, "relay.\(key) must be a number above 0 and at most 1000000, not \(perSecond)")
            let b = burst ?? fallback.burst
            try check((1...1_000_000).contains(b), "relay.\(burstKey) must be 1 to 1000000, not \(b)")
            return RateLimit(perSecond: perSecond, burst: b)
        }
        tokenRate = try rate("drop_rate_per_token", file.dropRatePerToken, "drop_burst_per_token", file.dropBurstPerToken,
                             default: .perTokenStandard)
        // relay.wait_seconds: 1 to 28, default 25; relay.max_waiters_per_mailbox:
        // 1 to 64, default 4; relay.max_waiters: 1 to 1000000, default 4096.
        waitSeconds = file.waitSeconds ?? waitSeconds
        try check((1...28).contains(waitSeconds), "relay.wait_seconds must be 1 to 28, not \(waitSeconds)")
        maxWaitersPerMailbox = file.maxWaitersPerMailbox ?? maxWaitersPerMailbox
        try check((1...64).contains(maxWaitersPerMailbox), "relay.max_waiters_per_mailbox must be 1 to 64, not \(maxWaitersPerMailbox)")
        maxWaiters = file.maxWaiters ?? maxWaiters
        try check((1...1_000_000).contains(maxWaiters), "relay.max_waiters must be 1 to 1000000, not \(maxWaiters)")

        addressRate = try rate("drop_rate_per_address", file.dropRatePerAddress, "drop_burst_per_address", file.dropBurstPerAddress,
                               default: .perAddressStandard)

        // relay.max_invitations_per_mailbox: 1 to 1000, default 20;
        // relay.max_invitation_days: 1 to 30, default 7.
        maxInvitationsPerMailbox = file.maxInvitationsPerMailbox ?? maxInvitationsPerMailbox
        try check((1...1000).contains(maxInvitationsPerMailbox),
                  "relay.max_invitations_per_mailbox must be 1 to 1000, not \(maxInvitationsPerMailbox)")
        if let days = file.maxInvitationDays {
            try check((1...30).contains(days), "relay.max_invitation_days must be 1 to 30, not \(days)")
            maxInvitationSeconds = UInt64(days) * 24 * 3600
        }

        // relay.max_blob_bytes: 65536 to 268435456, default 41943040;
        // relay.max_blob_uploads: 1 to 1000, default 4.
        maxBlobBytes = file.maxBlobBytes ?? maxBlobBytes
        try check((65_536...268_435_456).contains(maxBlobBytes), "relay.max_blob_bytes must be 65536 to 268435456, not \(maxBlobBytes)")
        maxBlobUploads = file.maxBlobUploads ?? maxBlobUploads
        try check((1...1000).contains(maxBlobUploads), "relay.max_blob_uploads must be 1 to 1000, not \(maxBlobUploads)")

        // relay.quota_blob_bytes: at least max_blob_bytes (so that any blob the
        // relay accepts fits an empty mailbox), default 536870912 (512 MiB);
        // relay.quota_blobs: 1 to 100000, default 1000 (an owner's listing holds them all).
        let quotaBlobBytes = file.quotaBlobBytes ?? MailboxQuota.standardBlobBytes
        try check(quotaBlobBytes >= maxBlobBytes, "relay.quota_blob_bytes must be at least relay.max_blob_bytes (\(maxBlobBytes)), not \(quotaBlobBytes)")
        let quotaBlobs = file.quotaBlobs ?? MailboxQuota.standardBlobs
        try check((1...100_000).contains(quotaBlobs), "relay.quota_blobs must be 1 to 100000, not \(quotaBlobs)")
        quota = MailboxQuota(bytes: quotaBytes, envelopes: quotaEnvelopes, blobBytes: quotaBlobBytes, blobs: quotaBlobs)

        // relay.trusted_proxies: IP addresses of reverse proxies, default none.
        for (i, text) in (file.trustedProxies ?? []).enumerated() {
            guard let address = ClientAddress.bytes(text) else { throw Failure("relay.trusted_proxies[\(i)] is not an IP address") }
            trustedProxies.insert(address)
        }

        // relay.min_free_bytes: at least 16 MiB, default 256 MiB.
        if let bytes = file.minFreeBytes {
            try check(bytes >= 16 << 20, "relay.min_free_bytes must be at least 16777216 (16 MiB), not \(bytes)")
            minFreeBytes = UInt64(bytes)
        }

        // relay.metrics_token: the secret a scraper sends to read GET /metrics,
        // 16 to 256 printable ASCII characters; none (the default) serves no metrics.
        if let token = file.metricsToken {
            try check((16...256).contains(token.utf8.count) && token.utf8.allSatisfy { (0x21...0x7e).contains($0) },
                      "relay.metrics_token must be 16 to 256 printable ASCII characters without spaces")
            metricsToken = token
        }
    }
}
