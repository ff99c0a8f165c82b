import Foundation
import HTTPTypes
import HummingbirdTesting
import KithCrypto
import KithNode
import KithProtocol
import KithRelay
import Testing

/// Requests crafted to crash or overload the relay, sent over real HTTP.
@Suite struct HostileRequestTests {
    /// The five signed routes, for a mailbox and a token hash.
    static func signedRoutes(_ mailbox: String) -> [(String, String)] {
        [("PUT", "/v1/mailboxes/\(mailbox)"), ("POST", "/v1/mailboxes/\(mailbox)/tokens"),
         ("DELETE", "/v1/mailboxes/\(mailbox)/tokens/\(Base64URL.encode(randomBytes(32)))"),
         ("GET", "/v1/mailboxes/\(mailbox)/envelopes"), ("POST", "/v1/mailboxes/\(mailbox)/ack")]
    }

    /// Four well-formed Kith-* headers with a random signature.
    static func forgedHeaders(_ mailbox: String) -> [(String, String)] {
        [(SignedRequest.mailboxHeader, mailbox), (SignedRequest.timestampHeader, String(UInt64(Date().timeIntervalSince1970))),
         (SignedRequest.nonceHeader, Base64URL.encode(randomBytes(16))), (SignedRequest.signatureHeader, Base64URL.encode(randomBytes(64)))]
    }

    /// A request target of 65,536 bytes or more once trapped in the signed
    /// message's str16 path, before the signature was checked.
    @Test func overlongTargetsAreRefusedWith414OnEverySignedRoute() async throws {
        try await withLiveRelay { url, client in
            let port = client.port!
            let mailbox = Base64URL.encode(SigningKey().publicKey)
            for (method, path) in Self.signedRoutes(mailbox) {
                for length in [4097, 65_536, 70_000] {
                    let target = path + "?pad=" + String(repeating: "a", count: length - path.utf8.count - 5)
                    let connection = try RawConnection(port: port)
                    try await connection.send(method, target, headers: Self.forgedHeaders(mailbox))
                    #expect(try await connection.readStatus() == 414, "\(method) \(path) with a \(length)-byte target")
                }
            }
            #expect(try await client.execute(uri: "/v1/health", method: .get, headers: [:], body: nil).status == .ok)
        }
    }

    /// With the relay's own target limit lifted, the signature check itself
    /// refuses a path too long for its field (401), never trapping.
    @Test func signatureCheckRefusesPathsTooLongToSign() async throws {
        var configuration = RelayConfiguration()
        configuration.maxRequestTargetBytes = 1 << 20
        configuration.maxHeaderBytes = 1 << 20
        try await withLiveRelay(configuration: configuration) { url, client in
            let mailbox = Base64URL.encode(SigningKey().publicKey)
            for (method, path) in Self.signedRoutes(mailbox) {
                let target = path + "?pad=" + String(repeating: "a", count: 70_000)
                let connection = try RawConnection(port: client.port!)
                try await connection.send(method, target, headers: Self.forgedHeaders(mailbox))
                #expect(try await connection.readStatus() == 401, "\(method) \(path)")
            }
            #expect(try await client.execute(uri: "/v1/health", method: .get, headers: [:], body: nil).status == .ok)
        }
        let key = SigningKey()
        let long = "/" + String(repeating: "p", count: 65_536)
        let request = SignedRequest(method: "GET", path: long, body: [], mailboxKey: key, timestamp: 1000)
        #expect(throws: ProtocolError.self) { try request.verify(method: "GET", path: long, body: [], now: 1000) }
        let method = String(repeating: "M", count: 70_000)
        #expect(throws: ProtocolError.self) { try request.verify(method: method, path: "/", body: [], now: 1000) }
    }

    @Test func oversizedHeaderSectionsAreRefusedWith431() async throws {
        try await withLiveRelay { url, client in
            let mailbox = Base64URL.encode(SigningKey().publicKey)
            let connection = try RawConnection(port: client.port!)
            let padding = (0..<20).map { ("X-Pad-\($0)", String(repeating: "b", count: 1000)) }
            try await connection.send("GET", "/v1/mailboxes/\(mailbox)/envelopes", headers: Self.forgedHeaders(mailbox) + padding)
            #expect(try await connection.readStatus() == 431)
            // Just under the limit is fine (and then refused for its forged signature).
            let small = try RawConnection(port: client.port!)
            try await small.send("GET", "/v1/mailboxes/\(mailbox)/envelopes", headers: Self.forgedHeaders(mailbox) + padding.prefix(10))
            #expect(try await small.readStatus() == 401)
            #expect(try await client.execute(uri: "/v1/health", method: .get, headers: [:], body: nil).status == .ok)
        }
    }

    /// Empty, over-long or garbage Kith-* values are refused with 401.
    @Test func malformedSignatureHeadersAreRefused() async throws {
        try await withLiveRelay { url, client in
            let mailbox = Base64URL.encode(SigningKey().publicKey)
            let forged = Self.forgedHeaders(mailbox)
            for i in forged.indices {
                for value in ["", String(repeating: "A", count: 200), "%%%", "-1"] {
                    var headers = forged
                    headers[i].1 = value
                    let connection = try RawConnection(port: client.port!)
                    try await connection.send("GET", "/v1/mailboxes/\(mailbox)/envelopes", headers: headers)
                    #expect(try await connection.readStatus() == 401, "\(headers[i].0): \"\(value.prefix(10))\"")
                }
            }
            // Query values that do not fit their types are 400 once the request is authentic.
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            let base = "/v1/mailboxes/\(Base64URL.encode(bob.key.publicKey))/envelopes"
            for query in ["?limit=0", "?limit=-1", "?limit=99999999999999999999", "?after=-1", "?after=18446744073709551615", "?after=x", "?limit=%zz", "?after=%"] {
                let connection = try RawConnection(port: client.port!)
                try await connection.send("GET", base + query, headers: signedHeaders("GET", base + query, key: bob.key))
                #expect(try await connection.readStatus() == 400, "\(query)")
            }
        }
    }
}
