import Foundation
import HummingbirdTesting
import KithCrypto
import KithNode
import KithProtocol
import KithRelay
import Testing

/// Fetches are streamed a page at a time and limited in number; a client
/// that stops reading is cut off.
@Suite struct FetchLimitTests {
    /// A mailbox holding `count` envelopes of 64 KiB: 13 MiB, more than the
    /// kernel buffers a stalled connection can absorb (the tests lift the
    /// 4 MiB batch cap so one fetch carries all of it).
    static func fullMailbox(_ relay: RelayClient, count: Int = 200) async throws -> TestMailbox {
        let box = try await TestMailbox.make(relay)
        for _ in 0..<count { _ = try await relay.drop(DropRequest(targets: [box.target], envelope: envelopeBytes(65536))) }
        return box
    }

    /// Sends a signed fetch on a new connection with a tiny receive window and
    /// reads only the answer's head, so the fetch is known to be in progress;
    /// returns the connection and the announced body length.
    static func stalledFetch(_ box: TestMailbox, port: Int) async throws -> (RawConnection, Int) {
        let path = "/v1/mailboxes/\(Base64URL.encode(box.key.publicKey))/envelopes"
        let connection = try RawConnection(port: port, receiveBuffer: 4096)
        try await connection.send("GET", path, headers: signedHeaders("GET", path, key: box.key))
        let head = try await connection.readHead()
        guard head.status == 200, let length = head.contentLength else { throw RawConnection.Failure("stalled fetch got \(head.status)") }
        return (connection, length)
    }

    /// The status of a fetch on a new connection (its body left unread).
    static func fetchStatus(_ box: TestMailbox, port: Int) async throws -> Int {
        let path = "/v1/mailboxes/\(Base64URL.encode(box.key.publicKey))/envelopes?limit=1"
        let connection = try RawConnection(port: port)
        try await connection.send("GET", path, headers: signedHeaders("GET", path, key: box.key))
        return try await connection.readStatus()
    }

