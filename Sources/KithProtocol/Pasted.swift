/// A contact card or friend invitation found in text as people paste it:
/// with mail quoting (`> `, `>> `), lines broken by wrapping (even inside
/// the base64url) and words around it. What cannot be recognised is refused
/// with a hint that says how to fix it (`PasteRefusal`).
public enum Pasted: Sendable, Equatable {
    case card(ContactCard)
    case invitation(String)

    /// The most lines after the prefix's that may continue a wrapped card
    /// (a 64-column wrap of the longest card is 77 lines).
    static let maxContinuationLines = 100
    /// The longest card's text: the prefix and the base64url of `ContactCard.maxBytes`.
    static let maxCardTextLength = ContactCard.prefix.utf8.count + (ContactCard.maxBytes * 4 + 2) / 3
    /// The longest text looked at: room for the longest card wrapped,
    /// quoted and talked about.
    public static let maxTextBytes = 64 * 1024

    /// The one card or invitation in `text` (at most `maxTextBytes`).
    public static func find(in text: String) throws(PasteRefusal) -> Pasted {
        guard text.utf8.count <= maxTextBytes else {
            throw PasteRefusal("the pasted text is longer than \(maxTextBytes / 1024) KiB", hint: "paste only the card or invitation")
        }
        let lines = unquotedLines(text)
        var cards: [ContactCard] = [], invitations: [String] = []
        var brokenCard: ProtocolError?, brokenInvitation = false
        for (index, line) in lines.enumerated() {
            var rest = Substring(line)
            while let start = firstPrefix(in: rest) {
                let word = rest[start...].prefix { !$0.isWhitespace }
                rest = rest[word.endIndex...]
                // No card or invitation is longer: one character more shows it is too long.
                var run = word.prefix(maxRunLength + 1)
                // Punctuation that ends a sentence or closes a bracket is not part of it.
                let prefixEnd = run.index(run.startIndex, offsetBy: ContactCard.prefix.count)
                while run.endIndex > prefixEnd, let last = run.last, ".,;:!?)]}>\"'".contains(last) { run = run.dropLast() }
                // The continuation: following lines that are base64url alone, or start with it.
                var pieces = [String(run)]
                if rest.allSatisfy(\.isWhitespace) {
                    for next in lines.dropFirst(index + 1).prefix(maxContinuationLines) {
                        let word = next.prefix { !$0.isWhitespace }
                        guard !word.isEmpty, word.allSatisfy(isBase64URL) else { break }
                        pieces.append(String(word))
                        if word.count != next.count { break }
                    }
                }
                if run.hasPrefix(ContactCard.prefix) {
                    switch parseCard(pieces) {
                    case .success(let card): if !cards.contains(card) { cards.append(card) }
                    case .failure(let error): brokenCard = brokenCard ?? error
                    }
                } else if let invitation = parseInvitation(pieces) {
                    if !invitations.contains(invitation) { invitations.append(invitation) }
                } else {
                    brokenInvitation = true
                }
            }
        }
        // A damaged one beside a valid one may be the real one, the valid one a stranger's.
        let damaged = brokenCard != nil ? "contact card" : brokenInvitation ? "invitation" : nil
        switch (cards.count, invitations.count) {
        case (1, 0) where damaged == nil: return .card(cards[0])
        case (0, 1) where damaged == nil: return .invitation(invitations[0])
        case (1, 0), (0, 1):
            throw PasteRefusal("found \(cards.isEmpty ? "an invitation" : "a contact card") and a damaged \(damaged ?? "") beside it",
                               hint: "paste only the one you mean, copied whole from whoever sent it")
        case (0, 0): break
        case (let c, 0): throw PasteRefusal("found \(c) different contact cards", hint: "paste one card at a time")
        case (0, let i): throw PasteRefusal("found \(i) different invitations", hint: "paste one invitation at a time")
        default: throw PasteRefusal("found both a contact card and an invitation", hint: "paste one of them")
        }
        if let brokenCard {
            if brokenCard.kind == .malformed && (brokenCard.detail.hasSuffix("truncated") || brokenCard.detail.contains("base64url")) {
                throw PasteRefusal("not a valid contact card: it seems cut off", hint: "copy it again, whole, from `kith card` (it is one line starting with \(ContactCard.prefix))")
            }
            throw PasteRefusal("not a valid contact card: \(brokenCard.description)", hint: "ask your friend for a new card (`kith card`)")
        }
        if brokenInvitation {
            throw PasteRefusal("the invitation seems cut off or damaged",
                               hint: "copy it again, whole, from `kith invite` (\(FriendInvitation.prefix)URL#22 characters)")
        }
        throw PasteRefusal("no contact card or invitation found",
                           hint: "a card starts with \(ContactCard.prefix) (`kith card` prints one), an invitation with \(FriendInvitation.prefix) (`kith invite`)")
    }

    /// The one card in `text` (an invitation is refused with a hint).
    public static func card(in text: String) throws(PasteRefusal) -> ContactCard {
        switch try find(in: text) {
        case .card(let card): return card
        case .invitation: throw PasteRefusal("this is an invitation, not a contact card", hint: "add a friend by invitation with `kith friend add INVITATION`")
        }
    }

    /// Lines without mail quoting: leading white space and `>` marks removed.
    static func unquotedLines(_ text: String) -> [String] {
        text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map { line in
            String(line.drop { $0 == ">" || $0.isWhitespace })
        }
    }

    /// The longest card or invitation text.
    static let maxRunLength = max(maxCardTextLength, FriendInvitation.maxTextLength)

    /// Where the first card or invitation prefix in `text` starts.
    static func firstPrefix(in text: Substring) -> Substring.Index? {
        var rest = text
        while let found = rest.firstRange(of: "kith-") {
            let candidate = text[found.lowerBound...]
            if candidate.hasPrefix(ContactCard.prefix) || candidate.hasPrefix(FriendInvitation.prefix) { return found.lowerBound }
            rest = text[found.upperBound...]
        }
        return nil
    }

    static func isBase64URL(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_")
    }

    /// The card made of the first piece and as many continuation pieces as
    /// make a valid card (the fewest); else the error of all of them joined.
    static func parseCard(_ pieces: [String]) -> Result<ContactCard, ProtocolError> {
        var joined = ""
        var lastError = ProtocolError.malformed("card: longer than any card can be")
        for piece in pieces {
            joined += piece
            // No card is longer: more lines cannot make one.
            if joined.utf8.count > maxCardTextLength { break }
            do { return .success(try ContactCard(text: joined)) } catch let error as ProtocolError { lastError = error } catch {
                lastError = .malformed("card: unreadable")
            }
        }
        return .failure(lastError)
    }

    /// The invitation made of the first piece and the fewest continuation
    /// pieces that parse, in its exact text form.
    static func parseInvitation(_ pieces: [String]) -> String? {
        var joined = ""
        for piece in pieces {
            joined += piece
            if joined.utf8.count > FriendInvitation.maxTextLength { return nil }
            if let invitation = try? FriendInvitation(text: joined) { return invitation.text }
        }
        return nil
    }
}

/// Pasted text that holds no usable card or invitation, or more than one.
public struct PasteRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public let hint: String

    init(_ message: String, hint: String) { (self.message, self.hint) = (message, hint) }

    public var description: String { message }
}
