import Foundation
import KithCrypto
@testable import KithProtocol
import Testing

@Suite struct InboxUpdateTests {
    let alice = SigningKey(), bob = SigningKey(), mallory = SigningKey()
    let bobBox = BoxKey()
    let inbox = Inbox(relay: "https://relay.example:8443/kith", mailbox: SigningKey().publicKey, dropToken: randomBytes(32))

    func kind(_ body: () throws -> Void) -> ProtocolError.Kind? {
        do { try body(); return nil } catch let error as ProtocolError { return error.kind } catch { return nil }
    }

    @Test func anAdditionAndARemovalSealOpenAndAreTheSizeOfAKeyMessage() throws {
        for sent in [InboxUpdate(sender: alice.publicKey, recipient: bob.publicKey, sequence: 7, adding: inbox),
                     InboxUpdate(sender: alice.publicKey, recipient: bob.publicKey, sequence: 8, removingRelay: inbox.relay, mailbox: inbox.mailbox)] {
            let envelope = try sent.seal(sender: alice, to: bobBox.publicKey)
            #expect(envelope.kind == .keyMessage && envelope.payload.count == KeyMessage.payloadLength)
            guard case .inboxUpdate(let got) = try KeyChannel.open(envelope, keys: [BoxKey(), bobBox], me: bob.publicKey) else {
                Issue.record("not opened as an inbox update"); return
            }
            #expect(got == sent)
            #expect(try InboxUpdate.open(envelope, keys: [bobBox], me: bob.publicKey) == sent)
            #expect(kind { _ = try KeyMessage.open(envelope, keys: [bobBox], me: bob.publicKey) } == .unsupportedVersion)
        }
        #expect(InboxUpdate(sender: alice.publicKey, recipient: bob.publicKey, sequence: 1, adding: inbox).inbox == inbox)
    }

    @Test func theLongestURLsFitAndLongerOnesAreRefused() throws {
        #expect(InboxUpdate.maxRelayBytes(.add) == 51 && InboxUpdate.maxRelayBytes(.remove) == 83)
        for change in [InboxUpdate.Change.add, .remove] {
            let max = InboxUpdate.maxRelayBytes(change)
            // A host of short labels (a DNS label is at most 63 bytes) as long as fits.
            let length = max - 8
            let fits = "https://" + (length % 2 == 1 ? String(repeating: "r.", count: length / 2) + "r" : "rr" + String(repeating: ".r", count: (length - 2) / 2))
            let tooLong = fits + "a"
            func update(_ relay: String) -> InboxUpdate {
                change == .add ? InboxUpdate(sender: alice.publicKey, recipient: bob.publicKey, sequence: 1,
                                             adding: Inbox(relay: relay, mailbox: inbox.mailbox, dropToken: inbox.dropToken))
                    : InboxUpdate(sender: alice.publicKey, recipient: bob.publicKey, sequence: 1, removingRelay: relay, mailbox: inbox.mailbox)
            }
            let envelope = try update(fits).seal(sender: alice, to: bobBox.publicKey)
            #expect(try InboxUpdate.open(envelope, keys: [bobBox], me: bob.publicKey).relay == fits)
            #expect(kind { _ = try update(tooLong).seal(sender: alice, to: bobBox.publicKey) } == .malformed)
        }
    }

    @Test func aForgedOrMisaddressedUpdateIsRefused() throws {
        // Mallory claims to be alice: the signature is mallory's.
        let forged = InboxUpdate(sender: alice.publicKey, recipient: bob.publicKey, sequence: 9, adding: inbox)
        var plain = ByteWriter()
        plain.u8(InboxUpdate.type); plain.raw(alice.publicKey); plain.raw(bob.publicKey); plain.u64(9); plain.u8(1)
        plain.string16(inbox.relay); plain.raw(inbox.mailbox); plain.raw(inbox.dropToken)
        let badSignature = try KeyChannel.seal(plain.bytes + mallory.sign(signedMessage(context: "kith/inbox-update/v1", plain.bytes)), to: bobBox.publicKey)
        #expect(kind { _ = try KeyChannel.open(badSignature, keys: [bobBox], me: bob.publicKey) } == .badSignature)
        let good = try forged.seal(sender: alice, to: bobBox.publicKey)
        #expect(kind { _ = try KeyChannel.open(good, keys: [bobBox], me: mallory.publicKey) } == .wrongRecipient)
        // An unknown change and trailing bytes are malformed.
        var unknown = plain.bytes
        unknown[1 + 32 + 32 + 8] = 3
        let odd = try KeyChannel.seal(unknown + alice.sign(signedMessage(context: "kith/inbox-update/v1", unknown)), to: bobBox.publicKey)
        #expect(kind { _ = try KeyChannel.open(odd, keys: [bobBox], me: bob.publicKey) } == .malformed)
        let trailing = plain.bytes + alice.sign(signedMessage(context: "kith/inbox-update/v1", plain.bytes)) + [0]
        #expect(kind { _ = try KeyChannel.open(try KeyChannel.seal(trailing, to: bobBox.publicKey), keys: [bobBox], me: bob.publicKey) } == .malformed)
    }
}
