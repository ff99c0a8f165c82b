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
    static let colourProfile = "ICCP".ascii
    static let alpha = "ALPH".ascii
    /// The image's bitstream: lossy or lossless.
    static let bitstreams: Set = ["VP8 ".ascii, "VP8L".ascii]
    static let animation: Set = ["ANIM".ascii, "ANMF".ascii]
    /// VP8X flags.
    static let exifFlag: UInt8 = 0x08
    static let xmpFlag: UInt8 = 0x04
    static let animationFlag: UInt8 = 0x02
    static let colourProfileFlag: UInt8 = 0x20

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
        guard chunks.contains(where: { WebPFile.bitstreams.contains($0.fourCC) }) else { throw fail("no image data") }
        // Frames are refused rather than passed on: each may hold chunks of its own.
        let animatedFlag = chunks.first.map { $0.fourCC == WebPFile.extended && !$0.data.isEmpty && bytes[$0.data.lowerBound] & WebPFile.animationFlag != 0 }
        guard animatedFlag != true, !chunks.contains(where: { WebPFile.animation.contains($0.fourCC) }) else {
            throw fail("animated WebP is not supported")
        }
        self.chunks = chunks
        hasTrailing = end < bytes.count
    }

    /// The orientation in the EXIF chunk (1 when there is none).
    var orientation: Int {
        chunks.first { $0.fourCC == WebPFile.exif }.map { EXIF(Array(bytes[$0.data])).orientation } ?? 1
    }

    /// The file with only what the decoder reads: VP8X (its flags to match),
    /// the colour profile, the alpha before the image and the first bitstream,
    /// plus an EXIF chunk holding only the orientation when that was not 1.
    /// Everything after the first bitstream is left out (a second bitstream is
    /// never decoded, so it could carry an unedited photo).
    func stripped() -> (bytes: [UInt8], removed: [String]) {
        var body = WebPFile.webp
        body.reserveCapacity(bytes.count)
        var removed = RemovedNames()
        var flagsOffset: Int?
        var seen: Set<[UInt8]> = []
        var orientationEXIF: [UInt8]?
        var afterImage = false
        var keptProfile = false
        // Header and data, then a zero padding byte where the length is odd (whatever the file had there).
        func keep(_ chunk: Chunk) {
            body += bytes[chunk.range.lowerBound ..< chunk.data.upperBound]
            if chunk.data.count % 2 == 1 { body.append(0) }
        }
        for chunk in chunks {
            let first = seen.insert(chunk.fourCC).inserted
            if chunk.fourCC == WebPFile.exif {
                let exif = EXIF(Array(bytes[chunk.data]))
                removed.add(exif.removedName)
                if exif.orientation != 1, orientationEXIF == nil { orientationEXIF = EXIF.orientationOnly(exif.orientation) }
            } else if chunk.fourCC == WebPFile.xmp {
                removed.add("XMP")
            } else if !afterImage, first, chunk.fourCC == WebPFile.extended, chunk.range.lowerBound == 12 {
                if !chunk.data.isEmpty { flagsOffset = body.count + 8 }
                keep(chunk)
            } else if !afterImage, first, [WebPFile.colourProfile, WebPFile.alpha].contains(chunk.fourCC) {
                keep(chunk)
                keptProfile = keptProfile || chunk.fourCC == WebPFile.colourProfile
            } else if !afterImage, WebPFile.bitstreams.contains(chunk.fourCC) {
                keep(chunk)
                afterImage = true
            } else if afterImage, WebPFile.bitstreams.contains(chunk.fourCC) {
                removed.add("a second image")
            } else {
                let name = chunk.fourCC.allSatisfy { (0x20 ... 0x7E).contains($0) } ? String(decoding: chunk.fourCC, as: UTF8.self) : "unknown"
                removed.add("\(name) chunk")
            }
        }
        // The orientation goes where the format has EXIF: after the image, in an extended file only.
        var wroteOrientation = false
        if let tiff = orientationEXIF, flagsOffset != nil {
            body += WebPFile.exif
            body.appendLittleEndian(tiff.count, bytes: 4)
            body += tiff
            if tiff.count % 2 == 1 { body.append(0) }
            wroteOrientation = true
        }
        if let flagsOffset {
            body[flagsOffset] &= ~(WebPFile.exifFlag | WebPFile.xmpFlag)
            if !keptProfile { body[flagsOffset] &= ~WebPFile.colourProfileFlag }
            if wroteOrientation { body[flagsOffset] |= WebPFile.exifFlag }
        }
        if hasTrailing { removed.add("data after the image") }
        var out = WebPFile.riff
        out.appendLittleEndian(body.count, bytes: 4)
        return (out + body, removed.names)
    }
}
