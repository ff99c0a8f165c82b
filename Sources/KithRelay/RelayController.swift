import Foundation
import HTTPTypes
import Hummingbird
import KithCrypto
import KithProtocol
import Logging
import NIOCore
import ServiceLifecycle

/// The relay's HTTP API (see docs/PROTOCOL.md, "Relay API").
public struct RelayController: Sendable {
    let store: any RelayStorage
    let configuration: RelayConfiguration
    let fetches: FetchLimiter
    let drops: DropRateLimiter
    /// Registrations per client address: checking one writes a nonce, so strangers must not send them without end.
    let registrations: DropRateLimiter
    /// Takes of friend invitations per client address (anyone may ask).
    let invitationTakes: DropRateLimiter
    let waiters: MailWaiters
    /// Blob uploads in progress, per client address and in all: each holds
    /// its body in memory until it is stored.
    let blobUploads: FetchLimiter
    /// Blob downloads in progress, per mailbox, per client address and in all.
    let blobDownloads: FetchLimiter

    public init(store: any RelayStorage, configuration: RelayConfiguration) {
        self.store = store
        self.configuration = configuration
        self.fetches = FetchLimiter(.init(perMailbox: configuration.maxFetchesPerMailbox, perClient: configuration.maxFetchesPerClient,
                                          total: configuration.maxFetches))
        self.drops = DropRateLimiter(perAddress: configuration.addressRate, perToken: configuration.tokenRate,
                                     capacity: configuration.rateLimitEntries)
        self.registrations = DropRateLimiter(perAddress: configuration.registrationRate, perToken: nil, capacity: configuration.rateLimitEntries)
        self.invitationTakes = DropRateLimiter(perAddress: configuration.invitationTakeRate, perToken: nil, capacity: configuration.rateLimitEntries)
        self.waiters = MailWaiters(perMailbox: configuration.maxWaitersPerMailbox, total: configuration.maxWaiters)
        // Uploads are not counted per mailbox (they name many): each is counted under one empty key.
        self.blobUploads = FetchLimiter(.init(perMailbox: .max, perClient: configuration.maxBlobUploadsPerClient,
                                              total: configuration.maxBlobUploads))
        self.blobDownloads = FetchLimiter(.init(perMailbox: configuration.maxBlobDownloadsPerMailbox, perClient: configuration.maxFetchesPerClient,
                                                total: configuration.maxFetches))
    }

    public func addRoutes(to router: Router<RelayRequestContext>) {
        router.get("/v1/health") { _, _ in "ok\n" }
        router.post("/v1/envelopes") { request, context in try await drop(request, context) }
        router.put("/v1/mailboxes/:mailbox") { request, context in try await register(request, context) }
        router.post("/v1/mailboxes/:mailbox/tokens") { request, context in try await addToken(request, context) }
        router.delete("/v1/mailboxes/:mailbox/tokens/:hash") { request, context in try await removeToken(request, context) }
        router.get("/v1/mailboxes/:mailbox/envelopes") { request, context in try await fetch(request, context) }
        router.post("/v1/mailboxes/:mailbox/ack") { request, context in try await acknowledge(request, context) }
        router.get("/v1/mailboxes/:mailbox/wait") { request, context in try await wait(request, context) }
        router.put("/v1/mailboxes/:mailbox/invitations/:id") { request, context in try await putInvitation(request, context) }
        router.post("/v1/invitations/:id/take") { request, context in try await takeInvitation(request, context) }
        router.post("/v1/blobs") { request, context in try await uploadBlob(request, context) }
        router.get("/v1/mailboxes/:mailbox/blobs") { request, context in try await listBlobs(request, context) }
        router.get("/v1/mailboxes/:mailbox/blobs/:id") { request, context in try await downloadBlob(request, context) }
        router.delete("/v1/mailboxes/:mailbox/blobs/:id") { request, context in try await releaseBlob(request, context) }
    }

    // MARK: Handlers

