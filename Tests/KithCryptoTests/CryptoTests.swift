import KithCrypto
import Testing

@Suite struct CryptoTests {
    @Test func signaturesVerifyAndRefuseTampering() throws {
        let key = SigningKey()
        let msg: [UInt8] = Array("hello".utf8)
        let sig = key.sign(msg)
        #expect(SigningKey.verify(signature: sig, message: msg, publicKey: key.publicKey))
        #expect(!SigningKey.verify(signature: sig, message: msg + [0], publicKey: key.publicKey))
        var bad = sig; bad[10] ^= 1
        #expect(!SigningKey.verify(signature: bad, message: msg, publicKey: key.publicKey))
        #expect(!SigningKey.verify(signature: sig, message: msg, publicKey: SigningKey().publicKey))
        #expect(!SigningKey.verify(signature: Array(sig.prefix(63)), message: msg, publicKey: key.publicKey))
    }

    @Test func seedsAreDeterministic() throws {
        let seed = [UInt8](repeating: 7, count: 32)
        #expect(try SigningKey(seed: seed).publicKey == SigningKey(seed: seed).publicKey)
        #expect(try SigningKey(seed: seed).exportSeed() == seed)
        let box = BoxKey()
        #expect(try BoxKey(secretKey: box.exportSecret()).publicKey == box.publicKey)
        #expect(throws: CryptoError.self) { try SigningKey(seed: [1, 2, 3]) }
    }

    @Test func sealedBoxesOpenOnlyForTheirRecipient() throws {
        let bob = BoxKey(), eve = BoxKey()
        let sealed = try BoxKey.seal(Array("secret".utf8), to: bob.publicKey)
        #expect(try bob.open(sealed) == Array("secret".utf8))
        #expect(throws: CryptoError.decryptionFailed) { try eve.open(sealed) }
        var bad = sealed; bad[bad.count - 1] ^= 1
        #expect(throws: CryptoError.decryptionFailed) { try bob.open(bad) }
    }

    @Test func aeadAuthenticatesCiphertextAndAssociatedData() throws {
        let key = SecretBytes(random: 32)
        let nonce = randomBytes(AEAD.nonceLength)
        let ct = try AEAD.seal([1, 2, 3], key: key, nonce: nonce, associatedData: [9])
        #expect(try AEAD.open(ct, key: key, nonce: nonce, associatedData: [9]) == [1, 2, 3])
        #expect(throws: CryptoError.decryptionFailed) { try AEAD.open(ct, key: key, nonce: nonce, associatedData: [8]) }
        var bad = ct; bad[0] ^= 1
        #expect(throws: CryptoError.decryptionFailed) { try AEAD.open(bad, key: key, nonce: nonce, associatedData: [9]) }
        #expect(throws: CryptoError.decryptionFailed) { try AEAD.open(ct, key: SecretBytes(random: 32), nonce: nonce, associatedData: [9]) }
    }

    @Test func passphraseKeysDependOnPassphraseAndSalt() throws {
        let salt = randomBytes(PasswordKDF.saltLength)
        let ops = PasswordKDF.minOps, mem = PasswordKDF.minMem
        let a = try PasswordKDF.deriveKey(passphrase: Array("pw".utf8), salt: salt, opsLimit: ops, memLimit: mem)
        let b = try PasswordKDF.deriveKey(passphrase: Array("pw".utf8), salt: salt, opsLimit: ops, memLimit: mem)
        let c = try PasswordKDF.deriveKey(passphrase: Array("pW".utf8), salt: salt, opsLimit: ops, memLimit: mem)
        let d = try PasswordKDF.deriveKey(passphrase: Array("pw".utf8), salt: randomBytes(16), opsLimit: ops, memLimit: mem)
        #expect(a.copyBytes() == b.copyBytes())
        #expect(a.copyBytes() != c.copyBytes() && a.copyBytes() != d.copyBytes())
        #expect(throws: CryptoError.self) { try PasswordKDF.deriveKey(passphrase: [], salt: salt, opsLimit: ops, memLimit: mem) }
    }

    @Test func paddingRoundTripsAndRejectsGarbage() throws {
        for n in [0, 1, 511, 512, 1000] {
            let data = randomBytes(n)
            let padded = Padding.pad(data, blockSize: 512)
            #expect(padded.count % 512 == 0 && padded.count > n)
            #expect(try Padding.unpad(padded, blockSize: 512) == data)
        }
        #expect(throws: CryptoError.badPadding) { try Padding.unpad([UInt8](repeating: 0, count: 512), blockSize: 512) }
        // Padding to a bucket over one block gives the same bytes as padding over the whole bucket.
        for n in [0, 100, 511, 512, 1500, 3000] {
            let data = randomBytes(n)
            let bucket = max(512, 1 << (Int.bitWidth - n.leadingZeroBitCount))
            #expect(Padding.pad(data, toLength: bucket, block: 512) == Padding.pad(data, blockSize: bucket))
        }
    }

    @Test func encodingsAreStrict() {
        let bytes = randomBytes(33)
        #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        #expect(Base64URL.decode("ab+c") == nil)
        #expect(Base64URL.decode("abc=") == nil)
        #expect(Base64URL.decode("ab c") == nil)
        #expect(Hex.decode(Hex.encode(bytes)) == bytes)
        #expect(Hex.decode("abc") == nil && Hex.decode("zz") == nil)
    }

    @Test func constantTimeComparison() {
        let a = randomBytes(32)
        #expect(constantTimeEqual(a, a))
        #expect(!constantTimeEqual(a, randomBytes(32)))
        #expect(!constantTimeEqual(a, Array(a.prefix(31))))
    }

    @Test func subkeysAndKeyedHashesDifferByKey() {
        let k1 = SecretBytes(random: 32), k2 = SecretBytes(random: 32)
        #expect(Hash.deriveKey(from: k1, id: 1, context: "kithpost").copyBytes() != Hash.deriveKey(from: k1, id: 2, context: "kithpost").copyBytes())
        #expect(Hash.blake2b([1], key: k1) != Hash.blake2b([1], key: k2))
        #expect(Hash.blake2b([1], length: 16).count == 16)
    }
}
