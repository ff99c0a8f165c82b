import Foundation
import GRDB
@testable import KithNode
import Testing

/// The outbox's age limit and retry policy, as the daemon uses them.
@Suite struct OutboxAgeTests {
    @Test func aDeliveryPastTheAgeLimitIsGivenUpAndReportedNotDropped() async throws {
        try await withFriends { alice, bob, relay in
            try await alice.createAudience(name: "family")
            try await alice.addMember(audience: "family", friend: "bob")
            _ = try await alice.post(to: "family", text: "too late")
            #expect(try await alice.outboxSummary().queued == 2)

            // A day later, with a limit of two days: nothing is given up.
            let tomorrow = try Node.open(home: alice.home) { Node.now() + 86_400 }.unlock(passphrase: passphrase)
            #expect(try await tomorrow.expireDeliveries(olderThan: 2 * 86_400).isEmpty)
            // Three days later it is: reported per relay, kept in the outbox, never sent.
            let later = try Node.open(home: alice.home) { Node.now() + 3 * 86_400 }.unlock(passphrase: passphrase)
            let expired = try await later.expireDeliveries(olderThan: 2 * 86_400)
            #expect(expired == [ExpiredDeliveries(relay: relay, count: 2, lastError: nil)])
            let summary = try await later.outboxSummary()
            #expect(summary.queued == 0 && summary.expired == 2)
            #expect(try await later.expireDeliveries(olderThan: 2 * 86_400).isEmpty)
            #expect(try await later.sync(retryNow: true).delivered == 0)
            #expect(try await bob.sync().newPosts == 0)
        }
    }

    @Test func theRetryPolicySetsTheFirstAndLongestWait() {
        let policy = RetryPolicy(first: 1, longest: 2)
        for _ in 0..<50 {
            #expect((0...1).contains(Node.backoff(attempt: 1, policy: policy)))
            #expect((1...2).contains(Node.backoff(attempt: 10, policy: policy)))
            #expect(Node.retryTime(after: 1000, attempt: 0, notBefore: 60, policy: policy) == 1002)
        }
        #expect(RetryPolicy(first: 0, longest: 0) == RetryPolicy(first: 1, longest: 1))
    }
}
