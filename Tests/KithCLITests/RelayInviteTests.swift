import Foundation
import Testing

/// A relay that registers mailboxes by invitation, through the binary.
@Suite struct RelayInviteTests {
    @Test func anInviteCodeRegistersOneNode() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relayHome = dir + "/relay"
        let relay = try RelayProcess(home: relayHome, arguments: ["--registration", "invite"])
        defer { relay.stop() }

        // Without a code, init is refused and leaves nothing behind.
        let refused = try kith(["init", "--home", dir + "/alice", "--name", "alice", "--relay", relay.url])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("kith: error: registering a mailbox failed: \(relay.url): this relay registers mailboxes by invitation"))
        #expect(refused.stderr.contains("kith: hint: this relay takes new mailboxes by invitation"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/alice"))

        // The operator mints a code while the relay runs.
        let code = try kithOK(["relay", "invite", "--home", relayHome])
        #expect(code.count == 22)
        try kithOK(["init", "--home", dir + "/alice", "--name", "alice", "--relay", relay.url, "--invite", code])
        #expect(FileManager.default.fileExists(atPath: dir + "/alice/keystore"))

        // The code is spent: a second node cannot use it, and nothing is left of it.
        let again = try kith(["init", "--home", dir + "/bob", "--name", "bob", "--relay", relay.url, "--invite", code])
        #expect(again.status == 1)
        #expect(again.stderr.hasPrefix("kith: error: registering a mailbox failed: \(relay.url): this invite code was used already (HTTP 403)\n"))
        #expect(again.stderr.contains("kith: hint: each invite code works once"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/bob"))

        // A malformed code is refused before anything is asked or written.
        let bad = try kith(["init", "--home", dir + "/carol", "--name", "carol", "--relay", relay.url, "--invite", "not-a-code"])
        #expect(bad.status == 1 && bad.stderr.hasPrefix("kith: error: --invite is not an invite code\n"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/carol"))

        // alice's node works as any other.
        let card = try kithOK(["card", "--home", dir + "/alice"])
        #expect(card.hasPrefix("kith-card:"))
    }
}
