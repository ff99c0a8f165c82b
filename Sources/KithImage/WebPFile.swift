/// The chunks of a WebP file (RIFF), walked without decoding.
struct WebPFile {
    struct Chunk {
        let fourCC: [UInt8]
        /// Header, data and padding byte.
        let range: Range<Int>
        let data: Range<Int>
    }

    let bytes: [UInt8]
    let chunks: [Chunk]
    /// Whether bytes follow the RIFF container.
    let hasTrailing: Bool

    static let riff = "RIFF".ascii
    static let webp = "WEBP".ascii
    static let extended = "VP8X".ascii
    static let exif = "EXIF".ascii
    static let xmp = "XMP ".ascii
    /// Image data, animation, alpha and colour profile: all that is kept.
    static let kept = Set(["VP8X", "VP8 ", "VP8L", "ALPH", "ANIM", "ANMF", "ICCP"].map(\.ascii))
    /// VP8X flags.
    static let exifFlag: UInt8 = 0x08
    static let xmpFlag: UInt8 = 0x04

    init(_ bytes: [UInt8]) throws {
        self.bytes = bytes
        func fail(_ detail: String) -> PhotoError { .unreadable(.webp, detail) }
        guard bytes.has(WebPFile.riff, at: 0), bytes.has(WebPFile.webp, at: 8), let size = bytes.littleEndian32(at: 4) else {
            throw fail("no RIFF WEBP header")
        }
        let end = 8 + size
        guard size >= 4, end <= bytes.count else { throw fail("truncated") }
        var chunks: [Chunk] = []
        var index = 12
        while index < end {
            guard index + 8 <= end, let length = bytes.littleEndian32(at: index + 4) else { throw fail("truncated") }
            let dataEnd = index + 8 + length
            guard dataEnd <= end else { throw fail("truncated") }
            // The padding byte of an odd-sized chunk may be missing at the very end.
            let chunkEnd = min(dataEnd + (length & 1), end)
            chunks.append(Chunk(fourCC: Array(bytes[index ..< index + 4]), range: index ..< chunkEnd, data: index + 8 ..< dataEnd))
            index = chunkEnd
        }
        guard !chunks.isEmpty else { throw fail("no image data") }
        self.chunks = chunks
        hasTrailing = end < bytes.count
    }

    /// The orientation in the EXIF chunk (1 when there is none).
    var orientation: Int {
        chunks.first { $0.fourCC == WebPFile.exif }.map { EXIF(Array(bytes[$0.data])).orientation } ?? 1
    }

    /// The file with only the kept chunks and the VP8X flags to match, plus an
    /// EXIF chunk holding only the orientation when that was not 1.
    func stripped() -> (bytes: [UInt8], removed: [String]) {
        var body = WebPFile.webp
        body.reserveCapacity(bytes.count)
        var removed = RemovedNames()
        var flagsOffset: Int?
        var wroteOrientation = false
        for chunk in chunks {
            if chunk.fourCC == WebPFile.extended, !chunk.data.isEmpty { flagsOffset = body.count + 8 }
            if WebPFile.kept.contains(chunk.fourCC) {
                body += bytes[chunk.range]
            } else if chunk.fourCC == WebPFile.exif {
                let exif = EXIF(Array(bytes[chunk.data]))
                removed.add(exif.removedName)
                if exif.orientation != 1, !wroteOrientation, flagsOffset != nil {
                    let tiff = EXIF.orientationOnly(exif.orientation)
                    body += WebPFile.exif
                    body.appendLittleEndian(tiff.count, bytes: 4)
                    body += tiff
                    wroteOrientation = true
                }
            } else if chunk.fourCC == WebPFile.xmp {
                removed.add("XMP")
            } else {
                let name = chunk.fourCC.allSatisfy { (0x20 ... 0x7E).contains($0) } ? String(decoding: chunk.fourCC, as: UTF8.self) : "unknown"
                removed.add("\(name) chunk")
            }
        }
        if let flagsOffset {
            body[flagsOffset] &= ~(WebPFile.exifFlag | WebPFile.xmpFlag)
            if wroteOrientation { body[flagsOffset] |= WebPFile.exifFlag }
        }
        if hasTrailing { removed.add("data after the image") }
        var out = WebPFile.riff
        out.appendLittleEndian(body.count, bytes: 4)
        return (out + body, removed.names)
    }
}
