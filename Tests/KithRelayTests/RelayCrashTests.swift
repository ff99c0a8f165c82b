import Foundation
import KithCrypto
import KithNode
import KithProtocol
import Testing

/// A real relay process under concurrent uploads: killed with SIGKILL mid-upload
/// and started again on its database, it keeps every envelope it acknowledged
/// and no half-written one; many uploaders at once lose and duplicate nothing.
@Suite(.serialized, .timeLimit(.minutes(3))) struct RelayCrashTests {
    /// Limits high enough that only the test's own pace matters.
    static let relaxed: [String: any Sendable] = [
        "drop_rate_per_token": 100_000, "drop_burst_per_token": 1_000_000,
        "drop_rate_per_address": 100_000, "drop_burst_per_address": 1_000_000,
    ]

    /// How many drops the relay has acknowledged in a round so far.
    actor Count {
        var value = 0
        func add() { value += 1 }
    }

    /// Drops `count` new envelopes one after another to `targets`; returns those the relay acknowledged.
    static func upload(_ relay: RelayClient, to targets: [DropRequest.Target], count: Int, counting acks: Count? = nil) async -> [[UInt8]] {
        var acknowledged: [[UInt8]] = []
        for _ in 0..<count {
            let envelope = envelopeBytes()
            guard let result = try? await relay.drop(DropRequest(targets: targets, envelope: envelope)), result.accepted == targets.count else { break }
            acknowledged.append(envelope)
            await acks?.add()
        }
        return acknowledged
    }

    /// Everything waiting in a mailbox, fetched and acknowledged page by page.
    static func drain(_ relay: RelayClient, _ box: TestMailbox) async throws -> [[UInt8]] {
        var all: [[UInt8]] = []
        while true {
            let batch = try await relay.fetch(mailboxKey: box.key, limit: 500)
            if batch.items.isEmpty { return all }
            all += batch.items.map(\.envelope)
            try await relay.acknowledge(ids: batch.items.map { Envelope.id(of: $0.envelope) }, mailboxKey: box.key)
        }
    }

    @Test func aKilledRelayKeepsEveryEnvelopeItAcknowledged() async throws {
        var process = try RelayProcess(relay: Self.relaxed)
        let home = process.home
        let box = try await TestMailbox.make(RelayClient(baseURL: process.url))
        var acknowledged: [[UInt8]] = []
        for round in 0..<4 {
            let relay = RelayClient(baseURL: process.url), acks = Count()
            async let uploads = withTaskGroup(of: [[UInt8]].self) { group in
                for _ in 0..<16 { group.addTask { await Self.upload(relay, to: [box.target], count: 10_000, counting: acks) } }
                return await group.reduce(into: [[UInt8]]()) { $0 += $1 }
            }
            // Killed mid-upload: once drops are being acknowledged (however loaded the machine), a little later each round.
            for _ in 0..<600 where await acks.value == 0 { try await Task.sleep(for: .milliseconds(100)) }
            try await Task.sleep(for: .milliseconds(100 + 100 * round))
            process.kill()
            acknowledged += await uploads
            process = try RelayProcess(relay: Self.relaxed, home: home)
        }
        #expect(acknowledged.count > 0)
        let stored = try await Self.drain(RelayClient(baseURL: process.url), box)
        let sent = Set(acknowledged), kept = Set(stored)
        #expect(sent.isSubset(of: kept), "\(sent.subtracting(kept).count) acknowledged envelopes were lost")
        #expect(stored.count == kept.count, "an envelope came twice")
        // Anything beyond the acknowledged ones was whole: a drop the kill cut before its answer.
        #expect(stored.allSatisfy { (try? Envelope(bytes: $0)) != nil })
        process.stop()
    }

    @Test func fiftyConcurrentUploadersLoseAndDuplicateNothing() async throws {
        let process = try RelayProcess(relay: Self.relaxed)
        let relay = RelayClient(baseURL: process.url)
        var boxes: [TestMailbox] = []
        for _ in 0..<5 { boxes.append(try await TestMailbox.make(relay)) }
        let targets = boxes.map(\.target)
        // Each uploader on connections of its own, so that 50 drops are in flight at once.
        let port = process.port
        let sent = try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
            for _ in 0..<50 {
                group.addTask {
                    var acknowledged: [[UInt8]] = []
                    for _ in 0..<20 {
                        let envelope = envelopeBytes()
                        // A drop answered "busy" (503: the connections of one client, which a loaded machine
                        // closes late) is sent again, as a node does; uploads are idempotent.
                        for _ in 0..<5 {
                            let connection = try RawConnection(port: port)
                            try await connection.send("POST", "/v1/envelopes", headers: [("Connection", "close")],
                                                      body: DropRequest(targets: targets, envelope: envelope).bytes)
                            let status = try await connection.readStatus()
                            if status == 200 { acknowledged.append(envelope) }
                            guard status == 503 || status == 429 else { break }
                            try await Task.sleep(for: .milliseconds(100))
                        }
                    }
                    return acknowledged
                }
            }
            return try await group.reduce(into: [[UInt8]]()) { $0 += $1 }
        }
        #expect(sent.count == 50 * 20)
        for box in boxes {
            let stored = try await Self.drain(relay, box)
            #expect(stored.count == sent.count && Set(stored) == Set(sent))
        }
        process.stop()
    }
}
