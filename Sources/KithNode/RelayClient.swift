import AsyncHTTPClient
import Foundation
import KithCrypto
import KithProtocol
import NIOCore
import NIOHTTP1

/// Talks to one relay over HTTP: anonymous drops, and owner requests signed
/// with a mailbox key. The two kinds go through different connection pools,
/// so a relay never sees a sender's uploads on the connection it uses to
/// fetch the sender's own mailbox.
public struct RelayClient: Sendable {
    public let baseURL: String
    /// The pool for anonymous drops.
    let dropHTTP: HTTPClient
    /// The pool for requests signed with a mailbox key.
    let ownerHTTP: HTTPClient
    /// The longest one request may take, from sending it to its whole answer.
    let timeout: TimeAmount
    /// No request runs past this point (a sync's time budget for the relay).
    let deadline: NIODeadline

    /// A failed relay request. `permanent` is true when retrying cannot help
    /// (the relay refused the request itself, not a network or server fault).
    public struct Failure: Error, CustomStringConvertible {
        /// The relay's URL.
        public let relay: String
        /// What went wrong, short and printable, without the relay's URL.
        public let reason: String
        /// More about it (an error or HTTP status), or nil.
        public let detail: String?
        public let permanent: Bool
        /// The HTTP status of the relay's refusal, if it answered with one.
        public let status: Int?
        /// The relay's code for a refusal by its policy (`mailbox_full`,
        /// `invite_used`, ...; see docs/PROTOCOL.md), printable, if it gave one.
        public let code: String?
        /// Seconds the relay asked to wait before trying again (`Retry-After`), if it said.
        public let retryAfter: UInt64?

        public init(relay: String, reason: String, detail: String? = nil, permanent: Bool = false, status: Int? = nil,
                    code: String? = nil, retryAfter: UInt64? = nil) {
            self.relay = relay
            self.reason = reason
            self.detail = detail
            self.permanent = permanent
            self.status = status
            self.code = code
            self.retryAfter = retryAfter
        }

        /// What the user can do about a refused registration, if anything.
        public var hint: String? {
            switch code {
            case "invite_required": "this relay takes new mailboxes by invitation: ask its operator for a code (`kith relay invite`) and pass --invite CODE"
            case "invite_unknown", "invite_used": "each invite code works once, on the relay that made it: ask its operator for a new one"
            case "not_allowed": "this relay takes only the mailboxes its operator listed"
            case "relay_full": "this relay takes no more mailboxes: choose another relay"
            default: nil
            }
        }

        public var description: String { "\(RelayClient.clean(relay)): \(reason)" + (detail.map { " (\($0))" } ?? "") }
    }

    /// The largest error answer read; what a relay sends beyond it is not read.
    static let maxErrorBytes = 64 << 10
    /// The largest answer to a drop, register or token request read.
    static let maxSmallAnswerBytes = 64 << 10
    /// Characters of a relay's error message kept for errors and warnings.
    public static let maxMessageCharacters = 200

    /// A client configuration for relays: a relay that does not accept a
    /// connection within 5 seconds counts as unreachable for this attempt
    /// (the outbox retries later), instead of AsyncHTTPClient's 30 s default;
    /// a refused connection fails at once rather than being retried until
    /// the deadline; and an answer that stalls for 30 s fails.
    static func makeHTTPClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// The process's pool for drops.
    public static let dropHTTPClient: HTTPClient = makeHTTPClient()
    /// The process's pool for owner requests (kept apart from drops).
    public static let ownerHTTPClient: HTTPClient = makeHTTPClient()

