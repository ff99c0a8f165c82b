import CSodium

/// BLAKE2b (`crypto_generichash`) and subkey derivation (`crypto_kdf`).
public enum Hash {
    /// BLAKE2b of `data`, `length` bytes long (16...64), optionally keyed.
    public static func blake2b(_ data: [UInt8], length: Int = 32, key: [UInt8] = []) -> [UInt8] {
        Sodium.ready()
        precondition(length >= Int(crypto_generichash_BYTES_MIN) && length <= Int(crypto_generichash_BYTES_MAX))
        var out = [UInt8](repeating: 0, count: length)
        _ = crypto_generichash(&out, length, data, UInt64(data.count), key.isEmpty ? nil : key, key.count)
        return out
    }

    /// Keyed BLAKE2b with a secret key.
    public static func blake2b(_ data: [UInt8], length: Int = 32, key: SecretBytes) -> [UInt8] {
        key.withBytes { blake2b(data, length: length, key: $0) }
    }

    /// BLAKE2b computed over pieces (`crypto_generichash_init/update/final`):
    /// the same digest as `blake2b` of their concatenation, in constant memory.
    public final class Blake2bStream {
        // The state's C type is 64-byte aligned, which Swift does not import: raw memory of its size.
        private static let stateSize = crypto_generichash_statebytes()
        private let raw = UnsafeMutableRawPointer.allocate(byteCount: Blake2bStream.stateSize, alignment: 64)
        private var state: OpaquePointer { OpaquePointer(raw) }
        private let length: Int

        /// `length` bytes of digest (16...64).
        public init(length: Int = 32) {
            Sodium.ready()
            precondition(length >= Int(crypto_generichash_BYTES_MIN) && length <= Int(crypto_generichash_BYTES_MAX))
            self.length = length
            _ = crypto_generichash_init(state, nil, 0, length)
        }

        public func update(_ bytes: [UInt8]) {
            _ = crypto_generichash_update(state, bytes, UInt64(bytes.count))
        }

        public func update(_ bytes: ArraySlice<UInt8>) {
            bytes.withUnsafeBufferPointer { _ = crypto_generichash_update(state, $0.baseAddress, UInt64($0.count)) }
        }

        /// The digest. Call once, after the last update.
        public func finish() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: length)
            _ = crypto_generichash_final(state, &out, length)
            return out
        }

        deinit {
            sodium_memzero(raw, Self.stateSize)
            raw.deallocate()
        }
    }

    /// `crypto_kdf_derive_from_key`: a 32-byte subkey of a 32-byte master key,
    /// for an 8-character context and a numeric id.
    public static func deriveKey(from master: SecretBytes, id: UInt64, context: String) -> SecretBytes {
        Sodium.ready()
        let ctx = Array(context.utf8)
        precondition(ctx.count == Int(crypto_kdf_CONTEXTBYTES), "kdf context must be 8 bytes")
        precondition(master.count == Int(crypto_kdf_KEYBYTES))
        var out = [UInt8](repeating: 0, count: 32)
        master.withBytes { m in
            ctx.withUnsafeBufferPointer { c in
                c.withMemoryRebound(to: CChar.self) { cc in
                    _ = crypto_kdf_derive_from_key(&out, 32, id, cc.baseAddress!, m)
                }
            }
        }
        return SecretBytes(consuming: &out)
    }
}

/// Argon2id password hashing (`crypto_pwhash`) for the keystore.
public enum PasswordKDF {
    public static let saltLength = crypto_pwhash_saltbytes()
    public static let interactiveOps = UInt64(crypto_pwhash_opslimit_interactive())
    public static let interactiveMem = UInt64(crypto_pwhash_memlimit_interactive())
    public static let minOps = UInt64(crypto_pwhash_opslimit_min())
    public static let minMem = UInt64(crypto_pwhash_memlimit_min())
    public static let maxMem: UInt64 = 4 << 30

    /// A 32-byte key from a passphrase with Argon2id13.
    public static func deriveKey(passphrase: [UInt8], salt: [UInt8], opsLimit: UInt64, memLimit: UInt64) throws -> SecretBytes {
        Sodium.ready()
        guard salt.count == saltLength else { throw CryptoError.invalidKeyLength(expected: saltLength, got: salt.count) }
        guard !passphrase.isEmpty, opsLimit >= minOps, opsLimit <= 16, memLimit >= minMem, memLimit <= maxMem else { throw CryptoError.keyDerivationFailed }
        var out = [UInt8](repeating: 0, count: 32)
        let rc = passphrase.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { cp in
                crypto_pwhash(&out, 32, cp.baseAddress!, UInt64(passphrase.count), salt,
                              opsLimit, Int(memLimit), crypto_pwhash_ALG_ARGON2ID13)
            }
        }
        guard rc == 0 else { throw CryptoError.keyDerivationFailed }
        return SecretBytes(consuming: &out)
    }
}

/// ISO/IEC 7816-4 padding to a multiple of a block size (`sodium_pad`).
public enum Padding {
    /// Pads to exactly `length` bytes (a multiple of `block`, and more than
    /// `data.count`): `sodium_pad` to the next multiple of `block`, then zeros.
    /// The bytes are those of `pad(data, blockSize: length)`, but libsodium's
    /// constant-time loop runs over one `block` instead of the whole length.
    public static func pad(_ data: [UInt8], toLength length: Int, block: Int) -> [UInt8] {
        precondition(length > data.count && length % block == 0)
        var padded = pad(data, blockSize: block)
        padded.append(contentsOf: repeatElement(0, count: length - padded.count))
        return padded
    }

    public static func pad(_ data: [UInt8], blockSize: Int) -> [UInt8] {
        Sodium.ready()
        var buf = [UInt8]()
        buf.reserveCapacity(data.count + blockSize)
        buf.append(contentsOf: data)
        buf.append(contentsOf: repeatElement(0, count: blockSize))
        var padded = 0
        _ = sodium_pad(&padded, &buf, data.count, blockSize, buf.count)
        return Array(buf[0..<padded])
    }

    public static func unpad(_ data: [UInt8], blockSize: Int) throws -> [UInt8] {
        Sodium.ready()
        var unpadded = 0
        guard !data.isEmpty, data.count % blockSize == 0,
              sodium_unpad(&unpadded, data, data.count, blockSize) == 0 else { throw CryptoError.badPadding }
        return Array(data[0..<unpadded])
    }
}
