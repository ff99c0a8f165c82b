import Foundation
import KithNode

/// `daemon.lock` in the node directory: held (a POSIX write lock) by the
/// running daemon for its whole life, and released by the kernel however it
/// ends, `kill -9` included. It holds the daemon's pid, and its control
/// socket once the daemon serves it (`announce`), so the command line finds
/// a running daemon without reading the config; while the daemon is still
/// starting (unlocking, perhaps asking for the passphrase) the command line
/// works on the node directory itself. The command line only tests the lock
/// (`F_GETLK`), it never takes it, so it cannot keep a daemon from starting.
public final class DaemonLock: @unchecked Sendable {
    public static let fileName = "daemon.lock"
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// Takes the lock for the node in `home`, or says which daemon has it.
    public static func acquire(home: String) throws -> DaemonLock {
        let path = (home as NSString).appendingPathComponent(fileName)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw NodeError("cannot open \(path): \(String(cString: strerror(errno)))") }
        var lock = Self.writeLock()
        guard fcntl(fd, F_SETLK, &lock) == 0 else {
            let pid = holderPID(fd)
            close(fd)
            throw NodeError("a daemon already runs for \(home)\(pid.map { " (pid \($0))" } ?? "")",
                            hint: "stop it first (kill -TERM PID); the command line uses it meanwhile")
        }
        let daemonLock = DaemonLock(fd: fd)
        daemonLock.write("\(getpid())\n")
        return daemonLock
    }

    /// Says that the daemon serves its control socket at `socket`: from
    /// now on the command line goes through it.
    public func announce(socket: String) {
        write("\(getpid())\n\(socket)\n")
    }

    /// The running daemon of the node in `home` and its control socket, if
    /// one runs and serves it.
    public static func holder(home: String) -> (pid: Int32, socket: String)? {
        let path = (home as NSString).appendingPathComponent(fileName)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard let pid = holderPID(fd) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buffer, buffer.count)
        let lines = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").map(String.init) : []
        guard lines.count > 1 else { return nil }
        return (pid, lines[1])
    }

    /// Releases the lock (the kernel does it too when the process ends).
    public func release() {
        close(fd)
    }

    private func write(_ text: String) {
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    private static func writeLock() -> flock {
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        return lock
    }

    /// The pid of the process that holds the lock on `fd`'s file, if one does.
    private static func holderPID(_ fd: Int32) -> Int32? {
        var lock = writeLock()
        guard fcntl(fd, F_GETLK, &lock) == 0, lock.l_type != Int16(F_UNLCK) else { return nil }
        return lock.l_pid
    }
}
