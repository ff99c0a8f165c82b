import AsyncHTTPClient
import Foundation
import KithCrypto
import KithProtocol
import NIOCore
import NIOHTTP1

/// Talks to one relay over HTTP: anonymous drops, and owner requests signed
/// with a mailbox key.
public struct RelayClient: Sendable {
    public let baseURL: String
    let http: HTTPClient
    let timeout: TimeAmount

    /// A failed relay request. `permanent` is true when retrying cannot help
    /// (the relay refused the request itself, not a network or server fault).
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public let permanent: Bool
    }

    /// The process's client for relays: a relay that does not answer a
    /// connection within 5 seconds counts as unreachable for this attempt
    /// (the outbox retries later), instead of AsyncHTTPClient's 30 s default.
    public static let defaultHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(60))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public init(baseURL: String, http: HTTPClient = RelayClient.defaultHTTPClient, timeout: TimeAmount = .seconds(60)) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.http = http
        self.timeout = timeout
    }

    /// Registers the mailbox whose key this is (idempotent).
    public func register(mailboxKey: SigningKey) async throws {
        _ = try await signed(.PUT, "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))", body: [], key: mailboxKey)
    }

    /// Allows drops with `token` into the mailbox; the relay receives only the token's hash.
    public func addToken(_ token: [UInt8], mailboxKey: SigningKey) async throws {
        _ = try await signed(.POST, "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/tokens", body: DropToken.hash(token), key: mailboxKey)
    }

    /// Revokes a token: drops with it are refused from now on; other tokens still work.
    public func removeToken(_ token: [UInt8], mailboxKey: SigningKey) async throws {
        let path = "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/tokens/\(Base64URL.encode(DropToken.hash(token)))"
        _ = try await signed(.DELETE, path, body: [], key: mailboxKey)
    }

    public func drop(_ request: DropRequest) async throws -> DropResult {
        try await drop(bytes: request.bytes)
    }

    /// Uploads an encoded `DropRequest`.
    public func drop(bytes: [UInt8]) async throws -> DropResult {
        let body = try await send(.POST, "/v1/envelopes", body: bytes, headers: [])
        do { return try JSONDecoder().decode(DropResult.self, from: Data(body)) } catch {
            throw Failure(description: "\(baseURL): unreadable answer to a drop", permanent: false)
        }
    }

    /// Envelopes waiting in the mailbox after sequence number `after`, oldest first.
    public func fetch(mailboxKey: SigningKey, after: UInt64 = 0, limit: Int) async throws -> FetchedBatch {
        let body = try await signed(.GET, "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/envelopes?limit=\(limit)&after=\(after)",
                                    body: [], key: mailboxKey)
        do { return try FetchedBatch(bytes: body) } catch {
            throw Failure(description: "\(baseURL): malformed fetch response", permanent: false)
        }
    }

    public func acknowledge(ids: [[UInt8]], mailboxKey: SigningKey) async throws {
        _ = try await signed(.POST, "/v1/mailboxes/\(Base64URL.encode(mailboxKey.publicKey))/ack", body: AckRequest(ids: ids).bytes, key: mailboxKey)
    }

    // MARK: Transport

    private func signed(_ method: HTTPMethod, _ path: String, body: [UInt8], key: SigningKey) async throws -> [UInt8] {
        let sig = SignedRequest(method: method.rawValue, path: path, body: body, mailboxKey: key,
                                timestamp: UInt64(Date().timeIntervalSince1970))
        return try await send(method, path, body: body, headers: sig.headers)
    }

    private func send(_ method: HTTPMethod, _ path: String, body: [UInt8], headers: [(String, String)]) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(contentsOf: headers)
        if !body.isEmpty || method == .POST || method == .PUT {
            request.headers.add(name: "Content-Type", value: "application/octet-stream")
            request.body = .bytes(body)
        }
        let response: HTTPClientResponse
        do { response = try await http.execute(request, timeout: timeout) } catch {
            throw Failure(description: "\(baseURL): relay unreachable (\(Self.describe(error)))", permanent: false)
        }
        let buffer: ByteBuffer
        do { buffer = try await response.body.collect(upTo: FetchedBatch.maxEncodedBytes) } catch {
            throw Failure(description: "\(baseURL): reading the answer failed (\(Self.describe(error)))", permanent: false)
        }
        let bytes = Array(buffer.readableBytesView)
        guard (200..<300).contains(response.status.code) else {
            let message = Self.errorMessage(bytes) ?? response.status.reasonPhrase
            throw Failure(description: "\(baseURL): \(message) (HTTP \(response.status.code))",
                          permanent: (400..<500).contains(response.status.code) && response.status.code != 429)
        }
        return bytes
    }

    /// Hummingbird's error body is {"error":{"message":"..."}}.
    static func errorMessage(_ body: [UInt8]) -> String? {
        struct Wrapper: Decodable { struct Inner: Decodable { let message: String }; let error: Inner }
        return (try? JSONDecoder().decode(Wrapper.self, from: Data(body)))?.error.message
    }

    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.count > 120 ? String(text.prefix(120)) + "…" : text
    }
}
