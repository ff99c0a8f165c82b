@testable import KithImage
import Testing

/// What a crafted chunk or segment hides: it must not leave with the photo.
let hidden = "GPS 48.8584 N 2.2945 E".ascii
/// An EXIF block as a camera writes it, with the hidden text in it.
let hiddenEXIF = EXIF.jpegPrefix + "MM\0*".ascii + [0, 0, 0, 8] + hidden

/// A WebP file of these chunks, each padded to an even length.
func webp(_ chunks: [([UInt8], [UInt8])]) -> [UInt8] {
    var body = WebPFile.webp
    for (fourCC, data) in chunks {
        body += fourCC
        body.appendLittleEndian(data.count, bytes: 4)
        body += data
        if data.count % 2 == 1 { body.append(0) }
    }
    var out = WebPFile.riff
    out.appendLittleEndian(body.count, bytes: 4)
    return out + body
}

/// The fixture's chunks: VP8X, VP8, EXIF, XMP.
func webpFixtureChunks() throws -> [([UInt8], [UInt8])] {
    let file = try WebPFile(Fixture.webp)
    return file.chunks.map { ($0.fourCC, Array(file.bytes[$0.data])) }
}

func contains(_ bytes: [UInt8], _ part: [UInt8]) -> Bool {
    bytes.count >= part.count && (0 ... bytes.count - part.count).contains { bytes.has(part, at: $0) }
}

@Suite struct HiddenDataTests {
    @Test func webpKeepsOnlyTheFirstBitstreamAndWhatComesBeforeIt() throws {
        let fixture = try webpFixtureChunks()
        let vp8 = try #require(fixture.first { $0.0 == "VP8 ".ascii })
        // A second bitstream (never decoded), and a profile and an unknown chunk after the image.
        let crafted = webp(fixture + [("VP8 ".ascii, hidden), ("ICCP".ascii, hidden), ("ZZZZ".ascii, hiddenEXIF)])
        let photo = try Photo.prepare(crafted, keepMetadata: false)
        #expect(photo.removedMetadata == ["EXIF (camera, GPS)", "XMP", "a second image", "ICCP chunk", "ZZZZ chunk"])
        #expect(!contains(photo.bytes, hidden))
        try expectNoPrivateMetadata(photo.bytes)
        let after = try WebPFile(photo.bytes)
        #expect(after.chunks.map { String(decoding: $0.fourCC, as: UTF8.self) } == ["VP8X", "VP8 "])
        #expect(Array(photo.bytes[after.chunks[1].data]) == vp8.1)
        // A second copy of the image, unedited, goes too.
        let twice = try Photo.prepare(webp(fixture + [vp8]), keepMetadata: false)
        #expect(try twice.bytes == Photo.prepare(Fixture.webp, keepMetadata: false).bytes)
    }

    @Test func webpChunksBeforeTheImageAreKeptOnceAndOnlyIfKnown() throws {
        var fixture = try webpFixtureChunks()
        fixture.insert(contentsOf: [("ICCP".ascii, hidden), ("ICCP".ascii, hidden + hidden), ("ZZZZ".ascii, hidden)], at: 1)
        let photo = try Photo.prepare(webp(fixture), keepMetadata: false)
        #expect(try WebPFile(photo.bytes).chunks.map { String(decoding: $0.fourCC, as: UTF8.self) } == ["VP8X", "ICCP", "VP8 "])
        #expect(photo.removedMetadata == ["ICCP chunk", "ZZZZ chunk", "EXIF (camera, GPS)", "XMP"])
        #expect(!contains(photo.bytes, hidden + hidden))
    }

    @Test func animatedWebPIsRefused() throws {
        let fixture = try webpFixtureChunks()
        var flagged = fixture
        flagged[0].1[0] |= WebPFile.animationFlag
        let files = [
            // A frame carrying an EXIF-like payload, after the image and with the animation flag clear.
            webp(fixture + [("ANMF".ascii, [UInt8](repeating: 0, count: 16) + hiddenEXIF)]),
            webp([fixture[0], ("ANIM".ascii, [UInt8](repeating: 0, count: 6))] + fixture.dropFirst()),
            webp(flagged),
        ]
        for file in files {
            for keep in [false, true] {
                let error = photoError { _ = try Photo.prepare(file, keepMetadata: keep) }
                #expect(error?.description == "not a photo Kith can read: WebP: animated WebP is not supported")
            }
        }
    }

    @Test func jpegKeepsOnlyTheSegmentsItsDecoderNeeds() throws {
        let plain = try Photo.prepare(Fixture.phone, keepMetadata: false).bytes
        // After the start marker: APP15, JPG13, JPG, a reserved 0x50 segment and a TEM marker.
        var crafted = Array(plain.prefix(2))
        for marker: UInt8 in [0xEF, 0xFD, 0xC8, 0x50] {
            crafted += [0xFF, marker]
            crafted.appendBigEndian(hiddenEXIF.count + 2, bytes: 2)
            crafted += hiddenEXIF
        }
        crafted += [0xFF, 0x01]
        crafted += plain.dropFirst(2)
        #expect(contains(crafted, hidden))
        let photo = try Photo.prepare(crafted, keepMetadata: false)
        #expect(photo.removedMetadata == ["APP15", "reserved segments", "reserved markers"])
        #expect(photo.bytes == plain)
        #expect(!contains(photo.bytes, hidden))
    }

    @Test func thumbnailEncoderStopsAtItsLimit() throws {
        // Noise compresses badly: well over 1 MiB as a JPEG at quality 95.
        var generator = SeededGenerator(seed: 0x6E6F_6973)
        let side = 1100
        let noise = RGBImage(width: side, height: side, pixels: (0 ..< side * side * 3).map { _ in UInt8.random(in: 0 ... 255, using: &generator) })
        let whole = try #require(try noise.jpeg(quality: 95, maxBytes: 16 << 20))
        #expect(whole.count > 1 << 20)
        let decoded = try DecodedImage(whole, format: .jpeg, minLongerSide: .max)
        #expect((decoded.width, decoded.height) == (side, side))
        #expect(try noise.jpeg(quality: 95, maxBytes: whole.count) == whole)
        #expect(try noise.jpeg(quality: 95, maxBytes: 1 << 20) == nil)
        #expect(try noise.jpeg(quality: 95, maxBytes: whole.count - 1) == nil)
        #expect(try noise.jpeg(quality: 95, maxBytes: 100) == nil)
    }
}
