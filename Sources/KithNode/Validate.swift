import Foundation
import KithProtocol

/// Checks on user input that the wire formats also enforce.
enum Validate {
    static func name(_ name: String, what: String) throws {
        do { try Name.check(name, field: what) } catch let error as ProtocolError { throw NodeError(error.detail) }
        guard name.trimmingCharacters(in: .whitespaces) == name else { throw NodeError("\(what) must not start or end with spaces") }
    }

    /// A relay URL as typed: the scheme is lower-cased and trailing slashes
    /// dropped, then it must follow the protocol's rule for relay URLs.
    static func relayURL(_ text: String) throws -> String {
        var s = text
        while s.hasSuffix("/") { s.removeLast() }
        if let colon = s.range(of: "://") { s = s[..<colon.lowerBound].lowercased() + s[colon.lowerBound...] }
        do { try RelayURL.check(s) } catch {
            throw NodeError("not a relay URL: \"\(text)\"", hint: "a relay URL looks like http://127.0.0.1:8080 or https://relay.example")
        }
        return s
    }

    /// Whether a relay URL points into the machine or its local network: a
    /// loopback, private, link-local, site-local, shared (CGNAT), benchmarking,
    /// multicast, reserved or unspecified IP literal, or a `localhost` name. The protocol's URL rule leaves only
    /// plain DNS names and exact IP literals, so the host checked here is the
    /// host the client connects to. Host names are not resolved here.
    static func isLocalNetwork(relay url: String) -> Bool {
        guard let parts = try? RelayURL.check(url) else { return true }
        var host = parts.host.lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return isLocal(ipv4: UInt32(bigEndian: v4.s_addr)) }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let b = withUnsafeBytes(of: v6) { Array($0) }
            let v4Tail = UInt32(b[12]) << 24 | UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15])
            if b[0..<15].allSatisfy({ $0 == 0 }) { return b[15] <= 1 }                          // :: and ::1
            if b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xff, b[11] == 0xff { return isLocal(ipv4: v4Tail) }  // ::ffff:a.b.c.d
            if b[0..<12].allSatisfy({ $0 == 0 }) { return isLocal(ipv4: v4Tail) }               // ::a.b.c.d (deprecated)
            if b[0] == 0x00, b[1] == 0x64, b[2] == 0xff, b[3] == 0x9b, b[4..<12].allSatisfy({ $0 == 0 }) {
                return isLocal(ipv4: v4Tail)                                                     // 64:ff9b::/96 (NAT64)
            }
            if b[0] == 0x20, b[1] == 0x02 {                                                      // 2002::/16 (6to4)
                return isLocal(ipv4: UInt32(b[2]) << 24 | UInt32(b[3]) << 16 | UInt32(b[4]) << 8 | UInt32(b[5]))
            }
            return b[0] & 0xfe == 0xfc || (b[0] == 0xfe && b[1] & 0xc0 == 0x80)                  // fc00::/7, fe80::/10
                || (b[0] == 0xfe && b[1] & 0xc0 == 0xc0) || b[0] == 0xff                         // fec0::/10, ff00::/8
        }
        return false
    }

    private static func isLocal(ipv4 a: UInt32) -> Bool {
        let ranges: [(UInt32, UInt32)] = [
            (0x0000_0000, 8), (0x0A00_0000, 8), (0x6440_0000, 10), (0x7F00_0000, 8),
            (0xA9FE_0000, 16), (0xAC10_0000, 12), (0xC0A8_0000, 16), (0xC612_0000, 15),
            (0xE000_0000, 4), (0xF000_0000, 4),                                                    // multicast, reserved
        ]
        return ranges.contains { base, bits in a >> (32 - bits) == base >> (32 - bits) }
    }
}
