import Foundation
import Testing

/// Files kith writes are private to their user, and kith refuses files that
/// other users could read or change. The tests run as root, which bypasses
/// permissions, so they look at mode bits, never at access(2).
@Suite(.serialized) struct FileModeTests {
    func mode(_ path: String) -> mode_t {
        var st = stat()
        #expect(stat(path, &st) == 0, "no \(path)")
        return st.st_mode & 0o7777
    }

    /// Every entry in `dir` that group or others can access at all.
    func exposed(in dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { mode(dir + "/" + $0) & 0o077 != 0 }
    }

    func expectRefusal(_ r: Output, _ message: String, hint: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status != 0, sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, sourceLocation: sourceLocation)
        #expect(r.stderr == "kith: error: \(message)\nkith: hint: \(hint)\n", sourceLocation: sourceLocation)
    }

    @Test func initMakesAnExistingDirectoryAndEveryFileInItPrivate() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let home = dir + "/alice"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: false)
        #expect(chmod(home, 0o755) == 0)
        // A stale WAL file someone left there must not end up in (or beside) the new database.
        #expect(FileManager.default.createFile(atPath: home + "/node.sqlite-wal", contents: Data(repeating: 7, count: 100)))
        #expect(chmod(home + "/node.sqlite-wal", 0o666) == 0)

        try kithOK(["init", "--home", home, "--name", "alice", "--relay", relay.url])
        #expect(mode(home) == 0o700)
        #expect(mode(home + "/node.sqlite") == 0o600)
        #expect(mode(home + "/keystore") == 0o600)
        #expect(try exposed(in: home).isEmpty)
        // After commands that write, with whatever WAL and shared-memory files SQLite leaves.
        try kithOK(["group", "create", "--home", home, "family"])
        try kithOK(["post", "--home", home, "--to", "family", "hello"])
        #expect(try exposed(in: home).isEmpty)
        #expect(try feed(home).map(\.text) == ["hello"])

        // The relay's directory and database, created by kith relay, are private too.
        #expect(mode(dir + "/relay") == 0o700)
        #expect(mode(dir + "/relay/relay.sqlite") == 0o600)
        #expect(try exposed(in: dir + "/relay").isEmpty)
        relay.stop()
    }

    @Test func initRefusesALinkWhereTheDatabaseGoes() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let home = dir + "/alice", elsewhere = dir + "/elsewhere.sqlite"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: false)
        #expect(symlink(elsewhere, home + "/node.sqlite") == 0)
        let r = try kith(["init", "--home", home, "--name", "alice", "--relay", "http://127.0.0.1:9"])
        #expect(r.status != 0)
        #expect(r.stderr.hasPrefix("kith: error: \(home)/node.sqlite is in the way\n"))
        #expect(!FileManager.default.fileExists(atPath: elsewhere))
        #expect(!FileManager.default.fileExists(atPath: home + "/keystore"))
    }

    /// Runs kith from a shell whose umask is 000, so any file or directory
    /// kith does not make private on purpose would be world-writable.
    func kithWithOpenUmask(_ args: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "umask 000 && exec \"$0\" \"$@\"", kithBinary] + args
        var environment = ProcessInfo.processInfo.environment
        environment["KITH_PASSPHRASE"] = "test passphrase"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test func whatKithCreatesIsPrivateWhateverTheUmask() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        // Intermediate directories are made by kith too.
        let home = dir + "/people/alice"
        #expect(try kithWithOpenUmask(["init", "--home", home, "--name", "alice", "--relay", relay.url]) == 0)
        #expect(try kithWithOpenUmask(["group", "create", "--home", home, "family"]) == 0)
        #expect(try kithWithOpenUmask(["post", "--home", home, "--to", "family", "hello"]) == 0)
        #expect(mode(dir + "/people") & 0o077 == 0)
        #expect(try exposed(in: home).isEmpty)
        #expect(try feed(home).map(\.text) == ["hello"])
        relay.stop()
    }

    @Test func aNodeDatabaseOthersCanReachIsRefused() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let home = dir + "/alice", database = dir + "/alice/node.sqlite"
        try kithOK(["init", "--home", home, "--name", "alice", "--relay", relay.url])
        relay.stop()

        #expect(chmod(database, 0o644) == 0)
        expectRefusal(try kith(["feed", "--home", home]), "\(database) is accessible by other users (mode 644)", hint: "run: chmod 600 \(database)")
        #expect(chmod(database, 0o620) == 0)
        expectRefusal(try kith(["group", "list", "--home", home]), "\(database) is accessible by other users (mode 620)", hint: "run: chmod 600 \(database)")
        #expect(chmod(database, 0o600) == 0)

        // A shared-memory file beside it counts as the database.
        let shm = database + "-shm"
        let hadShm = FileManager.default.fileExists(atPath: shm)
        if !hadShm { #expect(FileManager.default.createFile(atPath: shm, contents: nil)) }
        #expect(chmod(shm, 0o604) == 0)
        expectRefusal(try kith(["feed", "--home", home]), "\(shm) is accessible by other users (mode 604)", hint: "run: chmod 600 \(shm)")
        if hadShm { #expect(chmod(shm, 0o600) == 0) } else { #expect(unlink(shm) == 0) }

        // A directory others can write to: they could swap the files.
        #expect(chmod(home, 0o770) == 0)
        expectRefusal(try kith(["feed", "--home", home]), "\(home) is writable by other users (mode 770)", hint: "run: chmod 700 \(home)")
        #expect(chmod(home, 0o700) == 0)

        #expect(try kith(["feed", "--home", home]).status == 0)
    }

    @Test func aPassphraseFileMustBePrivateAndMine() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let home = dir + "/alice", file = dir + "/pass"
        try kithOK(["init", "--home", home, "--name", "alice", "--relay", relay.url], passphrase: "from a file")
        #expect(FileManager.default.createFile(atPath: file, contents: Data("from a file\n".utf8)))

        #expect(chmod(file, 0o644) == 0)
        let exposedFile = try kith(["card", "--home", home], passphrase: nil, env: ["KITH_PASSPHRASE_FILE": file])
        expectRefusal(exposedFile, "\(file) is accessible by other users (mode 644)", hint: "run: chmod 600 \(file)")
        #expect(chmod(file, 0o640) == 0)
        expectRefusal(try kith(["card", "--home", home], passphrase: nil, env: ["KITH_PASSPHRASE_FILE": file]),
                      "\(file) is accessible by other users (mode 640)", hint: "run: chmod 600 \(file)")

        #expect(chmod(file, 0o600) == 0)
        #expect(try kith(["card", "--home", home], passphrase: nil, env: ["KITH_PASSPHRASE_FILE": file]).status == 0)

        // A FIFO in its place cannot make kith wait for a writer that never comes.
        let fifo = dir + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let r = try kith(["card", "--home", home], passphrase: nil, env: ["KITH_PASSPHRASE_FILE": fifo])
        #expect(r.stderr.hasPrefix("kith: error: KITH_PASSPHRASE_FILE \(fifo) is not a regular file"), "\(r.stderr)")

        // Another user's file, however private, is refused: they chose the passphrase.
        if geteuid() == 0 {
            #expect(chown(file, 65534, 65534) == 0)
            let r = try kith(["card", "--home", home], passphrase: nil, env: ["KITH_PASSPHRASE_FILE": file])
            #expect(r.status != 0)
            #expect(r.stderr.hasPrefix("kith: error: \(file) is owned by another user (uid 65534)\n"))
        }
        relay.stop()
    }
}
