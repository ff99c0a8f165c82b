import Foundation
import KithNode

/// `daemon.lock` in the node directory: held (a POSIX write lock) by the
/// running daemon for its whole life, and released by the kernel however it
/// ends, `kill -9` included. It holds the daemon's pid and control socket,
/// so the command line finds a running daemon without reading the config;
/// the command line only tests the lock (`F_GETLK`), it never takes it, so
/// it cannot keep a daemon from starting.
public final class DaemonLock: @unchecked Sendable {
    public static let fileName = "daemon.lock"
    private let fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// Takes the lock for the node in `home`, or says which daemon has it.
    public static func acquire(home: String, socket: String) throws -> DaemonLock {
        let path = (home as NSString).appendingPathComponent(fileName)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw NodeError("cannot open \(path): \(String(cString: strerror(errno)))") }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        guard fcntl(fd, F_SETLK, &lock) == 0 else {
            close(fd)
            let pid = holder(home: home)?.pid
            throw NodeError("a daemon already runs for \(home)\(pid.map { " (pid \($0))" } ?? "")",
                            hint: "stop it first (kill -TERM PID); the command line uses it meanwhile")
        }
        let text = "\(getpid())\n\(socket)\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        return DaemonLock(fd: fd)
    }

    /// The running daemon of the node in `home`, if there is one.
    public static func holder(home: String) -> (pid: Int32, socket: String)? {
        let path = (home as NSString).appendingPathComponent(fileName)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        guard fcntl(fd, F_GETLK, &lock) == 0, lock.l_type != Int16(F_UNLCK) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buffer, buffer.count)
        let lines = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").map(String.init) : []
        let socket = lines.count > 1 ? lines[1] : (home as NSString).appendingPathComponent("daemon.sock")
        return (lock.l_pid, socket)
    }

    /// Releases the lock (the kernel does it too when the process ends).
    public func release() {
        close(fd)
    }
}
