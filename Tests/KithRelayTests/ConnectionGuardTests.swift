import Foundation
import HTTPTypes
import KithCrypto
import KithProtocol
import NIOCore
import HummingbirdTesting
import Testing
@testable import KithRelay

/// The relay's protection of its connections (`ConnectionGuard`) and of
/// its memory against declared bodies (`RequestSizeLimits`).
@Suite struct ConnectionGuardTests {
    /// Clients that send their headers a byte at a time are cut off at the
    /// request deadline, and others are served meanwhile.
    @Test func slowClientsAreCutOffAtTheRequestDeadline() async throws {
        var configuration = RelayConfiguration()
        configuration.requestTimeoutSeconds = 2
        try await withLiveRelay(configuration: configuration) { _, client in
            let slow = try (0..<20).map { _ in try RawConnection(port: client.port!, from: "127.0.0.2") }
            for connection in slow { connection.sendNow("POST /v1/envelopes HTTP/1.1\r\nHost: relay\r\nX-Slow: ") }
            // One more header byte every half second, for up to 8 s: the idle timeout never fires.
            var open = slow
            for _ in 1...16 where !open.isEmpty {
                try await Task.sleep(for: .milliseconds(500))
                open = open.filter { $0.sendNow("a") }
            }
            #expect(open.isEmpty, "every slow client is cut off")
            // On new connections (the test client's own may have been closed as idle meanwhile), tried a few
            // times: on a loaded machine this task may sleep past the 2 s deadline between connecting and sending.
            var served = false
            for _ in 0..<5 where !served {
                let other = try RawConnection(port: client.port!)
                try? await other.send("GET", "/v1/health")
                served = (try? await other.readStatus()) == 200
            }
            #expect(served, "others are served")
        }
    }

    /// Connections beyond the per-client limit get 503 and are closed; other
    /// clients are still served, and a freed slot serves the client again.
    @Test func connectionsOverThePerClientLimitAreRefused() async throws {
        var configuration = RelayConfiguration()
        configuration.maxConnectionsPerClient = 8
        try await withLiveRelay(configuration: configuration) { _, client in
            let port = client.port!
            var held: [RawConnection] = []
            for _ in 0..<8 {
                let connection = try RawConnection(port: port, from: "127.0.0.2")
                try await connection.send("GET", "/v1/health")
                #expect(try await connection.readStatus() == 200, "up to the limit, connections are served")
                held.append(connection)
            }
            let refused = try await RawConnection(port: port, from: "127.0.0.2").readHeadText()
            #expect(refused.hasPrefix("HTTP/1.1 503") && refused.lowercased().contains("retry-after"), "\(refused)")
            try await client.execute(uri: "/v1/health", method: .get) { #expect($0.status == .ok, "another client is served") }
            held.removeLast()
            try await Task.sleep(for: .milliseconds(300))
            let again = try RawConnection(port: port, from: "127.0.0.2")
            try await again.send("GET", "/v1/health")
            #expect(try await again.readStatus() == 200, "a closed connection frees its slot")
        }
    }

    /// A body declared larger than any request is refused at once, before
    /// the client sends any of it.
    @Test func aDeclaredBodyOverTheLimitIsRefusedBeforeItIsSent() async throws {
        try await withLiveRelay { _, client in
            let connection = try RawConnection(port: client.port!)
            connection.sendNow("POST /v1/envelopes HTTP/1.1\r\nHost: relay\r\nContent-Type: application/octet-stream\r\nContent-Length: 10485760\r\n\r\n")
            let answer = try await connection.readHeadText()
            #expect(answer.hasPrefix("HTTP/1.1 413"), "\(answer)")
        }
    }
}

/// Behind a reverse proxy the operator trusts, limits count the clients the
/// proxy names; anyone else's X-Forwarded-For is ignored.
@Suite struct TrustedProxyTests {
    static func drop(_ client: any TestClientProtocol, from forwarded: String) async throws -> HTTPResponse.Status {
        let body = DropRequest(targets: [.init(mailbox: randomBytes(32), token: randomBytes(32))], envelope: envelopeBytes()).bytes
        return try await client.execute(uri: "/v1/envelopes", method: .post, headers: [.xForwardedFor: forwarded],
                                        body: ByteBuffer(bytes: body)) { $0.status }
    }

    @Test func aTrustedProxysClientsAreCountedApart() async throws {
        var configuration = RelayConfiguration()
        configuration.addressRate = RateLimit(perSecond: 0.001, burst: 2)
        configuration.trustedProxies = [ClientAddress.bytes("127.0.0.1")!]
        configuration.maxConnectionsPerClient = 2
        try await withLiveRelay(configuration: configuration) { _, client in
            let s1 = try await Self.drop(client, from: "10.0.0.1")
            #expect(s1 != .tooManyRequests)
            let s2 = try await Self.drop(client, from: "192.0.2.9, 10.0.0.1")
            #expect(s2 != .tooManyRequests, "the address the proxy added counts")
            let s3 = try await Self.drop(client, from: "10.0.0.1")
            #expect(s3 == .tooManyRequests)
            let s4 = try await Self.drop(client, from: "10.0.0.2")
            #expect(s4 != .tooManyRequests, "another client behind the proxy")
            // The proxy's own connections are not limited per client.
            for _ in 0..<4 {
                let connection = try RawConnection(port: client.port!)
                try await connection.send("GET", "/v1/health", headers: [("Connection", "close")])
                #expect(try await connection.readStatus() == 200)
            }
        }
    }

    @Test func anUntrustedForwardedForIsIgnored() async throws {
        var configuration = RelayConfiguration()
        configuration.addressRate = RateLimit(perSecond: 0.001, burst: 2)
        try await withLiveRelay(configuration: configuration) { _, client in
            let s5 = try await Self.drop(client, from: "10.0.0.1")
            #expect(s5 != .tooManyRequests)
            let s6 = try await Self.drop(client, from: "10.0.0.2")
            #expect(s6 != .tooManyRequests)
            let s7 = try await Self.drop(client, from: "10.0.0.3")
            #expect(s7 == .tooManyRequests, "all three are the connecting address")
        }
        #expect(RelayConfigurationTests.error(["trusted_proxies": ["not an address"]])?.contains("relay.trusted_proxies[0]") == true)
        #expect(try RelayConfigurationTests.configuration(["trusted_proxies": ["127.0.0.1", "::1"]]).trustedProxies.count == 2)
    }
}
