import ArgumentParser
import Foundation
import KithDaemon
import KithNode
import KithWeb

/// `kith open`: a one-time link to the running daemon's web app.
struct OpenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open",
        abstract: "Sign a browser in to your node's web app. Prints a one-time link.",
        discussion: """
            The daemon (`kith daemon`) serves a web app to you alone on a loopback address (web.listen in \
            kith.yaml, 127.0.0.1:8484 by default) under a host name of its own, http://NAME.localhost:PORT/ \
            (NAME is random, kept in web-host in the node directory): the feed, a post with its comments, \
            posting and commenting. This command asks the running daemon, through its control socket (which \
            only your user can use), for a login link and prints it. The link works once, within two minutes: \
            opening it signs that browser in (a session cookie) until it signs out, stays unused for 12 hours, \
            7 days have passed or the daemon stops. \
            With a desktop (DISPLAY or WAYLAND_DISPLAY set), the link is also opened with xdg-open, through \
            a file in the node directory (web-login.html), so that the token never shows in the list of processes; \
            the daemon deletes that file once the link is used, and the next `kith open` one that was not.
            """
    )

    @OptionGroup var home: HomeOptions

    @Flag(name: .customLong("no-browser"), help: "Only print the link; start no browser.") var noBrowser = false

    func run() async throws {
        let dir = try home.resolve()
        guard let daemon = ControlClient.running(home: dir) else {
            throw NodeError("no daemon runs for this node, and the web app is part of it",
                            hint: "start it with `kith daemon`, then run `kith open` again")
        }
        // A forwarding page left by an earlier link that was never used.
        let page = URL(fileURLWithPath: dir).standardizedFileURL.appendingPathComponent(WebApp.loginPageName).path
        unlink(page)
        let login = try await daemon.webLogin()
        Console.out(login.url)
        let environment = ProcessInfo.processInfo.environment
        guard !noBrowser, !(environment["DISPLAY"] ?? "").isEmpty || !(environment["WAYLAND_DISPLAY"] ?? "").isEmpty else { return }
        do { try browse(login.url, path: page) } catch {
            Console.warning("could not start a browser (\(error)): open the link above yourself")
        }
    }

    /// Opens `url` through a page at `path`, in the node directory, that
    /// only its owner can read: xdg-open's and the browser's command line
    /// show the file's path, not the token.
    func browse(_ url: String, path: String) throws {
        let fd = Foundation.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NodeError("cannot write \(path)") }
        let page = "<!doctype html><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\">"
            + "<meta http-equiv=\"refresh\" content=\"0;url=\(url)\"><title>Kith</title>\n"
        let written = page.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
        guard written == page.utf8.count else { throw NodeError("cannot write \(path)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["xdg-open", URL(fileURLWithPath: path).absoluteString]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }
}
