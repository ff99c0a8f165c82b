/// Appends big-endian integers and length-prefixed fields, as described under
/// "Conventions" in docs/PROTOCOL.md.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) { integer(v) }
    public mutating func u32(_ v: UInt32) { integer(v) }
    public mutating func u64(_ v: UInt64) { integer(v) }
    public mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }

    private mutating func integer(_ v: some FixedWidthInteger) {
        withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) }
    }
    /// A string with a one-byte length.
    public mutating func string8(_ s: String) {
        let b = Array(s.utf8)
        precondition(b.count <= 255)
        u8(UInt8(b.count)); raw(b)
    }
    /// A string with a two-byte length.
    public mutating func string16(_ s: String) {
        let b = Array(s.utf8)
        precondition(b.count <= 65535)
        u16(UInt16(b.count)); raw(b)
    }
}

/// Reads what `ByteWriter` writes; every read checks bounds and throws `malformed`.
public struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0
    private let what: String

    public init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    public var remaining: Int { bytes.count - offset }
    /// Bytes read so far (for signatures over a prefix).
    public var consumed: [UInt8] { Array(bytes[0..<offset]) }

    public mutating func raw(_ n: Int) throws -> [UInt8] {
        guard n >= 0, remaining >= n else { throw ProtocolError.malformed("\(what): truncated") }
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }
    public mutating func u8() throws -> UInt8 { try integer() }
    public mutating func u16() throws -> UInt16 { try integer() }
    public mutating func u32() throws -> UInt32 { try integer() }
    /// A u64 field. Every u64 in Kith's formats is at most 2^63 - 1, so that
    /// it fits a signed 64-bit integer (SQLite's) everywhere; larger is malformed.
    public mutating func u64() throws -> UInt64 {
        let v: UInt64 = try integer()
        guard v <= UInt64(Int64.max) else { throw ProtocolError.malformed("\(what): a 64-bit field is above 2^63 - 1") }
        return v
    }

    private mutating func integer<T: FixedWidthInteger>() throws -> T {
        let n = MemoryLayout<T>.size
        guard remaining >= n else { throw ProtocolError.malformed("\(what): truncated") }
        var v: T = 0
        for i in offset..<offset + n { v = v << 8 | T(bytes[i]) }
        offset += n
        return v
    }
    public mutating func rest() -> [UInt8] { defer { offset = bytes.count }; return Array(bytes[offset...]) }

    /// A UTF-8 string with a one-byte length, 1...max bytes.
    public mutating func string8(field: String, max: Int = 255) throws -> String {
        let n = Int(try u8())
        return try utf8(try raw(n), field: field, max: max)
    }
    /// A UTF-8 string with a two-byte length, 1...max bytes.
    public mutating func string16(field: String, max: Int) throws -> String {
        let n = Int(try u16())
        return try utf8(try raw(n), field: field, max: max)
    }

    private func utf8(_ b: [UInt8], field: String, max: Int) throws -> String {
        guard !b.isEmpty, b.count <= max else { throw ProtocolError.malformed("\(what): \(field) must be 1 to \(max) bytes") }
        guard let s = String(validating: b, as: UTF8.self) else { throw ProtocolError.malformed("\(what): \(field) is not UTF-8") }
        return s
    }

    /// Fails unless every byte was read.
    public func finish() throws {
        guard remaining == 0 else { throw ProtocolError.malformed("\(what): \(remaining) trailing bytes") }
    }
}

/// The bytes a signature covers: a context string, a zero byte, then the fields.
func signedMessage(context: String, _ fields: [UInt8]) -> [UInt8] {
    var m: [UInt8] = []
    m.reserveCapacity(context.utf8.count + 1 + fields.count)
    m.append(contentsOf: context.utf8)
    m.append(0)
    m.append(contentsOf: fields)
    return m
}
