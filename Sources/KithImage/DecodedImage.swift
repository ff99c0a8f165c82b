// Imported for its link directives: KithImageC calls libjpeg, libpng and libwebp.
import CImage
import KithImageC

/// A photo decoded by its library into 8-bit RGB (alpha over white), owned
/// here and freed with it. A JPEG may be decoded at a reduced scale.
final class DecodedImage {
    private let pixels: UnsafeMutablePointer<UInt8>
    let width: Int
    let height: Int
    /// As the header has them.
    let fullWidth: Int
    let fullHeight: Int

    /// Refuses a header over the limits before decoding, and data the library cannot decode.
    init(_ bytes: [UInt8], format: ImageFormat, minLongerSide: Int) throws {
        let limits = kith_limits(max_pixels: Photo.maxPixels, max_side: UInt32(Photo.maxSide),
                                 min_longer_side: UInt32(clamping: minLongerSide))
        var out = kith_decoded()
        let status = bytes.withUnsafeBufferPointer { buffer in
            switch format {
            case .jpeg: kith_decode_jpeg(buffer.baseAddress, buffer.count, limits, &out)
            case .png: kith_decode_png(buffer.baseAddress, buffer.count, limits, &out)
            case .webp: kith_decode_webp(buffer.baseAddress, buffer.count, limits, &out)
            }
        }
        guard status == Int32(KITH_IMAGE_OK), let pixels = out.pixels else {
            kith_image_free(out.pixels)
            if status == Int32(KITH_IMAGE_TOO_LARGE) {
                throw PhotoError(.tooLarge(width: UInt64(out.full_width), height: UInt64(out.full_height)))
            }
            let message = withUnsafeBytes(of: out.error) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw PhotoError.unreadable(format, message.isEmpty ? "it cannot be decoded" : message)
        }
        self.pixels = pixels
        width = Int(out.width)
        height = Int(out.height)
        fullWidth = Int(out.full_width)
        fullHeight = Int(out.full_height)
    }

    deinit { kith_image_free(pixels) }

    /// The red, green and blue of the pixel at (x, y).
    func pixel(x: Int, y: Int) -> [UInt8] {
        precondition((0 ..< width).contains(x) && (0 ..< height).contains(y), "a pixel outside the image")
        let p = (y * width + x) * 3
        return [pixels[p], pixels[p + 1], pixels[p + 2]]
    }

    /// Resized by area averaging (a box filter): each new pixel is the mean of
    /// the source pixels it covers, partly covered ones weighted by how much.
    func downscaled(width newWidth: Int, height newHeight: Int) -> RGBImage {
        let columns = BoxFilter(from: width, to: newWidth)
        let rows = BoxFilter(from: height, to: newHeight)
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        var row = [Float](repeating: 0, count: newWidth * 3)
        var sum = [Float](repeating: 0, count: newWidth * 3)
        let source = UnsafeBufferPointer(start: pixels, count: width * height * 3)
        for y in 0 ..< newHeight {
            for i in sum.indices { sum[i] = 0 }
            for (sourceY, rowWeight) in rows.taps[y] {
                columns.apply(to: source[sourceY * width * 3 ..< (sourceY + 1) * width * 3], into: &row)
                for i in sum.indices { sum[i] += row[i] * rowWeight }
            }
            for i in sum.indices { out[y * newWidth * 3 + i] = UInt8(min(255, max(0, sum[i].rounded()))) }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }
}

/// For each output index along one axis, the source indices it covers and their weights (summing to 1).
struct BoxFilter {
    let taps: [[(index: Int, weight: Float)]]

    init(from source: Int, to target: Int) {
        let scale = Double(source) / Double(target)
        taps = (0 ..< target).map { i in
            let start = Double(i) * scale
            let end = min(Double(source), Double(i + 1) * scale)
            var taps: [(index: Int, weight: Float)] = []
            var s = Int(start)
            while Double(s) < end, s < source {
                let covered = min(end, Double(s + 1)) - max(start, Double(s))
                if covered > 0 { taps.append((s, Float(covered / scale))) }
                s += 1
            }
            return taps
        }
    }

    /// One row of RGB pixels resized along this axis.
    func apply(to source: Slice<UnsafeBufferPointer<UInt8>>, into out: inout [Float]) {
        let base = source.startIndex
        for (x, pixelTaps) in taps.enumerated() {
            var r: Float = 0, g: Float = 0, b: Float = 0
            for (index, weight) in pixelTaps {
                let p = base + index * 3
                r += Float(source[p]) * weight
                g += Float(source[p + 1]) * weight
                b += Float(source[p + 2]) * weight
            }
            out[x * 3] = r
            out[x * 3 + 1] = g
            out[x * 3 + 2] = b
        }
    }
}
