import Foundation
import HTTPTypes
import HummingbirdTesting
import KithCrypto
import KithNode
import KithProtocol
import NIOCore
import Testing
@testable import KithRelay

/// What a relay tells its operator: liveness, readiness, and metrics behind
/// a token, with nothing that names a mailbox.
@Suite struct OperatorTests {
    static let token = "a-scraper-secret-of-32-characters"

    static func get(_ client: any TestClientProtocol, _ uri: String, token: String? = nil) async throws -> (HTTPResponse.Status, String) {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(uri: uri, method: .get, headers: headers) { ($0.status, String(buffer: $0.body)) }
    }

    @Test func healthReadinessAndMetricsBehindAToken() async throws {
        var configuration = RelayConfiguration()
        configuration.metricsToken = Self.token
        try await withLiveRelay(configuration: configuration) { url, client in
            #expect(try await Self.get(client, "/healthz") == (.ok, "ok\n"))
            #expect(try await Self.get(client, "/readyz").0 == .ok)
            #expect(try await Self.get(client, "/metrics").0 == .notFound, "no token, no metrics")
            #expect(try await Self.get(client, "/metrics", token: Self.token + "x").0 == .notFound, "a wrong token, no metrics")

            let relay = RelayClient(baseURL: url)
            let box = try await TestMailbox.make(relay)
            _ = try await relay.drop(DropRequest(targets: [box.target], envelope: envelopeBytes()))
            let stranger = DropRequest.Target(mailbox: box.key.publicKey, token: randomBytes(32))
            _ = try? await relay.drop(DropRequest(targets: [stranger], envelope: envelopeBytes()))
            let blobs = BlobHTTP(url: url)
            #expect(try await blobs.upload([box.target], randomBytes(5000)).status == 200)
            #expect(try await blobs.upload([stranger], randomBytes(5000)).status == 403)

            let (status, text) = try await Self.get(client, "/metrics", token: Self.token)
            #expect(status == .ok)
            for line in ["kith_relay_mailboxes 1", "kith_relay_envelopes 1", "kith_relay_drops_accepted_total 1",
                         #"kith_relay_refusals_total{reason="no_valid_token"} 2"#, #"route="/v1/envelopes""#,
                         "kith_relay_request_duration_seconds_bucket", "kith_relay_push_waiters 0",
                         "kith_relay_blobs 1", "kith_relay_blob_bytes 5000", #"kith_relay_blob_uploads_total{result="accepted"} 1"#,
                         #"kith_relay_blob_uploads_total{result="no_valid_token"} 1"#] {
                #expect(text.contains(line), "metrics lack \(line)")
            }
            #expect(!text.contains(Base64URL.encode(box.key.publicKey)), "metrics never name a mailbox")
        }
    }

    /// Methods other than the relay's own (the HTTP parser knows some thirty:
    /// WebDAV's, PATCH, ...) share one series, so that clients do not choose
    /// what the metrics hold.
    @Test func otherMethodsShareOneSeries() async throws {
        var configuration = RelayConfiguration()
        configuration.metricsToken = Self.token
        try await withLiveRelay(configuration: configuration) { _, client in
            for name in ["PROPFIND", "MKCOL", "PATCH"] {
                let method = try #require(HTTPRequest.Method(name))
                _ = try await client.execute(uri: "/v1/envelopes", method: method) { $0.status }
            }
            _ = try await Self.get(client, "/healthz")
            let (_, text) = try await Self.get(client, "/metrics", token: Self.token)
            let series = text.split(separator: "\n").filter { $0.hasPrefix("kith_relay_requests_total{") && $0.contains(#"method="other""#) }
            #expect(series.count == 1 && series[0].hasSuffix(" 3"), "\(series)")
            #expect(!text.contains("PROPFIND") && !text.contains("MKCOL") && !text.contains("PATCH"))
            #expect(text.contains(#"method="GET""#), "known methods keep their names")
        }
    }

    @Test func withoutATokenThereAreNoMetrics() async throws {
        try await withLiveRelay { _, client in
            let (status, _) = try await Self.get(client, "/metrics", token: "anything-at-all-of-some-length")
            #expect(status == .notFound)
        }
        #expect(RelayConfigurationTests.error(["metrics_token": "short"])?.contains("relay.metrics_token") == true)
        #expect(RelayConfigurationTests.error(["metrics_token": "has a space in it, sadly"])?.contains("relay.metrics_token") == true)
        #expect(try RelayConfigurationTests.configuration(["metrics_token": Self.token]).metricsToken == Self.token)
    }

    /// The example an operator starts from is a valid config.
    @Test func theExampleConfigIsValid() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/relay.example.json").path
        let configuration = try RelayConfiguration(file: RelayFileConfiguration.load(path: path))
        #expect(configuration.registration == .invite && configuration.trustedProxies == [ClientAddress.bytes("127.0.0.1")!])
    }
}
