import Foundation
import HTTPTypes
import Hummingbird
import KithCrypto
import KithProtocol
import Logging
import NIOCore

/// The blob routes (see docs/PROTOCOL.md, "Blobs on a relay"): uploads
/// checked and answered like drops, and owner-signed downloads and deletions.
extension RelayController {
    /// A blob upload is checked like a drop, in this order: the client
    /// address's rate (before any of the body is read); the upload's header
    /// and the first bytes of its blob, read alone (400 if malformed), each
    /// target token's rate (429) and whether any token is valid for its
    /// mailbox (403 if none): a client with no valid token never holds an
    /// upload's place or its memory. Then the uploads in progress (per
    /// address and in all), the body's size (413, as it arrives), the
    /// blob's size (413), and, in the transaction that stores it, the
    /// tokens again (403 if none is valid any more) and the blob quotas (a
    /// full mailbox named in `full`; 507 if every one is full).
    func uploadBlob(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let address = client(request, context)
        do { try drops.admit(address: address) } catch { throw Self.refusal(error) }
        var body = request.body.makeAsyncIterator()
        var bytes = try await readHeader(&body)
        let upload: (targets: [DropRequest.Target], blobStart: Int)
        do { upload = try BlobUpload.parse(bytes) } catch let error as ProtocolError {
            throw HTTPError(.badRequest, message: error.description)
        }
        let targets = upload.targets
        let tokenHashes = targets.map { DropToken.hash($0.token) }
        do { try drops.admit(tokenHashes: tokenHashes) } catch { throw Self.refusal(error) }
        guard try await store.anyValidToken(targets) else { throw Self.noValidToken }
        let permit: FetchLimiter.Permit
        do { permit = try blobUploads.acquire(mailbox: [], client: Hex.encode(DropRateLimiter.addressKey(address))) } catch {
            switch error {
            case .relayBusy:
                throw RelayRefusal(.serviceUnavailable, "relay_busy", "too many blob uploads in progress on this relay; try again later",
                                   retryAfter: 10)
            case .clientBusy, .mailboxBusy:
                throw RelayRefusal(.tooManyRequests, "too_many_uploads", "too many blob uploads in progress from this address", retryAfter: 10)
            }
        }
        defer { withExtendedLifetime(permit) {} }
        try await collectUpload(request, &body, into: &bytes)
        let blob = bytes[upload.blobStart...]
        guard blob.count <= configuration.maxBlobBytes else { throw blobTooLarge }
        let (result, _) = try await settle(tokenHashes: tokenHashes, blobs: true) {
            try await store.storeBlob(blob, for: targets, now: configuration.clock(), ttl: configuration.ttlSeconds, quota: configuration.quota)
        }
        context.logger.debug("blob stored", metadata: ["targets": "\(targets.count)", "bytes": "\(blob.count)"])
        return try json(result)
    }

    private var blobTooLarge: RelayRefusal {
        RelayRefusal(.contentTooLarge, "blob_too_large", "blob is larger than this relay's limit of \(configuration.maxBlobBytes) bytes")
    }

    static let noValidToken = RelayRefusal(.forbidden, "no_valid_token", "no valid drop token for any target mailbox")

