import Foundation
import KithCrypto

/// Files that hold secrets: created 0600, written atomically, refused on open
/// if group or others have any access or another user owns them.
public enum SecureFile {
    /// Writes `bytes` to a new temporary file beside `path` (a name of its
    /// own, so two writers never share one), syncs it and renames it over
    /// `path`. Temporary files a crash left behind are removed first: they
    /// may hold an earlier version of a secret.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent, name = (path as NSString).lastPathComponent
        for stale in (try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir)) ?? [] where stale.hasPrefix(name + ".tmp") {
            unlink((dir as NSString).appendingPathComponent(stale))
        }
        let tmp = path + ".tmp-" + Hex.encode(randomBytes(6))
        let fd = Foundation.open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw NodeError("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var ok = bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + off, buf.count - off)
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw NodeError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        let dfd = Foundation.open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    /// Reads a file that must be private: owned by the current user (the
    /// effective uid) with no access for group or others. The checks are
    /// made on the opened descriptor, so the file read is the file checked.
    /// `missingHint` is shown when there is no such file.
    public static func readPrivate(_ path: String, what: String,
                                   missingHint: String? = "run `kith init` first, or check --home") throws -> [UInt8] {
        // Non-blocking, so that a FIFO put in the file's place cannot hang kith; only regular files are read.
        let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ENOENT { throw NodeError("no \(what) at \(path)", hint: missingHint) }
            throw NodeError("cannot read \(what) \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw NodeError("cannot read \(what) \(path): \(String(cString: strerror(errno)))") }
        try requirePrivate(st, path: path)
        guard st.st_mode & S_IFMT == S_IFREG else { throw NodeError("\(what) \(path) is not a regular file") }
        guard st.st_size <= 1 << 20 else { throw NodeError("\(what) \(path) is larger than 1 MiB") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(max(0, Int(st.st_size)), 1 << 20) + 1)  // one buffer: no stray copies of the secret when growing
        var chunk = [UInt8](repeating: 0, count: 16384)
        defer { wipe(&chunk) }
        while true {
            let n = chunk.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress!, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw NodeError("cannot read \(what) \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            guard bytes.count + n <= 1 << 20 else { throw NodeError("\(what) \(path) is larger than 1 MiB") }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// Throws unless the file `st` describes belongs to the current user and
    /// gives group and others none of the `forbidden` permission bits.
    /// `fix` is the chmod mode the hint suggests.
    static func requirePrivate(_ st: stat, path: String, forbidden: mode_t = 0o077, fix: String = "600",
                               problem: String = "is accessible by other users") throws {
        guard st.st_uid == geteuid() else {
            throw NodeError("\(path) is owned by another user (uid \(st.st_uid))",
                            hint: "run kith as its owner, or have root run: chown \(geteuid()) \(path)")
        }
        let mode = st.st_mode & 0o777
        guard mode & forbidden == 0 else {
            throw NodeError("\(path) \(problem) (mode \(String(mode, radix: 8)))", hint: "run: chmod \(fix) \(path)")
        }
    }

    /// Checks with `stat(2)` (following symbolic links) a file or directory
    /// that may be missing; see `requirePrivate(_:path:forbidden:fix:problem:)`.
    static func requirePrivateIfPresent(_ path: String, forbidden: mode_t = 0o077, fix: String = "600",
                                        problem: String = "is accessible by other users") throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw NodeError("cannot examine \(path): \(String(cString: strerror(errno)))")
        }
        try requirePrivate(st, path: path, forbidden: forbidden, fix: fix, problem: problem)
    }

    /// Creates an empty file with mode 0600 unless it exists already, so that
    /// a database created next by SQLite (which gives its WAL and shared-memory
    /// files the database's own mode) is private whatever the umask.
    public static func createPrivateIfMissing(_ path: String) throws {
        let fd = Foundation.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd); return }
        guard errno == EEXIST else { throw NodeError("cannot create \(path): \(String(cString: strerror(errno)))") }
    }
}
