/// What an EXIF block (a TIFF structure) holds that matters before a photo
/// is shared: its orientation, and whether it tells where and with what the
/// photo was taken. Whatever cannot be read is taken as absent: the block is
/// removed whole anyway.
struct EXIF: Equatable {
    /// 1 to 8 (TIFF Orientation); 1 when absent or out of range.
    var orientation = 1
    /// A GPS IFD.
    var hasGPS = false
    /// Make, Model or the Exif IFD (camera settings, lens, serial numbers, dates).
    var hasCamera = false
    /// A second IFD: an embedded thumbnail, which may show the photo before an edit.
    var hasThumbnail = false
    /// Exactly the block `orientationOnly` writes: nothing to report when it is removed.
    var isOrientationOnly = false

    static let jpegPrefix = "Exif\0\0".ascii
}

extension EXIF {
    /// Reads the TIFF structure, or one after the "Exif\0\0" prefix JPEG uses.
    init(_ block: [UInt8]) {
        self.init()
        let tiff = block.has(EXIF.jpegPrefix, at: 0) ? Array(block.dropFirst(EXIF.jpegPrefix.count)) : block
        defer { isOrientationOnly = tiff == EXIF.orientationOnly(orientation) }
        let bigEndian: Bool
        if tiff.has("MM\0*".ascii, at: 0) { bigEndian = true } else if tiff.has("II*\0".ascii, at: 0) { bigEndian = false } else { return }
        let u16 = { (offset: Int) in bigEndian ? tiff.bigEndian16(at: offset) : tiff.littleEndian16(at: offset) }
        let u32 = { (offset: Int) in bigEndian ? tiff.bigEndian32(at: offset) : tiff.littleEndian32(at: offset) }
        guard let ifd = u32(4), let count = u16(ifd) else { return }
        for index in 0 ..< count {
            let entry = ifd + 2 + 12 * index
            guard let tag = u16(entry), let type = u16(entry + 2) else { return }
            switch tag {
            case 0x0112 where type == 3:
                if let value = u16(entry + 8), (1 ... 8).contains(value) { orientation = value }
            case 0x8825: hasGPS = true
            case 0x010F, 0x0110, 0x8769: hasCamera = true
            default: break
            }
        }
        if let next = u32(ifd + 2 + 12 * count), next != 0 { hasThumbnail = true }
    }

    /// How a person is told the block was removed, e.g. "EXIF (camera, GPS)"; nil when it held only the orientation.
    var removedName: String? {
        if isOrientationOnly { return nil }
        let parts = [hasCamera ? "camera" : nil, hasGPS ? "GPS" : nil, hasThumbnail ? "thumbnail" : nil].compactMap { $0 }
        return parts.isEmpty ? "EXIF" : "EXIF (\(parts.joined(separator: ", ")))"
    }

    /// A TIFF structure holding only the orientation (big-endian, one IFD of one entry),
    /// written back in place of a removed block so photos stay the right way up.
    static func orientationOnly(_ orientation: Int) -> [UInt8] {
        var tiff = "MM\0*".ascii
        tiff.appendBigEndian(8, bytes: 4)            // IFD0 right after the header
        tiff.appendBigEndian(1, bytes: 2)            // one entry
        tiff.appendBigEndian(0x0112, bytes: 2)       // Orientation
        tiff.appendBigEndian(3, bytes: 2)            // SHORT
        tiff.appendBigEndian(1, bytes: 4)            // one value
        tiff.appendBigEndian(orientation, bytes: 2)
        tiff.appendBigEndian(0, bytes: 2)            // padding of the value field
        tiff.appendBigEndian(0, bytes: 4)            // no next IFD
        return tiff
    }
}

/// The names of what was removed, each once, in the order first met.
struct RemovedNames {
    private(set) var names: [String] = []

    mutating func add(_ name: String?) {
        if let name, !names.contains(name) { names.append(name) }
    }
}
