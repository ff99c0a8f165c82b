import Hummingbird
import NIOCore

/// The relay's per-request context: Hummingbird's core storage plus the
/// peer's address, which the fetch limits count requests by.
public struct RelayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connecting host's address without its port ("127.0.0.1"), or
    /// "unknown" for a channel without one (tests).
    public let clientAddress: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }
}
