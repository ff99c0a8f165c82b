/// The chunks of a PNG file, walked without decoding. CRCs are left to libpng, which checks them when it decodes.
struct PNGFile {
    struct Chunk {
        let type: String
        /// Length, type, data and CRC.
        let range: Range<Int>
        let data: Range<Int>
    }

    let bytes: [UInt8]
    /// From IHDR to IEND.
    let chunks: [Chunk]
    /// Whether bytes follow IEND.
    let hasTrailing: Bool

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    /// Chunks that shape the pixels or their colours: all that is kept.
    static let kept: Set<String> = ["IHDR", "PLTE", "IDAT", "IEND", "tRNS", "gAMA", "cHRM", "sRGB", "iCCP", "sBIT", "pHYs"]

    init(_ bytes: [UInt8]) throws {
        self.bytes = bytes
        func fail(_ detail: String) -> PhotoError { .unreadable(.png, detail) }
        guard bytes.has(PNGFile.signature, at: 0) else { throw fail("no PNG signature") }
        var chunks: [Chunk] = []
        var index = PNGFile.signature.count
        while true {
            guard let length = bytes.bigEndian32(at: index), index + 8 <= bytes.count else { throw fail("truncated") }
            guard length <= Int(Int32.max) else { throw fail("a chunk is longer than PNG allows") }
            let typeBytes = bytes[index + 4 ..< index + 8]
            guard typeBytes.allSatisfy({ (0x41 ... 0x5A).contains($0) || (0x61 ... 0x7A).contains($0) }) else {
                throw fail("a chunk type is not four letters")
            }
            let type = String(decoding: typeBytes, as: UTF8.self)
            guard chunks.isEmpty == (type == "IHDR") else { throw fail(chunks.isEmpty ? "no IHDR chunk first" : "a second IHDR chunk") }
            let end = index + 12 + length
            guard end <= bytes.count else { throw fail("truncated") }
            chunks.append(Chunk(type: type, range: index ..< end, data: index + 8 ..< index + 8 + length))
            index = end
            if type == "IEND" { break }
        }
        self.chunks = chunks
        hasTrailing = index < bytes.count
    }

    /// The orientation in the eXIf chunk (1 when there is none).
    var orientation: Int {
        chunks.first { $0.type == "eXIf" }.map { EXIF(Array(bytes[$0.data])).orientation } ?? 1
    }

    /// The file with only the kept chunks, plus an eXIf chunk holding only the orientation when that was not 1.
    func stripped() -> (bytes: [UInt8], removed: [String]) {
        var out = PNGFile.signature
        out.reserveCapacity(bytes.count)
        var removed = RemovedNames()
        for chunk in chunks {
            if PNGFile.kept.contains(chunk.type) {
                out += bytes[chunk.range]
                continue
            }
            switch chunk.type {
            case "eXIf":
                let exif = EXIF(Array(bytes[chunk.data]))
                removed.add(exif.removedName)
                if exif.orientation != 1 { out += PNGFile.chunk("eXIf", EXIF.orientationOnly(exif.orientation)) }
            case "tEXt", "zTXt", "iTXt":
                let keyword = String(decoding: bytes[chunk.data].prefix { $0 != 0 }.prefix(79), as: UTF8.self)
                if keyword == "XML:com.adobe.xmp" {
                    removed.add("XMP")
                } else if keyword.hasPrefix("Raw profile type exif") || keyword.hasPrefix("Raw profile type APP1") {
                    removed.add("EXIF")
                } else if keyword.hasPrefix("Raw profile type iptc") {
                    removed.add("IPTC/Photoshop")
                } else {
                    removed.add("text")
                }
            case "tIME":
                removed.add("time")
            default:
                removed.add("\(chunk.type) chunk")
            }
        }
        if hasTrailing { removed.add("data after the image") }
        return (out, removed.names)
    }

    /// A chunk: length, type, data, CRC-32 of type and data.
    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.appendBigEndian(data.count, bytes: 4)
        let typed = type.ascii + data
        out += typed
        out.appendBigEndian(Int(crc32(typed)), bytes: 4)
        return out
    }

    /// CRC-32 as PNG (and zlib) define it.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0 ..< 8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
