import Foundation
import HTTPTypes
import HummingbirdTesting
import KithCrypto
import KithNode
import KithProtocol
@testable import KithRelay
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// The friend invitation routes: an owner puts a sealed card under its id,
/// anyone with the id takes it once.
@Suite struct InvitationRouteTests {
    static func sealed(_ count: Int = 600) -> [UInt8] { [1] + randomBytes(count - 1) }

    @Test func anInvitationIsTakenOnceThenAnswersLikeAnUnknownOne() async throws {
        try await withLiveRelay { url, client in
            let relay = RelayClient(baseURL: url)
            let owner = try await TestMailbox.make(relay)
            let id = randomBytes(32), sealed = Self.sealed()
            try await relay.putInvitation(id: id, sealed: sealed, lifetime: 600, mailboxKey: owner.key)
            // A retry of the same put changes nothing.
            try await relay.putInvitation(id: id, sealed: sealed, lifetime: 600, mailboxKey: owner.key)
            #expect(try await relay.takeInvitation(id: id) == sealed)
            #expect(try await relay.takeInvitation(id: id) == nil)
            #expect(try await relay.takeInvitation(id: randomBytes(32)) == nil)
            let answer = try await client.execute(uri: "/v1/invitations/\(Base64URL.encode(id))/take", method: .post, headers: [:], body: ByteBuffer())
            #expect(answer.status.code == 404 && String(buffer: answer.body).contains("no_such_invitation"))
        }
    }

    @Test func anExpiredInvitationIsNotHandedOutAndIsSwept() async throws {
        let store = try SQLiteRelayStore()
        let now = NIOLockedValueBox<UInt64>(UInt64(Date().timeIntervalSince1970))
        var configuration = RelayConfiguration()
        configuration.clock = { now.withLockedValue { $0 } }
        try await withLiveRelay(store: store, configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let owner = try await TestMailbox.make(relay)
            let kept = randomBytes(32), swept = randomBytes(32)
            try await relay.putInvitation(id: kept, sealed: Self.sealed(), lifetime: 60, mailboxKey: owner.key)
            try await relay.putInvitation(id: swept, sealed: Self.sealed(), lifetime: 60, mailboxKey: owner.key)
            now.withLockedValue { $0 += 60 }
            #expect(try await relay.takeInvitation(id: kept) == nil)
            #expect(try await store.collect(now: now.withLockedValue { $0 }).invitations == 1)
            #expect(try await store.takeInvitation(id: swept, now: 0) == nil)
        }
    }

    @Test func limitsComeFromTheConfigurationAndJunkIsRefused() async throws {
        var configuration = RelayConfiguration()
        configuration.maxInvitationsPerMailbox = 2
        configuration.maxInvitationSeconds = 3600
        configuration.invitationTakeRate = RateLimit(perSecond: 0.001, burst: 3)
        try await withLiveRelay(configuration: configuration) { url, client in
            let relay = RelayClient(baseURL: url)
            let owner = try await TestMailbox.make(relay), other = try await TestMailbox.make(relay)
            func refusal(_ body: () async throws -> Void) async -> RelayClient.Failure? {
                await #expect(throws: RelayClient.Failure.self) { try await body() }
            }
            let long = await refusal { try await relay.putInvitation(id: randomBytes(32), sealed: Self.sealed(), lifetime: 3601, mailboxKey: owner.key) }
            #expect(long?.status == 400 && long?.code == "invitation_lifetime")
            let zero = await refusal { try await relay.putInvitation(id: randomBytes(32), sealed: Self.sealed(), lifetime: 0, mailboxKey: owner.key) }
            #expect(zero?.code == "invitation_lifetime")
            let big = await refusal {
                try await relay.putInvitation(id: randomBytes(32), sealed: Self.sealed(FriendInvitation.maxSealedBytes + 1), lifetime: 60, mailboxKey: owner.key)
            }
            #expect(big?.status == 400)
            let small = await refusal { try await relay.putInvitation(id: randomBytes(32), sealed: [1, 2], lifetime: 60, mailboxKey: owner.key) }
            #expect(small?.status == 400)

            let first = randomBytes(32)
            try await relay.putInvitation(id: first, sealed: Self.sealed(), lifetime: 60, mailboxKey: owner.key)
            try await relay.putInvitation(id: randomBytes(32), sealed: Self.sealed(FriendInvitation.maxSealedBytes), lifetime: 60, mailboxKey: owner.key)
            let third = await refusal { try await relay.putInvitation(id: randomBytes(32), sealed: Self.sealed(), lifetime: 60, mailboxKey: owner.key) }
            #expect(third?.status == 403 && third?.code == "too_many_invitations")
            // Another mailbox has its own room, but not another's id.
            let taken = await refusal { try await relay.putInvitation(id: first, sealed: Self.sealed(), lifetime: 60, mailboxKey: other.key) }
            #expect(taken?.status == 409 && taken?.code == "invitation_id_taken")
            // Taking one makes room again.
            #expect(try await relay.takeInvitation(id: first) != nil)
            try await relay.putInvitation(id: randomBytes(32), sealed: Self.sealed(), lifetime: 60, mailboxKey: owner.key)

            // An unsigned put, a bad id, then takes over the rate.
            let path = "/v1/mailboxes/\(Base64URL.encode(owner.key.publicKey))/invitations/\(Base64URL.encode(randomBytes(32)))"
            let unsigned = try await client.execute(uri: path, method: .put, headers: [:], body: ByteBuffer(bytes: [0, 0, 0, 60] + Self.sealed()))
            #expect(unsigned.status.code == 401)
            let badID = try await client.execute(uri: "/v1/invitations/short/take", method: .post, headers: [:], body: ByteBuffer())
            #expect(badID.status.code == 400)
            #expect(try await relay.takeInvitation(id: randomBytes(32)) == nil)
            let limited = await refusal { _ = try await relay.takeInvitation(id: randomBytes(32)) }
            #expect(limited?.status == 429 && limited?.code == "take_rate_limited" && limited?.retryAfter != nil)
        }
    }
}
