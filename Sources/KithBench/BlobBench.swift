import AsyncHTTPClient
import CSodium
import Foundation
import GRDBSQLite
import KithCrypto
import KithImage
import KithImageC
import KithNode
import KithProtocol
import KithRelay
import NIOCore
import NIOHTTP1

/// Attachments: a 10 MB photo encrypted and uploaded once through the real
/// relay for an audience of 150, beside `crypto_secretstream` alone over the
/// same bytes; what the relay's database grew by beside the blob's size
/// (once, not 150 times); and a phone-sized photo's thumbnail beside
/// libjpeg's decoding alone.
enum BlobBench {
    static let photoBytes = 10_000_000

    static func upload(audience: Int = CryptoBench.audienceSize, rounds: Int = 2) async throws -> [BenchCase] {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try await BenchRelay.start(directory: dir)
        let boxes = try await RelayBench.mailboxes(audience, on: RelayClient(baseURL: relay.url))
        let header = BlobUpload.header(targets: DropRequest.Targets(boxes.map(\.target)))
        // The cipher never looks at the bytes: random ones stand for a photo's.
        let photo = randomBytes(photoBytes)
        var ours = Double.infinity, floor = Double.infinity, grown = 0, stored = 0
        for _ in 0..<rounds {
            floor = min(floor, secretstreamAlone(photo))
            let before = try await relay.store.databaseBytes()
            var blobLength = 0
            let seconds = try await Measure.seconds {
                let (_, blob) = try AttachmentCipher.encrypt(photo)
                blobLength = blob.count
                try await send(header + blob, to: relay.url, expecting: boxes.count)
            }
            ours = min(ours, seconds)
            grown = try await relay.store.databaseBytes() - before
            stored = blobLength
        }
        await relay.stop()
        let megabytes = Double(photo.count) / 1_000_000
        return [
            BenchCase(name: "photo 10 MB to 150: upload", unit: "MB/s", ours: megabytes / ours, floor: megabytes / floor, target: 0.02,
                      note: "padded, encrypted, hashed, one HTTP upload, hashed again and stored (synced) by the relay; floor: crypto_secretstream alone over the same bytes"),
            BenchCase(name: "photo 10 MB to 150: stored", unit: "B", ours: Double(stored), floor: Double(max(grown, 1)), target: 0.9,
                      note: "kith: the blob's bytes; floor: what the relay's database grew by for it, named for \(boxes.count) mailboxes (150 copies would be 0.0067)"),
        ]
    }

    static func send(_ body: [UInt8], to relay: String, expecting accepted: Int) async throws {
        var request = HTTPClientRequest(url: relay + "/v1/blobs")
        request.method = .POST
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(300))
        let answer = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok, let result = try? JSONDecoder().decode(DropResult.self, from: Data(answer.readableBytesView)),
              result.accepted == accepted else {
            throw BenchError("the blob upload was not accepted for every mailbox: HTTP \(response.status.code)")
        }
    }

    /// Seconds for `crypto_secretstream_xchacha20poly1305` to encrypt
    /// `plaintext` in the attachments' 64 KiB chunks, straight through libsodium.
    static func secretstreamAlone(_ plaintext: [UInt8]) -> Double {
        var state = crypto_secretstream_xchacha20poly1305_state()
        var key = [UInt8](repeating: 0, count: Int(crypto_secretstream_xchacha20poly1305_keybytes()))
        crypto_secretstream_xchacha20poly1305_keygen(&key)
        defer { sodium_memzero(&key, key.count) }
        var header = [UInt8](repeating: 0, count: Int(crypto_secretstream_xchacha20poly1305_headerbytes()))
        let chunk = AttachmentCipher.chunkLength
        var out = [UInt8](repeating: 0, count: chunk + Int(crypto_secretstream_xchacha20poly1305_abytes()))
        let final = crypto_secretstream_xchacha20poly1305_tag_final()
        return Measure.seconds {
            crypto_secretstream_xchacha20poly1305_init_push(&state, &header, key)
            plaintext.withUnsafeBufferPointer { p in
                guard let base = p.baseAddress else { return }
                var offset = 0
                while offset < p.count {
                    let n = min(chunk, p.count - offset)
                    crypto_secretstream_xchacha20poly1305_push(&state, &out, nil, base + offset, UInt64(n), nil, 0,
                                                               offset + n == p.count ? final : 0)
                    offset += n
                }
            }
        }
    }

    /// A 12-megapixel JPEG's thumbnail (`Photo.thumbnail`: header checks,
    /// scaled decoding, orientation, area-average resampling, encoding),
    /// beside libjpeg decoding the same file at the same scale and nothing else.
    static func thumbnail(rounds: Int = 3) throws -> BenchCase {
        let jpeg = try phoneSizedJPEG(width: 4000, height: 3000)
        var made: Thumbnail?
        var ours = Double.infinity, floor = Double.infinity
        for _ in 0..<rounds {
            floor = min(floor, try Measure.seconds { try decodeAlone(jpeg) })
            ours = min(ours, try Measure.seconds { made = try Photo.thumbnail(jpeg, maxSide: Photo.thumbnailSide) })
        }
        guard let made, max(made.width, made.height) == Photo.thumbnailSide else { throw BenchError("the thumbnail is not \(Photo.thumbnailSide) px") }
        var result = BenchCase(name: "thumbnail of a 12 MP photo", unit: "thumbnails/s", ours: 1 / ours, floor: 1 / floor, target: 0.5,
                               note: String(format: "%.1f ms for a %.1f MB JPEG; floor: libjpeg decoding it at the same reduced scale alone", ours * 1000, Double(jpeg.count) / 1_000_000))
        result.seconds = ours
        return result
    }

    static func decodeAlone(_ jpeg: [UInt8]) throws {
        var decoded = kith_decoded()
        let limits = kith_limits(max_pixels: Photo.maxPixels, max_side: UInt32(Photo.maxSide), min_longer_side: UInt32(Photo.thumbnailSide))
        let status = jpeg.withUnsafeBufferPointer { kith_decode_jpeg($0.baseAddress, $0.count, limits, &decoded) }
        defer { kith_image_free(decoded.pixels) }
        guard status == KITH_IMAGE_OK else { throw BenchError("libjpeg could not decode the bench photo") }
    }

    /// A JPEG with a phone photo's size and detail: smooth gradients under
    /// fine noise, so that it compresses about as a real photo does.
    static func phoneSizedJPEG(width: Int, height: Int) throws -> [UInt8] {
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        var seed: UInt32 = 0x9E37_79B9
        for y in 0..<height {
            for x in 0..<width {
                seed = seed &* 1_664_525 &+ 1_013_904_223
                let noise = Int(seed >> 28)
                let i = (y * width + x) * 3
                rgb[i] = UInt8(truncatingIfNeeded: x * 255 / width + noise)
                rgb[i + 1] = UInt8(truncatingIfNeeded: y * 255 / height + noise)
                rgb[i + 2] = UInt8(truncatingIfNeeded: (x + y) * 127 / (width + height) + noise)
            }
        }
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var error = [CChar](repeating: 0, count: 160)
        let status = kith_encode_jpeg(rgb, UInt32(width), UInt32(height), 90, 64 << 20, &out, &size, &error, error.count)
        defer { kith_image_free(out) }
        guard status == KITH_IMAGE_OK, let out else { throw BenchError("libjpeg could not encode the bench photo") }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }
}
