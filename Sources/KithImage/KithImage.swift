import CImage

/// Photos: metadata removal, orientation and thumbnails (being built).
public enum KithImage {
    /// The libjpeg-turbo version this build links (JPEG_LIB_VERSION).
    public static var jpegLibVersion: Int { Int(JPEG_LIB_VERSION) }
}
