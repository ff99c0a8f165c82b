import CSodium

/// `crypto_secretstream_xchacha20poly1305`: a stream of chunks encrypted
/// under one key, each authenticated, in order, with the last one marked
/// FINAL, so that a reordered, dropped or truncated chunk is detected.
public enum SecretStream {
    public static let keyLength = Int(crypto_secretstream_xchacha20poly1305_keybytes())
    public static let headerLength = Int(crypto_secretstream_xchacha20poly1305_headerbytes())
    /// Bytes each encrypted chunk has more than its plaintext (tag byte and MAC).
    public static let overhead = Int(crypto_secretstream_xchacha20poly1305_abytes())
    static let tagMessage = crypto_secretstream_xchacha20poly1305_tag_message()
    static let tagFinal = crypto_secretstream_xchacha20poly1305_tag_final()

    /// A fresh random key (`crypto_secretstream_xchacha20poly1305_keygen`). The caller must wipe it.
    public static func newKey() -> [UInt8] {
        Sodium.ready()
        var key = [UInt8](repeating: 0, count: keyLength)
        crypto_secretstream_xchacha20poly1305_keygen(&key)
        return key
    }
}

/// Encrypts a stream: `header` first, then each chunk's `push` in order.
/// The state is wiped when the pusher goes away.
public final class SecretStreamPusher {
    private let state = UnsafeMutablePointer<crypto_secretstream_xchacha20poly1305_state>.allocate(capacity: 1)
    public let header: [UInt8]

    /// `key` must be `SecretStream.keyLength` bytes (a programming error otherwise).
    public init(key: [UInt8]) {
        Sodium.ready()
        precondition(key.count == SecretStream.keyLength, "secretstream key must be \(SecretStream.keyLength) bytes")
        var header = [UInt8](repeating: 0, count: SecretStream.headerLength)
        _ = crypto_secretstream_xchacha20poly1305_init_push(state, &header, key)
        self.header = header
    }

    /// Encrypts one chunk, tagged FINAL if `final` (no additional data).
    public func push(_ chunk: [UInt8], final: Bool) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: chunk.count + SecretStream.overhead)
        var outLength: UInt64 = 0
        _ = crypto_secretstream_xchacha20poly1305_push(state, &out, &outLength, chunk, UInt64(chunk.count), nil, 0,
                                                       final ? SecretStream.tagFinal : SecretStream.tagMessage)
        return out
    }

    deinit {
        sodium_memzero(state, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size)
        state.deallocate()
    }
}

/// Decrypts a stream chunk by chunk, in the order they were pushed.
/// The state is wiped when the puller goes away.
public final class SecretStreamPuller {
    private let state = UnsafeMutablePointer<crypto_secretstream_xchacha20poly1305_state>.allocate(capacity: 1)

    /// Throws `decryptionFailed` for a key or header of the wrong length or a header the key refuses.
    public init(key: [UInt8], header: [UInt8]) throws {
        Sodium.ready()
        guard key.count == SecretStream.keyLength, header.count == SecretStream.headerLength,
              crypto_secretstream_xchacha20poly1305_init_pull(state, header, key) == 0 else {
            // `self` is fully initialised: deinit wipes and frees the state.
            throw CryptoError.decryptionFailed
        }
    }

    /// Decrypts and verifies one chunk: its plaintext and whether it was
    /// tagged FINAL. Throws `decryptionFailed` if it does not verify, or
    /// carries a tag other than MESSAGE or FINAL.
    public func pull(_ chunk: [UInt8]) throws -> (plaintext: [UInt8], final: Bool) {
        guard chunk.count >= SecretStream.overhead else { throw CryptoError.decryptionFailed }
        var out = [UInt8](repeating: 0, count: chunk.count - SecretStream.overhead)
        var outLength: UInt64 = 0
        var tag: UInt8 = 0
        guard crypto_secretstream_xchacha20poly1305_pull(state, &out, &outLength, &tag, chunk, UInt64(chunk.count), nil, 0) == 0,
              tag == SecretStream.tagMessage || tag == SecretStream.tagFinal else {
            wipe(&out)
            throw CryptoError.decryptionFailed
        }
        return (out, tag == SecretStream.tagFinal)
    }

    deinit {
        sodium_memzero(state, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size)
        state.deallocate()
    }
}
