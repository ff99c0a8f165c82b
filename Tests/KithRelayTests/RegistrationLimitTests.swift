import Foundation
import KithCrypto
import KithNode
import Testing
@testable import KithRelay

/// Registrations are limited per address before their signature (and nonce) is checked.
@Suite struct RegistrationLimitTests {
    @Test func registrationsOverTheRateGet429() async throws {
        var configuration = RelayConfiguration()
        configuration.registrationRate = RateLimit(perSecond: 0.001, burst: 3)
        configuration.registration = .invite
        try await withLiveRelay(configuration: configuration) { url, _ in
            let relay = RelayClient(baseURL: url)
            for _ in 0..<3 {
                let refused = await #expect(throws: RelayClient.Failure.self) { try await relay.register(mailboxKey: SigningKey()) }
                #expect(refused?.code == "invite_required")
            }
            let limited = await #expect(throws: RelayClient.Failure.self) { try await relay.register(mailboxKey: SigningKey()) }
            #expect(limited?.status == 429 && limited?.code == "registration_rate_limited" && limited?.retryAfter != nil)
        }
    }
}
