import Foundation
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// How many connections are open, per client address (an IPv6 client by
/// its /64, as for rate limits) and in all.
final class ConnectionCounter: Sendable {
    private let counts = NIOLockedValueBox((total: 0, byAddress: [[UInt8]: Int]()))
    let perClient: Int
    let total: Int
    /// Reverse proxies (exact addresses), whose connections count only in the total.
    let trustedProxies: Set<[UInt8]>

    init(perClient: Int, total: Int, trustedProxies: Set<[UInt8]> = []) {
        self.perClient = perClient
        self.total = total
        self.trustedProxies = trustedProxies
    }

    /// The key a connection from `address` is counted by.
    func key(_ address: String) -> [UInt8] {
        if let exact = ClientAddress.bytes(address), trustedProxies.contains(exact) { return [0xff] + exact }
        return DropRateLimiter.addressKey(address)
    }

    /// Counts a new connection from `key`, or returns false (and counts
    /// nothing) if that client or the relay is at its limit.
    func open(_ key: [UInt8]) -> Bool {
        counts.withLockedValue { counts in
            let mine = counts.byAddress[key, default: 0]
            guard mine < perClient || key.first == 0xff, counts.total < total else { return false }
            counts.byAddress[key] = mine + 1
            counts.total += 1
            return true
        }
    }

    func close(_ key: [UInt8]) {
        counts.withLockedValue { counts in
            let mine = counts.byAddress[key, default: 0]
            guard mine > 0 else { return }
            counts.byAddress[key] = mine == 1 ? nil : mine - 1
            counts.total -= 1
        }
    }

    var open: Int { counts.withLockedValue { $0.total } }

    /// The most connections the relay can hold with `limit` open files, at
    /// most `configured`: a few files stay free for the database and logs.
    static func total(configured: Int, openFileLimit: Int? = currentOpenFileLimit()) -> Int {
        guard let openFileLimit else { return configured }
        return max(1, min(configured, openFileLimit - 64))
    }

    static func currentOpenFileLimit() -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return Int(clamping: limit.rlim_cur)
    }
}

/// The first handler of every connection, on the raw bytes, before HTTP
/// parsing: it refuses a connection over the per-client or total limit with
/// a 503 and closes it, and closes a connection whose request has not been
/// answered within `requestTimeout` of its first byte, plus a second for
/// each `bytesPerSecond` of the request received by then (a client that
/// dribbles its headers or body, "slowloris", holds a connection for that
/// long at most, while a large upload, such as a blob's, has the time to
/// arrive at a modest rate; an idle keep-alive connection is Hummingbird's
/// idle timeout's).
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let counter: ConnectionCounter
    private let requestTimeout: TimeAmount
    private var counted: [UInt8]?
    private var refused = false
    private var deadline: Scheduled<Void>?
    /// Bytes received since the request's first byte, and the time they have earned beyond `requestTimeout` so far.
    private var received = 0
    private var extended: Int64 = 0
    /// The rate that earns a request more time: a second per 64 KiB received.
    static let bytesPerSecond = 65_536

    init(counter: ConnectionCounter, requestTimeout: TimeAmount) {
        self.counter = counter
        self.requestTimeout = requestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        if !refused { context.fireChannelActive() }
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard counted == nil, !refused else { return }
        let key = counter.key(context.channel.remoteAddress?.ipAddress ?? "unknown")
        guard counter.open(key) else {
            refused = true
            let body = #"{"error":{"code":"too_many_connections","message":"too many connections from this address, or to this relay: try again later"}}"#
            let answer = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 10\r\nConnection: close\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.byteBuffer(ByteBuffer(string: answer)))).whenComplete { _ in bound.value.close(promise: nil) }
            return
        }
        counted = key
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        if deadline == nil {
            received = 0
            extended = 0
            schedule(context, in: requestTimeout)
        }
        received += unwrapInboundIn(data).readableBytes
        context.fireChannelRead(data)
    }

    /// Closes the connection after `delay`, unless what was received by then earned it more time.
    private func schedule(_ context: ChannelHandlerContext, in delay: TimeAmount) {
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            guard let self else { return }
            let earned = Int64(self.received / Self.bytesPerSecond)
            if earned > self.extended {
                let more = earned - self.extended
                self.extended = earned
                self.schedule(bound.value, in: .seconds(more))
            } else {
                self.deadline = nil
                bound.value.close(promise: nil)
            }
        }
    }

    /// An answer has started: the request it answers arrived in time.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        cancelDeadline()
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { release() }

    private func release() {
        cancelDeadline()
        if let counted { counter.close(counted) }
        counted = nil
    }

    private func cancelDeadline() {
        deadline?.cancel()
        deadline = nil
    }
}

/// Hummingbird's HTTP/1 channel with a `ConnectionGuard` in front of its parser.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let counter: ConnectionCounter
    let requestTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionGuard(counter: counter, requestTimeout: requestTimeout))
        }.flatMap { inner.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
