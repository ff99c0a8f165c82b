import Foundation
import GRDB
@testable import KithNode
import Testing

/// The node commits fetched envelopes before it tells the relay to delete
/// them: that commit must be on disk, so its database syncs every commit.
@Suite struct NodeDurabilityTests {
    @Test func theNodeDatabaseSyncsEveryCommit() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o700)
        let database = try NodeDatabase(path: dir + "/" + NodeDatabase.fileName)
        let written = try database.writer.writeWithoutTransaction { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
        }
        #expect(written.0 == "wal")
        #expect(written.1 == 2, "synchronous=FULL is 2")
        #expect(try database.writer.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
    }
}
