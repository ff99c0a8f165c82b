import KithCrypto

/// Where an encrypted blob is and how to open it: its id (BLAKE2b-256 of the
/// blob), its secretstream key, and the plaintext's size. The key is secret:
/// it travels only inside signed, encrypted posts, notes and profiles.
public struct BlobRef: Equatable, Sendable {
    public static let idLength = 32
    public let id: [UInt8]
    public let key: [UInt8]
    public let size: UInt64

    public init(id: [UInt8], key: [UInt8], size: UInt64) {
        self.id = id
        self.key = key
        self.size = size
    }
}

/// A photo or file attached to a post, a comment or a profile: what it is,
/// and the blob (and the photo's thumbnail blob) holding it, encrypted.
///
///     attachment = kind u8 || media_type str8 || name str8 || size u64
///               || blob_id (32) || key (32) || width u16 || height u16
///               || thumb_size u32 || [ thumb_blob_id (32) || thumb_key (32) ]
public struct Attachment: Equatable, Sendable {
    public enum Kind: UInt8, Sendable { case photo = 1, file = 2 }

    /// At most this many attachments on one post, comment or direct message.
    public static let maxCount = 10
    /// The largest file, in plaintext bytes (32 MiB).
    public static let maxSize: UInt64 = 33_554_432
    /// The largest thumbnail (and the largest avatar), in bytes.
    public static let maxThumbnailSize = 1_048_576
    public static let maxMediaTypeBytes = 64
    public static let maxNameBytes = 128
    /// The media types a photo may have.
    public static let photoMediaTypes: Set<String> = ["image/jpeg", "image/png", "image/webp"]
    /// The longest encoded descriptor.
    public static let maxEncodedLength = 1 + 1 + maxMediaTypeBytes + 1 + maxNameBytes + 8 + 64 + 2 + 2 + 4 + 64

    public let kind: Kind
    public let mediaType: String
    /// The file's base name, or empty for none.
    public let name: String
    public let blob: BlobRef
    /// As displayed (after orientation); 0 for a file.
    public let width: UInt16
    public let height: UInt16
    public let thumbnail: BlobRef?

    /// Throws `malformed` for a descriptor its decoder would refuse.
    public init(kind: Kind, mediaType: String, name: String, blob: BlobRef, width: UInt16, height: UInt16, thumbnail: BlobRef?) throws {
        self.kind = kind
        self.mediaType = mediaType
        self.name = name
        self.blob = blob
        self.width = width
        self.height = height
        self.thumbnail = thumbnail
        try check()
    }

    private func check() throws {
        let type = Array(mediaType.utf8)
        guard (1...Self.maxMediaTypeBytes).contains(type.count), type.allSatisfy(Self.isMediaTypeByte),
              type.filter({ $0 == UInt8(ascii: "/") }).count == 1, type.first != UInt8(ascii: "/"), type.last != UInt8(ascii: "/") else {
            throw ProtocolError.malformed("attachment: media type must be type/subtype, 1 to \(Self.maxMediaTypeBytes) bytes of a-z 0-9 . + - /")
        }
        try Self.checkName(name)
        guard blob.id.count == BlobRef.idLength, blob.key.count == SecretStream.keyLength else {
            throw ProtocolError.malformed("attachment: blob id and key must be 32 bytes each")
        }
        guard (1...Self.maxSize).contains(blob.size) else { throw ProtocolError.malformed("attachment: size must be 1 to \(Self.maxSize) bytes") }
        switch kind {
        case .photo:
            guard Self.photoMediaTypes.contains(mediaType) else { throw ProtocolError.malformed("attachment: a photo is image/jpeg, image/png or image/webp") }
            guard width >= 1, height >= 1 else { throw ProtocolError.malformed("attachment: a photo's width and height are 1 to 65535") }
        case .file:
            guard width == 0, height == 0, thumbnail == nil else { throw ProtocolError.malformed("attachment: a file has no width, height or thumbnail") }
        }
        if let thumbnail {
            guard thumbnail.id.count == BlobRef.idLength, thumbnail.key.count == SecretStream.keyLength,
                  (1...UInt64(Self.maxThumbnailSize)).contains(thumbnail.size) else {
                throw ProtocolError.malformed("attachment: a thumbnail is 1 to \(Self.maxThumbnailSize) bytes with a 32-byte id and key")
            }
        }
    }

