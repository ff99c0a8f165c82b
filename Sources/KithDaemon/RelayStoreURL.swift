import Foundation
import Glibc
// `struct stat` comes from the system's header, which NIO's C module includes
// too: depending on the order a build reads them, its members count as that
// module's, and MemberImportVisibility then wants it imported.
#if canImport(CNIOLinux)
import CNIOLinux
#endif
import KithRelay
import KithRelayPostgres

/// Where a relay keeps its mailboxes, from `kith relay --store URL`,
/// KITH_RELAY_STORE or the config file's `relay.store`:
///
/// - nothing: the embedded SQLite database, RDIR/relay.sqlite;
/// - `sqlite:PATH`: an SQLite database at PATH (relative to the relay's
///   directory unless absolute);
/// - `postgres://USER@HOST:PORT/DB` (or `postgresql://`): a PostgreSQL
///   database shared by any number of relay processes. `:PORT` is optional
///   (5432); `?sslmode=disable` or `?sslmode=require` (TLS with the server's
///   certificate and name verified against the system's roots) overrides
///   the default, which is disable for a loopback address or a Unix socket
///   and require otherwise; `?host=/DIR` connects through the server's Unix
///   socket in DIR instead of TCP (HOST is then left empty). The password
///   never goes in the URL: it comes from KITH_RELAY_STORE_PASSWORD or a
///   file only its owner can read (`--store-password-file`,
///   `relay.store_password_file`).
public enum RelayStoreURL: Equatable, Sendable {
    case sqlite(path: String)
    /// Its `password` is nil: `RelayStorePassword` reads it.
    case postgres(PostgresStoreConfiguration)

    /// The default, RDIR/relay.sqlite.
    public static let embedded = RelayStoreURL.sqlite(path: "relay.sqlite")

    /// Parses a store URL; an error names what is wrong with it without
    /// repeating the URL (which could hold a password).
    public static func parse(_ text: String) throws(Invalid) -> RelayStoreURL {
        guard text.utf8.count <= 1024 else { throw Invalid("the store URL is longer than 1024 bytes") }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Invalid("the store URL contains a control character")
        }
        if text.hasPrefix("sqlite:") {
            let path = String(text.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw Invalid("sqlite: needs a path, e.g. sqlite:/var/lib/kith/relay.sqlite") }
            return .sqlite(path: path)
        }
        guard let scheme = ["postgres://", "postgresql://"].first(where: text.hasPrefix) else {
            let shown = text.prefix { $0 != ":" && $0 != "/" }.prefix(20)
            throw Invalid("unknown store \"\(shown)\": a store URL is sqlite:PATH or postgres://USER@HOST:PORT/DB")
        }
        return .postgres(try postgres(String(text.dropFirst(scheme.count))))
    }

    /// USER@HOST:PORT/DB?PARAMETERS, after the scheme.
    private static func postgres(_ rest: String) throws(Invalid) -> PostgresStoreConfiguration {
        guard !rest.contains("#") else { throw Invalid("a postgres:// store URL takes no #fragment") }
        let (beforeQuery, query) = split(rest, at: "?")
        guard let slash = beforeQuery.firstIndex(of: "/") else {
            throw Invalid("the store URL names no database: postgres://USER@HOST:PORT/DB")
        }
        let authority = beforeQuery[..<slash], path = beforeQuery[beforeQuery.index(after: slash)...]
        guard let at = authority.lastIndex(of: "@") else {
            throw Invalid("the store URL names no user: postgres://USER@HOST:PORT/DB")
        }
        let userInfo = authority[..<at], hostPort = authority[authority.index(after: at)...]
        guard !userInfo.contains(":") else {
            throw Invalid("the store URL must not hold a password: give it in KITH_RELAY_STORE_PASSWORD or a file (--store-password-file)")
        }
        let user = try name(userInfo, "user")
        guard !path.contains("/") else { throw Invalid("the database name in the store URL must not contain \"/\"") }
        let database = try name(path, "database")

        var sslmode: String?, socketDirectory: String?
        for item in query?.split(separator: "&", omittingEmptySubsequences: false) ?? [] {
            let (key, value) = split(String(item), at: "=")
            guard let value, let decoded = value.removingPercentEncoding, !decoded.isEmpty else {
                throw Invalid("the store URL's parameter \"\(key.prefix(20))\" has no value")
            }
            switch key {
            case "sslmode":
                guard sslmode == nil else { throw Invalid("the store URL gives sslmode twice") }
                guard decoded == "disable" || decoded == "require" else {
                    throw Invalid("unknown sslmode \"\(decoded.prefix(20))\" in the store URL: it is disable or require (TLS with the server's certificate verified)")
                }
                sslmode = decoded
            case "host":
                guard socketDirectory == nil else { throw Invalid("the store URL gives host twice") }
                guard decoded.hasPrefix("/") else { throw Invalid("the store URL's host parameter must be the absolute path of the server's socket directory") }
                socketDirectory = decoded
            default:
                throw Invalid("unknown parameter \"\(key.prefix(20))\" in the store URL: it takes sslmode and host")
            }
        }

        var host = "", port = 5432
        if !hostPort.isEmpty {
            let portText: Substring?
            if hostPort.hasPrefix("[") {
                guard let close = hostPort.firstIndex(of: "]") else { throw Invalid("the store URL's IPv6 address lacks its \"]\"") }
                host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
                guard isAddress(host, family: AF_INET6) else { throw Invalid("the store URL's host is not an IPv6 address") }
                let after = hostPort[hostPort.index(after: close)...]
                guard after.isEmpty || after.hasPrefix(":") else { throw Invalid("the store URL's host must be followed by :PORT or /DB") }
                portText = after.isEmpty ? nil : after.dropFirst()
            } else {
                let parts = hostPort.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                host = String(parts[0])
                portText = parts.count == 2 ? parts[1] : nil
                guard (1...253).contains(host.utf8.count),
                      host.utf8.allSatisfy({ $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0)
                          || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) }) else {
                    throw Invalid("the store URL's host is not a host name or address")
                }
            }
            if let portText {
                guard portText.utf8.count <= 5, portText.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let n = Int(portText), (1...65535).contains(n) else {
                    throw Invalid("the store URL's port must be a number from 1 to 65535")
                }
                port = n
            }
        }
        if let socketDirectory {
            guard host.isEmpty else { throw Invalid("the store URL gives both a host and a socket directory (?host=): give one") }
            host = socketDirectory
        }
        guard !host.isEmpty else { throw Invalid("the store URL names no host: postgres://USER@HOST:PORT/DB, or postgres://USER@/DB?host=/SOCKET/DIR") }
        let local = socketDirectory != nil || isLoopback(host)
        if socketDirectory != nil, sslmode == "require" { throw Invalid("sslmode=require does not apply to a Unix socket") }
        let tls: PostgresStoreConfiguration.TLS = (sslmode ?? (local ? "disable" : "require")) == "require" ? .require : .disable
        return PostgresStoreConfiguration(host: host, port: port, user: user, password: nil, database: database, tls: tls)
    }

    /// A user or database name: percent-decoded, 1 to 63 bytes (PostgreSQL's limit), no NUL.
    private static func name(_ text: Substring, _ what: String) throws(Invalid) -> String {
        guard !text.isEmpty else { throw Invalid("the store URL names no \(what): postgres://USER@HOST:PORT/DB") }
        guard let decoded = text.removingPercentEncoding else { throw Invalid("the \(what) in the store URL has a bad %-escape") }
        guard (1...63).contains(decoded.utf8.count), !decoded.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Invalid("the \(what) name in the store URL must be 1 to 63 bytes without control characters")
        }
        return decoded
    }

    private static func split(_ text: String, at separator: Character) -> (String, String?) {
        guard let i = text.firstIndex(of: separator) else { return (text, nil) }
        return (String(text[..<i]), String(text[text.index(after: i)...]))
    }

    private static func isAddress(_ text: String, family: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(family, text, &buffer) == 1
    }

    /// localhost, 127.0.0.0/8 or ::1: TLS is off by default there.
    private static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || (host.hasPrefix("127.") && isAddress(host, family: AF_INET))
    }

    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}