    /// Retries `status` (at most 100 times) until it answers `expected`; returns the last answer.
    static func eventually(_ expected: Int, _ status: () async throws -> Int) async throws -> Int {
        var last = 0
        for _ in 0..<100 {
            last = try await status()
            if last == expected { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }

    @Test func fetchesBeyondTheLimitsAreRefusedAtOnce() async throws {
        var configuration = RelayConfiguration()
        configuration.maxFetchesPerMailbox = 2
        configuration.maxFetches = 2
        configuration.fetchMaxBytes = 16 << 20
        try await withLiveRelay(configuration: configuration) { url, client in
            let relay = RelayClient(baseURL: url)
            let bob = try await Self.fullMailbox(relay), carol = try await TestMailbox.make(relay)
            var stalled = [try await Self.stalledFetch(bob, port: client.port!).0, try await Self.stalledFetch(bob, port: client.port!).0]
            // While both stalled fetches hold their slots, a third for bob is
            // 429 and any other fetch 503 (the relay-wide limit is 2 here).
            #expect(try await Self.fetchStatus(bob, port: client.port!) == 429)
            #expect(try await Self.fetchStatus(carol, port: client.port!) == 503)
            // Drops and other requests are not fetches and still work.
            #expect(try await relay.drop(DropRequest(targets: [carol.target], envelope: envelopeBytes())).accepted == 1)
            stalled.removeAll()
            #expect(try await Self.eventually(200) { try await Self.fetchStatus(carol, port: client.port!) } == 200)
            #expect(try await relay.fetch(mailboxKey: bob.key, limit: 500).items.count == 200)
        }
    }

    /// Hummingbird's idle timeout never fires while an answer is being
    /// written; the relay's write timeout frees the slot of a client that
    /// never reads, without that client doing anything.
    @Test func aClientThatNeverReadsIsCutOff() async throws {
        var configuration = RelayConfiguration()
        configuration.maxFetchesPerMailbox = 1
        configuration.writeTimeoutSeconds = 3
        configuration.fetchMaxBytes = 16 << 20
        try await withLiveRelay(configuration: configuration) { url, client in
            let bob = try await Self.fullMailbox(RelayClient(baseURL: url))
            let (stalled, announced) = try await Self.stalledFetch(bob, port: client.port!)
            #expect(try await Self.fetchStatus(bob, port: client.port!) == 429)
            #expect(try await Self.eventually(200) { try await Self.fetchStatus(bob, port: client.port!) } == 200)
            // The stalled client, reading at last, finds its answer cut short.
            let received = try await stalled.readToEnd()
            #expect(received < announced, "got \(received) of \(announced) bytes")
        }
    }

    /// Envelopes acknowledged while their fetch is still being streamed: the
    /// relay cuts the answer short instead of sending other bytes.
    @Test func aFetchWhoseEnvelopesVanishIsCutShort() async throws {
        var configuration = RelayConfiguration()
        configuration.fetchMaxBytes = 16 << 20
        try await withLiveRelay(configuration: configuration) { url, client in
            let relay = RelayClient(baseURL: url)
            let bob = try await Self.fullMailbox(relay)
            let (stalled, announced) = try await Self.stalledFetch(bob, port: client.port!)
            let all = try await relay.fetch(mailboxKey: bob.key, limit: 500)
            #expect(all.items.count == 200)
            try await relay.acknowledge(ids: all.items.map { Envelope.id(of: $0.envelope) }, mailboxKey: bob.key)
            let received = try await stalled.readToEnd()
            #expect(received < announced, "got \(received) of \(announced) bytes")
        }
    }

    /// Batches streamed in pages of one envelope decode exactly as before.
    @Test func streamedBatchesKeepTheWireFormat() async throws {
        var configuration = RelayConfiguration()
        configuration.fetchPageBytes = 1000
        try await withLiveRelay(configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            let envs = (0..<5).map { _ in envelopeBytes(1024) }
            for e in envs { _ = try await relay.drop(DropRequest(targets: [bob.target], envelope: e)) }
            let first = try await relay.fetch(mailboxKey: bob.key, limit: 3)
            #expect(first.items.map(\.envelope) == Array(envs[0..<3]) && first.more)
            let rest = try await relay.fetch(mailboxKey: bob.key, after: first.items.last!.sequence, limit: 10)
            #expect(rest.items.map(\.envelope) == Array(envs[3...]) && !rest.more)
            #expect(try await relay.fetch(mailboxKey: bob.key, after: rest.items.last!.sequence, limit: 10).items.isEmpty)
        }
    }

    /// A body acknowledged between listing and reading is never replaced by
    /// other bytes: reading the page fails, and the relay cuts the answer short.
    @Test func aBodyThatVanishedAbortsThePage() async throws {
        let store = try SQLiteRelayStore()
        let bob = TestMailbox()
        _ = try await store.register(mailbox: bob.key.publicKey, now: 1)
        try await store.addToken(hash: DropToken.hash(bob.token), mailbox: bob.key.publicKey, now: 1)
        let envs = (0..<3).map { _ in envelopeBytes() }
        for e in envs { _ = try await store.drop(DropRequest(targets: [bob.target], envelope: e), now: 1, ttl: 99) }
        let listing = try await store.listBatch(mailbox: bob.key.publicKey, after: 0, limit: 10, maxBytes: 1 << 20)
        #expect(listing.entries.count == 3 && !listing.more)
        #expect(listing.encodedLength == FetchedBatch(items: [], more: false).bytes.count + 3 * (20 + envs[0].count))
        _ = try await store.acknowledge(mailbox: bob.key.publicKey, ids: [Envelope.id(of: envs[1])])
        await #expect(throws: BatchListing.Vanished.self) { try await store.readPage(mailbox: bob.key.publicKey, listing.entries[...]) }
        #expect(try await store.readPage(mailbox: bob.key.publicKey, listing.entries[2...]) == [envs[2]])
    }
}
