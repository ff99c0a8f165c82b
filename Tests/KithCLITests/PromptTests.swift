import Foundation
import Testing

/// The passphrase prompt, on a real pseudo-terminal (util-linux `script`):
/// it asks twice at init, does not echo, and the node opens with what was typed.
@Suite struct PromptTests {
    @Test func asksTwiceWithoutEchoAndTheNodeOpensWithIt() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let home = dir + "/alice"
        let secret = "typed-" + UUID().uuidString.prefix(8)
        let created = try onTerminal(["init", "--home", home, "--name", "alice", "--relay", relay.url],
                                     answers: [("Passphrase: ", String(secret)), ("Passphrase again: ", String(secret))])
        #expect(created.status == 0, "\(created.screen)")
        #expect(!created.screen.contains(secret), "the passphrase was echoed")
        #expect(try kith(["card", "--home", home], passphrase: String(secret)).status == 0)

        let mismatch = try onTerminal(["init", "--home", dir + "/bob", "--name", "bob", "--relay", relay.url],
                                      answers: [("Passphrase: ", "one"), ("Passphrase again: ", "two")])
        #expect(mismatch.status != 0 && mismatch.screen.contains("kith: error: the passphrases do not match"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/bob"))

        let wrong = try onTerminal(["card", "--home", home], answers: [("Passphrase: ", "not it")])
        #expect(wrong.status != 0 && wrong.screen.contains("kith: error: wrong passphrase"))
        relay.stop()
    }
}
