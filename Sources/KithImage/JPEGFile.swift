/// The segments of a JPEG file, walked without decoding: metadata is removed
/// by leaving segments out, and the compressed image data is copied as it is.
struct JPEGFile {
    enum Piece {
        /// A marker with a length and its payload; `range` covers the marker (0xFF, code) to the payload's end.
        case segment(marker: UInt8, range: Range<Int>, payload: Range<Int>)
        /// Entropy-coded data after a start of scan, restart markers included.
        case scanData(Range<Int>)
        /// A marker without a length (TEM) outside a scan.
        case standalone(marker: UInt8)
    }

    let bytes: [UInt8]
    /// In file order, from after the start-of-image marker to before the end-of-image marker.
    let pieces: [Piece]
    /// Bytes after the end-of-image marker (some cameras append more images there).
    let trailing: Range<Int>

    static let start: [UInt8] = [0xFF, 0xD8]

    init(_ bytes: [UInt8]) throws {
        self.bytes = bytes
        func fail(_ detail: String) -> PhotoError { .unreadable(.jpeg, detail) }
        guard bytes.has(JPEGFile.start, at: 0) else { throw fail("no start-of-image marker") }
        var pieces: [Piece] = []
        var index = 2
        while true {
            guard index < bytes.count else { throw fail("truncated") }
            guard bytes[index] == 0xFF else { throw fail("a marker was expected at byte \(index)") }
            while index < bytes.count, bytes[index] == 0xFF { index += 1 }  // fill bytes
            guard index < bytes.count else { throw fail("truncated") }
            let marker = bytes[index]
            index += 1
            switch marker {
            case 0xD9:
                self.pieces = pieces
                trailing = index ..< bytes.count
                return
            case 0x01:
                pieces.append(.standalone(marker: marker))
                continue
            case 0x00, 0xD0 ... 0xD8:
                throw fail("marker 0x\(String(marker, radix: 16, uppercase: true)) out of place")
            default:
                break
            }
            guard let length = bytes.bigEndian16(at: index) else { throw fail("truncated") }
            guard length >= 2 else { throw fail("a segment is shorter than its length field") }
            guard index + length <= bytes.count else { throw fail("truncated") }
            pieces.append(.segment(marker: marker, range: index - 2 ..< index + length, payload: index + 2 ..< index + length))
            index += length
            if marker == 0xDA {
                // Entropy-coded data runs to the next marker other than a stuffed 0xFF00 or a restart marker.
                let dataStart = index
                while true {
                    guard let ff = bytes[index...].firstIndex(of: 0xFF), ff + 1 < bytes.count else { throw fail("truncated") }
                    let next = bytes[ff + 1]
                    if next == 0x00 || (0xD0 ... 0xD7).contains(next) {
                        index = ff + 2
                    } else {
                        index = ff
                        break
                    }
                }
                pieces.append(.scanData(dataStart ..< index))
            }
        }
    }

    /// The orientation in the first EXIF block (1 when there is none).
    var orientation: Int {
        for case .segment(0xE1, _, let payload) in pieces where bytes.has(EXIF.jpegPrefix, at: payload.lowerBound) {
            return EXIF(Array(bytes[payload])).orientation
        }
        return 1
    }

    static let jfif = "JFIF\0".ascii
    static let jfifLength = 14
    static let xmp = "http://ns.adobe.com/xap/1.0/\0".ascii
    static let xmpExtension = "http://ns.adobe.com/xmp/extension/\0".ascii
    static let iccProfile = "ICC_PROFILE\0".ascii
    static let multiPicture = "MPF\0".ascii
    static let adobe = "Adobe".ascii
    /// The segments that make the pixels: frames (SOF0-3, 5-7, 9-11, 13-15),
    /// Huffman and arithmetic tables, scans, quantization tables, number of
    /// lines, restart interval, hierarchical progression and expansion.
    static let imageMarkers: Set<UInt8> = Set(0xC0 ... 0xCF).subtracting([0xC8]).union(0xDA ... 0xDF)

    /// The file without metadata: only the segments that shape the pixels and
    /// their colours are kept (`imageMarkers`, JFIF without its thumbnail, ICC
    /// profile, Adobe colour transform), plus an EXIF block holding only the orientation when
    /// that was not 1. Scan data is copied byte for byte.
    func stripped() -> (bytes: [UInt8], removed: [String]) {
        var out = JPEGFile.start
        out.reserveCapacity(bytes.count)
        var removed = RemovedNames()
        var wroteOrientation = false
        for piece in pieces {
            switch piece {
            case .scanData(let range):
                out += bytes[range]
            case .standalone:
                removed.add("reserved markers")
            case .segment(let marker, let range, let payload):
                let starts = { (prefix: [UInt8]) in bytes.has(prefix, at: payload.lowerBound) }
                switch marker {
                case 0xE0 where starts(JPEGFile.jfif) && payload.count >= JPEGFile.jfifLength:
                    // Version, units and density; the thumbnail's width and height set to 0, its pixels left out.
                    var jfif = Array(bytes[payload.prefix(JPEGFile.jfifLength)])
                    if payload.count > JPEGFile.jfifLength || jfif[12] != 0 || jfif[13] != 0 { removed.add("JFIF thumbnail") }
                    jfif[12] = 0
                    jfif[13] = 0
                    out += [0xFF, 0xE0]
                    out.appendBigEndian(jfif.count + 2, bytes: 2)
                    out += jfif
                case 0xE1 where starts(EXIF.jpegPrefix):
                    let exif = EXIF(Array(bytes[payload]))
                    removed.add(exif.removedName)
                    if exif.orientation != 1, !wroteOrientation {
                        let block = EXIF.jpegPrefix + EXIF.orientationOnly(exif.orientation)
                        out += [0xFF, 0xE1]
                        out.appendBigEndian(block.count + 2, bytes: 2)
                        out += block
                        wroteOrientation = true
                    }
                case 0xE1 where starts(JPEGFile.xmp) || starts(JPEGFile.xmpExtension):
                    removed.add("XMP")
                case 0xE2 where starts(JPEGFile.iccProfile), 0xEE where starts(JPEGFile.adobe):
                    out += bytes[range]
                case 0xE2 where starts(JPEGFile.multiPicture):
                    removed.add("more images (MPF)")
                case 0xED:
                    removed.add("IPTC/Photoshop")
                case 0xFE:
                    removed.add("comments")
                case 0xE0 ... 0xEF:
                    removed.add("APP\(marker - 0xE0)")
                case _ where JPEGFile.imageMarkers.contains(marker):
                    out += bytes[range]
                default:
                    // JPG, JPGn and reserved markers: no decoder reads them.
                    removed.add("reserved segments")
                }
            }
        }
        out += [0xFF, 0xD9]
        if !trailing.isEmpty { removed.add("data after the image") }
        return (out, removed.names)
    }
}
