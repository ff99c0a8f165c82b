import Foundation
import GRDB
import KithCrypto
import KithProtocol
import Testing
@testable import KithNode

/// The files under `dir` (the database, its write-ahead log and shared
/// memory, the keystore) that contain `needle` anywhere.
func files(under dir: String, containing needle: [UInt8]) throws -> [String] {
    try FileManager.default.subpathsOfDirectory(atPath: dir).map { dir + "/" + $0 }.filter { path in
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        return data.range(of: Data(needle)) != nil
    }
}

/// The node database at rest. That a copied node directory holds no post,
/// name or token after ordinary use is tested through the binary
/// (KithCLITests' AtRestCommandTests).
@Suite struct AtRestTests {
    /// A database from before sealing (names, cards, tokens, queued requests
    /// and text in the clear, and deleted plaintext left in its free pages) is
    /// sealed at the first unlock; the plaintext is gone from every file, free
    /// pages and write-ahead log included, and everything reads back as
    /// before. With `crashBeforeWipe`, the sealing committed but the process
    /// died before the wipe: the next unlock wipes.
    @Test(arguments: [false, true]) func anOlderDatabaseIsSealedAtUnlock(crashBeforeWipe: Bool) async throws {
        try await withRelayAndDirectory { url, dir in
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            let bobCard = try await bob.issueCard()
            let token = bobCard.inboxes[0].dropToken
            let home = dir + "/alice"
            let created = try await Node.create(home: home, name: "Alice the Elder", relays: [url], passphrase: passphrase, kdf: .interactive)
            let profile = try await created.db.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT key, value FROM profile WHERE key != 'name'").map { ($0[0] as String, $0[1] as Data) }
            }
            let mailboxes = try await created.db.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT relay, mailbox FROM mailbox").map { ($0[0] as String, $0[1] as Data) }
            }
            // The same node as an earlier version stored it, on an SQLite that leaves deleted content in free pages.
            let path = home + "/" + NodeDatabase.fileName
            for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
            try SecureFile.createPrivateIfMissing(path)
            do {
                var config = Configuration()
                config.prepareDatabase { db in try db.execute(sql: "PRAGMA secure_delete = OFF") }
                let queue = try DatabaseQueue(path: path, configuration: config)
                try NodeDatabase.migrator(atRest: nil).migrate(queue, upTo: NodeDatabase.lastKeylessMigration)
                try await queue.write { db in
                    for (key, value) in profile { try db.execute(sql: "INSERT INTO profile (key, value) VALUES (?, ?)", arguments: [key, value]) }
                    try db.execute(sql: "INSERT INTO profile (key, value) VALUES ('name', ?)", arguments: [Data("Alice the Elder".utf8)])
                    for (relay, mailbox) in mailboxes { try db.execute(sql: "INSERT INTO mailbox (relay, mailbox) VALUES (?, ?)", arguments: [relay, mailbox]) }
                    try db.execute(sql: "INSERT INTO friend (identity, name, card, card_sequence, added_at) VALUES (?, 'Bob the Younger', ?, ?, 0)",
                                   arguments: [Data(bobCard.identity), bobCard.text, Int64(bobCard.sequence)])
                    try db.execute(sql: "INSERT INTO friend_inbox (friend, relay, mailbox, drop_token) VALUES (?, ?, ?, ?)",
                                   arguments: [Data(bobCard.identity), url, Data(bobCard.inboxes[0].mailbox), Data(token)])
                    let audience = Data(randomBytes(16))
                    try db.execute(sql: "INSERT INTO audience (id, name, epoch, created_at) VALUES (?, 'Elders Council', 1, 0)", arguments: [audience])
                    try db.execute(sql: """
                        INSERT INTO audience_key (key_id, owner, audience, epoch, name, sealed_key, received_at) VALUES (?, ?, ?, 1, 'Bobs Bowling Club', ?, 0)
                        """, arguments: [Data(randomBytes(16)), Data(bobCard.identity), Data(randomBytes(16)), Data(randomBytes(72))])
                    for text in ["a secret from the old days", "a deleted confession"] {
                        try db.execute(sql: """
                            INSERT INTO post (author, id, audience_owner, audience, audience_name, epoch, text, created_at, received_at)
                            VALUES (?, ?, ?, ?, 'Elders Council', 1, ?, 0, 0)
                            """, arguments: [Data(bobCard.identity), Data(randomBytes(16)), Data(bobCard.identity), audience, text])
                    }
                    try db.execute(sql: "DELETE FROM post WHERE text = 'a deleted confession'")
                    try db.execute(sql: """
                        INSERT INTO outbox (envelope_id, relay, part, request, state, next_attempt_at, created_at) VALUES (?, ?, 0, ?, 'queued', 0, 0)
                        """, arguments: [Data(randomBytes(32)), url, Data(token + Array("a request queued long ago".utf8))])
                    try db.execute(sql: "INSERT INTO issued_token (hash, relay, created_at, issued_to) VALUES (?, ?, 0, 'Holder of an Old Card')",
                                   arguments: [Data(randomBytes(32)), url])
                }
                if crashBeforeWipe { try NodeDatabase.migrator(atRest: try created.atRest).migrate(queue) }
            }
            let plaintext = ["Alice the Elder", "Bob the Younger", "Elders Council", "Bobs Bowling Club", "a secret from the old days",
                             "a deleted confession", "a request queued long ago", "Holder of an Old Card", ContactCard.prefix].map { Array($0.utf8) } + [token]
            if crashBeforeWipe {
                #expect(try NodeDatabase(path: path).profileValue(NodeDatabase.wipePending) != nil, "the sealing left its wipe to do")
            } else {
                #expect(try plaintext.allSatisfy { try !files(under: home, containing: $0).isEmpty }, "deleted content too, until a wipe")
            }

            let locked = try Node.open(home: home)
            #expect(throws: NodeError.self) { try locked.friends() }
            let alice = try locked.unlock(passphrase: passphrase)
            for bytes in plaintext { #expect(try files(under: home, containing: bytes) == [], "\(String(decoding: bytes, as: UTF8.self))") }
            #expect(try alice.db.profileValue(NodeDatabase.wipePending) == nil)
            #expect(try await alice.db.writer.read { db in try Int.fetchOne(db, sql: "PRAGMA secure_delete") } == 1)
            #expect(try alice.name() == "Alice the Elder")
            #expect(try alice.friends().map(\.name) == ["Bob the Younger"])
            #expect(try alice.audiences().map(\.name) == ["Elders Council"])
            #expect(try alice.feed().map(\.text) == ["a secret from the old days"])
            #expect(try await alice.db.writer.read { db in try alice.card(ofFriendNamed: "Bob the Younger", db) } == bobCard)
            let (request, holder) = try await alice.db.writer.read { db in
                (try Data.fetchOne(db, sql: "SELECT request FROM outbox")!, try Data.fetchOne(db, sql: "SELECT issued_to FROM issued_token")!)
            }
            #expect(try alice.atRest.open(request, .request) == token + Array("a request queued long ago".utf8))
            #expect(try holder == alice.atRest.tag("Holder of an Old Card", .holder))
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