    /// A drop is checked in this order: the client address's rate (before
    /// the body is read), the drop's form (400), the envelope's size (413),
    /// each target token's rate (429), then, in the transaction that stores
    /// it, the tokens (403 if none is valid) and the quotas of the accepted
    /// targets' mailboxes: a full one is named in the answer's `full` and
    /// the others are stored (507 if every one is full).
    func drop(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        do { try drops.admit(address: client(request, context)) } catch { throw Self.refusal(error) }
        let body = try await collect(request)
        let drop: DropRequest
        do { drop = try DropRequest(bytes: body) } catch let error as ProtocolError {
            throw HTTPError(.badRequest, message: error.description)
        }
        guard drop.envelope.count <= configuration.maxEnvelopeBytes else {
            throw RelayRefusal(.contentTooLarge, "envelope_too_large",
                               "envelope is larger than this relay's limit of \(configuration.maxEnvelopeBytes) bytes")
        }
        let tokenHashes = drop.targets.list.map { DropToken.hash($0.token) }
        do { try drops.admit(tokenHashes: tokenHashes) } catch { throw Self.refusal(error) }
        let (result, accepted) = try await settle(tokenHashes: tokenHashes) {
            try await store.drop(drop, now: configuration.clock(), ttl: configuration.ttlSeconds, quota: configuration.quota)
        }
        // The owners waiting for mail in the accepted mailboxes are woken.
        for i in accepted { waiters.notify(drop.targets.list[i].mailbox) }
        context.logger.debug("drop stored", metadata: ["targets": "\(drop.targets.count)", "bytes": "\(drop.envelope.count)"])
        return try json(result)
    }

    /// Stores a drop or a blob upload (`store`) and settles its answer, the
    /// same for both: `MailboxFull` is 507 (the full target's token counted
    /// from now on), no valid token 403; once stored, the valid tokens
    /// (full mailboxes' too) are counted from now on. The 507 names the
    /// blob quota if `blobs`, else the envelope quota. Returns the answer and
    /// the indexes of the targets whose mailboxes took it.
    func settle(tokenHashes: [[UInt8]], blobs: Bool = false, _ store: () async throws -> DropResult) async throws -> (result: DropResult, accepted: [Int]) {
        var result: DropResult
        do { result = try await store() } catch let full as MailboxFull {
            // Its token is valid: from now on its drops are counted too, full or not.
            if tokenHashes.indices.contains(full.target) { drops.accepted(tokenHashes: [tokenHashes[full.target]]) }
            let quota = configuration.quota ?? .standard
            let most = blobs ? "\(quota.blobs) blobs and \(quota.blobBytes) bytes of blobs" : "\(quota.envelopes) envelopes and \(quota.bytes) bytes"
            throw RelayRefusal(RelayRefusal.insufficientStorage, "mailbox_full",
                               "the mailbox of target \(full.target) is full (at most \(most)); nothing was stored",
                               retryAfter: configuration.mailboxFullRetryAfter)
        }
        guard result.accepted > 0 else { throw Self.noValidToken }
        if !result.full.isEmpty { result.retryAfter = configuration.mailboxFullRetryAfter }
        let invalid = Set(result.refused), full = Set(result.full)
        let valid = tokenHashes.indices.filter { !invalid.contains($0) }
        drops.accepted(tokenHashes: valid.map { tokenHashes[$0] })
        return (result, valid.filter { !full.contains($0) })
    }

    static func refusal(_ error: DropRateLimiter.Refusal) -> RelayRefusal {
        switch error {
        case .address(let wait):
            RelayRefusal(.tooManyRequests, "address_rate_limited", "too many drops from this address; try again later", retryAfter: wait)
        case .token(let wait):
            RelayRefusal(.tooManyRequests, "token_rate_limited", "too many drops with this drop token; try again later", retryAfter: wait)
        }
    }