    static func isMediaTypeByte(_ b: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
            || b == UInt8(ascii: ".") || b == UInt8(ascii: "+") || b == UInt8(ascii: "-") || b == UInt8(ascii: "/")
    }

    /// A file's base name as it may travel: empty, or 1 to 128 bytes under the
    /// name rule (`Name`), without `/` or `\`, and not `.` or `..`.
    public static func checkName(_ name: String) throws {
        guard !name.isEmpty else { return }
        guard name.utf8.count <= maxNameBytes else { throw ProtocolError.malformed("attachment: name must be at most \(maxNameBytes) bytes") }
        if let bad = name.unicodeScalars.first(where: Name.isRefused) {
            throw ProtocolError.malformed("attachment: name contains a control, format or separator character (U+\(Name.hex(bad.value)))")
        }
        guard !name.contains("/"), !name.contains("\\"), name != ".", name != ".." else {
            throw ProtocolError.malformed("attachment: name must be a base name (no / or \\, not . or ..)")
        }
    }

    public func encode(into w: inout ByteWriter) {
        w.u8(kind.rawValue)
        w.string8(mediaType)
        let n = Array(name.utf8)
        w.u8(UInt8(n.count)); w.raw(n)
        w.u64(blob.size)
        w.raw(blob.id); w.raw(blob.key)
        w.u16(width); w.u16(height)
        if let thumbnail {
            w.u32(UInt32(thumbnail.size))
            w.raw(thumbnail.id); w.raw(thumbnail.key)
        } else {
            w.u32(0)
        }
    }

    /// The descriptor's bytes (it travels only inside encrypted structures: the key is in it).
    public var bytes: [UInt8] {
        var w = ByteWriter(capacity: Self.maxEncodedLength)
        encode(into: &w)
        return w.bytes
    }

    /// Reads one descriptor and checks every rule (`malformed` otherwise).
    public static func parse(_ r: inout ByteReader) throws -> Attachment {
        guard let kind = Kind(rawValue: try r.u8()) else { throw ProtocolError.malformed("attachment: unknown kind") }
        let typeBytes = try r.raw(Int(try r.u8()))
        guard let mediaType = String(validating: typeBytes, as: UTF8.self) else { throw ProtocolError.malformed("attachment: media type is not UTF-8") }
        let nameBytes = try r.raw(Int(try r.u8()))
        guard let name = String(validating: nameBytes, as: UTF8.self) else { throw ProtocolError.malformed("attachment: name is not UTF-8") }
        let size = try r.u64()
        let blob = BlobRef(id: try r.raw(32), key: try r.raw(32), size: size)
        let width = try r.u16(), height = try r.u16()
        let thumbSize = try r.u32()
        let thumbnail = thumbSize == 0 ? nil : BlobRef(id: try r.raw(32), key: try r.raw(32), size: UInt64(thumbSize))
        return try Attachment(kind: kind, mediaType: mediaType, name: name, blob: blob, width: width, height: height, thumbnail: thumbnail)
    }

    /// Exactly one descriptor (for tests and fuzzing).
    public static func decode(_ bytes: [UInt8]) throws -> Attachment {
        var r = ByteReader(bytes, what: "attachment")
        let a = try parse(&r)
        try r.finish()
        return a
    }

    /// `count u8 (1 to 10) || count × attachment`, as posts and notes of version 2 end.
    static func encodeList(_ list: [Attachment], into w: inout ByteWriter) {
        precondition((1...maxCount).contains(list.count))
        w.u8(UInt8(list.count))
        for a in list { a.encode(into: &w) }
    }

    static func parseList(_ r: inout ByteReader, what: String) throws -> [Attachment] {
        let count = Int(try r.u8())
        guard (1...maxCount).contains(count) else { throw ProtocolError.malformed("\(what): needs 1 to \(maxCount) attachments") }
        return try (0..<count).map { _ in try parse(&r) }
    }
}
