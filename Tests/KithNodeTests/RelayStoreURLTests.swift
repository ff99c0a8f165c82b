import Foundation
import KithDaemon
import KithRelayPostgres
import Testing

/// The relay's store URL and password file: what is accepted, and a clear
/// error for everything else.
@Suite struct RelayStoreURLTests {
    func postgres(_ text: String) throws -> PostgresStoreConfiguration {
        let parsed = try RelayStoreURL.parse(text)
        guard case .postgres(let configuration) = parsed else { throw NotPostgres() }
        return configuration
    }

    struct NotPostgres: Error {}

    func error(_ text: String) -> String {
        do { _ = try RelayStoreURL.parse(text); return "accepted" } catch { return error.description }
    }

    @Test func sqlitePaths() throws {
        #expect(try RelayStoreURL.parse("sqlite:/var/lib/kith/relay.sqlite") == .sqlite(path: "/var/lib/kith/relay.sqlite"))
        #expect(try RelayStoreURL.parse("sqlite:db/relay.sqlite") == .sqlite(path: "db/relay.sqlite"))
        #expect(error("sqlite:").contains("needs a path"))
    }

    @Test func postgresURLs() throws {
        let remote = try postgres("postgres://kith@db.example.org:6543/relay")
        #expect(remote == PostgresStoreConfiguration(host: "db.example.org", port: 6543, user: "kith", password: nil, database: "relay", tls: .require))
        // Loopback and sockets default to no TLS; sslmode overrides either way.
        #expect(try postgres("postgresql://kith@127.0.0.1/kith").tls == .disable)
        #expect(try postgres("postgres://kith@127.0.0.1/kith").port == 5432)
        #expect(try postgres("postgres://kith@localhost:5433/kith?sslmode=require").tls == .require)
        #expect(try postgres("postgres://kith@db.example.org/kith?sslmode=disable").tls == .disable)
        let v6 = try postgres("postgres://kith@[::1]:5433/kith")
        #expect(v6.host == "::1" && v6.port == 5433 && v6.tls == .disable)
        #expect(try postgres("postgres://kith@[2001:db8::1]/kith").tls == .require)
        let socket = try postgres("postgres://kith@/kith?host=/run/postgresql")
        #expect(socket.host == "/run/postgresql" && socket.tls == .disable && socket.port == 5432)
        #expect(try postgres("postgres://k%40th@127.0.0.1/my%20db") == PostgresStoreConfiguration(host: "127.0.0.1", user: "k@th", password: nil, database: "my db"))
    }

    @Test func badURLsSayWhatIsWrong() {
        #expect(error("mysql://kith@h/db").contains("unknown store \"mysql\""))
        #expect(error("/var/lib/relay.sqlite").contains("sqlite:PATH or postgres://"))
        #expect(error("postgres://kith:secret@h/db").contains("must not hold a password"))
        #expect(!error("postgres://kith:secret@h/db").contains("secret"))
        #expect(error("postgres://kith@h:0/db").contains("port must be a number from 1 to 65535"))
        #expect(error("postgres://kith@h:65536/db").contains("port"))
        #expect(error("postgres://kith@h:54x/db").contains("port"))
        #expect(error("postgres://kith@h:/db").contains("port"))
        #expect(error("postgres://kith@h:99999999999999999999/db").contains("port"))
        #expect(error("postgres://h:5432/db").contains("names no user"))
        #expect(error("postgres://@h/db").contains("names no user"))
        #expect(error("postgres://kith@h").contains("names no database"))
        #expect(error("postgres://kith@h/").contains("names no database"))
        #expect(error("postgres://kith@h/a/b").contains("must not contain"))
        #expect(error("postgres://kith@/db").contains("names no host"))
        #expect(error("postgres://kith@h_x/db").contains("not a host name"))
        #expect(error("postgres://kith@[::1/db").contains("\"]\""))
        #expect(error("postgres://kith@[nothing]/db").contains("not an IPv6 address"))
        #expect(error("postgres://kith@h/db?sslmode=verify-full").contains("unknown sslmode \"verify-full\""))
        #expect(error("postgres://kith@h/db?sslmode=").contains("has no value"))
        #expect(error("postgres://kith@h/db?sslmode=require&sslmode=disable").contains("twice"))
        #expect(error("postgres://kith@h/db?password=x").contains("unknown parameter \"password\""))
        #expect(error("postgres://kith@/db?host=run/pg").contains("absolute path"))
        #expect(error("postgres://kith@h/db?host=/run/pg").contains("both a host and a socket"))
        #expect(error("postgres://kith@/db?host=/run/pg&sslmode=require").contains("Unix socket"))
        #expect(error("postgres://kith@h/db#x").contains("fragment"))
        #expect(error("postgres://kith@h/%zz").contains("%-escape"))
        #expect(error("postgres://\(String(repeating: "u", count: 64))@h/db").contains("1 to 63 bytes"))
        #expect(error("postgres://kith@h/d\u{7}b").contains("control character"))
        #expect(error("postgres://kith@h/" + String(repeating: "d", count: 1100)).contains("longer than 1024"))
    }

