import Foundation
import KithRelayPostgres
import Testing

/// What the tests of relay processes on PostgreSQL start: nginx in front of
/// them, the `relay` config section that points one at a database, a
/// cluster of its own for a test that stops it, and `kith` runs.

/// A port nothing listens on now (the kernel's pick, released at once).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw RawConnection.Failure("socket: \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw RawConnection.Failure("bind: \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A temporary directory of the test's own.
func scratchDirectory(_ name: String) throws -> String {
    let path = NSTemporaryDirectory() + "kith-\(name)-" + UUID().uuidString.prefix(8)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Runs a program to its end; its status and both outputs.
@discardableResult
func runProgram(_ program: String, _ arguments: [String], env: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let errData = ErrBox()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { errData.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData.data, as: UTF8.self))
}

private final class ErrBox: @unchecked Sendable { var data = Data() }

/// Runs `kith` (a node's commands, with a passphrase) and requires success; its output without the last newline.
@discardableResult
func kithOK(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let result = try runProgram(RelayProcess.binary, arguments, env: ["KITH_PASSPHRASE": "test passphrase"])
    #expect(result.status == 0, "kith \(arguments.prefix(2).joined(separator: " ")) failed: \(result.stderr)", sourceLocation: sourceLocation)
    return result.stdout.trimmingCharacters(in: .newlines)
}

/// The `relay` config section entries that keep a relay's mailboxes in a
/// PostgreSQL database: its URL, and its password in an owner-only file in `dir`.
func postgresStore(_ database: PostgresStoreConfiguration, passwordIn dir: String) throws -> [String: any Sendable] {
    var entries: [String: any Sendable] = ["store": "postgres://\(database.user)@\(database.host):\(database.port)/\(database.database)"]
    if let password = database.password {
        let path = dir + "/store-password"
        guard FileManager.default.createFile(atPath: path, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw RawConnection.Failure("cannot write \(path)")
        }
        entries["store_password_file"] = path
    }
    return entries
}

