import Foundation
import KithProtocol

/// A relay's policy. The limits are documented in docs/PROTOCOL.md
/// ("Relay API", "Limits").
public struct RelayConfiguration: Sendable {
    /// Largest envelope accepted, in bytes.
    public var maxEnvelopeBytes: Int = Envelope.maxLength
    /// How long an unacknowledged envelope is kept, in seconds.
    public var ttlSeconds: UInt64 = 14 * 24 * 3600
    /// Most envelopes returned by one fetch.
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
    /// A connection with no request in progress (or whose request head is
    /// still incomplete) is closed after this long: longer than
    /// AsyncHTTPClient's 60-second pool idle time, so clients close first.
    public var idleTimeoutSeconds: Int64 = 90
    /// The relay's clock, in Unix seconds.
    public var clock: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970) }

    public init() {}

    /// Largest request body: an envelope plus the most targets a drop may name.
    var maxRequestBytes: Int { maxEnvelopeBytes + 16 + DropRequest.maxTargets * 64 }
}
