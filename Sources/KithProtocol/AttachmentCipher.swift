import Foundation
import KithCrypto

/// Encrypts and decrypts an attachment's blob (docs/PROTOCOL.md, "Attachments"):
///
///     plaintext (n bytes) || zeros   to L = max(4096, padmé(n)) bytes
///     blob = secretstream header (24) || chunks of 65,536 bytes of that, each + 17 bytes
///     id   = BLAKE2b-256(blob)
///
/// Every chunk but the last is tagged MESSAGE, the last FINAL. Decrypting
/// checks the length, the id, every chunk, where FINAL is and that the
/// padding is zeros, and refuses with the failure kind of the spec.
public enum AttachmentCipher {
    public static let chunkLength = 65_536
    public static let minPaddedLength: UInt64 = 4_096

    /// What went wrong reading or writing a file (not a property of the blob).
    public struct FileError: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Padmé (Nikitin et al., PURBs, 2019): n rounded up so that only the top
    /// bits of its binary length are free, at most about 12 % more; at least 4,096.
    public static func paddedLength(_ size: UInt64) -> UInt64 {
        guard size > minPaddedLength else { return minPaddedLength }
        let e = UInt64(63 - size.leadingZeroBitCount)          // floor(log2 n)
        let s = UInt64(63 - e.leadingZeroBitCount) + 1          // floor(log2 E) + 1
        let mask: UInt64 = (1 << (e - s)) - 1
        return (size + mask) & ~mask
    }

    /// The length of the blob of a `size`-byte plaintext.
    public static func blobLength(size: UInt64) -> UInt64 {
        let l = paddedLength(size)
        let chunks = (l + UInt64(chunkLength) - 1) / UInt64(chunkLength)
        return UInt64(SecretStream.headerLength) + l + UInt64(SecretStream.overhead) * chunks
    }

    static func checkSize(_ size: UInt64) throws {
        guard (1...Attachment.maxSize).contains(size) else {
            throw ProtocolError.malformed("attachment: size must be 1 to \(Attachment.maxSize) bytes")
        }
    }

    /// The padded plaintext's chunk `index` of `count`: file bytes, then zeros.
    private static func chunkRange(_ index: UInt64, padded: UInt64) -> Range<UInt64> {
        let start = index * UInt64(chunkLength)
        return start..<min(start + UInt64(chunkLength), padded)
    }

    // MARK: In memory

    /// Encrypts under a fresh key; the ref carries the key, id and size.
    public static func encrypt(_ plaintext: [UInt8]) throws -> (ref: BlobRef, blob: [UInt8]) {
        let size = UInt64(plaintext.count)
        try checkSize(size)
        var key = SecretStream.newKey()
        defer { wipe(&key) }
        let pusher = SecretStreamPusher(key: key)
        let padded = paddedLength(size)
        var blob = pusher.header
        blob.reserveCapacity(Int(blobLength(size: size)))
        let chunks = (padded + UInt64(chunkLength) - 1) / UInt64(chunkLength)
        for i in 0..<chunks {
            let range = chunkRange(i, padded: padded)
            var chunk = [UInt8](repeating: 0, count: Int(range.count))
            let fileEnd = min(range.upperBound, size)
            if range.lowerBound < fileEnd {
                chunk.replaceSubrange(0..<Int(fileEnd - range.lowerBound), with: plaintext[Int(range.lowerBound)..<Int(fileEnd)])
            }
            blob += pusher.push(chunk, final: i == chunks - 1)
            wipe(&chunk)
        }
        return (BlobRef(id: Hash.blake2b(blob, length: 32), key: key, size: size), blob)
    }

    /// Checks and decrypts a whole blob in memory.
    public static func decrypt(_ blob: [UInt8], ref: BlobRef) throws -> [UInt8] {
        try checkLength(UInt64(blob.count), ref: ref)
        guard constantTimeEqual(Hash.blake2b(blob, length: 32), ref.id) else {
            throw ProtocolError(.decryptionFailed, "attachment: the blob's hash is not its id (tampered)")
        }
        let opener = try Opener(ref: ref, header: Array(blob[0..<SecretStream.headerLength]))
        var out = [UInt8]()
        out.reserveCapacity(Int(ref.size))
        var offset = SecretStream.headerLength
        while offset < blob.count {
            let length = opener.nextCipherLength
            var plain = try opener.open(Array(blob[offset..<offset + length]))
            out += plain
            wipe(&plain)
            offset += length
        }
        try opener.finish()
        return out
    }

    private static func checkLength(_ length: UInt64, ref: BlobRef) throws {
        try checkSize(ref.size)
        let expected = blobLength(size: ref.size)
        guard length >= expected else { throw ProtocolError.malformed("attachment: blob truncated (\(length) bytes, expected \(expected))") }
        guard length <= expected else { throw ProtocolError.malformed("attachment: blob too long (\(length) bytes, expected \(expected))") }
    }

