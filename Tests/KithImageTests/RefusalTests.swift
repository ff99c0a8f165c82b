@testable import KithImage
import Testing

@Suite struct RefusalTests {
    @Test(arguments: ["phone.jpg", "photo.png", "photo.webp"])
    func truncatedPhotosAreRefused(name: String) throws {
        let original = try Fixture.bytes(name)
        for keep in [false, true] {
            for cut in stride(from: 1, to: original.count, by: max(1, original.count / 97)) + [original.count - 1, original.count - 2] {
                let error = photoError { _ = try Photo.prepare(Array(original.prefix(cut)), keepMetadata: keep) }
                if case .tooLarge = error?.reason { Issue.record("\(name) cut at \(cut): \(error!)") }
            }
        }
        let error = photoError { _ = try Photo.prepare(Array(original.prefix(original.count - 2)), keepMetadata: false) }
        #expect(error?.description.hasPrefix("not a photo Kith can read: ") == true)
    }

    @Test func corruptedPhotosAreRefused() throws {
        // JPEG: a frame of 7-bit samples.
        var jpeg = try Fixture.phone
        let sof = try #require(JPEGFile(jpeg).pieces.compactMap { piece -> Int? in
            if case .segment(0xC0, _, let payload) = piece { return payload.lowerBound } else { return nil }
        }.first)
        jpeg[sof] = 7
        let jpegError = photoError { _ = try Photo.prepare(jpeg, keepMetadata: false) }
        #expect(jpegError?.description.hasPrefix("not a photo Kith can read: JPEG: ") == true)
        // PNG: one byte of the image data changed (its CRC no longer matches).
        var png = try Fixture.png
        let idat = try #require(PNGFile(png).chunks.first { $0.type == "IDAT" })
        png[idat.data.lowerBound + 10] ^= 0x55
        #expect(photoError { _ = try Photo.prepare(png, keepMetadata: false) }?.description.hasPrefix("not a photo Kith can read: PNG: ") == true)
        // WebP: the VP8 frame's start code broken.
        var webp = try Fixture.webp
        let vp8 = try #require(WebPFile(webp).chunks.first { $0.fourCC == "VP8 ".ascii })
        webp[vp8.data.lowerBound + 3] = 0
        #expect(photoError { _ = try Photo.prepare(webp, keepMetadata: false) }?.description.hasPrefix("not a photo Kith can read: WebP: ") == true)
    }

    @Test(arguments: ["phone.jpg", "photo.png", "photo.webp"])
    func randomlyDamagedPhotosNeverTrap(name: String) throws {
        // Each either still reads or is refused with a PhotoError; none traps.
        let original = try Fixture.bytes(name)
        var generator = SeededGenerator(seed: 0x6B69_7468)
        for _ in 0 ..< 150 {
            var damaged = original
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &generator) {
                // Mostly in the headers and metadata, where the walkers read lengths.
                let limit = Bool.random(using: &generator) ? min(600, damaged.count) : damaged.count
                damaged[Int.random(in: 0 ..< limit, using: &generator)] = UInt8.random(in: 0 ... 255, using: &generator)
            }
            do {
                let photo = try Photo.prepare(damaged, keepMetadata: false)
                #expect(photo.thumbnail.width <= Photo.thumbnailSide && photo.thumbnail.height <= Photo.thumbnailSide)
            } catch is PhotoError {}
        }
    }

    @Test func tooManyPixelsAreRefusedBeforeDecoding() throws {
        // PNG headers claiming 12,000 x 10,000 and 70,000 x 10, with next to nothing to decode behind them.
        let idat = PNGFile.chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])
        for (width, height) in [(12_000, 10_000), (70_000, 10)] {
            var ihdr: [UInt8] = []
            ihdr.appendBigEndian(width, bytes: 4)
            ihdr.appendBigEndian(height, bytes: 4)
            ihdr += [8, 2, 0, 0, 0]
            let png = PNGFile.signature + PNGFile.chunk("IHDR", ihdr) + idat + PNGFile.chunk("IEND", [])
            let error = photoError { _ = try Photo.prepare(png, keepMetadata: false) }
            #expect(error?.reason == .tooLarge(width: UInt64(width), height: UInt64(height)))
        }
        let error = photoError { _ = try Photo.thumbnail(PNGFile.signature + PNGFile.chunk("IHDR", [0, 0, 0x2E, 0xE0, 0, 0, 0x27, 0x10, 8, 2, 0, 0, 0]) + idat + PNGFile.chunk("IEND", []), maxSide: 480) }
        #expect(error?.description == "too large: 120.0 megapixels (12000 x 10000); photos may have at most 100 megapixels and 65535 pixels a side")

        // The phone JPEG's frame header saying 12,000 x 10,000.
        var jpeg = try Fixture.phone
        let sof = try #require(JPEGFile(jpeg).pieces.compactMap { piece -> Int? in
            if case .segment(0xC0, _, let payload) = piece { return payload.lowerBound } else { return nil }
        }.first)
        jpeg.replaceSubrange(sof + 1 ..< sof + 5, with: [0x27, 0x10, 0x2E, 0xE0])
        #expect(photoError { _ = try Photo.prepare(jpeg, keepMetadata: false) }?.reason == .tooLarge(width: 12_000, height: 10_000))

        // A lossless WebP header (14-bit width and height less one) saying 12,000 x 10,000.
        var vp8l: [UInt8] = [0x2F]
        vp8l.appendLittleEndian(11_999 | 9_999 << 14, bytes: 4)
        vp8l += [UInt8](repeating: 0, count: 11)
        var webp = WebPFile.riff
        webp.appendLittleEndian(4 + 8 + vp8l.count, bytes: 4)
        webp += WebPFile.webp + "VP8L".ascii
        webp.appendLittleEndian(vp8l.count, bytes: 4)
        webp += vp8l
        #expect(photoError { _ = try Photo.prepare(webp, keepMetadata: false) }?.reason == .tooLarge(width: 12_000, height: 10_000))
    }

    @Test func heicAndOtherFilesAreRefused() {
        let heic: [UInt8] = [0, 0, 0, 0x18] + "ftypheic".ascii + [0, 0, 0, 0] + "mif1heic".ascii
        #expect(Photo.detect(heic) == nil)
        #expect(photoError { _ = try Photo.prepare(heic, keepMetadata: false) }?.description
            == "HEIC photos are not supported yet: convert to JPEG first")
        let avif: [UInt8] = [0, 0, 0, 0x18] + "ftypavif".ascii + [0, 0, 0, 0]
        #expect(photoError { _ = try Photo.prepare(avif, keepMetadata: true) }?.description
            == "AVIF photos are not supported yet: convert to JPEG first")
        for bytes in [[], "hello".ascii, "%PDF-1.7".ascii, [0xFF, 0xD8]] {
            #expect(photoError { _ = try Photo.prepare(bytes, keepMetadata: false) }?.description
                == "not a photo Kith can read: not a JPEG, PNG or WebP file")
        }
        #expect(photoError { _ = try Photo.prepare([0xFF, 0xD8, 0xFF, 0xE0, 0x00], keepMetadata: false) }?.description
            == "not a photo Kith can read: JPEG: truncated")
    }
}
