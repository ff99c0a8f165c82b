/// The photo formats Kith shares.
public enum ImageFormat: Sendable, Equatable {
    case jpeg, png, webp

    public var mediaType: String {
        switch self {
        case .jpeg: "image/jpeg"
        case .png: "image/png"
        case .webp: "image/webp"
        }
    }

    /// As a person names it.
    public var name: String {
        switch self {
        case .jpeg: "JPEG"
        case .png: "PNG"
        case .webp: "WebP"
        }
    }
}

/// A small JPEG of a photo, the right way up, sent beside it so a feed loads quickly.
public struct Thumbnail: Sendable, Equatable {
    public let bytes: [UInt8]
    public let width: Int
    public let height: Int
}

/// A photo ready to leave the machine.
public struct PreparedPhoto: Sendable, Equatable {
    /// The file to send: without metadata unless it was kept.
    public let bytes: [UInt8]
    public let format: ImageFormat
    public let mediaType: String
    /// As displayed: after the orientation (swapped for orientations 5 to 8).
    public let width: Int
    public let height: Int
    /// What was removed, as a person names it ("EXIF (camera, GPS)", "XMP", "comments"); empty when kept.
    public let removedMetadata: [String]
    public let thumbnail: Thumbnail
}

/// Photos before they are shared: metadata removed (location, camera, dates,
/// comments; kept: orientation and colour profile), thumbnails made. Decoding
/// goes through libjpeg-turbo, libpng and libwebp; every file is walked with
/// bounds checks and its size read from its header before any decoding.
public enum Photo {
    /// The most pixels (width x height) a photo may have: larger ones are refused before decoding.
    public static let maxPixels: UInt64 = 100_000_000
    /// The longest side a photo may have (an attachment's width and height are 16 bits).
    public static let maxSide = 65_535
    /// A thumbnail's longer side at most.
    public static let thumbnailSide = 480
    public static let maxThumbnailBytes = 1_048_576
    static let thumbnailQuality: Int32 = 80

    /// The format by the file's first bytes, if Kith shares it.
    public static func detect(_ bytes: [UInt8]) -> ImageFormat? {
        if bytes.has([0xFF, 0xD8, 0xFF], at: 0) { return .jpeg }
        if bytes.has(PNGFile.signature, at: 0) { return .png }
        if bytes.has(WebPFile.riff, at: 0), bytes.has(WebPFile.webp, at: 8) { return .webp }
        return nil
    }

    /// Removes the metadata (unless `keepMetadata`: then the bytes are unchanged),
    /// reads the displayed size and makes the thumbnail. Throws `PhotoError` for a
    /// file that is not a JPEG, PNG or WebP, is damaged, or is too large.
    public static func prepare(_ bytes: [UInt8], keepMetadata: Bool) throws -> PreparedPhoto {
        let format = try readableFormat(bytes)
        var out = bytes
        var removed: [String] = []
        if !keepMetadata {
            switch format {
            case .jpeg: (out, removed) = try JPEGFile(bytes).stripped()
            case .png: (out, removed) = try PNGFile(bytes).stripped()
            case .webp: (out, removed) = try WebPFile(bytes).stripped()
            }
        }
        let (thumbnail, width, height) = try makeThumbnail(out, format: format, maxSide: thumbnailSide)
        return PreparedPhoto(bytes: out, format: format, mediaType: format.mediaType, width: width, height: height,
                             removedMetadata: removed, thumbnail: thumbnail)
    }

    /// A JPEG of at most `maxSide` pixels on its longer side (never enlarged), the right way up.
    public static func thumbnail(_ bytes: [UInt8], maxSide: Int) throws -> Thumbnail {
        try makeThumbnail(bytes, format: readableFormat(bytes), maxSide: maxSide).thumbnail
    }

    /// The format, or why the file cannot be read.
    static func readableFormat(_ bytes: [UInt8]) throws -> ImageFormat {
        if let format = detect(bytes) { return format }
        // ISO base media files: size u32, "ftyp", major brand.
        if bytes.has("ftyp".ascii, at: 4), bytes.count >= 12 {
            let brand = String(decoding: bytes[8 ..< 12], as: UTF8.self)
            if ["avif", "avis"].contains(brand) { throw PhotoError(.unsupported("AVIF")) }
            if ["heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1"].contains(brand) { throw PhotoError(.unsupported("HEIC")) }
        }
        throw PhotoError.unreadable(nil, "not a JPEG, PNG or WebP file")
    }

    /// The orientation the file's own EXIF asks for (1 to 8).
    static func orientation(_ bytes: [UInt8], format: ImageFormat) throws -> Orientation {
        let value = switch format {
        case .jpeg: try JPEGFile(bytes).orientation
        case .png: try PNGFile(bytes).orientation
        case .webp: try WebPFile(bytes).orientation
        }
        return Orientation(rawValue: value) ?? .up
    }

    /// The thumbnail and the photo's displayed width and height.
    static func makeThumbnail(_ bytes: [UInt8], format: ImageFormat, maxSide: Int) throws -> (thumbnail: Thumbnail, width: Int, height: Int) {
        precondition(maxSide >= 1, "a thumbnail needs at least one pixel")
        let orientation = try orientation(bytes, format: format)
        let decoded = try DecodedImage(bytes, format: format, minLongerSide: maxSide)
        let longer = max(decoded.fullWidth, decoded.fullHeight)
        let target = min(maxSide, longer)
        let width = max(1, (decoded.fullWidth * target + longer / 2) / longer)
        let height = max(1, (decoded.fullHeight * target + longer / 2) / longer)
        let small = decoded.downscaled(width: width, height: height).oriented(orientation)
        guard let jpeg = try small.jpeg(quality: thumbnailQuality, maxBytes: maxThumbnailBytes) else {
            throw PhotoError.unreadable(format, "its thumbnail is larger than 1 MiB")
        }
        let displayed = orientation.swapsSides ? (decoded.fullHeight, decoded.fullWidth) : (decoded.fullWidth, decoded.fullHeight)
        return (Thumbnail(bytes: jpeg, width: small.width, height: small.height), displayed.0, displayed.1)
    }
}
