import Synchronization

/// Tells the open `/events` streams that the feed changed: a friend's
/// post, comment or reaction was stored. Each stream keeps at most one
/// waiting notice (they all say the same), and at most `maxStreams` are
/// open at once.
public final class WebEvents: Sendable {
    public static let maxStreams = 16

    private struct State {
        var next = 0
        var streams: [Int: AsyncStream<Void>.Continuation] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// The feed changed.
    public func feedChanged() {
        state.withLock { state in for stream in state.streams.values { stream.yield() } }
    }

    /// A new stream of notices, or nil when too many are open.
    func subscribe() -> AsyncStream<Void>? {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id: Int? = state.withLock { state in
            guard state.streams.count < Self.maxStreams else { return nil }
            state.next += 1
            state.streams[state.next] = continuation
            return state.next
        }
        guard let id else { return nil }
        continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.streams.removeValue(forKey: id) } }
        return stream
    }
}
