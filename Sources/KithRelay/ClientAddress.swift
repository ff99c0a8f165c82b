import Foundation
import HTTPTypes

/// Who a request comes from, for the limits that count per client: the
/// connecting address, or, when that address is a reverse proxy the operator
/// trusts (`relay.trusted_proxies`), the last address the proxy added to
/// `X-Forwarded-For`. Anyone else's `X-Forwarded-For` is ignored.
enum ClientAddress {
    /// An IP address's bytes: 4 for IPv4 (also when mapped into IPv6), 16 for IPv6; nil if `text` is not one.
    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff { return Array(bytes[12...]) }
        return bytes
    }

    /// The client's address for a request that arrived from `remote`.
    static func of(remote: String, headers: HTTPFields, trustedProxies: Set<[UInt8]>) -> String {
        guard !trustedProxies.isEmpty, let proxy = bytes(remote), trustedProxies.contains(proxy),
              let forwarded = headers[values: .xForwardedFor].last,
              let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), bytes(last) != nil
        else { return remote }
        return last
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
