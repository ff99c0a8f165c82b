import KithImageC

/// The EXIF orientation: how the stored pixels are turned to be seen the right way up.
enum Orientation: Int {
    case up = 1, mirrored = 2, upsideDown = 3, upsideDownMirrored = 4
    case leftMirrored = 5, right = 6, rightMirrored = 7, left = 8

    /// Whether the displayed width is the stored height (orientations 5 to 8).
    var swapsSides: Bool { rawValue >= 5 }
}

/// A small 8-bit RGB image (a thumbnail being made).
struct RGBImage {
    let width: Int
    let height: Int
    let pixels: [UInt8]

    /// Turned the way the orientation asks, so it is seen the right way up.
    func oriented(_ orientation: Orientation) -> RGBImage {
        if orientation == .up { return self }
        let (w, h) = (width, height)
        let (outWidth, outHeight) = orientation.swapsSides ? (h, w) : (w, h)
        // The stored pixel shown at (x, y).
        let source: (Int, Int) -> (Int, Int) = switch orientation {
        case .up: { x, y in (x, y) }
        case .mirrored: { x, y in (w - 1 - x, y) }
        case .upsideDown: { x, y in (w - 1 - x, h - 1 - y) }
        case .upsideDownMirrored: { x, y in (x, h - 1 - y) }
        case .leftMirrored: { x, y in (y, x) }
        case .right: { x, y in (y, h - 1 - x) }
        case .rightMirrored: { x, y in (w - 1 - y, h - 1 - x) }
        case .left: { x, y in (w - 1 - y, x) }
        }
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0 ..< outHeight {
            for x in 0 ..< outWidth {
                let (sx, sy) = source(x, y)
                let from = (sy * w + sx) * 3
                let to = (y * outWidth + x) * 3
                out[to] = pixels[from]
                out[to + 1] = pixels[from + 1]
                out[to + 2] = pixels[from + 2]
            }
        }
        return RGBImage(width: outWidth, height: outHeight, pixels: out)
    }

    /// Encoded as a baseline JPEG by libjpeg; nil if that is larger than `maxBytes`.
    func jpeg(quality: Int32, maxBytes: Int) throws -> [UInt8]? {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var error = [CChar](repeating: 0, count: 160)
        let status = pixels.withUnsafeBufferPointer { buffer in
            kith_encode_jpeg(buffer.baseAddress, UInt32(width), UInt32(height), quality, maxBytes, &out, &size, &error, error.count)
        }
        defer { kith_image_free(out) }
        if status == Int32(KITH_IMAGE_TOO_LARGE) { return nil }
        guard status == Int32(KITH_IMAGE_OK), let out else {
            let message = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw PhotoError.unreadable(.jpeg, "the thumbnail could not be encoded: \(message)")
        }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }
}
