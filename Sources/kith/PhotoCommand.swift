import ArgumentParser
import Foundation
import KithDaemon
import KithNode

/// `--photo FILE`, `--file FILE` and `--keep-metadata`, for `post`, `comment` and `dm`.
struct AttachmentOptions: ParsableArguments {
    @Option(name: .customLong("photo"), help: ArgumentHelp(
        "Attach a photo (JPEG, PNG or WebP); repeat for more. Its location and camera metadata are removed.", valueName: "file"))
    var photos: [String] = []

    @Option(name: .customLong("file"), help: ArgumentHelp("Attach a file as it is; repeat for more.", valueName: "file"))
    var files: [String] = []

    @Flag(help: "Keep the photos' metadata (EXIF, XMP, GPS location, camera) instead of removing it.")
    var keepMetadata = false

    var isEmpty: Bool { photos.isEmpty && files.isEmpty }

    /// The files by absolute path (the daemon does not share the working directory), photos first.
    var sources: [AttachmentSource] {
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : (cwd as NSString).appendingPathComponent(path) }
        return photos.map { AttachmentSource(kind: .photo, path: absolute($0)) } + files.map { AttachmentSource(kind: .file, path: absolute($0)) }
    }

    /// Says, on stderr, what was done to each photo's metadata.
    static func report(_ prepared: [PreparedAttachment]) {
        for (index, item) in prepared.enumerated() where item.kind == .photo {
            let what = item.keptMetadata ? "kept metadata"
                : item.removedMetadata.isEmpty ? "no metadata found" : "removed " + item.removedMetadata.joined(separator: ", ")
            Console.note("photo \(index + 1) (\(item.name)): \(what)")
        }
    }
}

/// Progress of uploads and downloads on stderr: on a terminal one line
/// rewritten in place, elsewhere one line when each transfer ends.
enum TransferLine {
    static let terminal = isatty(STDERR_FILENO) == 1

    static let report: TransferProgress = { what, done, total in
        let percent = total == 0 ? 100 : Int(min(100, done * 100 / total))
        let line = "\(what): \(percent)% of \(ThreadLines.size(total))"
        if terminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + "kith: " + Console.visible(line) + (done >= total ? "\n" : "")).utf8))
        } else if done >= total {
            Console.note(line)
        }
    }
}

/// `kith photo get POST [N] --out FILE`.
struct PhotoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "photo",
        abstract: "Save the photos and files attached to posts, comments and direct messages.",
        subcommands: [PhotoGetCommand.self]
    )
}

struct PhotoGetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Save an attachment of a post, comment or direct message to a file.",
        discussion: """
            N counts from 1 in the order `kith feed` and `kith show` list the attachments ([photo 1], \
            [file 2], ...). If the attachment is not on this machine yet, it is fetched from your \
            relay first (progress on stderr); a relay that sends a blob truncated or altered has \
            failed, and your next relay is tried. It is checked against the signed post before \
            anything is written: one that does not decrypt under the post's key is refused with its \
            failure kind ("malformed", "decryption failure"), marked damaged in the feed, and nothing \
            is written. \
            --out is not overwritten unless --force is given. --thumbnail saves the photo's small \
            JPEG thumbnail instead.
            """
    )

    @OptionGroup var home: HomeOptions

    @Argument(help: "The post's id (or its first 8 or more hex digits), or a comment's id.") var post: String

    @Argument(help: "Which attachment, from 1.") var number: Int = 1

    @Option(help: ArgumentHelp("Where to write the file.", valueName: "file")) var out: String

    @Flag(help: "Replace --out if it exists.") var force = false

    @Flag(help: "Save the photo's thumbnail instead of the photo.") var thumbnail = false

    func validate() throws {
        guard number >= 1 else { throw ValidationError("the attachment number counts from 1") }
        guard !out.isEmpty else { throw ValidationError("--out needs a file name") }
    }

    func run() async throws {
        let path = out.hasPrefix("/") ? out : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(out)
        let saved = try await home.run(PhotoGetRequest(post: post, number: number, out: path, force: force, thumbnail: thumbnail),
                                       progress: TransferLine.report)
        Console.note("saved \(ThreadLines.size(saved.bytes)) to \(saved.path)")
    }
}

extension AttachmentFetch: ExpressibleByArgument {}
