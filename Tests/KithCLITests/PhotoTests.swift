import Foundation
import Testing

/// An attachment as `kith feed --json` gives it.
struct AttachmentJSON: Decodable, Equatable {
    let kind: String
    let name: String
    let media_type: String
    let size: UInt64
    let width: Int
    let height: Int
    let fetched: Bool
    let thumbnail_fetched: Bool
    let damaged: String?
}

/// A post with its attachments and its comments' (`kith feed --json`).
struct PostWithAttachments: Decodable {
    struct Comment: Decodable { let id: String; let text: String; let attachments: [AttachmentJSON] }
    let id: String
    let text: String
    let attachments: [AttachmentJSON]
    let comments: [Comment]
}

/// A direct message as `kith chat --json` gives it.
struct ChatMessageJSON: Decodable { let id: String; let text: String; let attachments: [AttachmentJSON] }

/// The photo the tests post: a real JPEG with GPS tags, from KithImage's test fixtures.
let gpsPhoto = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("KithImageTests/Fixtures/phone.jpg").path

/// Whether `data` holds `needle` anywhere.
func contains(_ data: Data, _ needle: Data) -> Bool { !needle.isEmpty && data.range(of: needle) != nil }

/// Every regular file under `dir`, recursively, with its bytes.
func allFiles(under dir: String) -> [(path: String, data: Data)] {
    guard let walker = FileManager.default.enumerator(atPath: dir) else { return [] }
    return walker.compactMap { name in
        let path = dir + "/" + (name as! String)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { return nil }
        return FileManager.default.contents(atPath: path).map { (path, $0) }
    }
}

