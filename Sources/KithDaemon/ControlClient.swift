import AsyncHTTPClient
import Foundation
import KithNode
import NIOCore
import NIOHTTP1

/// The command line's side of the control socket: `kith sync`, `status` and
/// every `NodeCommand` (post, feed, friends, audiences, keys, relays) go
/// through the running daemon of a node, which holds the unlocked keys, so
/// they need no passphrase.
public struct ControlClient: Sendable {
    public let socket: String
    public let pid: Int32

    /// The client for the daemon running for `home`, if one runs.
    public static func running(home: String) -> ControlClient? {
        guard let holder = DaemonLock.holder(home: home) else { return nil }
        return ControlClient(socket: holder.socket, pid: holder.pid)
    }

    public func status() async throws -> Status {
        try await call(.GET, "/v1/status")
    }

    /// Runs `command` in the daemon.
    public func run<C: NodeCommand>(_ command: C) async throws -> C.Answer {
        try await call(.POST, "/v1/node/\(C.name)", body: try JSONEncoder().encode(command))
    }

    /// A one-time link to the daemon's web app (`kith open`).
    public func webLogin() async throws -> WebLogin {
        try await call(.POST, "/v1/web/login")
    }

    public func sync(retryNow: Bool) async throws -> SyncReport {
        try await call(.POST, "/v1/sync" + (retryNow ? "?retry_now=1" : ""))
    }

    /// One request; an error answer becomes the daemon's `NodeError`.
    private func call<T: Decodable>(_ method: HTTPMethod, _ path: String, body: Data? = nil) async throws -> T {
        guard let url = URL(httpURLWithSocketPath: socket, uri: path) else { throw NodeError("bad control socket path \(socket)") }
        // The socket must be the daemon's, made by this user: one that another user put at a
        // configured path outside the node directory would be served commands and posts.
        var info = stat()
        guard lstat(socket, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK, info.st_uid == geteuid() else {
            throw NodeError("\(socket) is not a socket of yours", hint: "the daemon (pid \(pid)) should have made it; stop it and start it again")
        }
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
        do {
            var request = HTTPClientRequest(url: url.absoluteString)
            request.method = method
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            let response: HTTPClientResponse
            do { response = try await client.execute(request, timeout: .hours(1)) } catch {
                throw NodeError("the daemon (pid \(pid)) did not answer on \(socket)", hint: "is it stopping? try again, or stop it")
            }
            let data = Data(try await response.body.collect(upTo: 256 << 20).readableBytesView)
            try await client.shutdown()
            guard response.status == .ok else {
                if let failure = try? JSONDecoder().decode(ControlFailure.self, from: data) { throw NodeError(failure.error, hint: failure.hint) }
                throw NodeError("the daemon answered \(response.status.code)")
            }
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
