import Foundation

/// Files that hold secrets: created 0600, written atomically, refused on open
/// if group or others have any access.
enum SecureFile {
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let tmp = path + ".tmp"
        unlink(tmp)
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
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = Foundation.open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    static func readPrivate(_ path: String, what: String) throws -> [UInt8] {
        var st = stat()
        guard stat(path, &st) == 0 else { throw NodeError("no \(what) at \(path)", hint: "run `kith init` first, or check --home") }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw NodeError("\(path) is accessible by other users (mode \(String(mode, radix: 8)))", hint: "run: chmod 600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw NodeError("cannot read \(path)") }
        return [UInt8](data)
    }
}