    /// Pulls the chunks of one blob in order, returning only the file's bytes
    /// and checking the FINAL tag's place and the padding.
    private final class Opener {
        let puller: SecretStreamPuller
        let size: UInt64
        let padded: UInt64
        let chunks: UInt64
        var index: UInt64 = 0

        init(ref: BlobRef, header: [UInt8]) throws {
            do { puller = try SecretStreamPuller(key: ref.key, header: header) } catch {
                throw ProtocolError(.decryptionFailed, "attachment: the blob's header does not open")
            }
            size = ref.size
            padded = AttachmentCipher.paddedLength(ref.size)
            chunks = (padded + UInt64(AttachmentCipher.chunkLength) - 1) / UInt64(AttachmentCipher.chunkLength)
        }

        var nextCipherLength: Int { AttachmentCipher.chunkRange(index, padded: padded).count + SecretStream.overhead }

        /// The file bytes of the next chunk. The caller must wipe them.
        func open(_ cipher: [UInt8]) throws -> [UInt8] {
            guard index < chunks else { throw ProtocolError.malformed("attachment: blob too long") }
            let range = AttachmentCipher.chunkRange(index, padded: padded)
            var plain: [UInt8], final: Bool
            do { (plain, final) = try puller.pull(cipher) } catch {
                throw ProtocolError(.decryptionFailed, "attachment: chunk \(index) does not verify")
            }
            defer { wipe(&plain) }
            let last = index == chunks - 1
            guard final == last else {
                throw ProtocolError.malformed(last ? "attachment: the last chunk is not marked final" : "attachment: chunk \(index) is marked final before the end")
            }
            index += 1
            let fileEnd = Int(min(max(size, range.lowerBound), range.upperBound) - range.lowerBound)
            guard plain[fileEnd...].allSatisfy({ $0 == 0 }) else { throw ProtocolError.malformed("attachment: padding is not all zeros") }
            return Array(plain[0..<fileEnd])
        }

        func finish() throws {
            guard index == chunks else { throw ProtocolError.malformed("attachment: blob truncated") }
        }
    }

    // MARK: Files

    /// Encrypts the file at `file` into a blob at `to` (written to a temporary
    /// file beside it, renamed into place when complete), reading and writing
    /// 64 KiB at a time. `progress` gets (file bytes read, file size).
    public static func encrypt(file: String, to: String, progress: ((UInt64, UInt64) -> Void)?) throws -> BlobRef {
        let input = try InputFile(file)
        let size = input.size
        guard (1...Attachment.maxSize).contains(size) else {
            throw FileError("\(file) has \(size) bytes; an attachment has 1 to \(Attachment.maxSize)")
        }
        var key = SecretStream.newKey()
        defer { wipe(&key) }
        let pusher = SecretStreamPusher(key: key)
        let hash = Hash.Blake2bStream(length: 32)
        let output = try OutputFile(to)
        let padded = paddedLength(size)
        let chunks = (padded + UInt64(chunkLength) - 1) / UInt64(chunkLength)
        do {
            try output.write(pusher.header); hash.update(pusher.header)
            var read: UInt64 = 0
            for i in 0..<chunks {
                let range = chunkRange(i, padded: padded)
                let fileEnd = min(range.upperBound, size)
                var chunk = range.lowerBound < fileEnd ? try input.read(Int(fileEnd - range.lowerBound)) : []
                read += UInt64(chunk.count)
                chunk += [UInt8](repeating: 0, count: Int(range.count) - chunk.count)
                let cipher = pusher.push(chunk, final: i == chunks - 1)
                wipe(&chunk)
                try output.write(cipher); hash.update(cipher)
                progress?(read, size)
            }
            guard read == size, try input.read(1).isEmpty else { throw FileError("\(file) changed while it was being encrypted") }
            try output.commit()
        } catch {
            output.discard()
            throw error
        }
        return BlobRef(id: hash.finish(), key: key, size: size)
    }

    /// Checks and decrypts the blob at `file` into `to`: its length, then its
    /// hash in a first pass, then every chunk into a temporary file beside
    /// `to`, renamed into place only once every check passed (it replaces
    /// `to`). `progress` gets (blob bytes processed, twice the blob's length).
    public static func decrypt(file: String, ref: BlobRef, to: String, progress: ((UInt64, UInt64) -> Void)?) throws {
        try pull(file: file, ref: ref, to: try OutputFile(to), progress: progress)
    }

