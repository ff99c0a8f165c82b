import Foundation
import KithCrypto

/// A one-time code a relay's operator hands to someone so that their node
/// may register one mailbox on a relay whose registration is by invitation
/// (`kith relay invite`). The code is 16 random bytes, written as 22
/// characters of base64url; the relay stores only its hash.
public struct RelayInvite: Sendable, Equatable {
    public static let length = 16
    /// Characters of the text form.
    public static let textLength = 22

    public let code: [UInt8]

    /// A fresh random code.
    public init() { code = randomBytes(Self.length) }

    /// The code of a registration body (exactly 16 bytes).
    public init(code: [UInt8]) throws {
        guard code.count == Self.length else { throw ProtocolError.malformed("invite: must be \(Self.length) bytes") }
        self.code = code
    }

    /// Reads the text form (white space around it is ignored).
    public init(text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.utf8.count == Self.textLength, let bytes = Base64URL.decode(trimmed), bytes.count == Self.length else {
            throw ProtocolError.malformed("invite: must be \(Self.textLength) characters of base64url")
        }
        code = bytes
    }

    public var text: String { Base64URL.encode(code) }

    /// What the relay stores: `H("kith/relay-invite/v1" || 0x00 || code, 32)`.
    public var hash: [UInt8] { Hash.blake2b(Array("kith/relay-invite/v1".utf8) + [0] + code, length: 32) }
}
