import Foundation
import Hummingbird
import KithNode
import Logging
import NIOCore

/// `POST /v1/post`'s body.
public struct PostRequest: Codable, Sendable {
    public let to: String
    public let text: String

    public init(to: String, text: String) {
        self.to = to
        self.text = text
    }
}

/// `POST /v1/post`'s answer.
public struct PostResponse: Codable, Sendable {
    public let id: String
    public let recipients: Int
}

/// An error answer: the node's one-line error and its hint.
struct ControlFailure: Codable, Sendable {
    let error: String
    let hint: String?
}

/// `GET /v1/status`'s answer.
public struct DaemonStatus: Codable, Sendable {
    public let pid: Int32
    public let home: String
    public let startedAt: UInt64
    public let syncInterval: Int
    public let outbox: OutboxSummary
    public let lastSync: SyncRunner.LastSync?
    /// The embedded relay's URL, when this node also serves as a relay.
    public let relay: String?

    enum CodingKeys: String, CodingKey {
        case pid, home, outbox, relay
        case startedAt = "started_at"
        case syncInterval = "sync_interval"
        case lastSync = "last_sync"
    }
}

/// What the control socket serves. Every answer is JSON; a failure is 400
/// (or 500) with `{"error": ..., "hint": ...}`. Only the owner of the node
/// directory can connect: the socket is 0600 inside the 0700 directory.
struct ControlRoutes: Sendable {
    let node: Node
    let runner: SyncRunner
    let trigger: SyncTrigger
    let syncAfterPost: Bool
    let status: @Sendable () async throws -> DaemonStatus

    /// The largest request body: a post's text is at most 64 KiB.
    static let maxBody = 1 << 20

    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/v1/status") { _, _ in await answer { try await status() } }
        router.post("/v1/post") { request, _ in
            await answer {
                let body = try await request.body.collect(upTo: Self.maxBody)
                let post = try JSONDecoder().decode(PostRequest.self, from: Data(body.readableBytesView))
                let posted = try await node.post(to: post.to, text: post.text)
                if syncAfterPost { trigger.fire() }
                return PostResponse(id: posted.id, recipients: posted.recipients)
            }
        }
        router.post("/v1/sync") { request, _ in
            await answer { try await runner.sync(retryNow: request.uri.queryParameters.get("retry_now") == "1") }
        }
        router.get("/v1/feed") { request, _ in
            await answer {
                let limit = request.uri.queryParameters.get("limit").flatMap { Int($0) } ?? 100
                guard limit > 0 else { throw NodeError("the limit must be positive") }
                return try node.feed(limit: limit)
            }
        }
        return router
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
