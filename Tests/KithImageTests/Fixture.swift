import Foundation
@testable import KithImage
import Testing

/// The committed photos (Fixtures/README.md says how each was made).
enum Fixture {
    static func bytes(_ name: String) throws -> [UInt8] {
        let url = try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures").appendingPathComponent(name)
        return try Array(Data(contentsOf: url))
    }

    static var phone: [UInt8] { get throws { try bytes("phone.jpg") } }
    static var png: [UInt8] { get throws { try bytes("photo.png") } }
    static var webp: [UInt8] { get throws { try bytes("photo.webp") } }

    /// What the fixtures' metadata says that must never leave the machine.
    static let secrets = ["Google", "Pixel 7", "Paris", "picnic", "Grandma", "28131JEGR09431", "48.85", "2026:07:14"]
}

/// exiftool's reading of a file (`exiftool -j -a -G1`), or nil where exiftool is not installed.
func exiftool(_ bytes: [UInt8]) throws -> [String: Any]? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    guard let tool = path.split(separator: ":").map({ "\($0)/exiftool" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        return nil
    }
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("kith-image-\(UUID().uuidString)")
    try Data(bytes).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = ["-j", "-a", "-G1", file.path]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let list = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    return try #require(list.first)
}

/// Checks that neither exiftool nor the raw bytes show any location, camera or note.
func expectNoPrivateMetadata(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let text = String(decoding: bytes, as: UTF8.self)
    for secret in Fixture.secrets {
        #expect(!text.contains(secret), "\(secret) is still in the file", sourceLocation: sourceLocation)
    }
    guard let tags = try exiftool(bytes) else { return }
    let leaked = tags.keys.filter { key in
        key.contains("GPS") || key.hasPrefix("XMP") || key.hasPrefix("IPTC") || key.hasSuffix(":Make") || key.hasSuffix(":Model")
            || key.hasSuffix(":SerialNumber") || key.hasSuffix(":DateTimeOriginal") || key.hasSuffix(":Comment")
            || key.hasSuffix(":Author") || key.hasSuffix(":ModifyDate")
    }
    #expect(leaked.isEmpty, "exiftool still reads \(leaked.sorted())", sourceLocation: sourceLocation)
    #expect(tags["ExifTool:Warning"] == nil, "exiftool warns: \(tags["ExifTool:Warning"] ?? "")", sourceLocation: sourceLocation)
}

/// The quadrant colours of the fixtures' pixels.
enum Quadrant: String, CaseIterable {
    case red, green, blue, yellow, white

    var rgb: [Int] {
        switch self {
        case .red: [220, 30, 30]
        case .green: [30, 200, 40]
        case .blue: [30, 40, 220]
        case .yellow: [240, 220, 20]
        case .white: [255, 255, 255]
        }
    }

    /// The quadrant colour a decoded pixel is (JPEG blurs colours a little), if any.
    static func of(_ pixel: [UInt8]) -> Quadrant? {
        allCases.first { colour in zip(colour.rgb, pixel).allSatisfy { abs($0 - Int($1)) <= 40 } }
    }
}

/// The colours of a decoded thumbnail's four corners (a little inside), clockwise from the top left.
func corners(of jpeg: [UInt8]) throws -> [Quadrant?] {
    let image = try DecodedImage(jpeg, format: .jpeg, minLongerSide: .max)
    let (w, h) = (image.width, image.height)
    let inset = 8
    return [(inset, inset), (w - 1 - inset, inset), (w - 1 - inset, h - 1 - inset), (inset, h - 1 - inset)]
        .map { Quadrant.of(image.pixel(x: $0.0, y: $0.1)) }
}

/// The error a call throws, as a PhotoError (a test fails if it throws nothing or something else).
func photoError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> PhotoError? {
    do {
        try body()
        Issue.record("no error was thrown", sourceLocation: sourceLocation)
    } catch let error as PhotoError {
        return error
    } catch {
        Issue.record("not a PhotoError: \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// A seeded generator (SplitMix64), so that a failure of a randomized test can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
