import Foundation
import KithCrypto
import KithNode
import KithProtocol
import Testing

/// Attacks on a real `kith relay` process: what must not kill it or exhaust
/// its memory.
@Suite struct RelayProcessTests {
    /// The bound docs/PROTOCOL.md states for a relay under this attack.
    static let memoryBound = 256 << 20
    static let connections = 150

    /// A 65,536-byte request target with well-formed Kith-* headers once
    /// trapped in the signed message's str16 path and killed the relay.
    @Test func anOverlongTargetDoesNotKillTheRelay() async throws {
        let process = try RelayProcess()
        defer { process.stop() }
        let mailbox = Base64URL.encode(SigningKey().publicKey)
        let path = "/v1/mailboxes/\(mailbox)/envelopes"
        let connection = try RawConnection(port: process.port)
        try await connection.send("GET", path + "?pad=" + String(repeating: "a", count: 65_536), headers: HostileRequestTests.forgedHeaders(mailbox))
        #expect(try await connection.readStatus() == 414)
        let relay = RelayClient(baseURL: process.url)
        try await relay.register(mailboxKey: SigningKey())
        #expect(process.process.isRunning)
    }

    /// Clients that send fetches and never read the answers. Before batches
    /// were streamed, 150 such fetches took a relay from 295 MB to 2.75 GB
    /// (this test measured 1.1 GB on that code, 81 MiB after).
    @Test func stalledFetchesDoNotExhaustMemory() async throws {
        // 256 drops with each token, faster than the default rate allows.
        let process = try RelayProcess(relay: ["drop_burst_per_token": 1000])
        defer { process.stop() }
        let relay = RelayClient(baseURL: process.url)
        // 30 mailboxes each holding the same 256 envelopes of 64 KiB: 16 MiB
        // waiting per mailbox (the old batch cap), while the relay stores each body once.
        var boxes: [TestMailbox] = []
        for _ in 0..<30 { boxes.append(try await TestMailbox.make(relay)) }
        for _ in 0..<256 { _ = try await relay.drop(DropRequest(targets: boxes.map(\.target), envelope: envelopeBytes(65536))) }

        var stalled: [RawConnection] = []
        for i in 0..<Self.connections {
            let key = boxes[i % boxes.count].key
            let path = "/v1/mailboxes/\(Base64URL.encode(key.publicKey))/envelopes?limit=500"
            // From five addresses, each within the relay's connection limit per client.
            let connection = try RawConnection(port: process.port, receiveBuffer: 4096, from: "127.0.1.\(i % 5 + 1)")
            try await connection.send("GET", path, headers: signedHeaders("GET", path, key: key))
            stalled.append(connection)
        }
        // Watch the relay's memory while it works through the requests.
        var peak = 0
        for _ in 0..<50 {
            peak = max(peak, try #require(process.residentBytes))
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(peak < Self.memoryBound, "relay grew to \(peak >> 20) MiB")

        // The relay still serves everyone else while the stalled fetches hang.
        let newcomer = try await TestMailbox.make(relay)
        let env = envelopeBytes()
        #expect(try await relay.drop(DropRequest(targets: [newcomer.target], envelope: env)).accepted == 1)
        // Once the stalled clients go away, fetching works again.
        stalled.removeAll()
        var fetched: [[UInt8]]?
        for _ in 0..<100 where fetched == nil {
            do { fetched = try await relay.fetch(mailboxKey: newcomer.key, limit: 10).items.map(\.envelope) } catch {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(fetched == [env])
        #expect(process.process.isRunning)
    }

    /// Clients that send large bodies the relay answers early (to an unknown
    /// path, or declared too large, or chunked without a length) do not grow
    /// its memory: bodies are refused from their Content-Length or read and
    /// dropped a piece at a time.
    @Test func largeBodiesAnsweredEarlyDoNotGrowMemory() async throws {
        let process = try RelayProcess()
        defer { process.stop() }
        let port = process.port
        let body = [UInt8](repeating: 0x41, count: 10 << 20)
        async let uploads: Void = withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<24 {
                group.addTask {
                    for _ in 0..<2 {
                        let connection = try RawConnection(port: port)
                        switch i % 3 {
                        case 0: try await connection.send("POST", "/v1/nowhere", body: body)
                        case 1: try await connection.send("POST", "/v1/envelopes", body: body)
                        default:
                            _ = connection.sendNow("POST /v1/envelopes HTTP/1.1\r\nHost: relay\r\nTransfer-Encoding: chunked\r\n\r\n")
                            try await connection.send(raw: Array("a00000\r\n".utf8) + body + Array("\r\n0\r\n\r\n".utf8))
                        }
                        _ = try? await connection.readStatus()
                    }
                }
            }
            try await group.waitForAll()
        }
        var peak = 0
        for _ in 0..<40 {
            peak = max(peak, process.residentBytes ?? 0)
            try await Task.sleep(for: .milliseconds(100))
        }
        try await uploads
        #expect(peak < 256 << 20, "relay grew to \(peak >> 20) MiB")
        #expect(process.process.isRunning)
    }
}