    /// The start of an upload's body: its header (3 + 64 × count bytes, the
    /// count read from its first 3) and the blob's first 41 bytes, or less
    /// if the body ends sooner; at most 64,044 bytes, whatever the client
    /// declares, and possibly a little of what follows.
    private func readHeader(_ body: inout RequestBody.AsyncIterator) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        var wanted = 3
        while bytes.count < wanted, let buffer = try await body.next() {
            bytes.append(contentsOf: buffer.readableBytesView)
            if wanted == 3, bytes.count >= 3 {
                let count = min(Int(bytes[1]) << 8 | Int(bytes[2]), DropRequest.maxTargets)
                wanted = 3 + 64 * count + BlobUpload.minBlobLength
            }
        }
        return bytes
    }

    /// The rest of an upload's body, appended to its start as it arrives
    /// (reserved up front from its Content-Length, which `RequestSizeLimits`
    /// has checked), refused with 413 as soon as it passes the upload's limit.
    private func collectUpload(_ request: Request, _ body: inout RequestBody.AsyncIterator, into bytes: inout [UInt8]) async throws {
        let limit = configuration.maxBlobUploadBytes
        guard bytes.count <= limit else { throw blobTooLarge }
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), (bytes.count...limit).contains(declared) {
            bytes.reserveCapacity(declared)
        }
        while let buffer = try await body.next() {
            guard buffer.readableBytes <= limit - bytes.count else { throw blobTooLarge }
            bytes.append(contentsOf: buffer.readableBytesView)
        }
    }

    /// An owner's blob references, oldest first: all of them, as a mailbox
    /// holds at most `MailboxQuota.blobs` (the standard number without a
    /// quota), so that the owner can release those no post of theirs names.
    func listBlobs(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let (mailbox, _) = try await authenticate(request, context)
        let limit = (configuration.quota ?? .standard).blobs
        return try json(BlobList(blobs: try await store.blobs(of: mailbox, limit: limit)))
    }

    /// Streams a blob to an owner whose mailbox references it, a page at a
    /// time (each page read from the store when the client has taken the one
    /// before): a client that stops reading holds about one page of memory.
    /// If the blob is deleted meanwhile the connection is cut short.
    func downloadBlob(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let (mailbox, _) = try await authenticate(request, context)
        let id = try Self.blobID(context)
        let permit: FetchLimiter.Permit
        do { permit = try blobDownloads.acquire(mailbox: mailbox, client: Hex.encode(DropRateLimiter.addressKey(client(request, context)))) } catch {
            switch error {
            case .mailboxBusy: throw RelayRefusal(.tooManyRequests, "too_many_downloads", "too many blob downloads in progress for this mailbox", retryAfter: 5)
            case .clientBusy: throw RelayRefusal(.tooManyRequests, "too_many_downloads", "too many blob downloads in progress from this address", retryAfter: 5)
            case .relayBusy: throw RelayRefusal(.serviceUnavailable, "relay_busy", "relay busy, try again later", retryAfter: 5)
            }
        }
        guard let size = try await store.blobSize(id: id, mailbox: mailbox) else { throw Self.noSuchBlob }
        let store = self.store, page = configuration.fetchPageBytes, logger = context.logger
        let body = ResponseBody(contentLength: size) { writer in
            _ = permit  // held until the answer is written or abandoned
            var offset = 0
            while offset < size {
                let bytes = try await store.readBlob(id: id, offset: offset, length: min(page, size - offset))
                guard !bytes.isEmpty else {
                    logger.debug("blob download cut short: the blob was deleted meanwhile")
                    throw BlobVanished()
                }
                try await writer.write(ByteBuffer(bytes: bytes))
                offset += bytes.count
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: body)
    }

    /// Removes the mailbox's reference to a blob (204), and the blob with it
    /// if no other mailbox references it; 404 if it held none.
    func releaseBlob(_ request: Request, _ context: RelayRequestContext) async throws -> Response {
        let (mailbox, _) = try await authenticate(request, context)
        guard try await store.releaseBlob(id: try Self.blobID(context), mailbox: mailbox) else { throw Self.noSuchBlob }
        return Response(status: .noContent)
    }

    private static func blobID(_ context: RelayRequestContext) throws -> [UInt8] {
        guard let id = decode32(context.parameters.get("id")) else { throw HTTPError(.badRequest, message: "blob id must be 32 bytes of base64url") }
        return id
    }

    private struct BlobList: Encodable { let blobs: [BlobListing] }

    private static let noSuchBlob = RelayRefusal(.notFound, "no_such_blob", "this mailbox holds no such blob: it was deleted, it expired, or it never was")
}
