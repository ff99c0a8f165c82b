@testable import KithImage
import Testing

/// A JPEG with the phone fixture's pixels and only an EXIF block of the given orientation.
func phoneJPEG(orientation: Int) throws -> [UInt8] {
    let plain = try Photo.prepare(Fixture.phone, keepMetadata: false).bytes
    let file = try JPEGFile(plain)
    var out = JPEGFile.start
    for piece in file.pieces {
        switch piece {
        case .segment(0xE1, _, _):
            let block = EXIF.jpegPrefix + EXIF.orientationOnly(orientation)
            out += [0xFF, 0xE1]
            out.appendBigEndian(block.count + 2, bytes: 2)
            out += block
        case .segment(_, let range, _), .scanData(let range): out += plain[range]
        case .standalone(let marker): out += [0xFF, marker]
        }
    }
    return out + [0xFF, 0xD9]
}

@Suite struct ThumbnailTests {
    @Test func phonePhotoComesOutTheRightWayUp() throws {
        // Stored 1200 x 900 with Orientation 6: seen turned a quarter clockwise.
        let photo = try Photo.prepare(Fixture.phone, keepMetadata: false)
        #expect((photo.width, photo.height) == (900, 1200))
        #expect((photo.thumbnail.width, photo.thumbnail.height) == (360, 480))
        #expect(try corners(of: photo.thumbnail.bytes) == [.blue, .red, .green, .yellow])
        let decoded = try DecodedImage(photo.thumbnail.bytes, format: .jpeg, minLongerSide: .max)
        #expect((decoded.width, decoded.height) == (360, 480))
        #expect(photo.thumbnail.bytes.count <= Photo.maxThumbnailBytes)
    }

    /// Clockwise from the top left, as seen: the stored quadrants are red, green / blue, yellow.
    @Test(arguments: [
        (1, [Quadrant.red, .green, .yellow, .blue]),
        (2, [.green, .red, .blue, .yellow]),
        (3, [.yellow, .blue, .red, .green]),
        (4, [.blue, .yellow, .green, .red]),
        (5, [.red, .blue, .yellow, .green]),
        (6, [.blue, .red, .green, .yellow]),
        (7, [.yellow, .green, .red, .blue]),
        (8, [.green, .yellow, .blue, .red]),
    ])
    func everyOrientationIsApplied(orientation: Int, seen: [Quadrant]) throws {
        let thumbnail = try Photo.thumbnail(phoneJPEG(orientation: orientation), maxSide: 480)
        let (width, height) = orientation >= 5 ? (360, 480) : (480, 360)
        #expect((thumbnail.width, thumbnail.height) == (width, height))
        #expect(try corners(of: thumbnail.bytes) == seen)
    }

    @Test func transparencyIsWhiteAndSmallPhotosAreNotEnlarged() throws {
        let photo = try Photo.prepare(Fixture.png, keepMetadata: false)
        #expect((photo.width, photo.height) == (300, 200))
        #expect((photo.thumbnail.width, photo.thumbnail.height) == (300, 200))
        #expect(try corners(of: photo.thumbnail.bytes) == [.red, .green, .white, .blue])
    }

    @Test func webpIsDecoded() throws {
        let photo = try Photo.prepare(Fixture.webp, keepMetadata: false)
        #expect((photo.width, photo.height) == (300, 200))
        #expect(try corners(of: photo.thumbnail.bytes) == [.red, .green, .yellow, .blue])
        let small = try Photo.thumbnail(Fixture.webp, maxSide: 150)
        #expect((small.width, small.height) == (150, 100))
    }

    @Test func boxFilterAveragesWhatEachPixelCovers() {
        // 3 source pixels to 2: each output pixel covers one and a half.
        let filter = BoxFilter(from: 3, to: 2)
        #expect(filter.taps.map { $0.map(\.index) } == [[0, 1], [1, 2]])
        #expect(filter.taps.map { $0.map(\.weight) } == [[Float(2) / 3, Float(1) / 3], [Float(1) / 3, Float(2) / 3]])
        let row: [UInt8] = [0, 0, 0, 90, 90, 90, 255, 255, 255]
        var out = [Float](repeating: 0, count: 6)
        row.withUnsafeBufferPointer { filter.apply(to: $0[...], into: &out) }
        #expect(out.map { $0.rounded() } == [30, 30, 30, 200, 200, 200])
        for (source, target) in [(1200, 480), (7, 3), (65_535, 480), (5, 5)] {
            for taps in BoxFilter(from: source, to: target).taps {
                #expect(abs(taps.map(\.weight).reduce(0, +) - 1) < 0.0001)
            }
        }
    }
}
