import Foundation
import KithProtocol

/// A relay's policy.
public struct RelayConfiguration: Sendable {
    /// Largest envelope accepted, in bytes.
    public var maxEnvelopeBytes: Int = Envelope.maxLength
    /// How long an unacknowledged envelope is kept, in seconds.
    public var ttlSeconds: UInt64 = 14 * 24 * 3600
    /// Most envelopes returned by one fetch.
    public var fetchLimit: Int = 500
    /// The relay's clock, in Unix seconds.
    public var clock: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970) }

    public init() {}

    /// Largest request body: an envelope plus the most targets a drop may name.
    var maxRequestBytes: Int { maxEnvelopeBytes + 16 + DropRequest.maxTargets * 64 }
}
