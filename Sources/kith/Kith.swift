import ArgumentParser
import Foundation
import KithNode
import KithProtocol

@main
struct Kith: AsyncParsableCommand {
    /// This release of kith. `kith --version` prints it with the protocol
    /// version it speaks (the version byte of every envelope, docs/PROTOCOL.md).
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "kith",
        abstract: "A private, friends-only social network that you run yourself.",
        discussion: """
            Every post is encrypted for its audience on your machine and dropped into your \
            friends' mailboxes on relays, which see only ciphertext. A node lives in one \
            directory, chosen with --home or KITH_HOME. Commands that use your keys ask for \
            the passphrase, or read it from KITH_PASSPHRASE or KITH_PASSPHRASE_FILE.

            What friends and relays wrote (posts, names, relay URLs and errors) is shown with \
            control, line-separator and bidirectional or other format characters written as \
            \\u{HEX}, e.g. \\u{1B} for escape and \\u{202E} for a right-to-left override, so they \
            cannot act on the terminal; --json gives the exact text. Files kith creates are \
            private to you: the node directory 0700, its files 0600. kith refuses a node database, \
            keystore or KITH_PASSPHRASE_FILE that other users can read or write.
            """,
        version: "kith \(version) (protocol \(Envelope.version))",
        subcommands: [
            InitCommand.self, CardCommand.self, WhoamiCommand.self, KeyCommand.self, FriendCommand.self, GroupCommand.self,
            PostCommand.self, SyncCommand.self, FeedCommand.self, DaemonCommand.self, StatusCommand.self, RelayCommand.self,
            BenchCommand.self,
            InviteCommand.self,
            CommentCommand.self, ReactCommand.self, EditCommand.self, DeleteCommand.self,
            ShowCommand.self,
            DirectCommand.self, ChatCommand.self,
            ProfileCommand.self,
            PhotoCommand.self,
            OpenCommand.self,
        ]
    )

    /// Runs the command line, printing failures as `kith: error: ...` with an
    /// optional `kith: hint: ...`, on stderr, and exiting non-zero.
    ///
    /// The umask comes first: every file kith creates (node database and its
    /// WAL and shared-memory files, keystore, relay database) is then private
    /// to its user, whatever the umask it was started with. SIGPIPE is
    /// ignored: output to a reader that has gone ends the program quietly
    /// (`Console`), and a peer that hangs up is an error on its socket.
    static func main() async {
        umask(0o077)
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as NodeError {
            Console.error(error.description, hint: error.hint)
            Foundation.exit(1)
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)
            }
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            Console.error(message.isEmpty ? String(describing: error) : message,
                          hint: code == .validationFailure ? "see `kith help` for usage" : nil)
            Foundation.exit(code.rawValue)
        }
    }
}
