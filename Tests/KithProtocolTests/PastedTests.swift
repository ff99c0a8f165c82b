import Foundation
import KithCrypto
@testable import KithProtocol
import Testing

/// Cards and invitations as people paste them.
@Suite struct PastedTests {
    static func card(_ name: String = "alice", seed: UInt8 = 0xa1) throws -> ContactCard {
        let identity = try SigningKey(seed: [UInt8](repeating: seed, count: 32))
        let box = try BoxKey(seed: [UInt8](repeating: seed &+ 1, count: 32))
        let cert = EncryptionKeyCertificate(publicKey: box.publicKey, notBefore: 1_790_000_000, notAfter: 1_790_604_800, signedBy: identity)
        let inbox = Inbox(relay: "https://relay.example:8443", mailbox: [UInt8](repeating: 3, count: 32), dropToken: [UInt8](repeating: 4, count: 32))
        return try ContactCard(identity: identity, encryptionKey: cert, sequence: 1, createdAt: 1_790_000_000, name: name, inboxes: [inbox])
    }

    static let invitation = try! FriendInvitation(relay: "https://relay.example.org", secret: [UInt8](repeating: 0x1f, count: 16)).text

    /// `text` cut into lines of `width` characters.
    static func wrapped(_ text: String, width: Int, quote: String = "") -> String {
        stride(from: 0, to: text.count, by: width).map { quote + text.dropFirst($0).prefix(width) }.joined(separator: "\n")
    }

    @Test func aCardIsFoundHoweverItWasPasted() throws {
        let card = try Self.card(), text = card.text
        let shapes = [
            text,
            "  \(text)\n",
            "Hi! Here is my card: \(text)\nSee you soon, Alice",
            "Here is my card:\n\n\(text).\n\nCheers",
            Self.wrapped(text, width: 76),
            Self.wrapped(text, width: 64, quote: "> "),
            "On Monday Alice wrote:\n" + Self.wrapped(text, width: 70, quote: ">> ") + "\n>> \n>> Alice",
            Self.wrapped(text, width: 72, quote: "> ").replacingOccurrences(of: "\n", with: "\r\n"),
            "(\(text))",
            "<\(text)>",
            "\(text)\nThanks",
            // Wrapped right after the prefix.
            "\(ContactCard.prefix)\n\(text.dropFirst(ContactCard.prefix.count))",
            // The same card twice (a reply that quotes it) is one card.
            "\(text)\n\n> \(text)",
        ]
        for shape in shapes {
            #expect(try Pasted.find(in: shape) == .card(card), "\(shape.prefix(40))")
        }
    }

    @Test func anInvitationIsFoundInText() throws {
        for shape in [Self.invitation, "Join me on Kith: \(Self.invitation).", "> \(Self.invitation)\n> bye", "\n\t\(Self.invitation)  \n"] {
            #expect(try Pasted.find(in: shape) == .invitation(Self.invitation))
        }
        // Its secret wrapped onto the next line.
        let split = Self.invitation.count - 10
        #expect(try Pasted.find(in: "> \(Self.invitation.prefix(split))\n> \(Self.invitation.dropFirst(split))") == .invitation(Self.invitation))
    }

    @Test func whatCannotBeRecognisedIsRefusedWithAHint() throws {
        let card = try Self.card(), other = try Self.card("bob", seed: 0xb0)
        func refusal(_ text: String) -> PasteRefusal? { #expect(throws: PasteRefusal.self) { try Pasted.find(in: text) } }
        let cut = refusal(String(card.text.dropLast(30)))
        #expect(cut?.message == "not a valid contact card: it seems cut off" && cut?.hint.contains("kith card") == true)
        let cutWrapped = refusal(Self.wrapped(String(card.text.dropLast(80)), width: 64, quote: "> ") + "\n>\n> Bye!")
        #expect(cutWrapped?.message == "not a valid contact card: it seems cut off")
        let two = refusal("\(card.text)\n\(other.text)")
        #expect(two?.message == "found 2 different contact cards" && two?.hint == "paste one card at a time")
        #expect(refusal("\(card.text) \(Self.invitation)")?.message == "found both a contact card and an invitation")
        #expect(refusal("hello")?.message == "no contact card or invitation found")
        #expect(refusal("")?.hint.contains("kith-card:") == true)
        let badInvitation = refusal(String(Self.invitation.dropLast(3)))
        #expect(badInvitation?.message == "the invitation seems cut off or damaged" && badInvitation?.hint.contains("kith invite") == true)
        var tampered = card.bytes
        tampered[tampered.count - 1] ^= 1
        let forged = refusal(ContactCard.prefix + Base64URL.encode(tampered))
        #expect(forged?.message.contains("bad signature") == true)
        #expect(throws: PasteRefusal.self) { try Pasted.card(in: Self.invitation) }
    }

    /// A valid card or invitation beside a damaged one is not picked: the
    /// damaged one may be the real one, the valid one a stranger's.
    @Test func aDamagedOneBesideAValidOneIsRefused() throws {
        let card = try Self.card(), stranger = try Self.card("alice", seed: 0x66)
        func refusal(_ text: String) -> PasteRefusal? { #expect(throws: PasteRefusal.self) { try Pasted.find(in: text) } }
        var tampered = card.bytes
        tampered[tampered.count - 1] ^= 1
        let beside = refusal("My card: \(ContactCard.prefix + Base64URL.encode(tampered))\nor this one: \(stranger.text)")
        #expect(beside?.message == "found a contact card and a damaged contact card beside it" && beside?.hint.contains("whole") == true)
        #expect(refusal("\(stranger.text)\n\(card.text.dropLast(30))")?.message == "found a contact card and a damaged contact card beside it")
        #expect(refusal("\(Self.invitation.dropLast(3))\n\(Self.invitation.dropLast(3))x\n\(card.text)")?.message
                == "found a contact card and a damaged invitation beside it")
        #expect(refusal("\(Self.invitation) \(card.text.dropLast(30))")?.message == "found an invitation and a damaged contact card beside it")
    }

    /// Long runs of closing punctuation and long lines of prefixes, which
    /// once took minutes to look through, are refused: beyond
    /// `maxTextBytes` at once, within it after one pass.
    @Test func hostilePastesAreRefused() throws {
        func shapes(_ bytes: Int) -> [String] {
            [ContactCard.prefix + String(repeating: ")", count: bytes - ContactCard.prefix.utf8.count),
             FriendInvitation.prefix + String(repeating: ".", count: bytes - FriendInvitation.prefix.utf8.count),
             String(repeating: "\(ContactCard.prefix) ", count: bytes / (ContactCard.prefix.utf8.count + 1)),
             String(repeating: "kith-kith-card:", count: bytes / 15)]
        }
        for text in shapes(256 * 1024) {
            let refusal = #expect(throws: PasteRefusal.self) { try Pasted.find(in: text) }
            #expect(refusal?.message == "the pasted text is longer than 64 KiB" && refusal?.hint == "paste only the card or invitation")
        }
        for text in shapes(Pasted.maxTextBytes) {
            #expect(text.utf8.count <= Pasted.maxTextBytes)
            let refusal = #expect(throws: PasteRefusal.self) { try Pasted.find(in: text) }
            #expect(refusal?.message.hasPrefix("not a valid contact card") == true || refusal?.message == "the invitation seems cut off or damaged")
        }
    }
}
