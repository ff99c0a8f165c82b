import Foundation
import KithCrypto
@testable import KithProtocol
import Testing

/// One test per finding of the fuzzers (`make fuzz`, Sources/kith-fuzz), with
/// the input that found it where it is small, so a fixed decoder stays fixed.
@Suite struct FuzzRegressionTests {
    /// card-fields found that a card name could hold DEL (U+007F) and C1
    /// controls such as U+009B, a terminal's CSI: the name check looked only
    /// at C0. The spec forbids every control character; nodes already refused
    /// them in names people type, but not in cards they receive.
    @Test func cardNamesWithDELOrC1ControlsAreRefused() throws {
        let identity = try SigningKey(seed: [UInt8](repeating: 0xa1, count: 32))
        let cert = EncryptionKeyCertificate(publicKey: BoxKey().publicKey, notBefore: now, notAfter: now + 3600, signedBy: identity)
        let inbox = Inbox(relay: "http://relay.example", mailbox: SigningKey().publicKey, dropToken: randomBytes(32))
        // The fuzzer's input (name length 9, name, relay "http://25"): "!", DEL, then bytes read as UTF-8 with repair.
        let found: [UInt8] = [0x21, 0x7f, 0xc3, 0x30, 0x38, 0xe7, 0x9f, 0xa6, 0x8a]
        for name in [String(decoding: found, as: UTF8.self), "a\u{7F}", "\u{9B}31mred", "x\u{85}y", "\u{80}"] {
            let made = #expect(throws: ProtocolError.self) {
                try ContactCard(identity: identity, encryptionKey: cert, sequence: 1, createdAt: now, name: name, inboxes: [inbox])
            }
            #expect(made?.kind == .malformed)
            // A card signed by its holder with such a name, as a hostile peer would send it.
            let body = ContactCard.body(identity.publicKey, cert, 1, now, name, [inbox])
            let card = body + identity.sign(signedMessage(context: ContactCard.context, body))
            let read = #expect(throws: ProtocolError.self) { try ContactCard(bytes: card) }
            #expect(read?.kind == .malformed)
        }
        // Printable names, including non-ASCII, still pass.
        for name in ["Zoë 🦊", "a b", "名前"] {
            #expect(throws: Never.self) {
                try ContactCard(identity: identity, encryptionKey: cert, sequence: 1, createdAt: now, name: name, inboxes: [inbox])
            }
        }
    }
}

extension FuzzRegressionTests {
    /// base64 found that Base64URL.decode accepted non-ASCII bytes: libsodium
    /// 1.0.18 decodes every byte of 0x80 or more as '_'. So a card's text or a
    /// request header had other spellings than the canonical one, against the
    /// spec's "decoders MUST reject ... other alphabets".
    @Test func base64urlRefusesNonASCII() throws {
        // The fuzzer's input: an invalid UTF-8 byte, read as U+FFFD (EF BF BD).
        let found: [UInt8] = [0x44, 0x51, 0x30, 0x4e, 0x44, 0xe1, 0x51, 0x30, 0x4e, 0x44, 0x51, 0x30,
                              0x4e, 0x44, 0x51, 0x30, 0x4e, 0x37, 0x45, 0x6b, 0x53, 0x75, 0x4e, 0x51]
        #expect(Base64URL.decode(String(decoding: found, as: UTF8.self)) == nil)
        #expect(Base64URL.decode("AAA\u{80}") == nil)
        #expect(Base64URL.decode("AAAé") == nil)
        #expect(Base64URL.decode("AAA_") == [0, 0, 0x3f])

        // "é" is two bytes, each of which libsodium read as '_': the same card, spelt otherwise.
        let identity = SigningKey()
        let cert = EncryptionKeyCertificate(publicKey: BoxKey().publicKey, notBefore: now, notAfter: now + 3600, signedBy: identity)
        let inbox = Inbox(relay: "http://r", mailbox: SigningKey().publicKey, dropToken: [UInt8](repeating: 0xff, count: 32))
        let text = try ContactCard(identity: identity, encryptionKey: cert, sequence: 1, createdAt: now, name: "a", inboxes: [inbox]).text
        let respelt = text.replacingOccurrences(of: "__", with: "é")
        #expect(respelt != text)
        #expect((#expect(throws: ProtocolError.self) { try ContactCard(text: respelt) })?.kind == .malformed)

        // The same for a request's nonce header.
        let key = SigningKey()
        let request = SignedRequest(method: "GET", path: "/", body: [], mailboxKey: key, timestamp: now, nonce: [UInt8](repeating: 0xff, count: 16))
        let headers = Dictionary(uniqueKeysWithValues: request.headers)
        #expect(throws: Never.self) { try SignedRequest(header: { headers[$0] }) }
        let respeltNonce = headers[SignedRequest.nonceHeader]!.replacingOccurrences(of: "__", with: "é")
        #expect(throws: ProtocolError.self) {
            try SignedRequest(header: { $0 == SignedRequest.nonceHeader ? respeltNonce : headers[$0] })
        }
    }
}

