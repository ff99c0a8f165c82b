import Foundation
import KithNode
import KithRelay

/// A relay's directory, for `kith relay` and the daemon's embedded relay.
public enum RelayDirectory {
    /// Opens the relay's database in `dir`, making a new directory 0700 and
    /// a new database 0600 (its WAL and shared-memory files take the
    /// database's mode), whatever the umask.
    public static func openStore(_ dir: String) throws -> any RelayStorage {
        if !FileManager.default.fileExists(atPath: dir) {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
                throw NodeError("cannot create \(dir): \(error.localizedDescription)")
            }
            guard chmod(dir, 0o700) == 0 else { throw NodeError("cannot make \(dir) private: \(String(cString: strerror(errno)))") }
        }
        let databasePath = (dir as NSString).appendingPathComponent("relay.sqlite")
        try SecureFile.createPrivateIfMissing(databasePath)
        return try SQLiteRelayStore(path: databasePath)
    }
}
