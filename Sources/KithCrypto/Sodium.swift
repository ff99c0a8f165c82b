import CSodium

/// Process-wide libsodium initialisation. Every entry point of this module calls
/// `Sodium.ready()` first; `sodium_init` is idempotent and thread-safe.
enum Sodium {
    private static let initialised: Bool = sodium_init() >= 0

    static func ready() {
        precondition(initialised, "libsodium could not be initialised")
    }
}

/// Fills a new array with `count` bytes from libsodium's CSPRNG.
public func randomBytes(_ count: Int) -> [UInt8] {
    Sodium.ready()
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, count) }
    return out
}

/// Compares two byte strings in constant time (for equal lengths).
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    Sodium.ready()
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return a.withUnsafeBytes { pa in
        b.withUnsafeBytes { pb in sodium_memcmp(pa.baseAddress!, pb.baseAddress!, a.count) == 0 }
    }
}

/// Overwrites a buffer with zeros in a way the compiler cannot elide.
public func wipe(_ bytes: inout [UInt8]) {
    Sodium.ready()
    let count = bytes.count
    if count == 0 { return }
    bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, count) }
}
