import Foundation
import KithCrypto
import KithProtocol
import KithRelay
import Testing

extension RelayStorageContract {
    @Test(arguments: StoreFactory.all) func aBlobIsStoredOnceAndReadInPieces(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let bob = try await Box.make(store), carol = try await Box.make(store), dave = try await Box.make(store)
            let blob = randomBytes(300_001), id = Hash.blake2b(blob)
            let forged = DropRequest.Target(mailbox: dave.id, token: randomBytes(32))
            let result = try await store.storeBlob(blob[...], for: [bob.target, forged, carol.target], now: 10, ttl: 100, quota: nil)
            #expect(result == DropResult(id: Hex.encode(id), accepted: 2, refused: [1]))
            // Again, and for dave too now: the blob is not stored twice, and bob and carol hold one reference each still.
            _ = try await store.storeBlob(blob[...], for: [bob.target, carol.target, dave.target], now: 20, ttl: 100, quota: nil)
            #expect(try await store.counts() == RelayCounts(mailboxes: 3, bodies: 0, deliveries: 0, bodyBytes: 0, blobs: 1, blobBytes: blob.count))
            // Counted in the blob quota, not the envelopes'.
            #expect(try await store.usage(of: bob.id)! == (0, 0))
            #expect(try await store.blobs(of: bob.id, limit: 10).map(\.size) == [blob.count])
            #expect(try await store.blobSize(id: id, mailbox: bob.id) == blob.count)
            #expect(try await store.blobSize(id: id, mailbox: Box().id) == nil)
            // Read in pieces, the last one short.
            var read: [UInt8] = []
            while read.count < blob.count { read += try await store.readBlob(id: id, offset: read.count, length: 65_536) }
            #expect(read == blob)
            #expect(try await store.readBlob(id: id, offset: blob.count, length: 10).isEmpty)
            // A blob stored in a slice of a larger array is the slice's bytes.
            let body = randomBytes(100) + blob.prefix(5000)
            let sliced = try await store.storeBlob(body[100...], for: [bob.target], now: 10, ttl: 100, quota: nil)
            #expect(sliced.id == Hex.encode(Hash.blake2b(Array(blob.prefix(5000)))))
            #expect(try await store.readBlob(id: Hash.blake2b(Array(blob.prefix(5000))), offset: 0, length: 1 << 20) == Array(blob.prefix(5000)))

            #expect(try await store.releaseBlob(id: id, mailbox: bob.id))
            #expect(try await !store.releaseBlob(id: id, mailbox: bob.id))
            #expect(try await store.releaseBlob(id: id, mailbox: carol.id))
            #expect(try await store.counts().blobs == 2)
            #expect(try await store.releaseBlob(id: id, mailbox: dave.id))
            await #expect(throws: BlobVanished.self) { try await store.readBlob(id: id, offset: 0, length: 10) }
            #expect(try await store.counts().blobs == 1)
        }
    }

    @Test(arguments: StoreFactory.all) func blobReferencesExpireAndCountInABlobQuotaApartFromEnvelopes(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let bob = try await Box.make(store), carol = try await Box.make(store)
            // Room for one envelope; apart from it, 10,000 bytes of blobs and two of them.
            let quota = MailboxQuota(bytes: 1000, envelopes: 1, blobBytes: 10_000, blobs: 2)
            let blob = randomBytes(6000), id = Hash.blake2b(blob)
            _ = try await store.storeBlob(blob[...], for: [bob.target], now: 100, ttl: 50, quota: quota)
            _ = try await store.storeBlob(blob[...], for: [carol.target], now: 120, ttl: 50, quota: quota)
            // Another 6,000 bytes do not fit beside the first in bob's 10,000; an envelope does, the blob not counted in its quota.
            await #expect(throws: MailboxFull(target: 0)) {
                try await store.storeBlob(randomBytes(6000)[...], for: [bob.target], now: 100, ttl: 50, quota: quota)
            }
            _ = try await store.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes()), now: 100, ttl: 50, quota: quota)
            #expect(try await store.usage(of: bob.id)! == (1, 574))
            // The number of blobs: a second small one fits, a third does not.
            let small = randomBytes(100)
            _ = try await store.storeBlob(small[...], for: [bob.target], now: 101, ttl: 50, quota: quota)
            await #expect(throws: MailboxFull(target: 0)) {
                try await store.storeBlob(randomBytes(100)[...], for: [bob.target], now: 102, ttl: 50, quota: quota)
            }
            // The same blob again is no new reference: accepted, not counted twice, and lives as long as the later upload's.
            #expect(try await store.storeBlob(small[...], for: [bob.target], now: 103, ttl: 50, quota: quota).accepted == 1)
            // The owner's listing: bob's references, oldest first; carol's only hers.
            #expect(try await store.blobs(of: bob.id, limit: 10) == [
                BlobListing(id: Base64URL.encode(id), size: 6000, receivedAt: 100, expiresAt: 150),
                BlobListing(id: Base64URL.encode(Hash.blake2b(small)), size: 100, receivedAt: 101, expiresAt: 153),
            ])
            #expect(try await store.blobs(of: bob.id, limit: 1).count == 1)
            #expect(try await store.blobs(of: carol.id, limit: 10) == [BlobListing(id: Base64URL.encode(id), size: 6000, receivedAt: 120, expiresAt: 170)])
            #expect(try await store.collect(now: 151) == CollectedGarbage(references: 1, bodies: 1, blobReferences: 1, blobs: 0))
            #expect(try await store.blobSize(id: id, mailbox: carol.id) == 6000)
            #expect(try await store.blobs(of: bob.id, limit: 10).map(\.expiresAt) == [153])
            #expect(try await store.collect(now: 170, batch: 1) == CollectedGarbage(blobReferences: 2, blobs: 2))
            #expect(try await store.counts() == RelayCounts(mailboxes: 2, bodies: 0, deliveries: 0, bodyBytes: 0))
            #expect(try await store.usage(of: bob.id)! == (0, 0))
            #expect(try await store.usage(of: carol.id)! == (0, 0))
            // The counts are back at nothing: bob takes two blobs again.
            for _ in 0..<2 { _ = try await store.storeBlob(randomBytes(100)[...], for: [bob.target], now: 200, ttl: 50, quota: quota) }
        }
    }

    @Test(arguments: StoreFactory.all) func anyValidTokenIsReadWithoutCountingAnything(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let bob = try await Box.make(store), carol = try await Box.make(store)
            #expect(try await store.anyValidToken([bob.target]))
            #expect(try await store.anyValidToken([.init(mailbox: carol.id, token: randomBytes(32)), carol.target]))
            // bob's token does not open carol's mailbox.
            #expect(try await !store.anyValidToken([.init(mailbox: carol.id, token: bob.target.token), .init(mailbox: randomBytes(32), token: randomBytes(32))]))
            #expect(try await store.usage(of: bob.id)! == (0, 0))
        }
    }
}
