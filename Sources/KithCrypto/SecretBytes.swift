import CSodium

/// Secret key material that is wiped with `sodium_memzero` when its last
/// reference goes away. Use `withBytes` to lend the bytes to a primitive.
public final class SecretBytes: @unchecked Sendable {
    private var storage: [UInt8]

    /// Takes ownership of `bytes` and wipes the caller's copy.
    public init(consuming bytes: inout [UInt8]) {
        storage = bytes
        wipe(&bytes)
        bytes = []
    }

    /// `count` fresh random bytes.
    public init(random count: Int) {
        storage = randomBytes(count)
    }

    public var count: Int { storage.count }

    public func withBytes<R>(_ body: ([UInt8]) throws -> R) rethrows -> R {
        try body(storage)
    }

    /// A copy for serialisation into an encrypted container. The caller must wipe it.
    public func copyBytes() -> [UInt8] { storage }

    deinit { wipe(&storage) }
}
