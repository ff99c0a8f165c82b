import Foundation
import KithCrypto
@testable import KithNode
import KithProtocol
import Testing

/// `Node.waitForMail`: what a node waiting for mail (the daemon, `kith sync --wait`) calls.
@Suite struct WaitForMailTests {
    @Test func aWaitingNodeLearnsOfAFriendsDropAndATimeoutEndsTheWait() async throws {
        try await withRelayAndDirectory { url, dir in
            let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive)
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            try await bob.addFriend(cardText: try await alice.issueCard().text)
            try await alice.addFriend(cardText: try await bob.issueCard().text)
            // Nothing waits: the wait ends at its timeout with no relay named.
            #expect(try await bob.waitForMail(timeout: .milliseconds(300)).isEmpty)

            let waiting = Task { try await bob.waitForMail(timeout: .seconds(120)) }
            try await Task.sleep(for: .milliseconds(300))
            try await alice.createAudience(name: "friends")
            _ = try await alice.addMember(audience: "friends", friend: "bob")
            _ = try await alice.sync()
            #expect(try await waiting.value == [url])
            let report = try await bob.sync()
            #expect(report.newAudienceKeys == 1)
            // Mail fetched and acknowledged: a new wait waits again.
            #expect(try await bob.waitForMail(timeout: .milliseconds(300)).isEmpty)
        }
    }

    @Test func backoffDoublesToItsCapWithJitterAndHonoursRetryAfter() {
        let backoff = WaitBackoff(initial: .seconds(1), maximum: .seconds(8))
        for attempt in 0..<10 {
            let delay = backoff.delay(attempt: attempt, retryAfter: nil)
            let full = min(Duration.seconds(1) * (1 << min(attempt, 3)), .seconds(8))
            #expect(delay >= full * 0.5 && delay <= full)
        }
        #expect(backoff.delay(attempt: 0, retryAfter: 20) == .seconds(20))
    }
}