    /// Registration: the body is empty, or an invite code (16 bytes). An
    /// existing mailbox is 200 whatever the policy; a new one is checked
    /// against the policy and the relay's room.
    func register(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        // Checking a signature writes its nonce: registrations are limited per
        // address first, so strangers cannot fill the nonce table.
        do { try registrations.admit(address: client(request, context)) } catch {
            throw RelayRefusal(.tooManyRequests, "registration_rate_limited", "too many registrations from this address; try again later",
                               retryAfter: { if case .address(let wait) = error { wait } else { 60 } }())
        }
        let (mailbox, body) = try await authenticate(request, context, requireRegistered: false)
        var invite: RelayInvite?
        if !body.isEmpty {
            do { invite = try RelayInvite(code: body) } catch {
                throw HTTPError(.badRequest, message: "registration body must be empty or a \(RelayInvite.length)-byte invite code")
            }
        }
        do {
            let created = try await store.register(mailbox: mailbox, now: configuration.clock(), policy: configuration.registration,
                                                   invite: invite, maxMailboxes: configuration.maxMailboxes)
            return Response(status: created ? .created : .ok)
        } catch let refusal as RegistrationRefusal {
            switch refusal {
            case .inviteRequired:
                throw RelayRefusal(.forbidden, "invite_required", "this relay registers mailboxes by invitation: an invite code is needed")
            case .inviteUnknown: throw RelayRefusal(.forbidden, "invite_unknown", "unknown invite code")
            case .inviteUsed: throw RelayRefusal(.forbidden, "invite_used", "this invite code was used already")
            case .notAllowed: throw RelayRefusal(.forbidden, "not_allowed", "this relay registers only the mailboxes on its allow-list")
            case .relayFull:
                throw RelayRefusal(RelayRefusal.insufficientStorage, "relay_full", "this relay holds as many mailboxes as it takes")
            }
        }
    }

    func addToken(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let (mailbox, body) = try await authenticate(request, context)
        guard body.count == 32 else { throw HTTPError(.badRequest, message: "token hash must be 32 bytes") }
        try await store.addToken(hash: body, mailbox: mailbox, now: configuration.clock())
        return Response(status: .created)
    }

    func removeToken(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let (mailbox, _) = try await authenticate(request, context)
        guard let hash = Self.decode32(context.parameters.get("hash")) else {
            throw HTTPError(.badRequest, message: "token hash must be 32 bytes of base64url")
        }
        guard try await store.removeToken(hash: hash, mailbox: mailbox) else { throw HTTPError(.notFound, message: "no such token") }
        return Response(status: .noContent)
    }