/// The PostgreSQL store's password: from the file named by
/// `--store-password-file`, else KITH_RELAY_STORE_PASSWORD, else the file
/// named by `relay.store_password_file`; never from the command line. A
/// password file must belong to the user running the relay and be readable
/// by nobody else.
public enum RelayStorePassword {
    /// The most a password file may hold.
    static let maxBytes = 1024

    public static func read(flagFile: String?, environment: [String: String], configFile: String?) throws(RelayStoreURL.Invalid) -> String? {
        if let flagFile { return try read(file: flagFile) }
        if let value = environment["KITH_RELAY_STORE_PASSWORD"], !value.isEmpty { return value }
        if let configFile { return try read(file: configFile) }
        return nil
    }

    /// The file's content without one trailing newline, checked. The file
    /// is opened first and what is checked is what was opened (a symbolic
    /// link is refused), so that it cannot be swapped between the checks and
    /// the reading.
    static func read(file path: String) throws(RelayStoreURL.Invalid) -> String {
        var info = stat()
        // Non-blocking, so that a FIFO does not hang the open; it is then refused as not a regular file.
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            if errno == ELOOP { throw RelayStoreURL.Invalid("the store password file \(path) is a symbolic link: name the file itself") }
            throw RelayStoreURL.Invalid("cannot read the store password file \(path): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        defer { try? handle.close() }
        guard fstat(fd, &info) == 0 else {
            throw RelayStoreURL.Invalid("cannot read the store password file \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw RelayStoreURL.Invalid("the store password file \(path) is not a regular file") }
        guard info.st_uid == geteuid() else {
            throw RelayStoreURL.Invalid("the store password file \(path) belongs to another user: it must be the relay's own")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw RelayStoreURL.Invalid("the store password file \(path) can be read by others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600 it")
        }
        guard info.st_size <= maxBytes else {
            throw RelayStoreURL.Invalid("the store password file \(path) is not readable or longer than \(maxBytes) bytes")
        }
        var bytes = [UInt8]((try? handle.read(upToCount: maxBytes + 1)) ?? Data())
        defer { for i in bytes.indices { bytes[i] = 0 } }
        if bytes.last == 0x0a { bytes.removeLast() }
        if bytes.last == 0x0d { bytes.removeLast() }
        guard bytes.count <= maxBytes, !bytes.isEmpty, !bytes.contains(where: { $0 == 0x0a || $0 == 0x0d || $0 == 0 }),
              let text = String(validating: bytes, as: UTF8.self) else {
            throw RelayStoreURL.Invalid("the store password file \(path) must hold the password on one line, as UTF-8 text of at most \(maxBytes) bytes")
        }
        return text
    }
}
