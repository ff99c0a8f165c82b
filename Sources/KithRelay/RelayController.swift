import Foundation
import HTTPTypes
import Hummingbird
import KithCrypto
import KithProtocol
import Logging
import NIOCore

/// The relay's HTTP API (see docs/PROTOCOL.md, "Relay API").
public struct RelayController: Sendable {
    let store: RelayStore
    let configuration: RelayConfiguration

    public init(store: RelayStore, configuration: RelayConfiguration) {
        self.store = store
        self.configuration = configuration
    }

    public func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/v1/health") { _, _ in "ok\n" }
        router.post("/v1/envelopes") { request, context in try await drop(request, context) }
        router.put("/v1/mailboxes/:mailbox") { request, context in try await register(request, context) }
        router.post("/v1/mailboxes/:mailbox/tokens") { request, context in try await addToken(request, context) }
        router.delete("/v1/mailboxes/:mailbox/tokens/:hash") { request, context in try await removeToken(request, context) }
        router.get("/v1/mailboxes/:mailbox/envelopes") { request, context in try await fetch(request, context) }
        router.post("/v1/mailboxes/:mailbox/ack") { request, context in try await acknowledge(request, context) }
    }

    // MARK: Handlers

    func drop(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let body = try await collect(request)
        let drop: DropRequest
        do { drop = try DropRequest(bytes: body) } catch let error as ProtocolError {
            throw HTTPError(.badRequest, message: error.description)
        }
        guard drop.envelope.count <= configuration.maxEnvelopeBytes else {
            throw HTTPError(.contentTooLarge, message: "envelope is larger than this relay's limit of \(configuration.maxEnvelopeBytes) bytes")
        }
        let result = try await store.drop(drop, now: configuration.clock(), ttl: configuration.ttlSeconds)
        guard result.accepted > 0 else { throw HTTPError(.forbidden, message: "no valid drop token for any target mailbox") }
        context.logger.debug("drop stored", metadata: ["targets": "\(drop.targets.count)", "bytes": "\(drop.envelope.count)"])
        return try json(result)
    }

    func register(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (mailbox, _) = try await authenticate(request, context, requireRegistered: false)
        let created = try await store.register(mailbox: mailbox, now: configuration.clock())
        return Response(status: created ? .created : .ok)
    }

    func addToken(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (mailbox, body) = try await authenticate(request, context)
        guard body.count == 32 else { throw HTTPError(.badRequest, message: "token hash must be 32 bytes") }
        try await store.addToken(hash: body, mailbox: mailbox, now: configuration.clock())
        return Response(status: .created)
    }

    func removeToken(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (mailbox, _) = try await authenticate(request, context)
        guard let hash = context.parameters.get("hash").flatMap({ Base64URL.decode($0) }), hash.count == 32 else {
            throw HTTPError(.badRequest, message: "token hash must be 32 bytes of base64url")
        }
        guard try await store.removeToken(hash: hash, mailbox: mailbox) else { throw HTTPError(.notFound, message: "no such token") }
        return Response(status: .noContent)
    }

    func fetch(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (mailbox, _) = try await authenticate(request, context)
        var limit = configuration.fetchLimit
        if let text = request.uri.queryParameters.get("limit") {
            guard let n = Int(text), n > 0 else { throw HTTPError(.badRequest, message: "limit must be a positive integer") }
            limit = min(n, limit)
        }
        var after: UInt64 = 0
        if let text = request.uri.queryParameters.get("after") {
            guard let n = UInt64(text) else { throw HTTPError(.badRequest, message: "after must be a sequence number") }
            after = n
        }
        let batch = try await store.fetch(mailbox: mailbox, after: after, limit: limit)
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"],
                        body: .init(byteBuffer: ByteBuffer(bytes: batch.bytes)))
    }

    func acknowledge(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let (mailbox, body) = try await authenticate(request, context)
        let ack: AckRequest
        do { ack = try AckRequest(bytes: body) } catch let error as ProtocolError {
            throw HTTPError(.badRequest, message: error.description)
        }
        let removed = try await store.acknowledge(mailbox: mailbox, ids: ack.ids)
        return try json(["removed": removed])
    }

    // MARK: Helpers

    private func collect(_ request: Request) async throws -> [UInt8] {
        var request = request
        do {
            var buffer = try await request.collectBody(upTo: configuration.maxRequestBytes)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw HTTPError(.contentTooLarge, message: "request is larger than this relay's limit of \(configuration.maxRequestBytes) bytes")
        }
    }

    /// Verifies an owner request: the path's mailbox, the signature over
    /// method, path, timestamp, nonce and body, and that the nonce is fresh.
    private func authenticate(_ request: Request, _ context: BasicRequestContext, requireRegistered: Bool = true) async throws -> ([UInt8], [UInt8]) {
        guard let mailbox = context.parameters.get("mailbox").flatMap({ Base64URL.decode($0) }), mailbox.count == 32 else {
            throw HTTPError(.badRequest, message: "mailbox id must be 32 bytes of base64url")
        }
        let body = try await collect(request)
        let signed: SignedRequest
        do {
            signed = try SignedRequest { name in HTTPField.Name(name).flatMap { request.headers[$0] } }
            guard constantTimeEqual(signed.mailbox, mailbox) else { throw ProtocolError.malformed("request: signed for another mailbox") }
            try signed.verify(method: request.method.rawValue, path: request.head.path ?? "", body: body, now: configuration.clock())
        } catch let error as ProtocolError {
            throw HTTPError(.unauthorized, message: error.description)
        }
        if requireRegistered, try await !store.mailboxExists(mailbox) {
            throw HTTPError(.notFound, message: "no such mailbox on this relay")
        }
        let expires = signed.timestamp + SignedRequest.maxClockSkew + 1
        guard try await store.useNonce(mailbox: mailbox, nonce: signed.nonce, expiresAt: expires) else {
            throw HTTPError(.conflict, message: "replayed request refused (nonce already used)")
        }
        return (mailbox, body)
    }

    private func json(_ value: some Encodable) throws -> Response {
        let data = try JSONEncoder().encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// The relay application: routes plus a periodic sweep of expired envelopes.
public func buildRelayApplication(
    store: RelayStore,
    configuration: RelayConfiguration,
    host: String,
    port: Int,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = Router(context: BasicRequestContext.self)
    RelayController(store: store, configuration: configuration).addRoutes(to: router)
    return Application(
        router: router,
        configuration: .init(address: .hostname(host, port: port), serverName: "kith-relay"),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
        logger: logger
    )
}
