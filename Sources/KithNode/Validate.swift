import Foundation
import KithProtocol

/// Checks on user input that the wire formats also enforce.
enum Validate {
    static func name(_ name: String, what: String) throws {
        let n = name.utf8.count
        guard n >= 1, n <= 64 else { throw NodeError("\(what) must be 1 to 64 bytes") }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw NodeError("\(what) must not contain control characters")
        }
        guard name.trimmingCharacters(in: .whitespaces) == name else { throw NodeError("\(what) must not start or end with spaces") }
    }

    /// An http or https URL with a host, without a trailing slash.
    static func relayURL(_ text: String) throws -> String {
        var s = text
        while s.hasSuffix("/") { s.removeLast() }
        guard let url = URL(string: s), let scheme = url.scheme, ["http", "https"].contains(scheme.lowercased()),
              let host = url.host, !host.isEmpty, url.query == nil, url.fragment == nil, s.utf8.count <= ContactCard.maxURLBytes
        else { throw NodeError("not a relay URL: \"\(text)\"", hint: "a relay URL looks like http://127.0.0.1:8080") }
        return s
    }
}
