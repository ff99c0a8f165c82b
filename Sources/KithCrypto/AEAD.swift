import CSodium

/// XChaCha20-Poly1305-IETF authenticated encryption (`crypto_aead_xchacha20poly1305_ietf`).
public enum AEAD {
    public static let keyLength = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    public static let nonceLength = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    public static let tagLength = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)

    public static func seal(_ plaintext: [UInt8], key: SecretBytes, nonce: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        Sodium.ready()
        guard key.count == keyLength else { throw CryptoError.invalidKeyLength(expected: keyLength, got: key.count) }
        guard nonce.count == nonceLength else { throw CryptoError.invalidKeyLength(expected: nonceLength, got: nonce.count) }
        var out = [UInt8](repeating: 0, count: plaintext.count + tagLength)
        var outLen: UInt64 = 0
        key.withBytes { k in
            _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                &out, &outLen, plaintext, UInt64(plaintext.count),
                associatedData, UInt64(associatedData.count), nil, nonce, k)
        }
        return out
    }

    public static func open(_ ciphertext: [UInt8], key: SecretBytes, nonce: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        Sodium.ready()
        guard key.count == keyLength, nonce.count == nonceLength, ciphertext.count >= tagLength else {
            throw CryptoError.decryptionFailed
        }
        var out = [UInt8](repeating: 0, count: ciphertext.count - tagLength)
        var outLen: UInt64 = 0
        let rc = key.withBytes { k in
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                &out, &outLen, nil, ciphertext, UInt64(ciphertext.count),
                associatedData, UInt64(associatedData.count), nonce, k)
        }
        guard rc == 0 else { throw CryptoError.decryptionFailed }
        return out
    }
}
