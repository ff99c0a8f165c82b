import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KithCrypto
@testable import KithNode
import KithProtocol
@testable import KithRelay
import Testing

/// The long poll for mail: `GET /v1/mailboxes/{mailbox}/wait`.
@Suite struct WaitTests {
    @Test func aWaiterLearnsOfADropAndAWaitingEnvelopeAnswersAtOnce() async throws {
        try await withLiveRelay { url, _ in
            let relay = RelayClient(baseURL: url)
            let m = try await TestMailbox.make(relay)
            let waiting = Task { try await relay.wait(mailboxKey: m.key) }
            try await Task.sleep(for: .milliseconds(300))
            _ = try await relay.drop(DropRequest(targets: [m.target], envelope: envelopeBytes()))
            #expect(try await waiting.value == 1)
            // Mail waits already: the answer comes at once, and `after` skips what the owner has.
            #expect(try await relay.wait(mailboxKey: m.key) == 1)
            _ = try await relay.drop(DropRequest(targets: [m.target], envelope: envelopeBytes()))
            #expect(try await relay.wait(mailboxKey: m.key, after: 1) == 2)
        }
    }

    @Test func aWaitWithoutMailEndsWith204() async throws {
        var configuration = RelayConfiguration()
        configuration.waitSeconds = 1
        try await withLiveRelay(configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let m = try await TestMailbox.make(relay)
            #expect(try await relay.wait(mailboxKey: m.key) == nil)
        }
    }

    @Test func waitsOverTheLimitAre429AndUnsignedWaitsAreRefused() async throws {
        var configuration = RelayConfiguration()
        configuration.waitSeconds = 3
        configuration.maxWaitersPerMailbox = 1
        try await withLiveRelay(configuration: configuration) { url, client in
            let relay = RelayClient(baseURL: url)
            let m = try await TestMailbox.make(relay)
            let first = Task { try await relay.wait(mailboxKey: m.key) }
            try await Task.sleep(for: .seconds(1))
            let refused = await #expect(throws: RelayClient.Failure.self) { try await relay.wait(mailboxKey: m.key) }
            #expect(refused?.status == 429 && refused?.code == "too_many_waits" && refused?.retryAfter == 3)
            #expect(try await first.value == nil)
            let unsigned = try await client.execute(uri: "/v1/mailboxes/\(Base64URL.encode(m.key.publicKey))/wait", method: .get)
            #expect(unsigned.status == .unauthorized)
        }
    }

    @Test func waitersAreBoundedPerMailboxAndInAll() throws {
        let waiters = MailWaiters(perMailbox: 2, total: 3)
        let a = [UInt8](repeating: 1, count: 32), b = [UInt8](repeating: 2, count: 32)
        let ids = [try waiters.enter(a), try waiters.enter(a)]
        #expect(throws: MailWaiters.Refusal.mailboxBusy) { _ = try waiters.enter(a) }
        let other = try waiters.enter(b)
        #expect(throws: MailWaiters.Refusal.relayBusy) { _ = try waiters.enter(b) }
        for id in ids { waiters.leave(a, id: id) }
        waiters.leave(b, id: other)
        waiters.leave(b, id: other)
        #expect(waiters.count == 0)
    }

    @Test func theNodeWaitsAgainAfterTheRelayRestarts() async throws {
        var first: RelayProcess? = try RelayProcess()
        first!.keepsHome = true
        let home = first!.home, port = first!.port, url = first!.url
        let relay = RelayClient(baseURL: url)
        let m = try await TestMailbox.make(relay)
        let backoff = WaitBackoff(initial: .milliseconds(100), maximum: .milliseconds(500))
        let waiting = Task { await Node.waitForMail(on: url, key: m.key, backoff: backoff) }
        try await Task.sleep(for: .milliseconds(300))
        first!.stop()
        first = nil
        try await Task.sleep(for: .seconds(1))
        let second = try RelayProcess(home: home, port: port)
        defer { second.stop() }
        _ = try await relay.drop(DropRequest(targets: [m.target], envelope: envelopeBytes()))
        #expect(await waiting.value)
    }
}
