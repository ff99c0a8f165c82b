import CQREncode

/// A QR code made by libqrencode (error correction level M, 8-bit mode):
/// its modules as runs of dark squares, for an SVG of rects.
struct QRCode {
    /// Modules on a side.
    let size: Int
    /// The dark modules, a horizontal run at a time, left to right and top to bottom.
    let runs: [Run]

    struct Run {
        let x: Int
        let y: Int
        let width: Int
    }

    /// nil when libqrencode cannot encode `text` (too long for a QR code).
    init?(_ text: String) {
        guard let code = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M) else { return nil }
        defer { QRcode_free(code) }
        let size = Int(code.pointee.width)
        guard size > 0, let data = code.pointee.data else { return nil }
        var runs: [Run] = []
        for y in 0..<size {
            var x = 0
            while x < size {
                // Bit 0 of each module's byte: dark (1) or light (0).
                guard data[y * size + x] & 1 == 1 else { x += 1; continue }
                let start = x
                while x < size, data[y * size + x] & 1 == 1 { x += 1 }
                runs.append(Run(x: start, y: y, width: x - start))
            }
        }
        (self.size, self.runs) = (size, runs)
    }
}
