import Foundation
import Testing

/// Every bad input is a one-line `kith: error: ...`, a non-zero exit, and no change.
@Suite(.serialized) struct BadInputTests {
    /// What a node shows of itself; equal before and after a refused command.
    func snapshot(_ home: String) throws -> [String] {
        try [["friend", "list"], ["group", "list"], ["feed"]].map { try kithOK($0 + ["--home", home, "--json"]) }
    }

    func expectError(_ r: Output, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status != 0, sourceLocation: sourceLocation)
        let first = r.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.hasPrefix("kith: error: "), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(first.contains(message), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, sourceLocation: sourceLocation)
    }

    @Test func refusedCommandsChangeNothing() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let alice = dir + "/alice", bob = dir + "/bob"
        for (name, home) in [("alice", alice), ("bob", bob)] { try kithOK(["init", "--home", home, "--name", name, "--relay", relay.url]) }
        let card = try kithOK(["card", "--home", bob])
        try kithOK(["friend", "add", "--home", alice, card])
        try kithOK(["group", "create", "--home", alice, "family"])
        try kithOK(["post", "--home", alice, "--to", "family", "before"])
        let before = try snapshot(alice)

        // A malformed card: truncated, tampered, or not a card at all.
        expectError(try kith(["friend", "add", "--home", alice, String(card.dropLast(8))]), "not a valid contact card")
        var tampered = Array(card)
        tampered[60] = tampered[60] == "A" ? "B" : "A"
        expectError(try kith(["friend", "add", "--home", alice, String(tampered)]), "not a valid contact card")
        expectError(try kith(["friend", "add", "--home", alice, "hello"]), "no contact card or invitation found")
        // My own card.
        expectError(try kith(["friend", "add", "--home", alice, try kithOK(["card", "--home", alice])]), "that is your own card")
        // A wrong passphrase.
        let wrong = try kith(["post", "--home", alice, "--to", "family", "after"], passphrase: "not it")
        expectError(wrong, "wrong passphrase")
        #expect(wrong.stderr.contains("kith: hint: "))
        // An unknown friend or audience.
        expectError(try kith(["group", "add", "--home", alice, "family", "zed"]), "no friend named \"zed\"")
        expectError(try kith(["group", "add", "--home", alice, "nobody", "bob"]), "no audience named \"nobody\"")
        expectError(try kith(["post", "--home", alice, "--to", "nobody", "x"]), "no audience named \"nobody\"")
        expectError(try kith(["group", "create", "--home", alice, "family"]), "exists already")
        expectError(try kith(["post", "--home", alice, "--to", "family", ""]), "the post is empty")
        // No passphrase and no terminal to ask on.
        expectError(try kith(["post", "--home", alice, "--to", "family", "x"], passphrase: nil), "no passphrase")
        // Initialising twice.
        expectError(try kith(["init", "--home", alice, "--name", "alice", "--relay", relay.url]), "already holds a Kith node")

        #expect(try snapshot(alice) == before)
        relay.stop()
    }

    @Test func initRefusesBadInputAndLeavesNothingBehind() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let home = dir + "/node"
        expectError(try kith(["init", "--home", home, "--name", "x", "--relay", "ftp://relay"]), "not a relay URL")
        expectError(try kith(["init", "--home", home, "--name", "", "--relay", "http://127.0.0.1:9"]), "name must be 1 to 64 bytes")
        expectError(try kith(["init", "--home", home, "--name", "x"]), "at least one --relay")
        // Nothing listens on port 9: registration fails and the directory is removed again.
        expectError(try kith(["init", "--home", home, "--name", "x", "--relay", "http://127.0.0.1:9"]), "registering a mailbox failed")
        #expect(!FileManager.default.fileExists(atPath: home))
        expectError(try kith(["feed", "--home", home]), "is not a Kith node")
        expectError(try kith(["feed"]), "no node directory given")
        expectError(try kith(["feed", "--home", home, "--limit", "0"]), "--limit must be positive")
        expectError(try kith(["frobnicate"]), "Unexpected argument")
    }

    @Test func aKeystoreOthersCanReadIsRefused() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let home = dir + "/alice"
        try kithOK(["init", "--home", home, "--name", "alice", "--relay", relay.url])
        chmod(home + "/keystore", 0o644)
        let r = try kith(["card", "--home", home])
        expectError(r, "accessible by other users")
        #expect(r.stderr.contains("kith: hint: run: chmod 600"))
        relay.stop()
    }

    @Test func passphraseFromAFile() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let file = dir + "/pass"
        try "from a file\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        let home = dir + "/alice"
        let r = try kith(["init", "--home", home, "--name", "alice", "--relay", relay.url], passphrase: nil, env: ["KITH_PASSPHRASE_FILE": file])
        #expect(r.status == 0)
        #expect(try kith(["card", "--home", home], passphrase: "from a file").status == 0)
        expectError(try kith(["card", "--home", home], passphrase: "from a file\n"), "wrong passphrase")
        // KITH_HOME stands for --home.
        #expect(try kith(["friend", "list"], passphrase: "from a file", env: ["KITH_HOME": home]).status == 0)
        relay.stop()
    }

    @Test func relayReadsItsConfigFileStrictly() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/relay.json"
        try #"{"relay": {"home": "\#(dir)/relay", "listen": "127.0.0.1:0", "ttl_days": 2, "log_level": "warning"}}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let relay = try RelayProcess(configFile: file, home: dir + "/relay")
        try kithOK(["init", "--home", dir + "/alice", "--name", "alice", "--relay", relay.url])
        #expect(FileManager.default.fileExists(atPath: dir + "/relay/relay.sqlite"))
        #expect(relay.stop() == 0)

        for (content, message) in [
            (#"{"relay": {"home": "x", "listne": "127.0.0.1:0"}}"#, "unknown key relay.listne"),
            (#"{"relay": {"home": "x", "ttl_days": "two"}}"#, "ttl_days has the wrong type"),
            (#"{"relay": {"home": "x", "ttl_days": 0}}"#, "ttl_days must be 1 to 3650"),
            (#"{"relay": {"home": "x", "listen": "8080"}}"#, "listen address must be host:port"),
            (#"{"relay": "#, "is not valid JSON"),
        ] {
            try content.write(toFile: file, atomically: true, encoding: .utf8)
            expectError(try kith(["relay", "--config", file]), message)
        }
        expectError(try kith(["relay", "--config", dir + "/missing.json"]), "cannot read config file")
    }
}
