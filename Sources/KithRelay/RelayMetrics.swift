import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import KithCrypto
import Metrics
import NIOConcurrencyHelpers
import Prometheus

/// What the relay tells its operator: counters and timings kept with
/// swift-metrics in a Prometheus registry of this relay's own (so several
/// relays in one process keep apart), served at `GET /metrics`, and the
/// store's figures read when asked. Nothing in it names a mailbox, a token
/// or an address.
public final class RelayMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    private let figures = NIOLockedValueBox<(at: DispatchTime, counts: RelayCounts)?>(nil)

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                                   .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30)]
        self.factory = factory
        drops = Counter(label: "kith_relay_drops_accepted_total", factory: factory)
    }

    /// The methods that get a series of their own; any other (a client may
    /// send any token as a method) is counted as "other", so that clients
    /// cannot grow the registry with series of their invention.
    static let countedMethods: Set<HTTPRequest.Method> = [.get, .head, .post, .put, .delete, .options]

    /// A request's labels: its route pattern (never the path, which names a
    /// mailbox; "unknown" when no route matched), method and status code.
    private struct Answer: Hashable {
        let route: String
        let method: String
        let status: Int
    }

    /// The counter and timer of each label set seen, made once: making them
    /// through the factory checks and hashes every label under the
    /// registry's lock, a cost every request would otherwise pay.
    private let answers = NIOLockedValueBox<[Answer: (requests: Metrics.Counter, duration: Metrics.Timer)]>([:])
    private let drops: Metrics.Counter

    /// One answered request: its route pattern (never the path, which names a mailbox), method, status and time.
    func answered(route: String, method: HTTPRequest.Method, status: HTTPResponse.Status, nanoseconds: UInt64) {
        let answer = Answer(route: route, method: Self.countedMethods.contains(method) ? method.rawValue : "other", status: status.code)
        let (requests, duration) = answers.withLockedValue { made in
            if let found = made[answer] { return found }
            let new = (Counter(label: "kith_relay_requests_total",
                               dimensions: [("route", answer.route), ("method", answer.method), ("status", String(answer.status))], factory: factory),
                       Timer(label: "kith_relay_request_duration_seconds", dimensions: [("route", answer.route), ("method", answer.method)],
                             factory: factory))
            made[answer] = new
            return new
        }
        requests.increment()
        duration.recordNanoseconds(Int64(clamping: nanoseconds))
    }

    /// A drop stored (every target accepted).
    func dropAccepted() {
        drops.increment()
    }

    /// A blob upload answered: `accepted`, or the code of its refusal (the status for an error without one).
    func blobUpload(_ result: String) {
        Counter(label: "kith_relay_blob_uploads_total", dimensions: [("result", result)], factory: factory).increment()
    }

    /// A request refused by the relay's policy, by its error code (`RelayRefusal.code`).
    func refused(_ code: String) {
        Counter(label: "kith_relay_refusals_total", dimensions: [("reason", code)], factory: factory).increment()
    }

    /// Sets a gauge that the caller keeps current, such as waiting clients.
    func gauge(_ label: String, _ value: Int) {
        Gauge(label: label, factory: factory).record(value)
    }

    /// The store's figures, read at most every 10 seconds (counting bytes reads every body's length).
    func storeFigures(_ store: any RelayStorage) async throws -> RelayCounts {
        if let cached = figures.withLockedValue({ $0 }), DispatchTime.now().uptimeNanoseconds - cached.at.uptimeNanoseconds < 10_000_000_000 {
            return cached.counts
        }
        let counts = try await store.counts()
        figures.withLockedValue { $0 = (DispatchTime.now(), counts) }
        return counts
    }

    /// The Prometheus text of every figure, the store's and the waiting owners' read now.
    func render(_ store: any RelayStorage, waiters: MailWaiters) async throws -> String {
        let counts = try await storeFigures(store)
        gauge("kith_relay_push_waiters", waiters.count)
        gauge("kith_relay_mailboxes", counts.mailboxes)
        gauge("kith_relay_envelopes", counts.bodies)
        gauge("kith_relay_envelope_bytes", counts.bodyBytes)
        gauge("kith_relay_deliveries_waiting", counts.deliveries)
        gauge("kith_relay_blobs", counts.blobs)
        gauge("kith_relay_blob_bytes", counts.blobBytes)
        return registry.emitToString()
    }
}

/// Counts and times every answer by route pattern, every drop accepted or
/// refused by reason, and every blob upload by its outcome.
struct RelayMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: RelayMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        func record(_ status: HTTPResponse.Status, code: String? = nil) {
            let route = context.endpointPath ?? "unknown"
            metrics.answered(route: route, method: request.method, status: status, nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
            if route == "/v1/envelopes", request.method == .post, status == .ok { metrics.dropAccepted() }
            if route == "/v1/blobs", request.method == .post { metrics.blobUpload(status == .ok ? "accepted" : code ?? String(status.code)) }
        }
        do {
            let response = try await next(request, context)
            record(response.status)
            return response
        } catch {
            let refusal = error as? RelayRefusal
            if let refusal { metrics.refused(refusal.code) }
            record((error as? any HTTPResponseError)?.status ?? .internalServerError, code: refusal?.code)
            throw error
        }
    }
}

/// The operator's routes: `GET /healthz` (the process answers), `GET
/// /readyz` (its database answers a query too) and, with a metrics token set,
/// `GET /metrics` for a client that sends it as `Authorization: Bearer TOKEN`.
struct OperatorRoutes {
    let store: any RelayStorage
    let metrics: RelayMetrics
    let metricsToken: String?
    let waiters: MailWaiters

    func add(to router: Router<RelayRequestContext>) {
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            do {
                _ = try await store.mailboxExists([UInt8](repeating: 0, count: 32))
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
            } catch {
                return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "the database does not answer\n")))
            }
        }
        router.get("/metrics") { request, _ -> Response in
            guard let metricsToken, let given = request.headers[.authorization], given.hasPrefix("Bearer "),
                  constantTimeEqual(Hash.blake2b(Array(given.dropFirst("Bearer ".count).utf8)), Hash.blake2b(Array(metricsToken.utf8))) else {
                throw HTTPError(.notFound)
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: try await metrics.render(store, waiters: waiters))))
        }
    }
}