    @Test func passwordFiles() throws {
        let dir = NSTemporaryDirectory() + "kith-store-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func file(_ name: String, _ text: String, mode: Int) -> String {
            let path = dir + "/" + name
            FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
            return path
        }
        func error(_ path: String) -> String {
            do { return try RelayStorePassword.read(flagFile: path, environment: [:], configFile: nil) ?? "none" } catch { return error.description }
        }
        let good = file("good", "s3cret pass\n", mode: 0o600)
        #expect(try RelayStorePassword.read(flagFile: good, environment: ["KITH_RELAY_STORE_PASSWORD": "env"], configFile: nil) == "s3cret pass")
        #expect(try RelayStorePassword.read(flagFile: file("crlf", "pw\r\n", mode: 0o400), environment: [:], configFile: nil) == "pw")
        // The flag's file, then the environment, then the config file's.
        #expect(try RelayStorePassword.read(flagFile: nil, environment: ["KITH_RELAY_STORE_PASSWORD": "env"], configFile: good) == "env")
        #expect(try RelayStorePassword.read(flagFile: nil, environment: [:], configFile: good) == "s3cret pass")
        #expect(try RelayStorePassword.read(flagFile: nil, environment: [:], configFile: nil) == nil)
        let shown = error(file("open", "pw", mode: 0o644))
        #expect(shown.contains("can be read by others (mode 644): chmod 600 it") && !shown.contains("pw\n"))
        #expect(error(file("group", "pw", mode: 0o640)).contains("can be read by others"))
        #expect(error(dir + "/missing").contains("cannot read the store password file"))
        #expect(error(dir).contains("not a regular file"))
        // A configuration holding the password never shows it.
        let configuration = PostgresStoreConfiguration(host: "db.example", user: "kith", password: "s3cret pass", database: "kith")
        #expect(!"\(configuration)".contains("s3cret") && !String(reflecting: configuration).contains("s3cret")
                && !"\([configuration])".contains("s3cret"))
        #expect("\(configuration)".contains("password: (redacted)"))
        // A symbolic link, even to a good file, is refused: what is checked is what is read.
        let link = dir + "/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: good)
        #expect(error(link).contains("is a symbolic link"))
        #expect(mkfifo(dir + "/fifo", 0o600) == 0)
        #expect(error(dir + "/fifo").contains("not a regular file"))
        #expect(error(file("empty", "\n", mode: 0o600)).contains("on one line"))
        #expect(error(file("lines", "a\nb\n", mode: 0o600)).contains("on one line"))
        #expect(error(file("long", String(repeating: "p", count: 2000), mode: 0o600)).contains("longer than 1024"))
        #expect(error(file("binary", "\u{0}x", mode: 0o600)).contains("on one line"))
    }
}
