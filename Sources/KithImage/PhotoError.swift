/// Why a photo was refused. Its description is the message a person sees.
public struct PhotoError: Error, CustomStringConvertible, Equatable, Sendable {
    enum Reason: Equatable, Sendable {
        /// Not a JPEG, PNG or WebP, or one that is damaged: the format (if known) and what is wrong.
        case unreadable(format: ImageFormat?, detail: String)
        /// An ISO media file (HEIC, HEIF, AVIF): the brand's name.
        case unsupported(String)
        /// The header's width and height, over `Photo.maxPixels` or `Photo.maxSide`.
        case tooLarge(width: UInt64, height: UInt64)
    }

    let reason: Reason

    init(_ reason: Reason) { self.reason = reason }

    static func unreadable(_ format: ImageFormat?, _ detail: String) -> PhotoError {
        PhotoError(.unreadable(format: format, detail: detail))
    }

    public var description: String {
        switch reason {
        case .unreadable(let format?, let detail):
            return "not a photo Kith can read: \(format.name): \(detail)"
        case .unreadable(nil, let detail):
            return "not a photo Kith can read: \(detail)"
        case .unsupported(let kind):
            return "\(kind) photos are not supported yet: convert to JPEG first"
        case .tooLarge(let width, let height):
            let tenths = (width * height + 50_000) / 100_000
            return "too large: \(tenths / 10).\(tenths % 10) megapixels (\(width) x \(height)); "
                + "photos may have at most \(Photo.maxPixels / 1_000_000) megapixels and \(Photo.maxSide) pixels a side"
        }
    }
}
