import Foundation

/// The `relay` section of a Kith config file (see config/relay.example.json).
/// Decoding is strict: an unknown key or a value of the wrong type is an
/// error naming it, never silently replaced by a default.
public struct RelayFileConfiguration: Decodable, Equatable, Sendable {
    /// The relay's directory (its database is `relay.sqlite` there).
    public var home: String?
    /// Where the relay keeps its mailboxes: `sqlite:PATH` or
    /// `postgres://USER@HOST:PORT/DB` (none: RDIR/relay.sqlite).
    public var store: String?
    /// A file holding the PostgreSQL store's password, readable only by its owner.
    public var storePasswordFile: String?
    /// `host:port` to listen on.
    public var listen: String?
    /// Days an unacknowledged envelope is kept.
    public var ttlDays: Int?
    /// Largest envelope accepted, in bytes.
    public var maxEnvelopeBytes: Int?
    /// Most envelopes one fetch returns.
    public var fetchLimit: Int?
    /// trace, debug, info, notice, warning, error or critical.
    public var logLevel: String?
    /// "open", "invite" or "allowlist".
    public var registration: String?
    /// With "allowlist": the mailbox keys that may register, in base64url.
    public var allowedMailboxes: [String]?
    /// Most mailboxes the relay holds.
    public var maxMailboxes: Int?
    /// Most bytes of envelopes one mailbox holds.
    public var quotaBytes: Int?
    /// Most envelopes one mailbox holds.
    public var quotaEnvelopes: Int?
    /// Drops a second, and at once, with one drop token.
    public var dropRatePerToken: Double?
    public var dropBurstPerToken: Int?
    /// Drops a second, and at once, from one client address.
    public var dropRatePerAddress: Double?
    public var dropBurstPerAddress: Int?
    /// The secret a scraper sends to read `GET /metrics`; none serves no metrics.
    public var metricsToken: String?
    /// Free disk space below which drops and registrations get 507.
    public var minFreeBytes: Int?
    /// IP addresses of reverse proxies whose X-Forwarded-For names the client.
    public var trustedProxies: [String]?
    /// Seconds an owner's wait for mail is held open before 204.
    public var waitSeconds: Int?
    /// Owners' waits held open at once for one mailbox, and in all.
    public var maxWaitersPerMailbox: Int?
    public var maxWaiters: Int?
    /// Friend invitations one mailbox may hold at once.
    public var maxInvitationsPerMailbox: Int?
    /// Days a friend invitation may be kept at most.
    public var maxInvitationDays: Int?
    /// Largest blob (encrypted attachment) accepted, in bytes.
    public var maxBlobBytes: Int?
    /// Blob uploads in progress at once on the relay.
    public var maxBlobUploads: Int?
    /// Most bytes of blobs one mailbox references.
    public var quotaBlobBytes: Int?
    /// Most blobs one mailbox references.
    public var quotaBlobs: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case home, listen, store
        case storePasswordFile = "store_password_file"
        case ttlDays = "ttl_days"
        case maxEnvelopeBytes = "max_envelope_bytes"
        case fetchLimit = "fetch_limit"
        case logLevel = "log_level"
        case registration
        case allowedMailboxes = "allowed_mailboxes"
        case maxMailboxes = "max_mailboxes"
        case quotaBytes = "quota_bytes"
        case quotaEnvelopes = "quota_envelopes"
        case dropRatePerToken = "drop_rate_per_token"
        case dropBurstPerToken = "drop_burst_per_token"
        case dropRatePerAddress = "drop_rate_per_address"
        case dropBurstPerAddress = "drop_burst_per_address"
        case metricsToken = "metrics_token"
        case minFreeBytes = "min_free_bytes"
        case trustedProxies = "trusted_proxies"
        case waitSeconds = "wait_seconds"
        case maxWaitersPerMailbox = "max_waiters_per_mailbox"
        case maxWaiters = "max_waiters"
        case maxInvitationsPerMailbox = "max_invitations_per_mailbox"
        case maxInvitationDays = "max_invitation_days"
        case maxBlobBytes = "max_blob_bytes"
        case maxBlobUploads = "max_blob_uploads"
        case quotaBlobBytes = "quota_blob_bytes"
        case quotaBlobs = "quota_blobs"
    }

    public init() {}

    /// Reads the `relay` section of the JSON file at `path`.
    public static func load(path: String) throws -> RelayFileConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigError("cannot read config file \(path)") }
        let root: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw ConfigError("\(path): the top level must be a JSON object") }
            root = object
        } catch let error as ConfigError { throw error } catch {
            throw ConfigError("\(path) is not valid JSON")
        }
        guard let relay = root["relay"] else { return RelayFileConfiguration() }
        guard let section = relay as? [String: Any] else { throw ConfigError("\(path): \"relay\" must be an object") }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = section.keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigError("\(path): unknown key relay.\(unknown)")
        }
        // Foundation's decoder reports a fraction given for a whole number
        // without naming the key; name it here.
        let wholeNumbers: [CodingKeys] = [.ttlDays, .maxEnvelopeBytes, .fetchLimit, .maxMailboxes, .quotaBytes, .quotaEnvelopes,
                                          .dropBurstPerToken, .dropBurstPerAddress, .minFreeBytes, .waitSeconds, .maxWaitersPerMailbox, .maxWaiters,
                                          .maxInvitationsPerMailbox, .maxInvitationDays, .maxBlobBytes, .maxBlobUploads,
                                          .quotaBlobBytes, .quotaBlobs]
        for key in wholeNumbers {
            if let n = section[key.rawValue] as? NSNumber, !(n is Bool), n.doubleValue.rounded() != n.doubleValue {
                throw ConfigError("\(path): relay.\(key.rawValue) must be a whole number")
            }
        }
        do {
            return try JSONDecoder().decode([String: RelayFileConfiguration].self, from: data)["relay"] ?? RelayFileConfiguration()
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ConfigError("\(path): \(key) has the wrong type")
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ConfigError("\(path): \(key) has the wrong type or is out of range")
        } catch {
            throw ConfigError("\(path): cannot read the relay section")
        }
    }

    public struct ConfigError: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }
}
