import Foundation
import KithCrypto
@testable import KithProtocol
import Testing

@Suite struct MemberListTests {
    let alice = SigningKey(), bob = SigningKey()
    let bobBox = BoxKey()

    func kind(_ body: () throws -> Void) -> ProtocolError.Kind? {
        do { try body(); return nil } catch let error as ProtocolError { return error.kind } catch { return nil }
    }

    func audience(epoch: UInt32 = 2) -> AudienceKey {
        AudienceKey(owner: alice.publicKey, audienceID: [UInt8](repeating: 7, count: 16), epoch: epoch, key: SecretBytes(random: 32))
    }

    @Test func theLongestListFitsTheLargestBucketAndOneMoreIsRefused() throws {
        let key = audience()
        let name = String(repeating: "é", count: 32)   // 64 bytes, the longest name
        let members = (0..<MemberList.maxMembers).map { _ in MemberList.Member(identity: SigningKey().publicKey, name: name) }
        let list = try MemberList(owner: alice, audience: key, revision: 1, members: members)
        let envelope = try list.seal(audience: key)
        #expect(envelope.payload.count == Post.payloadOverhead + Post.maxBucket)
        guard case .memberList(let got) = try AudienceMessage.open(envelope, audience: key, now: 0) else {
            Issue.record("not opened as a member list"); return
        }
        #expect(got == list && got.members.count == MemberList.maxMembers)
        #expect(kind { _ = try MemberList(owner: alice, audience: key, revision: 1, members: members + [.init(identity: bob.publicKey, name: "bob")]) }
                == .malformed)
    }

    @Test func aListOpensOnlyUnderItsOwnEpochsKey() throws {
        let key = audience(epoch: 2)
        let list = try MemberList(owner: alice, audience: key, revision: 3, members: [.init(identity: bob.publicKey, name: "bob")])
        let next = audience(epoch: 3)
        #expect(kind { _ = try AudienceMessage.open(try list.seal(audience: key), audience: next, now: 0) } == .noMatchingKey)
        #expect(kind { _ = try MemberList.parse(list.bytes, audience: next) } == .wrongRecipient)
        var forged = list.bytes
        forged[forged.count - 1] ^= 1
        #expect(kind { _ = try MemberList.parse(forged) } == .badSignature)
    }

    @Test func keyMessageFlagsRoundTripAndTypeOneStillOpens() throws {
        let key = audience()
        for flags: KeyMessage.Flags in [[], .direct, .sharesMembers] {
            let sent = KeyMessage(audience: key, recipient: bob.publicKey, audienceName: "family", createdAt: 5, flags: flags)
            let got = try KeyMessage.open(try sent.seal(owner: alice, to: bobBox.publicKey), keys: [bobBox], me: bob.publicKey)
            #expect(got.flags == flags && got.audience.epoch == 2)
        }
        let both = KeyMessage(audience: key, recipient: bob.publicKey, audienceName: "x", createdAt: 5, flags: [.direct, .sharesMembers])
        #expect(kind { _ = try both.seal(owner: alice, to: bobBox.publicKey) } == .malformed)
    }
}