    public init(baseURL: String, dropHTTP: HTTPClient = RelayClient.dropHTTPClient, ownerHTTP: HTTPClient = RelayClient.ownerHTTPClient,
                timeout: TimeAmount = .seconds(60), deadline: NIODeadline = .distantFuture) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.dropHTTP = dropHTTP
        self.ownerHTTP = ownerHTTP
        self.timeout = timeout
        self.deadline = deadline
    }

    /// Registers the mailbox whose key this is (idempotent), with an invite
    /// code for a relay that registers by invitation (others ignore it).
    public func register(mailboxKey: SigningKey, invite: RelayInvite? = nil) async throws {
        _ = try await signed(.PUT, "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))", body: invite?.code ?? [], key: mailboxKey)
    }

    /// Allows drops with `token` into the mailbox; the relay receives only the token's hash.
    public func addToken(_ token: [UInt8], mailboxKey: SigningKey) async throws {
        _ = try await signed(.POST, "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/tokens", body: DropToken.hash(token), key: mailboxKey)
    }

    /// Revokes a token: drops with it are refused from now on; other tokens still work.
    public func removeToken(_ token: [UInt8], mailboxKey: SigningKey) async throws {
        try await removeToken(hash: DropToken.hash(token), mailboxKey: mailboxKey)
    }

    /// Revokes the token whose hash this is (what the owner keeps of the tokens it issued).
    public func removeToken(hash: [UInt8], mailboxKey: SigningKey) async throws {
        let path = "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/tokens/\(Base64URL.encode(hash))"
        _ = try await signed(.DELETE, path, body: [], key: mailboxKey)
    }

    public func drop(_ request: DropRequest) async throws -> DropResult {
        try await drop(bytes: request.bytes)
    }

    /// Uploads an encoded `DropRequest`, on the drop pool.
    public func drop(bytes: [UInt8]) async throws -> DropResult {
        let body = try await send(.POST, "/v1/envelopes", body: bytes, headers: [], via: dropHTTP, limit: Self.maxSmallAnswerBytes)
        do { return try JSONDecoder().decode(DropResult.self, from: Data(body)) } catch {
            throw Failure(relay: baseURL, reason: "unreadable answer to a drop")
        }
    }

    /// Envelopes waiting in the mailbox after sequence number `after`, oldest first.
    public func fetch(mailboxKey: SigningKey, after: UInt64 = 0, limit: Int) async throws -> FetchedBatch {
        let body = try await signed(.GET, "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/envelopes?limit=\(limit)&after=\(after)",
                                    body: [], key: mailboxKey, limit: FetchedBatch.maxEncodedBytes)
        do { return try FetchedBatch(bytes: body) } catch {
            throw Failure(relay: baseURL, reason: "malformed fetch response")
        }
    }

    /// Waits for mail (a long poll the relay holds open up to its
    /// `wait_seconds`): the sequence number of an envelope waiting after
    /// `after`, as soon as there is one, or nil if the relay's wait ended
    /// without one.
    public func wait(mailboxKey: SigningKey, after: UInt64 = 0) async throws -> UInt64? {
        let body = try await signed(.GET, "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/wait?after=\(after)", body: [], key: mailboxKey)
        if body.isEmpty { return nil }
        struct Answer: Decodable { let sequence: UInt64 }
        do { return try JSONDecoder().decode(Answer.self, from: Data(body)).sequence } catch {
            throw Failure(relay: baseURL, reason: "unreadable answer to a wait")
        }
    }

    public func acknowledge(ids: [[UInt8]], mailboxKey: SigningKey) async throws {
        _ = try await signed(.POST, "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/ack", body: AckRequest(ids: ids).bytes, key: mailboxKey)
    }

    /// Stores a friend invitation's sealed card under its id for `lifetime`
    /// seconds, as the owner of the mailbox whose key this is.
    public func putInvitation(id: [UInt8], sealed: [UInt8], lifetime: UInt32, mailboxKey: SigningKey) async throws {
        var body = ByteWriter()
        body.u32(lifetime)
        body.raw(sealed)
        _ = try await signed(.PUT, "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/invitations/\(Base64URL.encode(id))", body: body.bytes, key: mailboxKey)
    }

    /// Takes a friend invitation's sealed card (the relay deletes it), on the
    /// drop pool: nil if the relay has none under this id (used, expired or unknown).
    public func takeInvitation(id: [UInt8]) async throws -> [UInt8]? {
        do {
            return try await send(.POST, "/v1/invitations/\(Base64URL.encode(id))/take", body: [], headers: [], via: dropHTTP,
                                  limit: FriendInvitation.maxSealedBytes)
        } catch let failure as Failure where failure.status == 404 {
            return nil
        }
    }

    // MARK: Transport

    private func signed(_ method: HTTPMethod, _ path: String, body: [UInt8], key: SigningKey,
                        limit: Int = RelayClient.maxSmallAnswerBytes) async throws -> [UInt8] {
        let sig = SignedRequest(method: method.rawValue, path: path, body: body, mailboxKey: key,
                                timestamp: UInt64(max(0, Date().timeIntervalSince1970)))
        return try await send(method, path, body: body, headers: sig.headers, via: ownerHTTP, limit: limit)
    }

    /// Sends one request and reads its answer (at most `limit` bytes of a
    /// success, `maxErrorBytes` of an error), all before the request's deadline.
    /// `streamed`, if given, is sent as the body instead of `body`.
    private func send(_ method: HTTPMethod, _ path: String, body: [UInt8], streamed: HTTPClientRequest.Body? = nil, headers: [(String, String)],
                      via http: HTTPClient, limit: Int) async throws -> [UInt8] {
        let deadline = min(NIODeadline.now() + timeout, self.deadline)
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(contentsOf: headers)
        if !body.isEmpty || streamed != nil || method == .POST || method == .PUT {
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
            request.body = streamed ?? .bytes(body)
        }
        let baseURL = self.baseURL, prepared = request
        let outcome = try await Self.before(deadline) { () async throws -> (UInt, [UInt8]?, String, String?) in
            let response: HTTPClientResponse
            do { response = try await http.execute(prepared, deadline: deadline) } catch let error as HTTPClientError
                where error == .deadlineExceeded || error == .readTimeout {
                throw Failure(relay: baseURL, reason: "no answer in time", detail: Self.describe(error))
            } catch {
                throw Failure(relay: baseURL, reason: "relay unreachable", detail: Self.describe(error))
            }
            let code = response.status.code
            let success = (200..<300).contains(code)
            let retryAfter = response.headers.first(name: "Retry-After")
            do {
                let buffer = try await response.body.collect(upTo: success ? limit : Self.maxErrorBytes)
                return (code, Array(buffer.readableBytesView), response.status.reasonPhrase, retryAfter)
            } catch {
                // An error answer too long to read is still an error; a success is not usable.
                guard success else { return (code, nil, response.status.reasonPhrase, retryAfter) }
                throw Failure(relay: baseURL, reason: "reading the answer failed", detail: Self.describe(error))
            }
        }
        guard let outcome else {
            throw Failure(relay: baseURL, reason: "no answer in time", detail: "timed out")
        }
        let (code, bytes, phrase, retryAfter) = outcome
        guard (200..<300).contains(code), let bytes else { throw refusal(code, bytes, phrase: phrase, retryAfter: retryAfter) }
        return bytes
    }

    /// The failure an error answer stands for.
    func refusal(_ code: UInt, _ bytes: [UInt8]?, phrase: String, retryAfter: String?) -> Failure {
        let error = bytes.flatMap(Self.errorBody)
        // 429 (rate limits) is "try again later", like 503 and 507 (a full mailbox or relay).
        return Failure(relay: baseURL, reason: error?.message ?? Self.clean(phrase), detail: "HTTP \(code)",
                       permanent: (400..<500).contains(code) && code != 429, status: Int(code), code: error?.code,
                       retryAfter: retryAfter.flatMap(Self.retryAfterSeconds))
    }

    /// Runs `operation`, or gives up (returning nil) when `deadline` passes,
    /// cancelling it: AsyncHTTPClient's own deadline covers a request only
    /// until the answer's head arrives, not while its body trickles in.
    static func before<T: Sendable>(_ deadline: NIODeadline, _ operation: @escaping @Sendable () async throws -> T) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                let left = (deadline - .now()).nanoseconds
                if left > 0 { try await Task.sleep(nanoseconds: UInt64(left)) }
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    /// The message of a relay's error body, made safe to print. Hummingbird's
    /// error body is {"error":{"message":"..."}}.
    static func errorMessage(_ body: [UInt8]) -> String? { errorBody(body)?.message }

    /// The message and code of a relay's error body,
    /// {"error":{"code":"...","message":"..."}} (the code is optional), made safe to print.
    static func errorBody(_ body: [UInt8]) -> (message: String, code: String?)? {
        struct Wrapper: Decodable { struct Inner: Decodable { let message: String; let code: String? }; let error: Inner }
        return (try? JSONDecoder().decode(Wrapper.self, from: Data(body))).map { (clean($0.error.message), $0.error.code.map { clean($0, limit: 40) }) }
    }

    /// A `Retry-After` given in seconds (an HTTP date is ignored), at most a day.
    static func retryAfterSeconds(_ value: String) -> UInt64? {
        let digits = value.trimmingCharacters(in: .whitespaces)
        guard !digits.isEmpty, digits.utf8.count <= 10, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let n = UInt64(digits) else { return nil }
        return min(n, 86_400)
    }

    /// Text from a relay, fit for a terminal line and the outbox: at most
    /// `maxMessageCharacters` characters, with control, format (bidi) and
    /// line or paragraph separator characters replaced by U+FFFD, so a relay
    /// cannot move the cursor, rewrite the line or reorder what is shown.
    public static func clean(_ text: String, limit: Int = RelayClient.maxMessageCharacters) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars.prefix(limit) {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator: scalars.append("\u{FFFD}")
            default: scalars.append(scalar)
            }
        }
        return text.unicodeScalars.count > limit ? String(scalars) + "…" : String(scalars)
    }

    static func describe(_ error: any Error) -> String {
        clean(String(describing: error), limit: 120)
    }
}

