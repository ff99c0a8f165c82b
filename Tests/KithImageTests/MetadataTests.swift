@testable import KithImage
import Testing

/// The segments of a JPEG that carry its pixels (tables, frame, scans) and its scan data, byte for byte.
func imageData(ofJPEG bytes: [UInt8]) throws -> [[UInt8]] {
    let file = try JPEGFile(bytes)
    return file.pieces.compactMap { piece in
        switch piece {
        case .scanData(let range): Array(bytes[range])
        case .segment(let marker, let range, _) where !(0xE0 ... 0xEF).contains(marker) && marker != 0xFE: Array(bytes[range])
        default: nil
        }
    }
}

/// The APPn and COM segments of a JPEG: marker and payload.
func metadataSegments(ofJPEG bytes: [UInt8]) throws -> [(marker: UInt8, payload: [UInt8])] {
    try JPEGFile(bytes).pieces.compactMap { piece in
        guard case .segment(let marker, _, let payload) = piece, (0xE0 ... 0xEF).contains(marker) || marker == 0xFE else { return nil }
        return (marker, Array(bytes[payload]))
    }
}

@Suite struct MetadataTests {
    @Test func phoneJPEGLosesLocationAndCameraButKeepsItsOrientationAndPixels() throws {
        let original = try Fixture.phone
        #expect(EXIF(try metadataSegments(ofJPEG: original).first { $0.marker == 0xE1 }!.payload).hasGPS, "the fixture has GPS")
        let photo = try Photo.prepare(original, keepMetadata: false)
        #expect(photo.format == .jpeg)
        #expect(photo.mediaType == "image/jpeg")
        #expect(photo.removedMetadata == ["EXIF (camera, GPS)", "IPTC/Photoshop", "XMP", "comments"])
        try expectNoPrivateMetadata(photo.bytes)
        // What is left: JFIF, and an EXIF block holding only the orientation.
        let segments = try metadataSegments(ofJPEG: photo.bytes)
        #expect(segments.map(\.marker) == [0xE0, 0xE1])
        let exif = EXIF(segments[1].payload)
        #expect(exif == EXIF(orientation: 6, hasGPS: false, hasCamera: false, hasThumbnail: false, isOrientationOnly: true))
        #expect(segments[1].payload == EXIF.jpegPrefix + EXIF.orientationOnly(6))
        if let tags = try exiftool(photo.bytes) {
            #expect(tags["IFD0:Orientation"] as? String == "Rotate 90 CW")
            #expect(tags["JFIF:JFIFVersion"] != nil)
        }
        // The compressed image is the same, byte for byte.
        #expect(try imageData(ofJPEG: photo.bytes) == imageData(ofJPEG: original))
        #expect(photo.bytes.count < original.count)
    }

    @Test func pngKeepsOnlyItsImageAndColourChunks() throws {
        let original = try Fixture.png
        let photo = try Photo.prepare(original, keepMetadata: false)
        #expect(photo.format == .png)
        #expect(photo.removedMetadata == ["text", "time", "XMP", "EXIF (camera, GPS)"])
        try expectNoPrivateMetadata(photo.bytes)
        let before = try PNGFile(original), after = try PNGFile(photo.bytes)
        #expect(after.chunks.map(\.type) == ["IHDR", "sRGB", "IDAT", "IEND"])
        let idat = { (file: PNGFile) in file.chunks.filter { $0.type == "IDAT" }.map { Array(file.bytes[$0.range]) } }
        #expect(idat(after) == idat(before))
    }

