import KithCrypto
import Testing

@Suite struct SecretStreamTests {
    @Test func chunksRoundTripInOrderWithTheFinalTag() throws {
        let key = SecretStream.newKey()
        #expect(key.count == SecretStream.keyLength && SecretStream.headerLength == 24 && SecretStream.overhead == 17)
        let pusher = SecretStreamPusher(key: key)
        let chunks: [[UInt8]] = [randomBytes(100), [], randomBytes(5)]
        let sealed = chunks.enumerated().map { pusher.push($0.element, final: $0.offset == chunks.count - 1) }
        #expect(sealed.map(\.count) == chunks.map { $0.count + 17 })
        let puller = try SecretStreamPuller(key: key, header: pusher.header)
        for (i, c) in sealed.enumerated() {
            let (plain, final) = try puller.pull(c)
            #expect(plain == chunks[i])
            #expect(final == (i == chunks.count - 1))
        }
    }

    @Test func tamperingReorderingAndWrongKeysAreRefused() throws {
        let key = SecretStream.newKey()
        let pusher = SecretStreamPusher(key: key)
        let a = pusher.push([1, 2, 3], final: false), b = pusher.push([4, 5], final: true)
        // Out of order: the second chunk first.
        #expect(throws: CryptoError.decryptionFailed) { try SecretStreamPuller(key: key, header: pusher.header).pull(b) }
        var bad = a; bad[4] ^= 1
        #expect(throws: CryptoError.decryptionFailed) { try SecretStreamPuller(key: key, header: pusher.header).pull(bad) }
        #expect(throws: CryptoError.decryptionFailed) { try SecretStreamPuller(key: SecretStream.newKey(), header: pusher.header).pull(a) }
        #expect(throws: CryptoError.decryptionFailed) { try SecretStreamPuller(key: key, header: pusher.header).pull(Array(a.prefix(16))) }
        #expect(throws: CryptoError.decryptionFailed) { try SecretStreamPuller(key: [1, 2], header: pusher.header) }
        #expect(throws: CryptoError.decryptionFailed) { try SecretStreamPuller(key: key, header: Array(pusher.header.prefix(23))) }
    }

    @Test func streamingBlake2bMatchesTheOneShotHash() {
        let data = randomBytes(200_000)
        for length in [16, 32, 64] {
            let stream = Hash.Blake2bStream(length: length)
            stream.update(Array(data[0..<1]))
            stream.update(data[1..<70_000])
            stream.update(Array(data[70_000...]))
            #expect(stream.finish() == Hash.blake2b(data, length: length))
        }
        #expect(Hash.Blake2bStream().finish() == Hash.blake2b([]))
    }
}
