import Foundation
import GRDB
import KithCrypto
import KithProtocol
import Testing
@testable import KithNode

/// Every file under `dir` (the database, its write-ahead log and shared
/// memory, the keystore), read whole.
func filesUnder(_ dir: String) throws -> [(path: String, bytes: [UInt8])] {
    let fm = FileManager.default
    var files: [(String, [UInt8])] = []
    for name in try fm.subpathsOfDirectory(atPath: dir) {
        let path = dir + "/" + name
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
        files.append((path, [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))))
    }
    return files
}

/// The files under `dir` that contain `needle` anywhere.
func files(under dir: String, containing needle: [UInt8]) throws -> [String] {
    try filesUnder(dir).filter { file in
        guard file.bytes.count >= needle.count else { return false }
        return Data(file.bytes).range(of: Data(needle)) != nil
    }.map(\.path)
}

@Suite struct AtRestTests {
    /// After realistic use (friends both ways, audiences, posts each way, a
    /// friend renamed, a delivery still queued), no file of either node
    /// directory holds a post's text, a friend's or audience's name, a card,
    /// or a drop token; with the passphrase, all of it reads back.
    @Test func aStolenDirectoryHoldsNoPersonalData() async throws {
        try await withRelayAndDirectory { url, dir in
            let alice = try await Node.create(home: dir + "/alice", name: "Alice Pleasance Liddell", relays: [url], passphrase: passphrase, kdf: .interactive)
            let bob = try await Node.create(home: dir + "/bob", name: "Bob Cratchit of Camden", relays: [url], passphrase: passphrase, kdf: .interactive)
            let aliceCard = try await alice.issueCard(for: "Cratchit the clerk")
            let bobCard = try await bob.issueCard()
            try await bob.addFriend(cardText: aliceCard.text)
            try await alice.addFriend(cardText: bobCard.text, as: "Bobby from Camden Town")
            try await alice.createAudience(name: "Wonderland Tea Party")
            try await alice.addMember(audience: "Wonderland Tea Party", friend: "Bobby from Camden Town")
            try await bob.createAudience(name: "Counting House Staff")
            try await bob.addMember(audience: "Counting House Staff", friend: "Alice Pleasance Liddell")
            _ = try await alice.post(to: "Wonderland Tea Party", text: "the white rabbit is late again, bring a watch")
            _ = try await bob.post(to: "Counting House Staff", text: "a goose for Christmas, if the ledger allows")
            _ = try await alice.sync()
            _ = try await bob.sync()
            _ = try await alice.sync()
            // One post stays queued in alice's outbox, drop tokens and all.
            _ = try await alice.post(to: "Wonderland Tea Party", text: "still in the outbox: curiouser and curiouser")
            #expect(try alice.feed().map(\.text).contains("a goose for Christmas, if the ledger allows"))
            #expect(try bob.feed().map(\.text).contains("the white rabbit is late again, bring a watch"))

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
                "a card": Array(ContactCard.prefix.utf8),
                "the token in alice's card": aliceCard.inboxes[0].dropToken,
                "the token in bob's card": bobCard.inboxes[0].dropToken,
            ]
            for home in [alice.home, bob.home] {
                for (what, bytes) in secrets {
                    #expect(try files(under: home, containing: bytes) == [], "\(what) is readable in \(home)")
                }
            }
        }
    }

    /// A database from before sealing (names, cards, tokens and text in the
    /// clear) is sealed at the first unlock; the plaintext is gone from every
    /// file, free pages and write-ahead log included, and everything reads
    /// back as before.
    @Test func anOlderDatabaseIsSealedAtUnlock() async throws {
        try await withRelayAndDirectory { url, dir in
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            let bobCard = try await bob.issueCard()
            let home = dir + "/alice"
            let created = try await Node.create(home: home, name: "Alice the Elder", relays: [url], passphrase: passphrase, kdf: .interactive)
            let profile = try await created.db.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT key, value FROM profile WHERE key != 'name'").map { ($0[0] as String, $0[1] as Data) }
            }
            let mailboxes = try await created.db.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT relay, mailbox FROM mailbox").map { ($0[0] as String, $0[1] as Data) }
            }
            // The same node as an earlier version stored it.
            let path = home + "/" + NodeDatabase.fileName
            for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
            try SecureFile.createPrivateIfMissing(path)
            do {
                let queue = try DatabaseQueue(path: path)
                try NodeDatabase.migrator(atRest: nil).migrate(queue, upTo: NodeDatabase.lastKeylessMigration)
                try await queue.write { db in
                    for (key, value) in profile { try db.execute(sql: "INSERT INTO profile (key, value) VALUES (?, ?)", arguments: [key, value]) }
                    try db.execute(sql: "INSERT INTO profile (key, value) VALUES ('name', ?)", arguments: [Data("Alice the Elder".utf8)])
                    for (relay, mailbox) in mailboxes { try db.execute(sql: "INSERT INTO mailbox (relay, mailbox) VALUES (?, ?)", arguments: [relay, mailbox]) }
                    try db.execute(sql: "INSERT INTO friend (identity, name, card, card_sequence, added_at) VALUES (?, 'Bob the Younger', ?, ?, 0)",
                                   arguments: [Data(bobCard.identity), bobCard.text, Int64(bobCard.sequence)])
                    try db.execute(sql: "INSERT INTO friend_inbox (friend, relay, mailbox, drop_token) VALUES (?, ?, ?, ?)",
                                   arguments: [Data(bobCard.identity), url, Data(bobCard.inboxes[0].mailbox), Data(bobCard.inboxes[0].dropToken)])
                    try db.execute(sql: "INSERT INTO audience (id, name, epoch, created_at) VALUES (?, 'Elders Council', 1, 0)", arguments: [Data(randomBytes(16))])
                    try db.execute(sql: """
                        INSERT INTO post (author, id, audience_owner, audience, audience_name, epoch, text, created_at, received_at)
                        VALUES (?, ?, ?, ?, 'Elders Council', 1, 'a secret from the old days', 0, 0)
                        """, arguments: [Data(bobCard.identity), Data(randomBytes(16)), Data(bobCard.identity), Data(randomBytes(16))])
                }
            }
            let plaintext = ["Alice the Elder", "Bob the Younger", "Elders Council", "a secret from the old days", ContactCard.prefix].map { Array($0.utf8) }
                + [bobCard.inboxes[0].dropToken]
            #expect(try plaintext.allSatisfy { try !files(under: home, containing: $0).isEmpty })

            let locked = try Node.open(home: home)
            #expect(throws: NodeError.self) { try locked.friends() }
            let alice = try locked.unlock(passphrase: passphrase)
            for bytes in plaintext { #expect(try files(under: home, containing: bytes) == [], "\(String(decoding: bytes, as: UTF8.self))") }
            #expect(try alice.name() == "Alice the Elder")
            #expect(try alice.friends().map(\.name) == ["Bob the Younger"])
            #expect(try alice.audiences().map(\.name) == ["Elders Council"])
            #expect(try alice.feed().map(\.text) == ["a secret from the old days"])
            #expect(try await alice.db.writer.read { db in try alice.card(ofFriendNamed: "Bob the Younger", db) } == bobCard)

        }
    }

    /// A value sealed for one column does not open as another's, and a
    /// database does not open under another node's keystore.
    @Test func sealedValuesAreBoundToTheirColumnAndKey() throws {
        let atRest = AtRest(storageKey: SecretBytes(random: 32))
        let sealed = try atRest.seal("the text", .postText)
        #expect(try atRest.text(sealed, .postText) == "the text")
        #expect(throws: NodeError.self) { try atRest.open(sealed, .friendName) }
        #expect(throws: NodeError.self) { try AtRest(storageKey: SecretBytes(random: 32)).open(sealed, .postText) }
        #expect(atRest.tag("bob", .friendName) == atRest.tag("bob", .friendName))
        #expect(atRest.tag("bob", .friendName) != atRest.tag("bob", .audienceName))
        #expect(atRest.tag("bob", .friendName) != AtRest(storageKey: SecretBytes(random: 32)).tag("bob", .friendName))
    }
}
