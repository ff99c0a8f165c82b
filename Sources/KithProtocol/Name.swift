import Foundation

/// The rule for names that travel on the wire (a card's display name, an
/// audience's name in a key message) and are shown to other people:
/// 1 to 64 bytes of UTF-8, with no code point of the Unicode general
/// categories Cc (controls, including C0, DEL and C1), Cf (format
/// characters, including the bidirectional overrides and isolates),
/// Zl (line separator) or Zp (paragraph separator). Such characters could
/// rewrite a terminal line or reorder what a reader sees.
public enum Name {
    public static let maxBytes = 64

    /// Throws `malformed` naming `field` unless `name` follows the rule.
    public static func check(_ name: String, field: String) throws {
        let n = name.utf8.count
        guard n >= 1, n <= maxBytes else { throw ProtocolError.malformed("\(field) must be 1 to \(maxBytes) bytes") }
        if let bad = name.unicodeScalars.first(where: isRefused) {
            throw ProtocolError.malformed("\(field) contains a control, format or separator character (U+\(hex(bad.value)))")
        }
    }

    /// True for a code point a name may not contain.
    public static func isRefused(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: true
        default: false
        }
    }

    static func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }
}

/// The rule for a relay URL in a card (and for `kith init --relay`, after
/// lower-casing the scheme and dropping trailing slashes): at most 512
/// bytes of printable ASCII (0x21 to 0x7E), `http://` or `https://` in
/// lower case, a host, an optional port of 1 to 65535, an optional path; no
/// user info (`@`), query (`?`), fragment (`#`), percent sign, backslash or
/// trailing `/`. The host is a DNS name (dot-separated labels of letters,
/// digits and hyphens, 1 to 63 bytes each, not starting or ending with a
/// hyphen, the last not starting with a digit), a dotted-quad IPv4 address
/// (four decimal numbers 0 to 255 without leading zeros), or an IPv6
/// address in brackets (no zone). So the host a client connects to is the
/// host as written: nothing is decoded or reinterpreted on the way.
public enum RelayURL {
    public static let maxBytes = 512

    /// The parts of a checked URL.
    public struct Parts: Equatable, Sendable {
        public let scheme: String
        /// As written: an IPv6 literal keeps its brackets.
        public let host: String
        public let port: Int?
        public let path: String
    }

    @discardableResult
    public static func check(_ url: String) throws -> Parts {
        let bytes = Array(url.utf8)
        guard !bytes.isEmpty, bytes.count <= maxBytes, bytes.allSatisfy({ (0x21...0x7e).contains($0) }) else {
            throw ProtocolError.malformed("relay URL must be 1 to \(maxBytes) bytes of printable ASCII")
        }
        let scheme: String
        if url.hasPrefix("http://") { scheme = "http" } else if url.hasPrefix("https://") { scheme = "https" } else {
            throw ProtocolError.malformed("relay URL must start with http:// or https://")
        }
        let rest = url.dropFirst(scheme.count + 3)
        guard !rest.contains(where: { "@?#%\\".contains($0) }), !url.hasSuffix("/") else {
            throw ProtocolError.malformed("relay URL must have no user info, query, fragment, percent sign or trailing slash")
        }
        let authority = rest.prefix { $0 != "/" }
        let path = String(rest.dropFirst(authority.count))
        var host = Substring(authority), port: Int? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw ProtocolError.malformed("relay URL has an unclosed IPv6 literal") }
            host = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw ProtocolError.malformed("relay URL has a bad port") }
                port = try parsePort(after.dropFirst())
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            port = try parsePort(authority[authority.index(after: colon)...])
        }
        guard isHost(host) else { throw ProtocolError.malformed("relay URL has no valid host (a DNS name, an IPv4 address, or an IPv6 address in brackets)") }
        return Parts(scheme: scheme, host: String(host), port: port, path: path)
    }

    /// A DNS name, a dotted-quad IPv4 address, or a bracketed IPv6 address
    /// (the two literals as `inet_pton` reads them, which takes no zone,
    /// no leading zeros and no shorthand such as `127.1`).
    static func isHost(_ host: Substring) -> Bool {
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else { return false }
            var address = in6_addr()
            return inet_pton(AF_INET6, String(host.dropFirst().dropLast()), &address) == 1
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard let first = labels.last?.first else { return false }
        if first.isASCII && first.isNumber {
            var address = in_addr()
            return inet_pton(AF_INET, String(host), &address) == 1
        }
        return labels.allSatisfy { label in
            (1...63).contains(label.count) && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    private static func parsePort(_ text: Substring) throws -> Int {
        guard (1...5).contains(text.count), text.allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(text), (1...65535).contains(p) else {
            throw ProtocolError.malformed("relay URL has a bad port")
        }
        return p
    }
}
