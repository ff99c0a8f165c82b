import KithCrypto

/// An owner request to a relay, signed with the mailbox key over method,
/// path, timestamp, nonce and body hash. Carried in four headers.
public struct SignedRequest: Sendable {
    public static let mailboxHeader = "Kith-Mailbox"
    public static let timestampHeader = "Kith-Timestamp"
    public static let nonceHeader = "Kith-Nonce"
    public static let signatureHeader = "Kith-Signature"
    public static let nonceLength = 16
    /// A request more than this many seconds from the relay's clock is refused.
    public static let maxClockSkew: UInt64 = 300
    /// Longest method and path a request may sign, in UTF-8 bytes. The path
    /// is a `str16` field; a relay refuses request targets far shorter.
    public static let maxMethodLength = 32
    public static let maxPathLength = 65535
    /// Longest value accepted in any of the four headers (a signature is 86 characters).
    static let maxHeaderLength = 128
    static let context = "kith/request/v1"

    public let mailbox: [UInt8]
    public let timestamp: UInt64
    public let nonce: [UInt8]
    public let signature: [UInt8]

    /// The signed message, or an empty array when the method or path is too
    /// long to encode: no signature over it is ever accepted, because
    /// `verify` refuses such requests before checking the signature.
    public static func message(method: String, path: String, timestamp: UInt64, nonce: [UInt8], body: [UInt8]) -> [UInt8] {
        (try? checkedMessage(method: method, path: path, timestamp: timestamp, nonce: nonce, body: body)) ?? []
    }

    /// The signed message; throws `malformed` for a method or path too long
    /// for its field, so no input from the network can trap.
    public static func checkedMessage(method: String, path: String, timestamp: UInt64, nonce: [UInt8], body: [UInt8]) throws -> [UInt8] {
        guard method.utf8.count <= maxMethodLength else { throw ProtocolError.malformed("request: method longer than \(maxMethodLength) bytes") }
        guard path.utf8.count <= maxPathLength else { throw ProtocolError.malformed("request: path longer than \(maxPathLength) bytes") }
        var w = ByteWriter()
        w.string16(method)
        w.string16(path)
        w.u64(timestamp)
        w.raw(nonce)
        w.raw(Hash.blake2b(body, length: 32))
        return signedMessage(context: context, w.bytes)
    }

    /// Signs a request. `path` includes the query string, exactly as sent.
    public init(method: String, path: String, body: [UInt8], mailboxKey: SigningKey, timestamp: UInt64, nonce: [UInt8] = randomBytes(nonceLength)) {
        self.mailbox = mailboxKey.publicKey
        self.timestamp = timestamp
        self.nonce = nonce
        self.signature = mailboxKey.sign(Self.message(method: method, path: path, timestamp: timestamp, nonce: nonce, body: body))
    }

    public var headers: [(String, String)] {
        [(Self.mailboxHeader, Base64URL.encode(mailbox)), (Self.timestampHeader, String(timestamp)),
         (Self.nonceHeader, Base64URL.encode(nonce)), (Self.signatureHeader, Base64URL.encode(signature))]
    }

    /// Parses the four headers; `header` looks one up by name.
    public init(header rawHeader: (String) -> String?) throws {
        // Empty or over-long values are refused before any decoding.
        func header(_ name: String) -> String? {
            rawHeader(name).flatMap { (1...Self.maxHeaderLength).contains($0.utf8.count) ? $0 : nil }
        }
        guard let m = header(Self.mailboxHeader).flatMap({ Base64URL.decode($0) }), m.count == 32,
              let t = header(Self.timestampHeader).flatMap({ UInt64($0) }),
              let n = header(Self.nonceHeader).flatMap({ Base64URL.decode($0) }), n.count == Self.nonceLength,
              let s = header(Self.signatureHeader).flatMap({ Base64URL.decode($0) }), s.count == 64
        else { throw ProtocolError.malformed("request: missing or malformed Kith-* signature headers") }
        mailbox = m; timestamp = t; nonce = n; signature = s
    }

    /// Checks the signature and the clock. Replay of the nonce is the relay's to check.
    public func verify(method: String, path: String, body: [UInt8], now: UInt64) throws {
        let skew = now > timestamp ? now - timestamp : timestamp - now
        guard skew <= Self.maxClockSkew else { throw ProtocolError.malformed("request: timestamp is \(skew) s away from the relay's clock") }
        let message = try Self.checkedMessage(method: method, path: path, timestamp: timestamp, nonce: nonce, body: body)
        guard SigningKey.verify(signature: signature, message: message, publicKey: mailbox) else {
            throw ProtocolError(.badSignature, "request: signature does not verify")
        }
    }
}
