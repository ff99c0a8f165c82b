import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KithCrypto
import KithProtocol
import Logging
import NIOCore

/// A request context that knows the client's port, so a test can tell the
/// connections a relay was asked on apart.
struct PeerContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let peerPort: Int?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerPort = source.channel.remoteAddress?.port
    }
}

/// A relay that speaks the API but lies as told: enough to register
/// mailboxes, take tokens and drops, and answer fetches its own way.
struct FakeRelay: Sendable {
    enum Fetch: Sendable {
        /// Nothing waiting.
        case empty
        /// `more` is always set and the same envelope comes back with sequence number 1.
        case repeatSame
        /// `more` is always set, with a new envelope and the next sequence number each time.
        case endless
        /// Accepts the request and never answers (until the test ends).
        case silent
    }

    enum Drop: Sendable {
        case accept
        /// Answers 503 with this error message.
        case fail(String)
    }

    var fetch: Fetch = .empty
    var drop: Drop = .accept

    /// What the relay was asked: request kind ("drop", "fetch", "owner") and client port.
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [(kind: String, port: Int?)] = []
        private var isReleased = false

        func record(_ kind: String, _ port: Int?) { lock.withLock { entries.append((kind, port)) } }
        var all: [(kind: String, port: Int?)] { lock.withLock { entries } }
        func count(_ kind: String) -> Int { all.filter { $0.kind == kind }.count }
        func ports(_ kind: String) -> Set<Int> { Set(all.filter { $0.kind == kind }.compactMap(\.port)) }
        /// Lets silent answers go, so the server can stop.
        func release() { lock.withLock { isReleased = true } }
        var released: Bool { lock.withLock { isReleased } }
    }

    /// Runs the relay on 127.0.0.1 for the duration of `body`.
    func run(_ body: @escaping @Sendable (_ url: String, _ log: Log) async throws -> Void) async throws {
        let log = Log()
        let router = Router(context: PeerContext.self)
        let behaviour = self
        router.put("/v1/mailboxes/:mailbox") { _, context -> Response in
            log.record("owner", context.peerPort)
            return Response(status: .created)
        }
        router.post("/v1/mailboxes/:mailbox/tokens") { _, context -> Response in
            log.record("owner", context.peerPort)
            return Response(status: .created)
        }
        router.post("/v1/mailboxes/:mailbox/ack") { _, context -> Response in
            log.record("owner", context.peerPort)
            return Self.bytes(Array(#"{"removed":0}"#.utf8))
        }
        router.post("/v1/envelopes") { request, context -> Response in
            log.record("drop", context.peerPort)
            _ = try await request.body.collect(upTo: 1 << 20)
            switch behaviour.drop {
            case .accept:
                return Self.bytes(Array(#"{"id":"00","accepted":1,"refused":[]}"#.utf8))
            case .fail(let message):
                struct Inner: Encodable { let message: String }
                struct Wrapper: Encodable { let error: Inner }
                let body = try JSONEncoder().encode(Wrapper(error: Inner(message: message)))
                return Self.bytes([UInt8](body), status: .serviceUnavailable)
            }
        }
        router.get("/v1/mailboxes/:mailbox/envelopes") { request, context -> Response in
            log.record("fetch", context.peerPort)
            let after = request.uri.queryParameters.get("after").flatMap { UInt64($0) } ?? 0
            switch behaviour.fetch {
            case .empty:
                return Self.bytes(FetchedBatch(items: [], more: false).bytes)
            case .repeatSame:
                let item = FetchedBatch.Item(sequence: 1, receivedAt: 0, envelope: Array(repeating: 7, count: 100))
                return Self.bytes(FetchedBatch(items: [item], more: true).bytes)
            case .endless:
                let item = FetchedBatch.Item(sequence: after + 1, receivedAt: 0, envelope: randomBytes(100))
                return Self.bytes(FetchedBatch(items: [item], more: true).bytes)
            case .silent:
                while !log.released { try await Task.sleep(nanoseconds: 20_000_000) }
                return Self.bytes(FetchedBatch(items: [], more: false).bytes)
            }
        }
        var logger = Logger(label: "test.fake-relay")
        logger.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        try await app.test(.live) { client in
            defer { log.release() }
            try await body("http://127.0.0.1:\(client.port!)", log)
        }
    }

    static func bytes(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
