import Foundation
import GRDB
import KithCrypto
@testable import KithNode
@testable import KithProtocol
import Testing

/// Friend requests at the inviter's node: only an answer to a live
/// invitation of its own, proven with the invitation's secret, is kept.
@Suite struct InvitationNodeTests {
    /// alice, bob and mallory on one relay, strangers to each other; alice has made an invitation.
    func withInvitation(_ body: @escaping @Sendable (_ alice: Node, _ bob: Node, _ mallory: Node, _ invitation: String) async throws -> Void) async throws {
        try await withRelayAndDirectory { url, dir in
            let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive)
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            let mallory = try await Node.create(home: dir + "/mallory", name: "mallory", relays: [url], passphrase: passphrase, kdf: .interactive)
            try await body(alice, bob, mallory, try await alice.invite(lifetime: 600).invitation)
        }
    }

    /// A friend request envelope around `inner`, sealed to alice as a hostile program would make it.
    func request(_ inner: [UInt8], to alice: Node) throws -> [UInt8] {
        let key = try alice.encryptionCertificate().publicKey
        return Envelope(kind: .friendRequest, payload: try BoxKey.seal(Padding.pad(inner, blockSize: FriendRequest.paddedLength), to: key)).bytes
    }

    @Test func onlyAProvenAnswerToALiveInvitationIsKept() async throws {
        try await withInvitation { alice, bob, mallory, text in
            let invitation = try FriendInvitation(text: text)
            // mallory got a plain card of alice's: she can drop, but cannot answer an invitation she never read,
            // nor one she read but whose card she never took (her proof can only guess the taker nonce).
            try await mallory.addFriend(cardText: try await alice.issueCard().text)
            let card = try await mallory.issueCard(for: "alice")
            func answer(_ id: [UInt8], _ key: SecretBytes) throws -> [UInt8] {
                try request([1] + id + FriendRequest.proof(requestKey: key, invitationID: id, card: card) + card.bytes, to: alice)
            }
            let stranger = try FriendInvitation(relay: invitation.relay)
            try await mallory.dropRaw(try answer(stranger.id, stranger.requestKey(takerNonce: randomBytes(32))), to: "alice")
            try await mallory.dropRaw(try answer(invitation.id, stranger.requestKey(takerNonce: randomBytes(32))), to: "alice")
            try await mallory.dropRaw(try answer(invitation.id, invitation.answerKey()), to: "alice")
            try await mallory.dropRaw(try answer(invitation.id, invitation.requestKey(takerNonce: randomBytes(32))), to: "alice")
            #expect(try await alice.sync().rejected == 4)
            #expect(try alice.friendRequests().isEmpty)

            // bob uses the invitation; his request is kept, once, whatever else arrives for it.
            let added = try await bob.addFriend(pasted: "> \(text)")
            #expect(added.friend.name == "alice" && added.requestQueued)
            _ = try await bob.sync()
            #expect(try await alice.sync().rejected == 0)
            #expect(try alice.friendRequests().map(\.name) == ["bob"])
            // mallory, who read the invitation too, is refused.
            try await mallory.dropRaw(try answer(invitation.id, invitation.answerKey()), to: "alice")
            #expect(try await alice.sync().rejected == 1)
            #expect(try alice.friendRequests().map(\.name) == ["bob"])

            // Accepted, bob is a friend; the invitation card's token counts as issued to him.
            let friend = try await alice.acceptFriendRequest(named: "bob", as: nil, allowLocalRelays: false)
            #expect(friend.friend.name == "bob" && friend.safetyNumber == added.safetyNumber)
            #expect(try alice.friendRequests().isEmpty)
            #expect(try await alice.removeFriend(named: "bob").revoked == 1)
        }
    }

    @Test func aUsedInvitationIsRefusedAndChangesNothing() async throws {
        try await withInvitation { alice, bob, mallory, text in
            _ = try await bob.addFriend(pasted: text)
            let error = await #expect(throws: NodeError.self) { try await mallory.addFriend(pasted: text) }
            #expect(error?.description == "this invitation was used or has expired")
            #expect(try mallory.friends().isEmpty)
            // An invitation's secret cut short is no invitation.
            let cut = await #expect(throws: NodeError.self) { try await mallory.addFriend(pasted: String(text.dropLast(2))) }
            #expect(cut?.description == "the invitation seems cut off or damaged")
            #expect(try alice.friendRequests().isEmpty)
        }
    }

    @Test func anInvitationLeftUnansweredIsClosedAfterItsGrace() async throws {
        let clock = TestClock()
        try await withRelayAndDirectory { url, dir in
            let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive) { clock.now }
            let invitation = try FriendInvitation(text: try await alice.invite(lifetime: 60).invitation)
            // Someone takes the card and never answers: they hold a drop token of alice's.
            let sealed = try #require(try await RelayClient(baseURL: url).takeInvitation(id: invitation.id))
            let inbox = try invitation.open(sealed).card.inboxes[0]
            @Sendable func drop() async throws {
                _ = try await RelayClient(baseURL: url).drop(DropRequest(targets: [.init(mailbox: inbox.mailbox, token: inbox.dropToken)],
                                                                         envelope: Envelope(kind: .post, payload: randomBytes(56 + 512)).bytes))
            }
            try await drop()
            clock.advance(60 + Node.answerGrace - 1)
            _ = try await alice.sync()
            try await drop()
            clock.advance(2)
            _ = try await alice.sync()
            let refused = await #expect(throws: RelayClient.Failure.self) { try await drop() }
            #expect(refused?.status == 403)
        }
    }

    @Test func aRequestForASecondInvitationLeavesEveryTokenRevocable() async throws {
        let clock = TestClock()
        try await withRelayAndDirectory { url, dir in
            let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive) { clock.now }
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            let first = try await alice.invite(lifetime: 60)
            let second = try FriendInvitation(text: try await alice.invite(lifetime: 60).invitation)
            _ = try await bob.addFriend(pasted: first.invitation)
            _ = try await bob.sync()
            #expect(try await alice.sync().rejected == 0)
            // bob takes the second invitation's card too and answers it.
            let sealed = try #require(try await RelayClient(baseURL: url).takeInvitation(id: second.id))
            let taken = try second.open(sealed), inbox = taken.card.inboxes[0]
            @Sendable func drop() async throws {
                _ = try await RelayClient(baseURL: url).drop(DropRequest(targets: [.init(mailbox: inbox.mailbox, token: inbox.dropToken)],
                                                                         envelope: Envelope(kind: .post, payload: randomBytes(56 + 512)).bytes))
            }
            try await bob.dropRaw(try FriendRequest(invitationID: second.id, requestKey: taken.requestKey, card: try await bob.issueCard(for: "alice"))
                .seal(to: try alice.encryptionCertificate().publicKey).bytes, to: "alice")
            #expect(try await alice.sync().rejected == 1)
            #expect(try alice.friendRequests().map(\.invitation) == [first.id])
            // Declining revokes the first card's token; the second's is revoked once that invitation is closed.
            #expect(try await alice.declineFriendRequest(named: "bob").revoked == 1)
            try await drop()
            clock.advance(60 + Node.answerGrace + 1)
            _ = try await alice.sync()
            let refused = await #expect(throws: RelayClient.Failure.self) { try await drop() }
            #expect(refused?.status == 403)
        }
    }

    @Test func aRequestLeftWaitingIsDeclinedAndItsInvitationForgotten() async throws {
        let clock = TestClock()
        try await withRelayAndDirectory { url, dir in
            let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive) { clock.now }
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            _ = try await bob.addFriend(pasted: try await alice.invite(lifetime: 60).invitation)
            _ = try await bob.sync()
            _ = try await alice.sync()
            func invitations() async throws -> Int { try await alice.db.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM friend_invitation") ?? 0 } }
            clock.advance(Node.requestLifetime - 1)
            _ = try await alice.sync()
            #expect(try alice.friendRequests().map(\.name) == ["bob"])
            #expect(try await invitations() == 1)
            try await bob.dropRaw(Envelope(kind: .post, payload: randomBytes(56 + 512)).bytes, to: "alice")
            // Declined at the sync after it waited too long: bob's token is revoked; the answered invitation is forgotten.
            clock.advance(max(1, Node.invitationMemory + 62 - Node.requestLifetime))
            _ = try await alice.sync()
            #expect(try alice.friendRequests().isEmpty)
            #expect(try await invitations() == 0)
            let refused = await #expect(throws: RelayClient.Failure.self) {
                try await bob.dropRaw(Envelope(kind: .post, payload: randomBytes(56 + 512)).bytes, to: "alice")
            }
            #expect(refused?.status == 403)
        }
    }

    /// A name shaped like someone's fingerprint does not stand for them, and a
    /// request that claims a friend's name is accepted only under another name.
    @Test func requestsAreNamedByFingerprintFirstAndNeverReplaceAFriend() async throws {
        try await withRelayAndDirectory { url, dir in
            let alice = try await Node.create(home: dir + "/alice", name: "alice", relays: [url], passphrase: passphrase, kdf: .interactive)
            let bob = try await Node.create(home: dir + "/bob", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            let bobsFingerprint = Fingerprint.of(identity: try bob.identity())
            let mallory = try await Node.create(home: dir + "/mallory", name: bobsFingerprint, relays: [url], passphrase: passphrase, kdf: .interactive)
            let impostor = try await Node.create(home: dir + "/impostor", name: "bob", relays: [url], passphrase: passphrase, kdf: .interactive)
            for node in [mallory, bob, impostor] {
                _ = try await node.addFriend(pasted: try await alice.invite(lifetime: 600).invitation)
                _ = try await node.sync()
            }
            _ = try await alice.sync()
            #expect(try alice.friendRequests().map(\.name) == [bobsFingerprint, "bob", "bob"])
            let bobs = try await alice.acceptFriendRequest(named: bobsFingerprint, as: nil, allowLocalRelays: false)
            #expect(bobs.friend.name == "bob" && bobs.friend.fingerprint == bobsFingerprint)
            #expect(try alice.friendRequests().map(\.name) == [bobsFingerprint, "bob"])
            // bob's request is gone: his fingerprint, asked again (a page not reloaded), names no one, not mallory.
            let gone = await #expect(throws: NodeError.self) { try await alice.acceptFriendRequest(named: bobsFingerprint, as: "again", allowLocalRelays: false) }
            #expect(gone?.description.contains("no friend request with the fingerprint") == true, "\(String(describing: gone))")
            #expect(try alice.friendRequests().map(\.name) == [bobsFingerprint, "bob"])
            let clash = await #expect(throws: NodeError.self) { try await alice.acceptFriendRequest(named: "bob", as: nil, allowLocalRelays: false) }
            #expect(clash?.hint?.contains("--as NAME") == true && clash?.hint?.contains("replace") == false)
            #expect(try alice.friendRequests().count == 2)
            let other = try await alice.acceptFriendRequest(named: "bob", as: "other bob", allowLocalRelays: false)
            #expect(other.friend.fingerprint == Fingerprint.of(identity: try impostor.identity()))
        }
    }
}
