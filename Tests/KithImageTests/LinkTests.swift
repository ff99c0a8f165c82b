import Testing
@testable import KithImage

@Test func linksTheImageLibraries() {
    #expect(KithImage.jpegLibVersion >= 62)
}
