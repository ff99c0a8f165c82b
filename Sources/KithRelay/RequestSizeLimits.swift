import HTTPTypes
import Hummingbird

/// Refuses over-long request targets (414), over-large header sections
/// (431) and bodies whose Content-Length is over the largest request (413;
/// a blob upload, `POST /v1/blobs` however its path is spelt, has a limit
/// of its own)
/// before routing, authentication or any other work, and before any of the
/// body is read: no handler ever sees a target, header section or declared
/// body beyond the relay's documented limits.
/// Sits in front of the router, so it covers unknown paths too.
struct RequestSizeLimits<Next: HTTPResponder>: HTTPResponder where Next.Context == RelayRequestContext {
    let next: Next
    let maxTargetBytes: Int
    let maxHeaderBytes: Int
    let maxBodyBytes: Int
    let maxBlobUploadBytes: Int

    func respond(to request: Request, context: RelayRequestContext) async throws -> Response {
        if let error = check(request.head) { return try error.response(from: request, context: context) }
        let upload = request.method == .post && RoutePath(request.uri.path).is("v1", "blobs")
        let limit = upload ? maxBlobUploadBytes : maxBodyBytes
        if let declared = request.head.headerFields[.contentLength], Int(declared).map({ $0 > limit }) ?? true {
            return try RelayRefusal(.contentTooLarge, upload ? "blob_too_large" : "request_too_large",
                                    "request is larger than this relay's limit of \(limit) bytes")
                .response(from: request, context: context)
        }
        return try await next.respond(to: request, context: context)
    }

    /// The refusal for this request head, or nil if it is within the limits.
    func check(_ head: HTTPRequest) -> HTTPError? {
        let target = (head.path ?? "").utf8.count
        if target > maxTargetBytes {
            return HTTPError(.uriTooLong, message: "request target is longer than this relay's limit of \(maxTargetBytes) bytes")
        }
        // As on the wire: "name: value\r\n" per field.
        var headerBytes = 0
        for field in head.headerFields {
            headerBytes += field.name.rawName.utf8.count + field.value.utf8.count + 4
        }
        if headerBytes > maxHeaderBytes {
            return HTTPError(.requestHeaderFieldsTooLarge, message: "request headers are larger than this relay's limit of \(maxHeaderBytes) bytes")
        }
        return nil
    }
}
