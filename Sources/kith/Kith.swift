import ArgumentParser
import Foundation
import KithNode

@main
struct Kith: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kith",
        abstract: "A private, friends-only social network that you run yourself.",
        discussion: """
            Every post is encrypted for its audience on your machine and dropped into your \
            friends' mailboxes on relays, which see only ciphertext. A node lives in one \
            directory, chosen with --home or KITH_HOME. Commands that use your keys ask for \
            the passphrase, or read it from KITH_PASSPHRASE or KITH_PASSPHRASE_FILE.
            """,
        subcommands: [
            InitCommand.self, CardCommand.self, FriendCommand.self, GroupCommand.self,
            PostCommand.self, SyncCommand.self, FeedCommand.self, RelayCommand.self, BenchCommand.self,
        ]
    )

    /// Runs the command line, printing failures as `kith: error: ...` with an
    /// optional `kith: hint: ...`, on stderr, and exiting non-zero.
    static func main() async {
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