// MARK: Blobs

extension RelayClient {
    /// Reports bytes sent or received so far and the total.
    public typealias Progress = @Sendable (_ done: UInt64, _ total: UInt64) -> Void

    /// The size of a piece of a blob read from or written to its file.
    static let blobPiece = 64 << 10

    /// Uploads a blob (`POST /v1/blobs`) on the drop pool: `header` (the
    /// version and the targets) then the file's bytes, read in 64 KiB
    /// pieces as the request goes, so memory does not grow with the blob.
    public func uploadBlob(header: [UInt8], file: String, progress: Progress? = nil) async throws -> DropResult {
        let reader = try BlobFileReader(path: file, prefix: header)
        let total = reader.size
        let pieces = AsyncThrowingStream<ByteBuffer, any Error>(unfolding: {
            guard let piece = try reader.next(Self.blobPiece) else { return nil }
            progress?(reader.done, total)
            return ByteBuffer(bytes: piece)
        })
        let body = try await send(.POST, "/v1/blobs", body: [], streamed: .stream(pieces, length: .known(Int64(clamping: total))), headers: [],
                                  via: dropHTTP, limit: Self.maxSmallAnswerBytes)
        do { return try JSONDecoder().decode(DropResult.self, from: Data(body)) } catch {
            throw Failure(relay: baseURL, reason: "unreadable answer to a blob upload")
        }
    }

