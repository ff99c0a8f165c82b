import Foundation
import KithCrypto
import KithNode
import KithProtocol
import KithRelay
import NIOConcurrencyHelpers
import Testing

/// Revoking a drop token while drops with it are in flight.
@Suite struct RevocationLoadTests {
    struct Attempt: Sendable {
        let started: ContinuousClock.Instant
        let status: Int
    }

    /// Eight tasks drop with carol's token, one revokes it, one drops with bob's.
    static func load(_ relay: RelayClient, carol: DropRequest.Target, carolsToken: [UInt8], bobKey: SigningKey,
                     bobsTarget: DropRequest.Target) async throws -> ([Attempt], ContinuousClock.Instant?) {
        let revokedAt = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
        var attempts: [Attempt] = []
        try await withThrowingTaskGroup(of: [Attempt].self) { group in
            for _ in 0..<8 { group.addTask { try await Self.dropUntilRefused(relay, carol, revokedAt) } }
            group.addTask { try await Self.revoke(relay, carolsToken, bobKey, revokedAt) }
            group.addTask { try await Self.dropAll(relay, bobsTarget, count: 40) }
            for try await some in group { attempts += some }
        }
        return (attempts, revokedAt.withLockedValue { $0 })
    }

    /// Drops with `target` until 20 have started after the revocation.
    static func dropUntilRefused(_ relay: RelayClient, _ target: DropRequest.Target,
                                 _ revokedAt: NIOLockedValueBox<ContinuousClock.Instant?>) async throws -> [Attempt] {
        var attempts: [Attempt] = []
        var afterRevocation = 0
        while afterRevocation < 20 {
            if revokedAt.withLockedValue({ $0 }) != nil { afterRevocation += 1 }
            let started = ContinuousClock.now
            do {
                _ = try await relay.drop(DropRequest(targets: [target], envelope: envelopeBytes()))
                attempts.append(Attempt(started: started, status: 200))
            } catch let failure as RelayClient.Failure {
                attempts.append(Attempt(started: started, status: failure.status ?? 0))
            }
        }
        return attempts
    }

    static func revoke(_ relay: RelayClient, _ token: [UInt8], _ key: SigningKey,
                       _ revokedAt: NIOLockedValueBox<ContinuousClock.Instant?>) async throws -> [Attempt] {
        try await Task.sleep(for: .milliseconds(300))
        try await relay.removeToken(token, mailboxKey: key)
        revokedAt.withLockedValue { $0 = ContinuousClock.now }
        return []
    }

    /// The mailbox's own token, all along (marked 201 to tell them apart).
    static func dropAll(_ relay: RelayClient, _ target: DropRequest.Target, count: Int) async throws -> [Attempt] {
        var attempts: [Attempt] = []
        for _ in 0..<count {
            _ = try await relay.drop(DropRequest(targets: [target], envelope: envelopeBytes()))
            attempts.append(Attempt(started: ContinuousClock.now, status: 201))
        }
        return attempts
    }

    /// Every drop that starts after the revocation's answer is refused (403);
    /// the mailbox's other tokens keep working throughout.
    @Test func aRevokedTokenIsRefusedAtOnceUnderLoad() async throws {
        var configuration = RelayConfiguration()
        configuration.tokenRate = nil
        configuration.addressRate = nil
        configuration.quota = nil
        try await withLiveRelay(configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            let carolsToken = randomBytes(32)
            try await relay.addToken(carolsToken, mailboxKey: bob.key)
            let carol = DropRequest.Target(mailbox: bob.key.publicKey, token: carolsToken)
            let (attempts, revokedAt) = try await Self.load(relay, carol: carol, carolsToken: carolsToken, bobKey: bob.key, bobsTarget: bob.target)
            let revoked = try #require(revokedAt)
            let carols = attempts.filter { $0.status != 201 }
            let before = carols.filter { $0.started < revoked }, after = carols.filter { $0.started > revoked }
            #expect(before.contains { $0.status == 200 }, "no drop got through before the revocation")
            #expect(after.count >= 8 * 19)
            #expect(after.allSatisfy { $0.status == 403 }, "\(after.filter { $0.status != 403 }.count) drops after the revocation were not refused")
            #expect(attempts.filter { $0.status == 201 }.count == 40)
            #expect(try await relay.drop(DropRequest(targets: [bob.target], envelope: envelopeBytes())).accepted == 1)
        }
    }
}
