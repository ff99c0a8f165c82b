import Foundation
import KithCrypto
@testable import KithProtocol
import Testing

@Suite struct KeyUpdateTests {
    let alice = SigningKey(), bob = SigningKey(), mallory = SigningKey()
    let bobBox = BoxKey()

    func update(from sender: SigningKey? = nil, to recipient: [UInt8]? = nil, certSigner: SigningKey? = nil) -> KeyUpdate {
        let sender = sender ?? alice
        let cert = EncryptionKeyCertificate(publicKey: BoxKey().publicKey, notBefore: now - 3600, notAfter: now + 86_400,
                                            signedBy: certSigner ?? sender)
        return KeyUpdate(sender: sender.publicKey, recipient: recipient ?? bob.publicKey, certificate: cert, createdAt: now)
    }

    @Test func sealsOpensAndIsTheSizeOfAKeyMessage() throws {
        let sent = update()
        let envelope = try sent.seal(sender: alice, to: bobBox.publicKey)
        #expect(envelope.kind == .keyMessage)
        #expect(envelope.payload.count == KeyMessage.payloadLength)
        #expect(KeyUpdate.innerLength < KeyMessage.paddedLength)
        guard case .keyUpdate(let got) = try KeyChannel.open(envelope, keys: [BoxKey(), bobBox], me: bob.publicKey) else {
            Issue.record("not opened as a key update"); return
        }
        #expect(got == sent)
        #expect(try KeyUpdate.open(envelope, keys: [bobBox], me: bob.publicKey) == sent)
        // A key message of the same size travels the same way: a relay cannot tell them apart.
        let message = KeyMessage(audience: AudienceKey(owner: alice.publicKey, audienceID: randomBytes(16), epoch: 1, key: SecretBytes(random: 32)),
                                 recipient: bob.publicKey, audienceName: "family", createdAt: now)
        let keyMessage = try message.seal(owner: alice, to: bobBox.publicKey)
        #expect(keyMessage.bytes.count == envelope.bytes.count && keyMessage.bytes.prefix(6) == envelope.bytes.prefix(6))
        guard case .keyMessage = try KeyChannel.open(keyMessage, keys: [bobBox], me: bob.publicKey) else {
            Issue.record("a key message opened as something else"); return
        }
    }

    @Test func keyMessageOpenRefusesAKeyUpdate() throws {
        let envelope = try update().seal(sender: alice, to: bobBox.publicKey)
        #expect(throws: ProtocolError(.unsupportedVersion, "key message: version 2 is not supported")) {
            try KeyMessage.open(envelope, keys: [bobBox], me: bob.publicKey)
        }
    }

    func kind(_ body: () throws -> Void) -> ProtocolError.Kind? {
        do { try body(); return nil } catch let error as ProtocolError { return error.kind } catch { return nil }
    }

    @Test func refusesWhatANodeMustNotAccept() throws {
        // Sealed to another key.
        let other = try update().seal(sender: alice, to: BoxKey().publicKey)
        #expect(kind { _ = try KeyChannel.open(other, keys: [bobBox], me: bob.publicKey) } == .noMatchingKey)
        // For someone else, re-sealed to bob.
        let misaddressed = try update(to: mallory.publicKey).seal(sender: alice, to: bobBox.publicKey)
        #expect(kind { _ = try KeyChannel.open(misaddressed, keys: [bobBox], me: bob.publicKey) } == .wrongRecipient)
        // A certificate alice did not sign.
        let foreignCert = try update(certSigner: mallory).seal(sender: alice, to: bobBox.publicKey)
        #expect(kind { _ = try KeyChannel.open(foreignCert, keys: [bobBox], me: bob.publicKey) } == .badSignature)
        // Every flipped byte of the inner message is refused.
        let plain = update()
        var w = ByteWriter()
        w.u8(KeyUpdate.type); w.raw(plain.sender); w.raw(plain.recipient); plain.certificate.write(to: &w); w.u64(plain.createdAt)
        let signed = w.bytes + alice.sign(signedMessage(context: KeyUpdate.context, w.bytes))
        #expect(signed.count == KeyUpdate.innerLength)
        #expect(try KeyUpdate.parse(inner: signed, me: bob.publicKey) == plain)
        for i in 0..<signed.count {
            var b = signed
            b[i] ^= 0x10
            #expect(throws: ProtocolError.self) { try KeyUpdate.parse(inner: b, me: bob.publicKey) }
        }
        #expect(kind { _ = try KeyUpdate.parse(inner: Array(signed.dropLast()), me: bob.publicKey) } == .malformed)
        #expect(kind { _ = try KeyUpdate.parse(inner: signed + [0], me: bob.publicKey) } == .malformed)
    }

    @Test func unknownInnerTypesAreUnsupported() throws {
        for type: UInt8 in [0, 5, 9, 255] {
            let envelope = Envelope(kind: .keyMessage,
                                    payload: try BoxKey.seal(Padding.pad([type] + randomBytes(100), blockSize: KeyMessage.paddedLength), to: bobBox.publicKey))
            #expect(kind { _ = try KeyChannel.open(envelope, keys: [bobBox], me: bob.publicKey) } == .unsupportedVersion)
        }
    }
}
