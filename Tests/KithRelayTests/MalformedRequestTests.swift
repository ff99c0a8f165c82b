import Foundation
import HTTPTypes
import HummingbirdTesting
import KithCrypto
import KithNode
import KithProtocol
import KithRelay
import NIOCore
import Testing

/// Every malformed request gets a 4xx with a JSON error body, never a 500.
@Suite struct MalformedRequestTests {
    @Test func everyMalformedRequestGetsA4xxWithAJSONError() async throws {
        try await withLiveRelay { url, client in
            let relay = RelayClient(baseURL: url)
            let bob = try await TestMailbox.make(relay)
            let mailbox = Base64URL.encode(bob.key.publicKey)
            let valid = DropRequest(targets: [bob.target], envelope: envelopeBytes()).bytes
            let ack = "/v1/mailboxes/\(mailbox)/ack"
            let cases: [(String, HTTPRequest.Method, String, [UInt8], [(String, String)])] = [
                ("garbage drop", .post, "/v1/envelopes", randomBytes(100), []),
                ("empty drop", .post, "/v1/envelopes", [], []),
                ("drop of another version", .post, "/v1/envelopes", [99] + valid.dropFirst(), []),
                ("truncated drop", .post, "/v1/envelopes", Array(valid.prefix(valid.count / 2)), []),
                ("drop with trailing bytes", .post, "/v1/envelopes", valid + [0], []),
                ("mailbox not base64", .put, "/v1/mailboxes/%%%", [], []),
                ("mailbox of the wrong length", .put, "/v1/mailboxes/AAAA", [], []),
                ("unsigned fetch", .get, "/v1/mailboxes/\(mailbox)/envelopes", [], []),
                ("garbage acknowledgement", .post, ack, randomBytes(7), signedHeaders("POST", ack, key: bob.key, body: randomBytes(7))),
                ("unknown route", .get, "/v2/anything", [], []),
                ("wrong method", .patch, "/v1/envelopes", [], []),
            ]
            for (what, method, uri, body, extra) in cases {
                var headers: HTTPFields = [.contentType: "application/octet-stream"]
                for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
                let (status, type, text) = try await client.execute(uri: uri, method: method, headers: headers, body: ByteBuffer(bytes: body)) {
                    ($0.status, $0.headers[.contentType] ?? "", String(buffer: $0.body))
                }
                #expect((400..<500).contains(status.code), "\(what): \(status)")
                let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
                #expect(type.hasPrefix("application/json") && (json?["error"] as? [String: Any])?["message"] != nil, "\(what): \(type) \(text.prefix(80))")
            }
        }
    }
}
