import Foundation
import KithCrypto
import Testing

/// A copy of a node directory, taken after ordinary use through the binary,
/// reveals no post, no name and no drop token without the passphrase.
@Suite struct AtRestCommandTests {
    /// The drop token of a card with one inbox: the inbox is last in the
    /// body, and the 64-byte signature follows it (docs/PROTOCOL.md, "Contact card").
    static func dropToken(inCard text: String) throws -> [UInt8] {
        let bytes = try #require(Base64URL.decode(String(text.dropFirst("kith-card:".count))))
        return Array(bytes[(bytes.count - 96)..<(bytes.count - 64)])
    }

    /// The files under `dir` that contain `needle`.
    static func files(under dir: String, containing needle: [UInt8]) throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: dir).map { dir + "/" + $0 }.filter { path in
            guard let data = FileManager.default.contents(atPath: path) else { return false }
            return data.range(of: Data(needle)) != nil
        }
    }

    @Test func aCopyOfTheNodeDirectoryRevealsNoPostNameOrToken() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let alice = dir + "/alice", bob = dir + "/bob"
        try kithOK(["init", "--home", alice, "--name", "Alice Pleasance Liddell", "--relay", relay.url])
        try kithOK(["init", "--home", bob, "--name", "Bob Cratchit of Camden", "--relay", relay.url])
        let aliceCard = try kithOK(["card", "--home", alice, "--for", "Cratchit the clerk"])
        let bobCard = try kithOK(["card", "--home", bob])
        try kithOK(["friend", "add", "--home", bob, aliceCard])
        try kithOK(["friend", "add", "--home", alice, bobCard, "--as", "Bobby from Camden Town"])
        try kithOK(["group", "create", "--home", alice, "Wonderland Tea Party"])
        try kithOK(["group", "add", "--home", alice, "Wonderland Tea Party", "Bobby from Camden Town"])
        try kithOK(["group", "create", "--home", bob, "Counting House Staff"])
        try kithOK(["group", "add", "--home", bob, "Counting House Staff", "Alice Pleasance Liddell"])
        try kithOK(["post", "--home", alice, "--to", "Wonderland Tea Party", "the white rabbit is late again, bring a watch"])
        try kithOK(["post", "--home", bob, "--to", "Counting House Staff", "a goose for Christmas, if the ledger allows"])
        for home in [alice, bob, alice] { try kithOK(["sync", "--home", home]) }
        // One more post stays in alice's outbox, with bob's drop token in its queued delivery.
        relay.stop()
        try kithOK(["post", "--home", alice, "--to", "Wonderland Tea Party", "still in the outbox: curiouser and curiouser"])
        #expect(try kithOK(["feed", "--home", bob]).contains("the white rabbit is late again"))
        #expect(try kithOK(["feed", "--home", alice]).contains("a goose for Christmas"))

        let secrets: [String: [UInt8]] = [
            "alice's post": Array("the white rabbit is late again".utf8),
            "bob's post": Array("a goose for Christmas".utf8),
            "queued post": Array("curiouser and curiouser".utf8),
            "alice's name": Array("Pleasance Liddell".utf8),
            "bob's name": Array("Cratchit of Camden".utf8),
            "bob's local name": Array("Bobby from Camden".utf8),
            "holder of a card": Array("Cratchit the clerk".utf8),
            "alice's audience": Array("Wonderland Tea".utf8),
            "bob's audience": Array("Counting House".utf8),
            "a card": Array("kith-card:".utf8),
            "the token in alice's card": try Self.dropToken(inCard: aliceCard),
            "the token in bob's card": try Self.dropToken(inCard: bobCard),
        ]
        for home in [alice, bob] {
            for (what, bytes) in secrets { #expect(try Self.files(under: home, containing: bytes) == [], "\(what) is readable in \(home)") }
        }
        let locked = try kith(["feed", "--home", alice], passphrase: nil)
        #expect(locked.status != 0 && locked.stderr.contains("no passphrase"), "reading the feed needs the passphrase")
    }
}
