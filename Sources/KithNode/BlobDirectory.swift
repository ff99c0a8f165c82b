import Foundation
import KithCrypto

/// `HOME/blobs/`: attachment ciphertexts, mine waiting to be uploaded (and
/// kept after, so I can save them too) and those fetched from relays. Each
/// file is named by its blob id in hex and holds the blob exactly as the
/// relays store it: encrypted. The keys are only in the node database,
/// sealed at rest. The directory is 0700, its files 0600; each file is
/// written under a temporary name and renamed into place once complete.
struct BlobDirectory: Sendable {
    let path: String

    init(home: String) { path = (home as NSString).appendingPathComponent("blobs") }

    /// Creates the directory if missing, and refuses one that others may use.
    func prepare() throws {
        var st = stat()
        if lstat(path, &st) != 0 {
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
                throw NodeError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
            guard lstat(path, &st) == 0 else { throw NodeError("cannot read \(path): \(String(cString: strerror(errno)))") }
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw NodeError("\(path) is not a directory") }
        guard st.st_uid == geteuid() else { throw NodeError("\(path) is owned by another user (uid \(st.st_uid))") }
        if st.st_mode & 0o077 != 0, chmod(path, 0o700) != 0 {
            throw NodeError("cannot make \(path) private: \(String(cString: strerror(errno)))")
        }
    }

    func file(_ id: [UInt8]) -> String { (path as NSString).appendingPathComponent(Hex.encode(id)) }

    func has(_ id: [UInt8]) -> Bool {
        var st = stat()
        return lstat(file(id), &st) == 0 && st.st_mode & S_IFMT == S_IFREG
    }

    /// The size of a blob's file, if it is there.
    func size(_ id: [UInt8]) -> UInt64? {
        var st = stat()
        guard lstat(file(id), &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        return UInt64(clamping: st.st_size)
    }

    /// A new name for a temporary file in the directory (its name starts
    /// with a dot, so it is never taken for a blob).
    func temporary() throws -> String {
        try prepare()
        return (path as NSString).appendingPathComponent(".tmp-" + Hex.encode(randomBytes(8)))
    }

    /// Writes a whole blob.
    func store(_ blob: [UInt8], id: [UInt8]) throws {
        try prepare()
        try SecureFile.writeAtomically(blob, to: file(id))
    }

    /// Renames a complete temporary file into place as blob `id`.
    func place(_ temporary: String, id: [UInt8]) throws {
        guard rename(temporary, file(id)) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw NodeError("cannot store blob \(Hex.encode(id).prefix(16)): \(reason)")
        }
    }

    func remove(_ id: [UInt8]) { unlink(file(id)) }

    /// The bytes free for this user on the node directory's file system (nil if it cannot be read).
    func freeBytes() -> UInt64? {
        var st = statvfs()
        guard statvfs((path as NSString).deletingLastPathComponent, &st) == 0 else { return nil }
        return UInt64(st.f_bavail).multipliedReportingOverflow(by: UInt64(st.f_frsize)).partialValue
    }

    /// Removes every blob not in `keep` (hex ids) and temporary files left
    /// by an interrupted write, both only when older than an hour: a blob
    /// written for a post not yet recorded (being prepared) is not taken.
    func sweep(keeping keep: Set<String>, now: Date = Date()) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
        for name in names where name.hasPrefix(".tmp-") || (name.utf8.count == 64 && Hex.decode(name) != nil && !keep.contains(name)) {
            let full = (path as NSString).appendingPathComponent(name)
            var st = stat()
            if lstat(full, &st) == 0, Double(st.st_mtim.tv_sec) < now.timeIntervalSince1970 - 3600 { unlink(full) }
        }
    }
}
