import Foundation
import KithCrypto
import KithProtocol
import KithRelay
import Testing

/// What the friend invitation routes rely on from their store.
extension RelayStorageContract {
    @Test(arguments: StoreFactory.all) func anInvitationIsTakenOnceAndNotAfterItExpires(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let box = try await Box.make(store)
            let once = randomBytes(32), late = randomBytes(32), sealed = randomBytes(700)
            try await store.putInvitation(id: once, mailbox: box.id, sealed: sealed, now: 100, expiresAt: 200, maxLive: 5)
            try await store.putInvitation(id: late, mailbox: box.id, sealed: sealed, now: 100, expiresAt: 200, maxLive: 5)
            #expect(try await store.takeInvitation(id: once, now: 199) == sealed)
            #expect(try await store.takeInvitation(id: once, now: 199) == nil)
            #expect(try await store.takeInvitation(id: late, now: 200) == nil)
            #expect(try await store.takeInvitation(id: randomBytes(32), now: 100) == nil)
        }
    }

    @Test(arguments: StoreFactory.all) func liveInvitationsAreCappedPerMailboxAndIdsAreTheirs(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let box = try await Box.make(store), other = try await Box.make(store)
            let first = randomBytes(32)
            try await store.putInvitation(id: first, mailbox: box.id, sealed: [1], now: 100, expiresAt: 150, maxLive: 2)
            try await store.putInvitation(id: randomBytes(32), mailbox: box.id, sealed: [2], now: 100, expiresAt: 300, maxLive: 2)
            // The same put again is no new invitation; a third is over the cap, another mailbox is not.
            try await store.putInvitation(id: first, mailbox: box.id, sealed: [1], now: 100, expiresAt: 150, maxLive: 2)
            await #expect(throws: InvitationRefusal.tooMany) {
                try await store.putInvitation(id: randomBytes(32), mailbox: box.id, sealed: [3], now: 100, expiresAt: 300, maxLive: 2)
            }
            await #expect(throws: InvitationRefusal.idTaken) {
                try await store.putInvitation(id: first, mailbox: other.id, sealed: [4], now: 100, expiresAt: 300, maxLive: 2)
            }
            try await store.putInvitation(id: randomBytes(32), mailbox: other.id, sealed: [5], now: 100, expiresAt: 300, maxLive: 2)
            // An expired one leaves room, and is deleted by that put.
            try await store.putInvitation(id: randomBytes(32), mailbox: box.id, sealed: [6], now: 150, expiresAt: 300, maxLive: 2)
            #expect(try await store.collect(now: 150).invitations == 0)
            #expect(try await store.collect(now: 299).invitations == 0)
            #expect(try await store.collect(now: 300, batch: 1).invitations == 3)
        }
    }

    /// Invitations of one second put one after another never pile up
    /// beyond the cap between collections.
    @Test(arguments: StoreFactory.all) func shortLivedInvitationsDoNotPileUp(_ factory: StoreFactory) async throws {
        try await Self.with(factory) { (store: any RelayStorage) async throws in
            let box = try await Box.make(store)
            for second in UInt64(0)..<10 {
                try await store.putInvitation(id: randomBytes(32), mailbox: box.id, sealed: [1], now: 100 + second, expiresAt: 101 + second, maxLive: 2)
            }
            #expect(try await store.collect(now: 1000).invitations == 1)
        }
    }
}
