import Foundation
import KithCrypto
import KithNode
import KithProtocol
import Synchronization
import Testing
@testable import KithRelay

/// A relay whose disk is nearly full refuses what takes space, and still
/// lets owners drain their mailboxes.
@Suite struct DiskSpaceTests {
    @Test func aNearlyFullDiskRefusesDropsButOwnersStillFetchAndAcknowledge() async throws {
        let store = try SQLiteRelayStore()
        var configuration = RelayConfiguration()
        let made = Mutex<TestMailbox?>(nil)
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let box = try await TestMailbox.make(relay)
            _ = try await relay.drop(DropRequest(targets: [box.target], envelope: envelopeBytes()))
            made.withLock { $0 = box }
        }
        let box = try #require(made.withLock { $0 })
        // The same store, now on a disk with less free than the relay keeps.
        configuration.storageDirectory = NSTemporaryDirectory()
        configuration.minFreeBytes = .max
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let refused = await #expect(throws: RelayClient.Failure.self) {
                try await relay.drop(DropRequest(targets: [box.target], envelope: envelopeBytes()))
            }
            #expect(refused?.status == 507 && refused?.code == "disk_full" && refused?.retryAfter != nil)
            let registration = await #expect(throws: RelayClient.Failure.self) { try await relay.register(mailboxKey: SigningKey()) }
            #expect(registration?.code == "disk_full")
            // The owner drains the mailbox all the same.
            let batch = try await relay.fetch(mailboxKey: box.key, limit: 10)
            #expect(batch.items.count == 1)
            try await relay.acknowledge(ids: batch.items.map { Envelope.id(of: $0.envelope) }, mailboxKey: box.key)
            #expect(try await relay.fetch(mailboxKey: box.key, limit: 10).items.isEmpty)
        }
    }
}
