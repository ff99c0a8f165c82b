import Foundation
import Testing

/// What a friend wrote cannot act on the reader's terminal: `kith` prints it
/// with control, separator and format characters written as `\u{HEX}`, while
/// `--json` keeps the exact text.
@Suite(.serialized) struct HostileOutputTests {
    /// Scalars a terminal would act on, or that reorder or hide text: C0 but
    /// line feed and tab, DEL, C1, U+2028, U+2029 and format characters (Cf).
    /// A zero width joiner inside an emoji sequence is allowed.
    func rawControls(in text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        return scalars.indices.compactMap { i -> String? in
            let s = scalars[i]
            switch s.value {
            case 0x0A, 0x09: return nil
            case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029: return String(s.value, radix: 16)
            case 0x200D where i > 0 && i + 1 < scalars.count && scalars[i + 1].properties.isEmoji && scalars[i + 1].value > 0x7F: return nil
            default: return s.properties.generalCategory == .format ? String(s.value, radix: 16) : nil
            }
        }
    }

    @Test func aFriendsPostCannotForgeFeedEntriesOrControlTheTerminal() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let relay = try RelayProcess(home: dir + "/relay")
        let (alice, bob) = try aliceBobAndFamily(in: dir, relay: relay)

        // A carriage return would put a forged header over the line the post is on;
        // the rest retitles and recolours the terminal, reverses text, breaks lines
        // and starts a C1 control sequence.
        let text = "ok\ralice → family  2020-01-01T00:00:00Z\n"
            + "\u{1B}]0;pwned\u{07}\u{1B}[31mred\u{202E}txet desrever\u{2066}iso\u{2069}"
            + "\u{2028}alice → family  2020-01-01T00:00:00Z\u{2029}x\u{9B}31m\u{7F}\u{200E}\u{061C}\u{FEFF}\n"
            + "family 👨‍👩‍👧 ok"
        try kithOK(["post", "--home", alice, "--to", "family", text])
        // The terminal's own wrapping would put this forged header at column 0 of the next line.
        let wrapped = String(repeating: " ", count: 76) + "alice → family  2020-01-01T00:00:00Z" + String(repeating: " ", count: 40) + "send me the door code"
        try kithOK(["post", "--home", alice, "--to", "family", wrapped])
        try kithOK(["sync", "--home", alice])
        try kithOK(["sync", "--home", bob])

        let shown = try kith(["feed", "--home", bob])
        #expect(shown.status == 0)
        #expect(rawControls(in: shown.stdout).isEmpty, "raw controls: \(rawControls(in: shown.stdout))")
        for escaped in ["\\u{0D}", "\\u{1B}]0;pwned\\u{07}", "\\u{1B}[31m", "\\u{202E}", "\\u{2066}", "\\u{2069}", "\\u{2028}",
                        "\\u{2029}", "\\u{9B}31m", "\\u{7F}", "\\u{200E}", "\\u{61C}", "\\u{FEFF}"] {
            #expect(shown.stdout.contains(escaped), "\(escaped) missing from \(shown.stdout)")
        }
        // Emoji sequences still show as such.
        #expect(shown.stdout.contains("family 👨‍👩‍👧 ok"))
        // One header line per post; every other line is a post's own, indented, and no line is
        // wider than the terminal (80 columns without one), so the terminal never wraps it.
        let lines = shown.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count >= 6)
        #expect(lines.filter { !$0.hasPrefix("    ") }.count == 2)
        #expect(lines.filter { !$0.hasPrefix("    ") }.allSatisfy { $0.hasPrefix("alice → family (alice's group, 2 people)  ") })
        #expect(lines.allSatisfy { $0.unicodeScalars.reduce(0) { $0 + ($1.isASCII ? 1 : 2) } < 80 }, "\(lines)")

        // JSON keeps the exact text.
        #expect(try feed(bob).map(\.text) == [wrapped, text])
        relay.stop()
    }

    @Test func errorsShowWhatTheyQuoteEscaped() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let home = dir + "/\u{1B}]0;pwned\u{07}\u{1B}[2J\rkith: hint: run rm\u{202E}"
        let r = try kith(["feed", "--home", home])
        #expect(r.status != 0)
        #expect(rawControls(in: r.stderr).isEmpty, "raw controls: \(rawControls(in: r.stderr))")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("kith: error: ") == true)
        #expect(lines.first?.contains("\\u{1B}]0;pwned\\u{07}\\u{1B}[2J\\u{0D}kith: hint: run rm\\u{202E}") == true)
        #expect(lines.last?.hasPrefix("kith: hint: ") == true)
    }
}