    @Test func webpLosesItsEXIFAndXMPChunksAndFlags() throws {
        let original = try Fixture.webp
        let photo = try Photo.prepare(original, keepMetadata: false)
        #expect(photo.format == .webp)
        #expect(photo.removedMetadata == ["EXIF (camera, GPS)", "XMP"])
        try expectNoPrivateMetadata(photo.bytes)
        let before = try WebPFile(original), after = try WebPFile(photo.bytes)
        #expect(after.chunks.map { String(decoding: $0.fourCC, as: UTF8.self) } == ["VP8X", "VP8 "])
        #expect(photo.bytes[20] & (WebPFile.exifFlag | WebPFile.xmpFlag) == 0)
        #expect(original[20] & (WebPFile.exifFlag | WebPFile.xmpFlag) == WebPFile.exifFlag | WebPFile.xmpFlag)
        #expect(photo.bytes.littleEndian32(at: 4) == photo.bytes.count - 8)
        #expect(Array(photo.bytes[after.chunks[1].range]) == Array(original[before.chunks[1].range]))
        if let tags = try exiftool(photo.bytes) { #expect(tags["RIFF:WebP_Flags"] as? String == "(none)") }
    }

    @Test(arguments: ["phone.jpg", "photo.png", "photo.webp"])
    func keepMetadataLeavesTheBytesUnchanged(name: String) throws {
        let original = try Fixture.bytes(name)
        let photo = try Photo.prepare(original, keepMetadata: true)
        #expect(photo.bytes == original)
        #expect(photo.removedMetadata.isEmpty)
        if let tags = try exiftool(photo.bytes) { #expect(tags.keys.contains { $0.contains("GPS") }) }
    }

    @Test func orientationIsWrittenBackInPNGAndWebPToo() throws {
        // The fixtures' EXIF blocks, with Orientation 8 put in their place.
        let png = try PNGFile(Fixture.png)
        var rotatedPNG = PNGFile.signature
        for chunk in png.chunks {
            rotatedPNG += chunk.type == "eXIf" ? PNGFile.chunk("eXIf", EXIF.orientationOnly(8)) : Array(png.bytes[chunk.range])
        }
        let photo = try Photo.prepare(rotatedPNG, keepMetadata: false)
        #expect(try PNGFile(photo.bytes).orientation == 8)
        #expect((photo.width, photo.height) == (200, 300))
        if let tags = try exiftool(photo.bytes) {
            #expect(tags["IFD0:Orientation"] as? String == "Rotate 270 CW")
            #expect(tags["ExifTool:Warning"] == nil)
        }

        let webp = try WebPFile(Fixture.webp)
        var body = WebPFile.webp
        for chunk in webp.chunks {
            if chunk.fourCC == WebPFile.exif {
                body += WebPFile.exif
                body.appendLittleEndian(26, bytes: 4)
                body += EXIF.orientationOnly(8)
            } else {
                body += webp.bytes[chunk.range]
            }
        }
        var rotatedWebP = WebPFile.riff
        rotatedWebP.appendLittleEndian(body.count, bytes: 4)
        rotatedWebP += body
        let webpPhoto = try Photo.prepare(rotatedWebP, keepMetadata: false)
        #expect(try WebPFile(webpPhoto.bytes).orientation == 8)
        #expect(webpPhoto.bytes[20] & (WebPFile.exifFlag | WebPFile.xmpFlag) == WebPFile.exifFlag)
        #expect((webpPhoto.width, webpPhoto.height) == (200, 300))
        if let tags = try exiftool(webpPhoto.bytes) { #expect(tags["IFD0:Orientation"] as? String == "Rotate 270 CW") }
    }

    @Test func jpegTrailerAndJFIFThumbnailAreRemoved() throws {
        // A JFIF segment carrying a 1 x 1 thumbnail, and a second image after the end marker.
        let plain = try Photo.prepare(Fixture.phone, keepMetadata: false).bytes
        var jfif = JPEGFile.jfif + [1, 2, 0, 0, 1, 0, 1, 1, 1, 0xAB, 0xCD, 0xEF]
        var withExtras: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0]
        withExtras.appendBigEndian(jfif.count + 2, bytes: 2)
        withExtras += jfif
        let rest = try JPEGFile(plain)
        for piece in rest.pieces {
            switch piece {
            case .segment(0xE0, _, _): continue
            case .segment(_, let range, _): withExtras += plain[range]
            case .scanData(let range): withExtras += plain[range]
            case .standalone(let marker): withExtras += [0xFF, marker]
            }
        }
        withExtras += [0xFF, 0xD9] + plain
        let photo = try Photo.prepare(withExtras, keepMetadata: false)
        #expect(photo.removedMetadata == ["JFIF thumbnail", "data after the image"])
        jfif.removeLast(3)
        jfif[12] = 0
        jfif[13] = 0
        #expect(try metadataSegments(ofJPEG: photo.bytes).first?.payload == jfif)
        #expect(photo.bytes.count == plain.count)
    }

    @Test func hostileEXIFIsReadWithoutTrapping() {
        // An IFD that claims 65,535 entries in a few bytes, offsets past the end, and random bytes.
        #expect(EXIF("MM\0*".ascii + [0, 0, 0, 8, 0xFF, 0xFF, 1, 0x12, 0, 3]) == EXIF())
        #expect(EXIF("II*\0".ascii + [0xFF, 0xFF, 0xFF, 0x7F]) == EXIF())
        #expect(EXIF(EXIF.jpegPrefix) == EXIF())
        var generator = SeededGenerator(seed: 0x6578_6966)
        for length in 0 ..< 200 {
            var bytes = "MM\0*".ascii + [0, 0, 0, 8]
            bytes += (0 ..< length).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
            let exif = EXIF(bytes)
            #expect((1 ... 8).contains(exif.orientation))
        }
    }
}
