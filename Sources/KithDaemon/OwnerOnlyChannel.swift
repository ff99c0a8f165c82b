import Foundation
import HummingbirdCore
import Logging
import NIOCore

/// The control socket's connections: each is served only if the process at
/// the other end runs as the daemon's own user, as the kernel says
/// (`SO_PEERCRED`); any other is closed unanswered and logged. The socket's
/// mode (0600, in the 0700 node directory) already keeps others out; this
/// holds even if those modes were loosened.
struct OwnerOnlyChannel: ServerChildChannel {
    let http: HTTP1Channel
    let owner: uid_t

    struct Value: ServerChildChannelValue {
        let channel: any Channel
        /// Nil for a refused connection.
        let http: HTTP1Channel.Value?
    }

    /// Whether a peer running as `peer` may use the daemon of `owner`.
    static func admits(peer: uid_t, owner: uid_t) -> Bool { peer == owner }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        @Sendable func refuse(_ why: String) -> EventLoopFuture<Value> {
            logger.warning("control connection refused", metadata: ["reason": "\(why)"])
            channel.close(promise: nil)
            return channel.eventLoop.makeSucceededFuture(Value(channel: channel, http: nil))
        }
        guard let socket = channel as? any SocketOptionProvider else { return refuse("no peer credentials") }
        let credentials: EventLoopFuture<PeerCredentials> = socket.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return credentials.flatMap { peer in
            guard Self.admits(peer: peer.uid, owner: owner) else { return refuse("peer uid \(peer.uid) is not the daemon's \(owner)") }
            return http.setup(channel: channel, logger: logger).map { Value(channel: channel, http: $0) }
        }.flatMapError { error in refuse("no peer credentials: \(error)") }
    }

    func handle(value: Value, logger: Logger) async {
        guard let connection = value.http else { return }
        await http.handle(value: connection, logger: logger)
    }
}

/// Linux's `struct ucred`, which Glibc's module does not show: what
/// `SO_PEERCRED` returns of the process that connected.
struct PeerCredentials: Sendable {
    var pid: pid_t = 0
    var uid: uid_t = 0
    var gid: gid_t = 0
}

extension HTTPServerBuilder {
    /// HTTP/1 for connections from the daemon's own user only.
    static var ownerOnly: HTTPServerBuilder {
        .init { responder in OwnerOnlyChannel(http: HTTP1Channel(responder: responder), owner: geteuid()) }
    }
}
