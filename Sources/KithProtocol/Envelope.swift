import KithCrypto

/// What a relay stores and forwards: opaque bytes with a small public header.
/// A relay learns the type and size, nothing about author or audience.
public struct Envelope: Equatable, Sendable {
    public static let magic: [UInt8] = Array("KITH".utf8)
    public static let version: UInt8 = 1
    public static let headerLength = 6
    public static let maxLength = 1 << 20

    public enum Kind: UInt8, Sendable {
        /// An audience key sealed to one member's encryption key.
        case keyMessage = 1
        /// A post encrypted once under an audience's epoch key.
        case post = 2
        /// A friend request answering a friend invitation, sealed to the inviter.
        case friendRequest = 3
        /// A person's profile (name, bio, avatar), sealed to one friend.
        case profile = 4

        var name: String {
            switch self {
            case .keyMessage: "key message"
            case .post: "post"
            case .friendRequest: "friend request"
            case .profile: "profile"
            }
        }
    }

    public let kind: Kind
    public let payload: [UInt8]

    /// Sizes are fixed by type, so that relays and nodes refuse an oversized
    /// envelope before storing it: a key message is always 304 bytes of
    /// payload, a post `56 + B` for a bucket `B` from 512 to 65,536, a friend
    /// request 5,168, a profile 1,072.
    public static func isValid(payloadLength n: Int, for kind: Kind) -> Bool {
        switch kind {
        case .keyMessage: return n == KeyMessage.payloadLength
        case .friendRequest: return n == FriendRequest.payloadLength
        case .profile: return n == Profile.payloadLength
        case .post:
            let bucket = n - Post.payloadOverhead
            return bucket >= Post.minBucket && bucket <= Post.maxBucket && bucket & (bucket - 1) == 0
        }
    }

    public init(kind: Kind, payload: [UInt8]) {
        self.kind = kind
        self.payload = payload
    }

    static func header(_ kind: Kind) -> [UInt8] { magic + [version, kind.rawValue] }

    public var bytes: [UInt8] { Self.header(kind) + payload }

    /// BLAKE2b-256 of the envelope bytes: the envelope's id everywhere.
    public var id: [UInt8] { Self.id(of: bytes) }

    public static func id(of bytes: [UInt8]) -> [UInt8] { Hash.blake2b(bytes, length: 32) }

    public init(bytes: [UInt8]) throws {
        guard bytes.count <= Self.maxLength else { throw ProtocolError.malformed("envelope: larger than \(Self.maxLength) bytes") }
        guard bytes.count > Self.headerLength, Array(bytes[0..<4]) == Self.magic else { throw ProtocolError.malformed("envelope: bad magic or too short") }
        guard bytes[4] == Self.version else { throw ProtocolError(.unsupportedVersion, "envelope: version \(bytes[4]) is not supported") }
        guard let kind = Kind(rawValue: bytes[5]) else { throw ProtocolError.malformed("envelope: unknown type \(bytes[5])") }
        let payloadLength = bytes.count - Self.headerLength
        guard Self.isValid(payloadLength: payloadLength, for: kind) else {
            throw ProtocolError.malformed("envelope: \(bytes.count) bytes is not a size a \(kind.name) can have")
        }
        self.kind = kind
        self.payload = Array(bytes[Self.headerLength...])
    }
}
