import Foundation

/// `node.lock` in the node directory: an exclusive `flock` held while a
/// process rewrites the keystore, so that two commands run at once (a
/// rotation and an added relay, say) take turns, and each reads the
/// keystore again under the lock before changing it: neither undoes the
/// other's change. The database needs no such lock: SQLite serialises
/// writers itself (WAL, with a busy timeout).
enum NodeLock {
    static let fileName = "node.lock"

    /// Runs `body` holding the lock of the node in `home`, waiting for it.
    static func withExclusive<R>(home: String, _ body: () throws -> R) throws -> R {
        let path = (home as NSString).appendingPathComponent(fileName)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw NodeError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw NodeError("cannot lock \(path): \(String(cString: strerror(errno)))") }
        }
        return try body()
    }
}
