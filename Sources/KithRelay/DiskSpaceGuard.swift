import Foundation
import Hummingbird
import NIOConcurrencyHelpers

/// Refuses what would take more space (drops, blob uploads, registrations,
/// new drop tokens, friend invitations) with 507 while the relay's disk has less than `minFreeBytes`
/// free: the rest of the disk is kept for owners, whose fetches and
/// acknowledgements (which free space) and the nonces of their signed
/// requests must still be written, so that a full mailbox can always be
/// drained.
struct DiskSpaceGuard<Context: RequestContext>: RouterMiddleware {
    let directory: String
    let minFreeBytes: UInt64
    let free = FreeSpace()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.takesSpace(request), free.bytes(at: directory) < minFreeBytes {
            throw RelayRefusal(RelayRefusal.insufficientStorage, "disk_full", "the relay's disk is nearly full: try again later", retryAfter: 600)
        }
        return try await next(request, context)
    }

    /// Drops, blob uploads, registrations, new drop tokens and invitation puts
    /// (every PUT under a mailbox); not fetches, acknowledgements, blob
    /// downloads and deletions, revocations or invitation takes.
    /// Paths are compared as the router reads them (`RoutePath`).
    static func takesSpace(_ request: Request) -> Bool {
        let path = RoutePath(request.uri.path)
        switch request.method {
        case .post: return path.is("v1", "envelopes") || path.is("v1", "blobs") || path.is("v1", "mailboxes", nil, "tokens")
        case .put: return path.parts.starts(with: ["v1", "mailboxes"])
        default: return false
        }
    }
}

/// A request's path as the router reads it: its parts between slashes,
/// empty ones dropped, so that `/v1/blobs/` and `//v1/blobs` are the
/// `/v1/blobs` they are routed to.
struct RoutePath {
    let parts: [Substring]

    init(_ path: String) { parts = path.split(separator: "/", omittingEmptySubsequences: true) }

    /// Whether the path is exactly these parts, nil matching any one part.
    func `is`(_ pattern: Substring?...) -> Bool {
        parts.count == pattern.count && zip(parts, pattern).allSatisfy { part, want in want.map { $0 == part } ?? true }
    }
}

/// Free bytes on a file system for an unprivileged process (`statvfs`),
/// asked at most once a second.
final class FreeSpace: Sendable {
    private let cached = NIOLockedValueBox<(at: ContinuousClock.Instant, bytes: UInt64)?>(nil)

    func bytes(at directory: String) -> UInt64 {
        let now = ContinuousClock.now
        if let cached = cached.withLockedValue({ $0 }), now - cached.at < .seconds(1) { return cached.bytes }
        var st = statvfs()
        // A directory that cannot be asked is taken as full: drops wait, owners are still served.
        let bytes = statvfs(directory, &st) == 0 ? UInt64(st.f_bavail).multipliedReportingOverflow(by: UInt64(st.f_frsize)).partialValue : 0
        cached.withLockedValue { $0 = (now, bytes) }
        return bytes
    }
}
