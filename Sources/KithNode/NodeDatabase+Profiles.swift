import Foundation
import GRDB

extension NodeDatabase {
    /// My own profile (one row: what `kith profile set` last made) and the
    /// profile each friend sent me (the highest sequence). Names, bios and
    /// avatar descriptors (which hold the avatar's key) are sealed at rest.
    static func createProfileTables(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE my_profile (
                id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
                sequence INTEGER NOT NULL,
                name BLOB,
                bio BLOB NOT NULL,
                avatar BLOB,
                updated_at INTEGER NOT NULL);
            CREATE TABLE friend_profile (
                friend BLOB PRIMARY KEY NOT NULL REFERENCES friend(identity) ON DELETE CASCADE,
                sequence INTEGER NOT NULL,
                name BLOB,
                bio BLOB NOT NULL,
                avatar BLOB,
                created_at INTEGER NOT NULL,
                received_at INTEGER NOT NULL);
            """)
    }
}