/// nginx (Debian's) in front of relay processes, as a real process on a
/// free loopback port: config/nginx-kith-relay.conf itself, with its two
/// upstream addresses and its listen address replaced, included in a main
/// config that keeps nginx's pid, logs and temporary files in a directory
/// of its own.
final class Balancer: @unchecked Sendable {
    let process = Process()
    let dir: String
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }

    static let template = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config/nginx-kith-relay.conf").path

    init(upstreams: [Int]) throws {
        precondition(upstreams.count == 2, "the example config names two relay processes")
        dir = try scratchDirectory("nginx")
        port = try freePort()
        var site = try String(contentsOfFile: Self.template, encoding: .utf8)
        for (example, port) in zip(["127.0.0.1:8081", "127.0.0.1:8082"], upstreams) {
            #expect(site.contains("server \(example) "), "the example config's upstream \(example) is gone")
            site = site.replacingOccurrences(of: "server \(example) ", with: "server 127.0.0.1:\(port) ")
        }
        #expect(site.contains("listen 127.0.0.1:8080;"))
        site = site.replacingOccurrences(of: "listen 127.0.0.1:8080;", with: "listen 127.0.0.1:\(port);")
        try site.write(toFile: dir + "/kith-relay.conf", atomically: true, encoding: .utf8)
        let temporary = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map { "\($0)_temp_path \(dir)/\($0);" }.joined(separator: "\n    ")
        let main = """
            \(geteuid() == 0 ? "user root;" : "")
            worker_processes 2;
            pid \(dir)/nginx.pid;
            error_log \(dir)/error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                \(temporary)
                include \(dir)/kith-relay.conf;
            }
            """
        try main.write(toFile: dir + "/nginx.conf", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") ? "/usr/sbin/nginx" : "/usr/bin/nginx")
        process.arguments = ["-c", dir + "/nginx.conf", "-p", dir, "-e", dir + "/error.log", "-g", "daemon off;"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Ready once it accepts connections.
        for _ in 0..<300 {
            if (try? RawConnection(port: port)) != nil { return }
            guard process.isRunning else { break }
            usleep(100_000)
        }
        let log = (try? String(contentsOfFile: dir + "/error.log", encoding: .utf8)) ?? ""
        stop()
        throw RawConnection.Failure("nginx did not start: \(log)")
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    deinit { stop() }
}

/// A PostgreSQL server of one test's own (initdb in a temporary directory,
/// trust on loopback, fsync on), for a test that stops and starts it; run
/// as the `postgres` user when the tests run as root.
final class OwnPostgres: @unchecked Sendable {
    let dir: String
    let port: Int
    let bindir: String
    /// Its database `kith`, as user postgres (no password: trust).
    var configuration: PostgresStoreConfiguration {
        PostgresStoreConfiguration(host: "127.0.0.1", port: port, user: "postgres", password: nil, database: "kith")
    }

    init() throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        let newestFirst = versions.sorted(by: { $0.compare($1, options: .numeric) == .orderedDescending })
        guard let bindir = newestFirst.map({ "/usr/lib/postgresql/\($0)/bin" })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }) else {
            throw RawConnection.Failure("no PostgreSQL server in /usr/lib/postgresql: install Debian's postgresql package")
        }
        self.bindir = bindir
        dir = try scratchDirectory("postgres")
        port = try freePort()
        try FileManager.default.createDirectory(atPath: dir + "/socket", withIntermediateDirectories: true)
        if geteuid() == 0 { try check(runProgram("/usr/bin/chown", ["-R", "postgres:", dir]), "chown") }
        try check(asOwner("initdb", ["-D", dir + "/data", "-U", "postgres", "-E", "UTF8", "--auth=trust", "--no-instructions"]), "initdb")
        try start()
        try check(asOwner("psql", ["-X", "-q", "-h", dir + "/socket", "-p", "\(port)", "-U", "postgres", "-d", "postgres",
                                   "-c", "CREATE DATABASE kith"]), "psql")
    }

    /// The server as a child process in the foreground (pg_ctl's daemon would
    /// inherit what Foundation watches for its child's end), ready once
    /// pg_isready says so.
    private var server: Process?

    func start() throws {
        let process = Process()
        let arguments = [bindir + "/postgres", "-D", dir + "/data", "-c", "listen_addresses=127.0.0.1", "-c", "port=\(port)",
                         "-c", "unix_socket_directories=\(dir)/socket", "-c", "fsync=on"]
        process.executableURL = URL(fileURLWithPath: geteuid() == 0 ? "/usr/sbin/runuser" : arguments[0])
        process.arguments = geteuid() == 0 ? ["-u", "postgres", "--"] + arguments : Array(arguments.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        server = process
        for _ in 0..<600 {
            if try runProgram(bindir + "/pg_isready", ["-q", "-h", "127.0.0.1", "-p", "\(port)"]).status == 0 { return }
            guard process.isRunning else { break }
            usleep(100_000)
        }
        throw RawConnection.Failure("the PostgreSQL server did not start")
    }

    /// Stops the server at once (SIGQUIT, its immediate shutdown), as a crash would.
    func stop() throws {
        guard let server else { return }
        let pidLine = (try? String(contentsOfFile: dir + "/data/postmaster.pid", encoding: .utf8))?.split(separator: "\n").first
        guard let pid = pidLine.flatMap({ Int32($0) }), pid > 0 else { throw RawConnection.Failure("no postmaster.pid") }
        kill(pid, SIGQUIT)
        server.waitUntilExit()
        self.server = nil
    }

    private func asOwner(_ program: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        geteuid() == 0 ? try runProgram("/usr/sbin/runuser", ["-u", "postgres", "--", bindir + "/" + program] + arguments)
                       : try runProgram(bindir + "/" + program, arguments)
    }

    private func check(_ result: (status: Int32, stdout: String, stderr: String), _ what: String) throws {
        guard result.status == 0 else { throw RawConnection.Failure("\(what) failed: \(result.stderr)") }
    }

    deinit {
        try? stop()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
