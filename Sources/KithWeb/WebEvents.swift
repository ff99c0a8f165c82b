import Synchronization

/// Tells the open `/events` streams that the feed changed: a friend's
/// post, comment or reaction was stored. Each stream keeps at most one
/// waiting notice (they all say the same), and at most `maxStreams` are
/// open at once.
///
/// A page says which change it shows (`mark`, read before the page reads
/// the node) when it opens its stream, and a stream that reconnects says
/// which change its last notice told of: a change made while nobody
/// listened would otherwise go unnoticed until the next one, as its notice
/// went out to no one.
public final class WebEvents: Sendable {
    public static let maxStreams = 16

    private struct State {
        var changes = 0
        var next = 0
        var streams: [Int: AsyncStream<Void>.Continuation] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// The feed changed.
    public func feedChanged() {
        state.withLock { state in
            state.changes += 1
            for stream in state.streams.values { stream.yield() }
        }
    }

    /// How many changes the feed has seen: for a page to give back when it opens its stream.
    var mark: Int { state.withLock { $0.changes } }

    /// A new stream of notices, or nil when too many are open. If the feed
    /// has changed since `since` (a `mark`), the stream starts with a notice.
    func subscribe(since: Int? = nil) -> AsyncStream<Void>? {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id: Int? = state.withLock { state in
            guard state.streams.count < Self.maxStreams else { return nil }
            state.next += 1
            state.streams[state.next] = continuation
            if let since, since != state.changes { continuation.yield() }
            return state.next
        }
        guard let id else { return nil }
        continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.streams.removeValue(forKey: id) } }
        return stream
    }
}