    /// Streams the batch: one read lists it, then bodies are read and written
    /// a page at a time, so a client that stops reading holds at most about
    /// one page of memory. The answer's length is announced up front; if a
    /// listed body vanished meanwhile the connection is cut short.
    func fetch(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let (mailbox, _) = try await authenticate(request, context)
        var limit = configuration.fetchLimit
        if let text = request.uri.queryParameters.get("limit") {
            guard let n = Int(text), n > 0 else { throw HTTPError(.badRequest, message: "limit must be a positive integer") }
            limit = min(n, limit)
        }
        var after: UInt64 = 0
        if let text = request.uri.queryParameters.get("after") {
            guard let n = UInt64(text), n <= UInt64(Int64.max) else { throw HTTPError(.badRequest, message: "after must be a sequence number") }
            after = n
        }
        let permit: FetchLimiter.Permit
        do { permit = try fetches.acquire(mailbox: mailbox, client: Hex.encode(DropRateLimiter.addressKey(client(request, context)))) } catch {
            switch error {
            case .mailboxBusy: throw HTTPError(.tooManyRequests, message: "too many fetches in progress for this mailbox")
            case .clientBusy: throw HTTPError(.tooManyRequests, message: "too many fetches in progress from this address")
            case .relayBusy: throw HTTPError(.serviceUnavailable, message: "relay busy, try again later")
            }
        }
        let listing = try await store.listBatch(mailbox: mailbox, after: after, limit: limit, maxBytes: configuration.fetchMaxBytes)
        let pages = listing.pages(maxBytes: configuration.fetchPageBytes)
        let store = self.store, logger = context.logger
        let body = ResponseBody(contentLength: listing.encodedLength) { writer in
            _ = permit  // held until the answer is written or abandoned
            try await writer.write(ByteBuffer(bytes: listing.header))
            for page in pages {
                let bodies: [[UInt8]]
                do { bodies = try await store.readPage(mailbox: mailbox, page) } catch let error as BatchListing.Vanished {
                    logger.debug("fetch cut short: a listed envelope was acknowledged or expired meanwhile")
                    throw error
                }
                var buffer = ByteBuffer()
                buffer.reserveCapacity(page.reduce(0) { $0 + 20 + $1.length })
                for (entry, data) in zip(page, bodies) {
                    buffer.writeInteger(entry.sequence)
                    buffer.writeInteger(entry.receivedAt)
                    buffer.writeInteger(UInt32(data.count))
                    buffer.writeBytes(data)
                }
                try await writer.write(buffer)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: body)
    }

    /// A long poll for mail: answers 200 `{"sequence": n}` as soon as an
    /// envelope with a sequence number above `after` waits in the mailbox
    /// (at once if one does already), or 204 after `wait_seconds`. Waits
    /// are bounded per mailbox and in all (429 beyond, with `Retry-After`).
    func wait(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let (mailbox, _) = try await authenticate(request, context)
        var after: UInt64 = 0
        if let text = request.uri.queryParameters.get("after") {
            guard let n = UInt64(text), n <= UInt64(Int64.max) else { throw HTTPError(.badRequest, message: "after must be a sequence number") }
            after = n
        }
        let id: UInt64
        do { id = try waiters.enter(mailbox) } catch {
            let retry = UInt64(configuration.waitSeconds)
            switch error {
            case .mailboxBusy: throw RelayRefusal(.tooManyRequests, "too_many_waits", "too many waits for this mailbox", retryAfter: retry)
            case .relayBusy: throw RelayRefusal(.tooManyRequests, "relay_busy", "too many waits on this relay; try again later", retryAfter: retry)
            }
        }
        defer { waiters.leave(mailbox, id: id) }
        if let sequence = try await firstSequence(mailbox, after: after) { return try json(["sequence": sequence]) }
        // A relay shutting down ends its waits at once (204), rather than wait for them to time out.
        let waiters = self.waiters, timeout = Duration.seconds(configuration.waitSeconds)
        let woken = await withGracefulShutdownHandler {
            await waiters.wait(mailbox, id: id, timeout: timeout)
        } onGracefulShutdown: {
            waiters.leave(mailbox, id: id)
        }
        guard woken,
              let sequence = try await firstSequence(mailbox, after: after) else { return Response(status: .noContent) }
        return try json(["sequence": sequence])
    }

    /// The sequence number of the first envelope waiting after `after`, if any.
    private func firstSequence(_ mailbox: [UInt8], after: UInt64) async throws -> UInt64? {
        try await store.listBatch(mailbox: mailbox, after: after, limit: 1, maxBytes: 1).entries.first?.sequence
    }

    func acknowledge(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let (mailbox, body) = try await authenticate(request, context)
        let ack: AckRequest
        do { ack = try AckRequest(bytes: body) } catch let error as ProtocolError {
            throw HTTPError(.badRequest, message: error.description)
        }
        let removed = try await store.acknowledge(mailbox: mailbox, ids: ack.ids)
        return try json(["removed": removed])
    }

    /// Stores a friend invitation (owner-signed): the body is the lifetime
    /// in seconds (u32, 1 to `relay.max_invitation_days`) then the sealed
    /// card (at most `FriendInvitation.maxSealedBytes`).
    func putInvitation(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let (mailbox, body) = try await authenticate(request, context)
        guard let id = Self.decode32(context.parameters.get("id")) else {
            throw HTTPError(.badRequest, message: "invitation id must be 32 bytes of base64url")
        }
        guard body.count > 4 + 1 + AEAD.nonceLength + AEAD.tagLength, body.count <= 4 + FriendInvitation.maxSealedBytes else {
            throw HTTPError(.badRequest, message: "invitation body must be a 4-byte lifetime and a sealed card of at most \(FriendInvitation.maxSealedBytes) bytes")
        }
        let lifetime = body[0..<4].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard lifetime >= 1, lifetime <= configuration.maxInvitationSeconds else {
            throw RelayRefusal(.badRequest, "invitation_lifetime",
                               "an invitation is kept 1 to \(configuration.maxInvitationSeconds) seconds on this relay, not \(lifetime)")
        }
        let now = configuration.clock()
        do {
            try await store.putInvitation(id: id, mailbox: mailbox, sealed: Array(body[4...]), now: now, expiresAt: now + lifetime,
                                          maxLive: configuration.maxInvitationsPerMailbox)
        } catch let refusal as InvitationRefusal {
            switch refusal {
            case .tooMany:
                throw RelayRefusal(.forbidden, "too_many_invitations",
                                   "this mailbox holds \(configuration.maxInvitationsPerMailbox) invitations already, the most this relay keeps")
            case .idTaken: throw RelayRefusal(.conflict, "invitation_id_taken", "another invitation has this id")
            }
        }
        return Response(status: .created)
    }

    /// Hands out a friend invitation's sealed card once, to anyone with its
    /// id: 404 for an id unknown, taken already or expired alike.
    func takeInvitation(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        do { try invitationTakes.admit(address: client(request, context)) } catch {
            throw RelayRefusal(.tooManyRequests, "take_rate_limited", "too many invitations taken from this address; try again later",
                               retryAfter: { if case .address(let wait) = error { wait } else { 60 } }())
        }
        guard let id = Self.decode32(context.parameters.get("id")) else {
            throw HTTPError(.badRequest, message: "invitation id must be 32 bytes of base64url")
        }
        guard let sealed = try await store.takeInvitation(id: id, now: configuration.clock()) else {
            throw RelayRefusal(.notFound, "no_such_invitation", "no such invitation: it was used, it expired, or it never existed")
        }
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: sealed)))
    }

    // MARK: Helpers

    /// The client a request counts against (see `ClientAddress`).
    func client(_ request: Request, _ context: RelayRequestContext) -> String {
        ClientAddress.of(remote: context.clientAddress, headers: request.headers, trustedProxies: configuration.trustedProxies)
    }

    private func collect(_ request: Request) async throws -> [UInt8] {
        var request = request
        do {
            var buffer = try await request.collectBody(upTo: configuration.maxRequestBytes)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw RelayRefusal(.contentTooLarge, "request_too_large", "request is larger than this relay's limit of \(configuration.maxRequestBytes) bytes")
        }
    }

    /// Verifies an owner request: the path's mailbox, the signature over
    /// method, path, timestamp, nonce and body, and that the nonce is fresh.
    func authenticate(_ request: Request, _ context: RelayRequestContext, requireRegistered: Bool = true) async throws -> ([UInt8], [UInt8]) {
        guard let mailbox = Self.decode32(context.parameters.get("mailbox")) else {
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
        // The timestamp is within 300 s of the clock; saturate anyway, so no value can overflow.
        let expires = signed.timestamp.addingReportingOverflow(SignedRequest.maxClockSkew + 1)
        guard !expires.overflow else { throw HTTPError(.unauthorized, message: "request: timestamp out of range") }
        guard try await store.useNonce(mailbox: mailbox, nonce: signed.nonce, expiresAt: expires.partialValue) else {
            throw HTTPError(.conflict, message: "replayed request refused (nonce already used)")
        }
        return (mailbox, body)
    }

    /// 32 bytes in base64url (43 characters), checked for length before decoding.
    static func decode32(_ text: String?) -> [UInt8]? {
        guard let text, text.utf8.count == 43, let bytes = Base64URL.decode(text), bytes.count == 32 else { return nil }
        return bytes
    }

    func json(_ value: some Encodable) throws -> Response {
        let data = try JSONEncoder().encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}


/// Answers a request that the store could not serve because it is
/// unavailable (`RelayStoreUnavailable`: its database is down or
/// unreachable; retrying is safe) with 503 `store_unavailable` and a
/// `Retry-After`, so that clients try again; the reason goes to the log, not
/// to the client.
struct StoreUnavailableAnswers<Context: RequestContext>: RouterMiddleware {
    static var retryAfter: UInt64 { 5 }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as RelayStoreUnavailable {
            context.logger.warning("store unavailable", metadata: ["error": "\(error.description)"])
            throw RelayRefusal(.serviceUnavailable, "store_unavailable", "the relay's store is unavailable; try again later",
                               retryAfter: Self.retryAfter)
        }
    }
}
