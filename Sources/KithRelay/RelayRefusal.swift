import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A refusal by the relay's policy: registration, quotas, rate limits and
/// sizes. Its answer is Hummingbird's error body with a stable `code` beside
/// the message, `{"error": {"code": "mailbox_full", "message": "..."}}`,
/// and a `Retry-After` (seconds) where waiting helps.
struct RelayRefusal: HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    let retryAfter: UInt64?

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfter: UInt64? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")

    private struct Body: Encodable {
        struct Inner: Encodable { let code: String; let message: String }
        let error: Inner
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONEncoder().encode(Body(error: .init(code: code, message: message)))
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Gives every error answer a JSON body: Hummingbird's own errors (an
/// unknown route or method) come without one.
struct JSONErrorBodies<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.body == nil {
            throw HTTPError(error.status, headers: error.headers, message: error.status.reasonPhrase.lowercased())
        }
    }
}
