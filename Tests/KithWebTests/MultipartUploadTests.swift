import Testing
@testable import KithWeb

@Suite struct MultipartUploadTests {
    /// Only multipart/form-data with a boundary of 1 to 70 characters is read as an upload.
    @Test func boundaries() {
        #expect(MultipartUpload.boundary(of: "multipart/form-data; boundary=----WebKitFormBoundaryx1") == "----WebKitFormBoundaryx1")
        #expect(MultipartUpload.boundary(of: "Multipart/Form-Data; charset=utf-8; BOUNDARY=\"a b\"") == "a b")
        #expect(MultipartUpload.boundary(of: "multipart/form-data; boundary=" + String(repeating: "b", count: 70)) != nil)
        for refused in [nil, "multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=\"\"",
                        "multipart/form-data; boundary=" + String(repeating: "b", count: 71),
                        "application/x-www-form-urlencoded; boundary=x", "multipart/mixed; boundary=x"] as [String?] {
            #expect(MultipartUpload.boundary(of: refused) == nil, "\(refused ?? "nil")")
        }
        #expect(MultipartUpload.parameter("filename", in: #"form-data; name="photo"; filename="a.jpg""#) == "a.jpg")
        #expect(MultipartUpload.parameter("filename", in: #"form-data; name="text""#) == nil)
    }

    /// Served only as what the bytes are, and only JPEG, PNG and WebP.
    @Test func imageTypesAndTags() {
        #expect(WebRoutes.imageType([0xFF, 0xD8, 0xFF, 0xE0]) == "image/jpeg")
        #expect(WebRoutes.imageType([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]) == "image/png")
        #expect(WebRoutes.imageType(Array("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ".utf8)) == "image/webp")
        for refused in ["<html><script>alert(1)</script>", "GIF89a", "RIFF\u{0}\u{0}\u{0}\u{0}WAVE", "", "\u{FF}"] {
            #expect(WebRoutes.imageType(Array(refused.utf8)) == nil, "\(refused)")
        }
        #expect(WebRoutes.matches("\"a\"", "\"a\"") && WebRoutes.matches("\"x\", \"a\"", "\"a\"") && WebRoutes.matches("*", "\"a\""))
        #expect(!WebRoutes.matches(nil, "\"a\"") && !WebRoutes.matches("\"b\"", "\"a\"") && !WebRoutes.matches("W/\"a\"", "\"a\""))
    }
}