    /// Fetches a blob this mailbox holds a reference to into a new file at
    /// `path` (0600). The relay must send exactly `length` bytes (the
    /// length the signed descriptor gives): one that sends more is cut off
    /// there (code `blob_too_long`), one that ends early is refused
    /// (`blob_truncated`); the file is then removed.
    public func fetchBlob(mailboxKey: SigningKey, id: [UInt8], length: UInt64, to path: String, progress: Progress? = nil) async throws {
        let urlPath = "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/blobs/\(Base64URL.encode(id))"
        let sig = SignedRequest(method: "GET", path: urlPath, body: [], mailboxKey: mailboxKey, timestamp: UInt64(max(0, Date().timeIntervalSince1970)))
        var request = HTTPClientRequest(url: baseURL + urlPath)
        request.method = .GET
        request.headers.add(contentsOf: sig.headers)
        let deadline = min(NIODeadline.now() + timeout, self.deadline)
        let baseURL = self.baseURL, prepared = request, http = ownerHTTP
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw NodeError("cannot create \(path): \(String(cString: strerror(errno)))") }
        let file = BlobFileWriter(fd: fd)
        defer { close(fd) }
        do {
            let done = try await Self.before(deadline) { () async throws -> Bool in
                let response: HTTPClientResponse
                do { response = try await http.execute(prepared, deadline: deadline) } catch {
                    throw Failure(relay: baseURL, reason: "relay unreachable", detail: Self.describe(error))
                }
                guard (200..<300).contains(response.status.code) else {
                    let bytes = try? await response.body.collect(upTo: Self.maxErrorBytes)
                    throw self.refusal(response.status.code, bytes.map { Array($0.readableBytesView) }, phrase: response.status.reasonPhrase,
                                       retryAfter: response.headers.first(name: "Retry-After"))
                }
                var received: UInt64 = 0
                do {
                    for try await buffer in response.body {
                        received += UInt64(buffer.readableBytes)
                        guard received <= length else {
                            throw Failure(relay: baseURL, reason: "sent more than the blob's \(length) bytes", permanent: true, code: "blob_too_long")
                        }
                        try file.write(buffer)
                        progress?(received, length)
                    }
                } catch let failure as Failure { throw failure } catch {
                    throw Failure(relay: baseURL, reason: "reading the blob failed", detail: Self.describe(error))
                }
                guard received == length else {
                    throw Failure(relay: baseURL, reason: "sent \(received) of the blob's \(length) bytes", permanent: true, code: "blob_truncated")
                }
                guard fsync(fd) == 0 else { throw NodeError("cannot write \(path): \(String(cString: strerror(errno)))") }
                return true
            }
            guard done == true else { throw Failure(relay: baseURL, reason: "no answer in time", detail: "timed out") }
        } catch {
            unlink(path)
            throw error
        }
    }

    /// The blob references this mailbox holds (`GET .../blobs`, the owner's
    /// listing): each blob's id and when the relay accepted it.
    public func listBlobs(mailboxKey: SigningKey) async throws -> [(id: [UInt8], receivedAt: UInt64)] {
        struct Entry: Decodable { let id: String; let size: UInt64; let received_at: UInt64; let expires_at: UInt64 }
        struct Answer: Decodable { let blobs: [Entry] }
        let body = try await signed(.GET, "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/blobs", body: [], key: mailboxKey,
                                    limit: Self.maxBlobListingBytes)
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body)) else {
            throw Failure(relay: baseURL, reason: "unreadable blob listing")
        }
        return try answer.blobs.map { entry in
            guard let id = Base64URL.decode(Substring(entry.id)), id.count == 32 else { throw Failure(relay: baseURL, reason: "a blob listing with a malformed id") }
            return (id, entry.received_at)
        }
    }

    /// The longest blob listing read: 100,000 references (a relay's highest `quota_blobs`) of about 130 bytes.
    static let maxBlobListingBytes = 16 << 20

    /// Removes this mailbox's reference to a blob (`DELETE`); a relay that
    /// holds none (404) is fine.
    public func deleteBlob(mailboxKey: SigningKey, id: [UInt8]) async throws {
        do {
            _ = try await signed(.DELETE, "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/blobs/\(Base64URL.encode(id))", body: [], key: mailboxKey)
        } catch let failure as Failure where failure.status == 404 {}
    }
}