/// Runs exiftool (installed on the test machines) and returns its output.
func exiftool(_ args: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/exiftool")
    process.arguments = args
    let out = Pipe()
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

/// Runs one SQL statement on a SQLite database with the sqlite3 shell.
func sqlite(_ database: String, _ sql: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    process.arguments = [database, sql]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "sqlite3 \(sql)")
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Photos and files through the binary, with a real relay.
@Suite(.serialized) struct PhotoTests {
    func sync(_ homes: String..., extra: [String] = []) throws { for home in homes { _ = try kith(["sync", "--home", home] + extra) } }

    /// alice posts a photo with GPS tags to bob, carol and dave: each gets
    /// the very bytes alice's node prepared, without the GPS tags; erin, a
    /// friend outside the audience, given the relay's files, has nothing of it.
    @Test func aPhotoReachesThreeMembersIdenticalWithoutItsLocation() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob", "carol", "dave", "erin"], in: dir, relayURL: relay.url)
        let alice = homes[0], members = Array(homes[1...3]), erin = homes[4]
        for friend in members + [erin] { try befriend(alice, friend) }
        try kithOK(["group", "create", "--home", alice, "family"])
        for name in ["bob", "carol", "dave"] { try kithOK(["group", "add", "--home", alice, "family", name]) }
        let original = try #require(FileManager.default.contents(atPath: gpsPhoto))
        #expect(try exiftool(["-n", "-GPSLatitude", gpsPhoto]).contains("GPS Latitude"), "the fixture carries GPS tags")
        let photo = dir + "/IMG_1234.jpg"
        try original.write(to: URL(fileURLWithPath: photo))

        let posted = try kith(["post", "--home", alice, "--to", "family", "--photo", photo, "the beach"])
        #expect(posted.status == 0, "\(posted.stderr)")
        #expect(posted.stderr.contains("kith: photo 1 (IMG_1234.jpg): removed ") && posted.stderr.contains("GPS"), "\(posted.stderr)")
        let id = posted.stdout.trimmingCharacters(in: .newlines)
        let uploaded = try kith(["sync", "--home", alice])
        #expect(uploaded.status == 0 && uploaded.stderr.contains("uploading"), "\(uploaded.stderr)")

        // The author saves what her node prepared: the photo every member must receive.
        let prepared = dir + "/prepared.jpg"
        try kithOK(["photo", "get", "--home", alice, id, "1", "--out", prepared])
        let stripped = try #require(FileManager.default.contents(atPath: prepared))
        #expect(stripped != original)
        for (index, home) in members.enumerated() {
            try sync(home)
            let item = try #require(try feedPosts(home, as: PostWithAttachments.self).first)
            #expect(item.text == "the beach")
            let attachment = try #require(item.attachments.first)
            #expect(attachment.kind == "photo" && attachment.name == "IMG_1234.jpg" && attachment.media_type == "image/jpeg")
            #expect(attachment.fetched && attachment.thumbnail_fetched && attachment.damaged == nil && attachment.size == UInt64(stripped.count))
            let out = dir + "/received-\(index).jpg"
            let got = try kith(["photo", "get", "--home", home, id, "--out", out])
            #expect(got.status == 0, "\(got.stderr)")
            #expect(FileManager.default.contents(atPath: out) == stripped, "\(home) received the prepared photo byte for byte")
            #expect(try exiftool(["-gps:all", out]).isEmpty, "no GPS tag is left")
            #expect(!(try exiftool(["-n", "-GPSLatitude", "-GPSLongitude", out]).contains("GPS")))
            // Saving again does not overwrite the file without --force.
            #expect(try kith(["photo", "get", "--home", home, id, "--out", out]).stderr.contains("exists"))
            try kithOK(["photo", "get", "--home", home, id, "1", "--out", out, "--force", "--thumbnail"])
            #expect(FileManager.default.contents(atPath: out).map { $0.count < stripped.count } == true, "the thumbnail is smaller")
        }
        #expect(try exiftool(["-gps:all", prepared]).isEmpty, "the author's prepared photo has no GPS tag either")
        #expect(try kithOK(["feed", "--home", members[0]]).contains("[photo 1] IMG_1234.jpg"))

        // erin, not a member: nothing of the photo in the relay's files, nor in her node.
        try sync(erin)
        #expect(try feedPosts(erin).isEmpty)
        #expect(try kith(["photo", "get", "--home", erin, id, "--out", dir + "/erin.jpg"]).status != 0)
        let samples = stride(from: 0, to: stripped.count - 64, by: max(64, stripped.count / 16)).map { stripped.subdata(in: $0..<$0 + 64) }
        #expect(!samples.isEmpty)
        for (path, data) in allFiles(under: dir + "/relay") + allFiles(under: erin) {
            for sample in samples { #expect(!contains(data, sample), "\(path) holds part of the photo in the clear") }
        }
        // Nor do the members' blob directories: there the photo stays encrypted.
        for (path, data) in allFiles(under: members[0] + "/blobs") {
            for sample in samples { #expect(!contains(data, sample), "\(path) holds part of the photo in the clear") }
        }
        #expect(relay.stop() == 0)
    }

    /// A blob altered on the relay is refused as that relay's failure (its
    /// hash is not the id named), nothing is written, and the attachment is
    /// not marked damaged: another relay, or a later fetch, may still send it whole.
    @Test func aTamperedPhotoIsRefused() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let (alice, bob) = try aliceBobAndFamily(in: dir, relay: relay)
        let id = try kithOK(["post", "--home", alice, "--to", "family", "--photo", gpsPhoto])
        try sync(alice)
        // One byte of every stored blob flipped, in the relay's own database.
        let database = dir + "/relay/relay.sqlite"
        _ = try sqlite(database, "UPDATE blob SET data = substr(data, 1, 99) || CASE WHEN substr(data, 100, 1) = X'00' THEN X'01' ELSE X'00' END || substr(data, 101)")
        try sync(bob, extra: ["--fetch-attachments", "on-demand"])
        let out = dir + "/bob.jpg"
        let got = try kith(["photo", "get", "--home", bob, id, "--out", out])
        #expect(got.status != 0 && got.stderr.contains("could not be fetched") && got.stderr.contains("another blob than the one named (decryption failure"), "\(got.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "nothing is written")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["alice", "bob", "relay"], "nor any temporary file")
        let item = try #require(try feedPosts(bob, as: PostWithAttachments.self).first)
        #expect(item.attachments.first.map { !$0.fetched && $0.damaged == nil } == true)
        #expect(relay.stop() == 0)
    }

    /// Attachments count in the relay's blob quota (here one blob a
    /// mailbox): one beyond it waits, reported as full, until the member's
    /// node fetched the first and released its reference.
    @Test func attachmentsCountInTheRelaysQuota() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/relay.json"
        try #"{"relay": {"home": "\#(dir)/relay", "listen": "127.0.0.1:0", "quota_blobs": 1, "log_level": "warning"}}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let relay = try RelayProcess(configFile: file, home: dir + "/relay")
        let (alice, bob) = try aliceBobAndFamily(in: dir, relayURL: relay.url)
        try sync(alice)
        let first = dir + "/first.txt", second = dir + "/second.txt"
        try Data("the first note".utf8).write(to: URL(fileURLWithPath: first))
        try Data("the second note".utf8).write(to: URL(fileURLWithPath: second))
        let one = try kithOK(["post", "--home", alice, "--to", "family", "--file", first])
        try kithOK(["sync", "--home", alice])
        let two = try kithOK(["post", "--home", alice, "--to", "family", "--file", second])
        let held = try kith(["sync", "--home", alice])
        #expect(held.status == 1 && held.stderr.contains("full"), "\(held.stderr)")
        #expect(held.stderr.contains("bob"), "the waiting line names whom it is for")

        try sync(bob)
        #expect(try feedPosts(bob).map(\.id) == [one], "the second post waits for its attachment")
        _ = try kith(["sync", "--home", alice, "--retry-now"])
        try sync(bob)
        let items = try feedPosts(bob, as: PostWithAttachments.self)
        #expect(items.map(\.id) == [two, one] && items.allSatisfy { $0.attachments.first?.fetched == true })
        try kithOK(["photo", "get", "--home", bob, two, "--out", dir + "/note.txt"])
        #expect(FileManager.default.contents(atPath: dir + "/note.txt") == Data("the second note".utf8))
        #expect(relay.stop() == 0)
    }

    /// A comment with a photo and a direct message with a photo arrive.
    @Test func aCommentAndADirectMessageWithPhotosArrive() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let homes = try people(["alice", "bob", "carol"], in: dir, relayURL: relay.url)
        let (alice, bob, carol) = (homes[0], homes[1], homes[2])
        for friend in [bob, carol] { try befriend(alice, friend) }
        try kithOK(["group", "create", "--home", alice, "family"])
        for name in ["bob", "carol"] { try kithOK(["group", "add", "--home", alice, "family", name]) }
        let post = try kithOK(["post", "--home", alice, "--to", "family", "who has the photos?"])
        try sync(alice, bob, carol)

        // bob's comment goes to alice with its photo; alice's node fetches it and passes both on to carol.
        let comment = try kith(["comment", "--home", bob, post, "--photo", gpsPhoto, "here"])
        #expect(comment.status == 0 && comment.stderr.contains("removed"), "\(comment.stderr)")
        let commentID = comment.stdout.trimmingCharacters(in: .newlines)
        try sync(bob, alice, alice, carol)
        for home in [alice, carol] {
            let thread = try #require(try feedPosts(home, as: PostWithAttachments.self).first)
            #expect(thread.comments.map(\.text) == ["here"], "\(home)")
            #expect(thread.comments.first?.attachments.first?.fetched == true, "\(home)")
        }
        let fromBob = dir + "/from-bob.jpg", atCarol = dir + "/at-carol.jpg"
        try kithOK(["photo", "get", "--home", bob, commentID, "--out", fromBob])
        try kithOK(["photo", "get", "--home", carol, commentID, "--out", atCarol])
        #expect(FileManager.default.contents(atPath: fromBob) == FileManager.default.contents(atPath: atCarol))

        // A direct message with a photo and no text.
        let dm = try kithOK(["dm", "--home", alice, "bob", "--photo", gpsPhoto])
        try sync(alice, bob)
        let chat = try JSONDecoder().decode([ChatMessageJSON].self, from: Data(try kithOK(["chat", "--home", bob, "alice", "--json"]).utf8))
        let message = try #require(chat.first { $0.id == dm })
        #expect(message.text.isEmpty && message.attachments.count == 1 && message.attachments[0].fetched)
        try kithOK(["photo", "get", "--home", bob, dm, "--out", dir + "/dm.jpg"])
        #expect(try exiftool(["-gps:all", dir + "/dm.jpg"]).isEmpty)

        // A file kith cannot read as a photo is refused before anything is stored.
        let notAPhoto = dir + "/notes.jpg"
        try Data("not a photo at all".utf8).write(to: URL(fileURLWithPath: notAPhoto))
        let refused = try kith(["post", "--home", alice, "--to", "family", "--photo", notAPhoto, "oops"])
        #expect(refused.status != 0 && refused.stderr.contains("photo 1 (notes.jpg)"), "\(refused.stderr)")
        #expect(try feedPosts(alice).count == 2, "the post and the message, nothing more")
        #expect(relay.stop() == 0)
    }
}
