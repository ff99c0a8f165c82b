import Foundation
import Hummingbird
import KithNode
import Logging
import NIOCore

/// An error answer: the node's one-line error and its hint.
struct ControlFailure: Codable, Sendable {
    let error: String
    let hint: String?
}

/// `GET /v1/status`'s answer, and `kith status --json`'s: the node's state,
/// and the daemon's when one runs.
public struct Status: Codable, Sendable {
    public let node: NodeStatus
    public let daemon: DaemonStatus?

    public init(node: NodeStatus, daemon: DaemonStatus?) {
        self.node = node
        self.daemon = daemon
    }

    enum CodingKeys: String, CodingKey { case node, daemon }

    /// `daemon` is written as null, not left out, when none runs.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(node, forKey: .node)
        try container.encode(daemon, forKey: .daemon)
    }
}

/// The running daemon's own state.
public struct DaemonStatus: Codable, Sendable {
    public let pid: Int32
    public let startedAt: UInt64
    public let syncInterval: Int
    public let lastSync: SyncRunner.LastSync?
    /// The embedded relay's URL, when this node also serves as a relay.
    public let relay: String?

    enum CodingKeys: String, CodingKey {
        case pid, relay
        case startedAt = "started_at"
        case syncInterval = "sync_interval"
        case lastSync = "last_sync"
    }
}

/// `POST /v1/web/login`'s answer: a one-time link that signs a browser in to the web app.
public struct WebLogin: Codable, Sendable {
    public let url: String
}

/// What the control socket serves. Every answer is JSON; a failure is 400
/// (or 500) with `{"error": ..., "hint": ...}`. Only the owner of the node
/// directory can connect: the socket is 0600 inside the 0700 directory, and
/// each connection's peer must run as the daemon's user (`OwnerOnlyChannel`).
struct ControlRoutes: Sendable {
    let node: Node
    let runner: SyncRunner
    let trigger: SyncTrigger
    let syncAfterPost: Bool
    let webLogin: @Sendable () throws -> WebLogin
    let status: @Sendable () async throws -> Status

    /// The largest request body: a post's text is at most 64 KiB, a card a few.
    static let maxBody = 1 << 20

    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/v1/status") { _, _ in await answer { try await status() } }
        router.post("/v1/sync") { request, _ in
            await answer { try await runner.sync(retryNow: request.uri.queryParameters.get("retry_now") == "1") }
        }
        router.post("/v1/web/login") { _, _ in await answer { try webLogin() } }
        for command in nodeCommands { serve(command, on: router) }
        return router
    }

    /// `POST /v1/node/NAME`: the command in the body, run on the daemon's node.
    private func serve<C: NodeCommand>(_: C.Type, on router: Router<BasicRequestContext>) {
        router.post("/v1/node/\(C.name)") { request, _ in
            await answer {
                let body = try await request.body.collect(upTo: Self.maxBody)
                let answer = try await JSONDecoder().decode(C.self, from: Data(body.readableBytesView)).run(on: node)
                if C.queues, syncAfterPost { trigger.fire() }
                return answer
            }
        }
    }
}

/// Runs `body` and answers with its JSON, or with the error.
func answer(_ body: () async throws -> some Encodable) async -> Response {
    do {
        return json(try await body(), status: .ok)
    } catch let error as NodeError {
        return json(ControlFailure(error: error.description, hint: error.hint), status: .badRequest)
    } catch is DecodingError {
        return json(ControlFailure(error: "the request is not valid JSON for this command", hint: nil), status: .badRequest)
    } catch {
        return json(ControlFailure(error: String(describing: error), hint: nil), status: .internalServerError)
    }
}

func json(_ value: some Encodable, status: HTTPResponse.Status) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data(#"{"error":"cannot encode the answer"}"#.utf8)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