/// Reads a blob's file a piece at a time, after `prefix` (an upload's header).
final class BlobFileReader: @unchecked Sendable {
    /// The prefix's and the file's bytes.
    let size: UInt64
    /// Bytes returned so far.
    private(set) var done: UInt64 = 0
    private var prefix: [UInt8]?
    private let fd: Int32

    init(path: String, prefix: [UInt8] = []) throws {
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw NodeError("cannot open \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw NodeError("\(path) is not a file")
        }
        size = UInt64(prefix.count) + UInt64(clamping: st.st_size)
        self.prefix = prefix.isEmpty ? nil : prefix
    }

    deinit { close(fd) }

    /// The next piece (the prefix, then at most `count` bytes of the file), nil at the end.
    func next(_ count: Int) throws -> [UInt8]? {
        if let head = prefix {
            prefix = nil
            done += UInt64(head.count)
            return head
        }
        var piece = [UInt8](repeating: 0, count: count)
        let n = piece.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
        guard n >= 0 else { throw NodeError("reading a blob failed: \(String(cString: strerror(errno)))") }
        if n == 0 { return nil }
        piece.removeLast(count - n)
        done += UInt64(n)
        return piece
    }
}

/// Writes a blob's file as it arrives.
final class BlobFileWriter: @unchecked Sendable {
    private let fd: Int32
    init(fd: Int32) { self.fd = fd }

    func write(_ buffer: ByteBuffer) throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                guard n > 0 else { throw NodeError("writing a blob failed: \(String(cString: strerror(errno)))") }
                offset += n
            }
        }
    }
}
