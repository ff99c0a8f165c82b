import CSodium

/// Base64 (URL-safe alphabet, no padding) and hex, through libsodium's
/// constant-time codecs so that secrets can be encoded safely.
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        Sodium.ready()
        let variant = Int32(sodium_base64_VARIANT_URLSAFE_NO_PADDING)
        let len = sodium_base64_encoded_len(bytes.count, variant)
        var out = [CChar](repeating: 0, count: len)
        _ = sodium_bin2base64(&out, len, bytes, bytes.count, variant)
        return String(decoding: out.prefix(len - 1).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Decodes strictly; nil for any character outside the alphabet, padding, or trailing garbage.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        Sodium.ready()
        let input = Array(text.utf8)
        // libsodium 1.0.18 (Debian's) reads a byte of 0x80 or more as a signed
        // char and decodes it as '_': refuse any non-ASCII byte first, without
        // branching on the data.
        var high: UInt8 = 0
        for b in input { high |= b }
        guard high & 0x80 == 0 else { return nil }
        var out = [UInt8](repeating: 0, count: input.count * 3 / 4 + 3)
        var outLen = 0
        var end: UnsafePointer<CChar>? = nil
        let rc = input.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { cp in
                sodium_base642bin(&out, out.count, cp.baseAddress, input.count, nil, &outLen, &end,
                                  Int32(sodium_base64_VARIANT_URLSAFE_NO_PADDING))
            }
        }
        guard rc == 0 else { return nil }
        // sodium stops at the first invalid character without failing; require full consumption.
        let consumed = input.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { cp in end.map { cp.baseAddress!.distance(to: $0) } ?? -1 }
        }
        guard consumed == input.count else { return nil }
        let decoded = Array(out[0..<outLen])
        // Only the canonical encoding: leftover bits of the last character must be zero.
        guard encode(decoded).utf8.elementsEqual(input) else { return nil }
        return decoded
    }
}

public enum Hex {
    public static func encode(_ bytes: [UInt8]) -> String {
        Sodium.ready()
        var out = [CChar](repeating: 0, count: bytes.count * 2 + 1)
        _ = sodium_bin2hex(&out, out.count, bytes, bytes.count)
        return String(decoding: out.prefix(bytes.count * 2).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 2)
        var i = 0
        while i < input.count {
            guard let hi = nibble(input[i]), let lo = nibble(input[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }
}
