import Foundation
import Testing

/// The passphrase prompt, on a real pseudo-terminal (util-linux `script`):
/// it asks twice at init, does not echo, and the node opens with what was typed.
@Suite struct PromptTests {
    /// Runs `kith args` on a terminal, answering each prompt in turn.
    func onTerminal(_ args: [String], answers: [(prompt: String, reply: String)]) throws -> (status: Int32, screen: String) {
        let command = ([kithBinary] + args).map { "'\($0)'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qefc", command, "/dev/null"]
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "KITH_PASSPHRASE")
        env.removeValue(forKey: "KITH_PASSPHRASE_FILE")
        process.environment = env
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        var screen = ""
        for answer in answers {
            let deadline = Date().addingTimeInterval(30)
            while !screen.hasSuffix(answer.prompt), Date() < deadline {
                let data = output.fileHandleForReading.availableData
                if data.isEmpty { break }
                screen += String(decoding: data, as: UTF8.self)
            }
            #expect(screen.hasSuffix(answer.prompt), "no prompt \(answer.prompt): \(screen)")
            input.fileHandleForWriting.write(Data((answer.reply + "\n").utf8))
        }
        screen += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, screen)
    }

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
