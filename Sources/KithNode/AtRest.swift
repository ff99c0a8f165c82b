import Foundation
import KithCrypto

/// What is personal in `node.sqlite` is stored sealed, so that a copy of the
/// node directory without the passphrase reveals counts, sizes, times and
/// public keys, and nothing else (SECURITY.md, "A thief of the node directory";
/// docs/PROTOCOL.md, "Node database at rest").
///
/// Two subkeys of the keystore's storage key (`crypto_kdf`, context
/// `kithrest`): id 1 seals values with XChaCha20-Poly1305 (a random nonce
/// each, the field's name as associated data, so a value cannot be moved to
/// another column), id 2 keys the BLAKE2b tags that stand in for names where
/// the database must look one up or keep it unique.
struct AtRest: Sendable {
    /// A sealed column, named `table.column`: the associated data of its values.
    enum Field: String, Sendable {
        case myName = "profile.name"
        case friendName = "friend.name"
        case card = "friend.card"
        case dropToken = "friend_inbox.drop_token"
        case audienceName = "audience.name"
        case keyName = "audience_key.name"
        case postText = "post.text"
        case postAudience = "post.audience_name"
        case request = "outbox.request"
        case holder = "issued_token.issued_to"
        case commentText = "comment.text"
        case reaction = "reaction.emoji"
        case memberList = "member_list.list"
        case invitationKey = "friend_invitation.answer_key"
        case requestCard = "friend_request.card"
        case myProfileName = "my_profile.name"
        case myProfileBio = "my_profile.bio"
        case myProfileAvatar = "my_profile.avatar"
        case profileName = "friend_profile.name"
        case profileBio = "friend_profile.bio"
        case profileAvatar = "friend_profile.avatar"
    }

    static let tagLength = 16
    private let sealKey: SecretBytes
    private let tagKey: SecretBytes

    init(storageKey: SecretBytes) {
        sealKey = Hash.deriveKey(from: storageKey, id: 1, context: "kithrest")
        tagKey = Hash.deriveKey(from: storageKey, id: 2, context: "kithrest")
    }

    /// nonce (24) || XChaCha20-Poly1305(plain), bound to `field`.
    func seal(_ plain: [UInt8], _ field: Field) throws -> Data {
        let nonce = randomBytes(AEAD.nonceLength)
        return Data(nonce + (try AEAD.seal(plain, key: sealKey, nonce: nonce, associatedData: Array(field.rawValue.utf8))))
    }

    func seal(_ text: String, _ field: Field) throws -> Data { try seal(Array(text.utf8), field) }

    func open(_ value: Data, _ field: Field) throws -> [UInt8] {
        let bytes = [UInt8](value)
        guard bytes.count >= AEAD.nonceLength + AEAD.tagLength,
              let plain = try? AEAD.open(Array(bytes[AEAD.nonceLength...]), key: sealKey, nonce: Array(bytes[0..<AEAD.nonceLength]),
                                         associatedData: Array(field.rawValue.utf8)) else {
            throw NodeError("the database does not decrypt with this keystore (\(field.rawValue))",
                            hint: "the database and keystore of a node belong together; restore both from one backup")
        }
        return plain
    }

    func text(_ value: Data, _ field: Field) throws -> String {
        guard let text = String(validating: try open(value, field), as: UTF8.self) else {
            throw NodeError("the database holds a value that is not text (\(field.rawValue))")
        }
        return text
    }

    /// The keyed BLAKE2b tag of a name: equal names give equal tags, and
    /// without the storage key a tag says nothing about its name.
    func tag(_ name: String, _ field: Field) -> Data {
        Data(Hash.blake2b(Array(field.rawValue.utf8) + [0] + Array(name.utf8), length: Self.tagLength, key: tagKey))
    }
}