/// The keystore's bytes, now that they live in KithProtocol.
@Suite struct KeystoreFileTests {
    func header() throws -> KeystoreFile.Header {
        try KeystoreFile.Header(opsLimit: 2, memLimit: 67_108_864, salt: [UInt8](repeating: 0x5a, count: 16), nonce: [UInt8](repeating: 0x24, count: 24))
    }

    @Test func headerLayoutIsTheSpecs() throws {
        let bytes = try header().bytes
        #expect(bytes.count == KeystoreFile.headerLength)
        #expect(Array(bytes[0..<9]) == Array("KITHKEYS".utf8) + [1])
        #expect(Array(bytes[9..<25]) == [0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0x04, 0, 0, 0])
        let (parsed, ct) = try KeystoreFile.Header.parse(file: bytes + [7, 7])
        #expect(parsed == (try header()) && ct == [7, 7])
    }

    @Test func headerRefusals() throws {
        let bytes = try header().bytes
        #expect(throws: ProtocolError.malformed("keystore: not a Kith keystore")) { try KeystoreFile.Header.parse(file: bytes) }
        var other = bytes + [0]
        other[0] = UInt8(ascii: "X")
        #expect(throws: ProtocolError.malformed("keystore: not a Kith keystore")) { try KeystoreFile.Header.parse(file: other) }
        other = bytes + [0]
        other[8] = 2
        let error = #expect(throws: ProtocolError.self) { try KeystoreFile.Header.parse(file: other) }
        #expect(error?.kind == .unsupportedVersion)
    }

    @Test func secretsRoundTripAndRefusals() throws {
        let box = BoxKey()
        var storage = randomBytes(32)
        let secrets = KeystoreFile.Secrets(identity: SigningKey(), storageKey: SecretBytes(consuming: &storage),
                                           encryptionKeys: [.init(key: box, notAfter: 99)],
                                           mailboxKeys: ["https://b": SigningKey(), "http://a": SigningKey()])
        let bytes = secrets.encode()
        let decoded = try KeystoreFile.Secrets.decode(bytes)
        #expect(decoded.identity.publicKey == secrets.identity.publicKey)
        #expect(decoded.storageKey.copyBytes() == secrets.storageKey.copyBytes())
        #expect(decoded.encryptionKeys.map(\.key.publicKey) == [box.publicKey] && decoded.encryptionKeys[0].notAfter == 99)
        #expect(decoded.mailboxKeys.mapValues(\.publicKey) == secrets.mailboxKeys.mapValues(\.publicKey))
        #expect(decoded.encode() == bytes)

        var b = bytes
        b[0] = 2
        #expect((#expect(throws: ProtocolError.self) { try KeystoreFile.Secrets.decode(b) })?.kind == .unsupportedVersion)
        b = bytes
        b[1 + 32 + 32 + 2] ^= 1 // the encryption public key no longer matches its secret key
        #expect(throws: ProtocolError.malformed("keystore: encryption key does not match its public key")) { try KeystoreFile.Secrets.decode(b) }
        #expect(throws: ProtocolError.self) { try KeystoreFile.Secrets.decode(bytes + [0]) }
        #expect(throws: ProtocolError.self) { try KeystoreFile.Secrets.decode(Array(bytes.dropLast())) }
    }
}
