import Foundation
import Testing

/// `kith key backup` and `kith init --restore` through the binary.
@Suite(.serialized) struct BackupTests {
    @Test func aRestoredNodeGoesOnWhereTheOldOneStopped() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let alice = dir + "/alice", bob = dir + "/bob", restored = dir + "/new-machine/alice"
        for (name, home) in [("alice", alice), ("bob", bob)] { try kithOK(["init", "--home", home, "--name", name, "--relay", relay.url]) }
        try kithOK(["friend", "add", "--home", bob, try kithOK(["card", "--home", alice, "--for", "bob"])])
        try kithOK(["friend", "add", "--home", alice, try kithOK(["card", "--home", bob])])
        try kithOK(["group", "create", "--home", alice, "family"])
        try kithOK(["group", "add", "--home", alice, "family", "bob"])
        try kithOK(["group", "create", "--home", bob, "bobs"])
        try kithOK(["group", "add", "--home", bob, "bobs", "alice"])
        try kithOK(["post", "--home", alice, "--to", "family", "before the backup"])
        for home in [alice, bob] { try kithOK(["sync", "--home", home]) }

        let file = dir + "/alice.kithbackup"
        let backupEnv = ["KITH_BACKUP_PASSPHRASE": "a long backup passphrase"]
        let made = try kith(["key", "backup", "--home", alice, "--out", file], env: backupEnv)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stderr.contains("deriving the backup key"))
        var st = stat()
        #expect(stat(file, &st) == 0 && st.st_mode & 0o777 == 0o600)
        // The backup is encrypted: neither the post nor a friend's name shows in it.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(bytes.range(of: Data("before the backup".utf8)) == nil && bytes.range(of: Data("family".utf8)) == nil)

        // The old machine is gone; friends go on posting meanwhile.
        try FileManager.default.removeItem(atPath: alice)
        try kithOK(["post", "--home", bob, "--to", "bobs", "while alice was away"])
        try kithOK(["sync", "--home", bob])

        // Wrong passphrase, a newer format, a cut or altered file: a clear error, and nothing is created.
        var cut = bytes; cut.removeLast(100)
        var altered = bytes; altered[altered.count / 2] ^= 1
        var newer = bytes; newer[8] = 2
        for (content, passphrase, message) in [(bytes, "not the passphrase", "wrong backup passphrase, or the file was altered"),
                                               (cut, "a long backup passphrase", "wrong backup passphrase, or the file was altered"),
                                               (altered, "a long backup passphrase", "wrong backup passphrase, or the file was altered"),
                                               (newer, "a long backup passphrase", "format version 2 is newer than this kith knows"),
                                               (Data("hello".utf8), "a long backup passphrase", "not a Kith backup")] {
            let bad = dir + "/bad.kithbackup"
            try content.write(to: URL(fileURLWithPath: bad))
            let r = try kith(["init", "--home", restored, "--restore", bad], env: ["KITH_BACKUP_PASSPHRASE": passphrase])
            #expect(r.status == 1 && r.stderr.contains("kith: error: ") && r.stderr.contains(message), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: restored))
        }

        let back = try kith(["init", "--home", restored, "--restore", file], env: backupEnv)
        #expect(back.status == 0, "\(back.stderr)")
        #expect(back.stdout.hasPrefix("alice  "))
        #expect(try feed(restored).map(\.text) == ["before the backup"])
        // What bob sent meanwhile arrives; what the restored node posts reaches bob, who noticed nothing.
        try kithOK(["sync", "--home", restored])
        #expect(try feed(restored).map(\.text).contains("while alice was away"))
        try kithOK(["post", "--home", restored, "--to", "family", "after the restore"])
        try kithOK(["sync", "--home", restored])
        try kithOK(["sync", "--home", bob])
        #expect(try feed(bob).map(\.text).contains("after the restore"))
        // Restoring again over a node is refused.
        #expect(try kith(["init", "--home", restored, "--restore", file], env: backupEnv).stderr.contains("already holds a Kith node"))
        relay.stop()
    }
}
