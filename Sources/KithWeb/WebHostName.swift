import Foundation
import KithCrypto
import KithNode

/// The web app's own host name, `<20 hex digits>.localhost`: browsers
/// send every `*.localhost` name to the loopback address themselves,
/// without DNS. Cookies ignore ports, so on `127.0.0.1` the session cookie
/// would go to every server on any loopback port, another user's too; under
/// a name of its own it goes only where that name is typed. The name is 10
/// random bytes, made once and kept in the node directory (`web-host`,
/// 0600), so bookmarks keep working after a restart.
public enum WebHostName {
    public static let fileName = "web-host"

    /// The node's name, made now if it has none yet.
    public static func load(home: String) throws -> String {
        let path = URL(fileURLWithPath: home).standardizedFileURL.appendingPathComponent(fileName).path
        // Nothing there yet (a dangling link is replaced, never followed: the write renames over it).
        if access(path, F_OK) != 0, errno == ENOENT {
            let label = Hex.encode(randomBytes(10))
            try SecureFile.writeAtomically(Array((label + "\n").utf8), to: path)
            return label + ".localhost"
        }
        let bytes = try SecureFile.readPrivate(path, what: "the web app's host name", missingHint: nil)
        let label = bytes.last == 0x0A ? bytes.dropLast() : bytes[...]
        guard label.count == 20, label.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw NodeError("\(path) does not hold the web app's host name (20 lower-case hex digits and a newline)",
                            hint: "delete it and start the daemon again: it makes a new name (the old address stops working)")
        }
        return String(decoding: label, as: UTF8.self) + ".localhost"
    }
}