    /// Checks the blob at `file` as `decrypt` does (length, hash, every
    /// chunk, the FINAL tag's place, the padding) without writing anything:
    /// each chunk's plaintext is wiped once checked.
    public static func verify(file: String, ref: BlobRef) throws {
        try pull(file: file, ref: ref, to: nil, progress: nil)
    }

    /// Checks only the blob's length and hash against `ref`: whether `file`
    /// holds the blob its id names (its key is not used).
    public static func checkHash(file: String, ref: BlobRef) throws {
        let input = try InputFile(file)
        _ = try checkHash(input, file: file, ref: ref, progress: nil)
    }

    /// Whether `file` hashes to `id`, whatever its length: whether it is the
    /// blob the id names, for any descriptor (a friend's may give a wrong size).
    public static func isBlob(file: String, id: [UInt8]) throws -> Bool {
        let input = try InputFile(file)
        let hash = Hash.Blake2bStream(length: 32)
        while true {
            let piece = try input.read(chunkLength)
            if piece.isEmpty { break }
            hash.update(piece)
        }
        return constantTimeEqual(hash.finish(), id)
    }

    private static func checkHash(_ input: InputFile, file: String, ref: BlobRef, progress: ((UInt64, UInt64) -> Void)?) throws -> UInt64 {
        try checkLength(input.size, ref: ref)
        let total = 2 * input.size
        let hash = Hash.Blake2bStream(length: 32)
        var done: UInt64 = 0
        while true {
            let piece = try input.read(chunkLength)
            if piece.isEmpty { break }
            hash.update(piece)
            done += UInt64(piece.count)
            progress?(done, total)
        }
        guard done == input.size else { throw FileError("\(file) changed while it was being read") }
        guard constantTimeEqual(hash.finish(), ref.id) else {
            throw ProtocolError(.decryptionFailed, "attachment: the blob's hash is not its id (tampered)")
        }
        return done
    }

    private static func pull(file: String, ref: BlobRef, to output: OutputFile?, progress: ((UInt64, UInt64) -> Void)?) throws {
        let input = try InputFile(file)
        let total = 2 * input.size
        do {
            var done = try checkHash(input, file: file, ref: ref, progress: progress)
            try input.rewind()
            let opener = try Opener(ref: ref, header: try input.read(SecretStream.headerLength))
            done += UInt64(SecretStream.headerLength)
            while opener.index < opener.chunks {
                let length = opener.nextCipherLength
                let cipher = try input.read(length)
                guard cipher.count == length else { throw FileError("\(file) changed while it was being read") }
                var plain = try opener.open(cipher)
                try output?.write(plain)
                wipe(&plain)
                done += UInt64(length)
                progress?(done, total)
            }
            try opener.finish()
            guard try input.read(1).isEmpty else { throw FileError("\(file) changed while it was being read") }
            try output?.commit()
        } catch {
            output?.discard()
            throw error
        }
    }

    /// A file read in pieces.
    private final class InputFile {
        let path: String
        let fd: Int32
        let size: UInt64

        init(_ path: String) throws {
            self.path = path
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FileError("cannot open \(path): \(String(cString: strerror(errno)))") }
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= 0 else {
                close(fd)
                throw FileError("\(path) is not a regular file")
            }
            size = UInt64(st.st_size)
        }

        /// Up to `count` bytes; fewer only at the end of the file.
        func read(_ count: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            var got = 0
            while got < count {
                let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, count - got) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw FileError("cannot read \(path): \(String(cString: strerror(errno)))") }
                if n == 0 { break }
                got += n
            }
            out.removeSubrange(got...)
            return out
        }

        func rewind() throws {
            guard lseek(fd, 0, SEEK_SET) == 0 else { throw FileError("cannot read \(path) again") }
        }

        deinit { close(fd) }
    }

    /// A temporary file beside `path` (mode 0600), renamed to `path` by `commit`.
    private final class OutputFile {
        let path: String
        let temporary: String
        var fd: Int32

        init(_ path: String) throws {
            self.path = path
            temporary = path + ".partial-" + Hex.encode(randomBytes(8))
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw FileError("cannot create a file beside \(path): \(String(cString: strerror(errno)))") }
        }

        func write(_ bytes: [UInt8]) throws {
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw FileError("cannot write beside \(path): \(String(cString: strerror(errno)))") }
                done += n
            }
        }

        func commit() throws {
            guard fsync(fd) == 0, close(fd) == 0 else { fd = -1; throw FileError("cannot write beside \(path): \(String(cString: strerror(errno)))") }
            fd = -1
            guard rename(temporary, path) == 0 else { throw FileError("cannot rename into \(path): \(String(cString: strerror(errno)))") }
        }

        func discard() {
            if fd >= 0 { close(fd); fd = -1 }
            unlink(temporary)
        }

        deinit { if fd >= 0 { close(fd); unlink(temporary) } }
    }
}
