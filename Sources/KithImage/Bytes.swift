/// Bounds-checked reads of fixed-size integers: nil where the bytes end.
extension Array where Element == UInt8 {
    func bigEndian16(at offset: Int) -> Int? {
        guard offset >= 0, offset <= count - 2 else { return nil }
        return Int(self[offset]) << 8 | Int(self[offset + 1])
    }

    func bigEndian32(at offset: Int) -> Int? {
        guard offset >= 0, offset <= count - 4 else { return nil }
        return Int(self[offset]) << 24 | Int(self[offset + 1]) << 16 | Int(self[offset + 2]) << 8 | Int(self[offset + 3])
    }

    func littleEndian16(at offset: Int) -> Int? {
        guard offset >= 0, offset <= count - 2 else { return nil }
        return Int(self[offset]) | Int(self[offset + 1]) << 8
    }

    func littleEndian32(at offset: Int) -> Int? {
        guard offset >= 0, offset <= count - 4 else { return nil }
        return Int(self[offset]) | Int(self[offset + 1]) << 8 | Int(self[offset + 2]) << 16 | Int(self[offset + 3]) << 24
    }

    /// Whether the bytes at `offset` are `prefix`.
    func has(_ prefix: [UInt8], at offset: Int) -> Bool {
        offset >= 0 && offset <= count - prefix.count && self[offset ..< offset + prefix.count].elementsEqual(prefix)
    }

    mutating func appendBigEndian(_ value: Int, bytes: Int) {
        for shift in stride(from: (bytes - 1) * 8, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: value >> shift)) }
    }

    mutating func appendLittleEndian(_ value: Int, bytes: Int) {
        for shift in stride(from: 0, to: bytes * 8, by: 8) { append(UInt8(truncatingIfNeeded: value >> shift)) }
    }
}

extension String {
    /// The ASCII bytes of a literal (markers, chunk types, signatures).
    var ascii: [UInt8] { Array(utf8) }
}
