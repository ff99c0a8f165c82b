import Foundation
import GRDB
import KithCrypto
import KithProtocol

extension Node {
    /// What removing a friend did.
    public struct FriendRemoval: Codable, Sendable {
        /// Audiences they were in; each got a new epoch without them.
        public let audiences: [String]
        /// Drop tokens revoked at their relays (those of cards issued `--for` them).
        public let revoked: Int
        /// Tokens that could not be revoked now, one line each: run the command again later.
        public let failures: [String]
    }

    /// Removes a friend altogether: from every audience of mine (each gets a
    /// new epoch whose key goes to the others only), from my friends (nothing
    /// more is delivered to them), and revokes at my relays the drop tokens
    /// of every card I issued for them (`issueCard(for:)`), so their next
    /// drop into my mailboxes is refused while everyone else's still works.
    /// If they are no longer a friend, only the revocation is tried again.
    public func removeFriend(named name: String) async throws -> FriendRemoval {
        let keys = try requireKeys()
        let now = clock()
        let holder = keys.atRest.tag(name, .holder)
        let audiences = try await db.writer.write { db -> [String] in
            guard let identity = try Data.fetchOne(db, sql: "SELECT identity FROM friend WHERE name_tag = ?", arguments: [keys.atRest.tag(name, .friendName)]) else {
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM issued_token WHERE issued_to = ?", arguments: [holder]) == true else {
                    throw NodeError("no friend named \"\(name)\"", hint: "`kith friend list` shows your friends")
                }
                return []
            }
            let audiences = try self.audienceNames(ofMember: [UInt8](identity), db)
            try db.execute(sql: "DELETE FROM audience_member WHERE friend = ?", arguments: [identity])
            for audience in audiences { _ = try self.startEpoch(after: try self.currentKey(audienceNamed: audience, db), name: audience, db, now: now) }
            try db.execute(sql: "DELETE FROM friend WHERE identity = ?", arguments: [identity])
            return audiences
        }
        let (revoked, failures) = try await revokeTokens(issuedTo: holder)
        return FriendRemoval(audiences: audiences, revoked: revoked, failures: failures)
    }

    /// Revokes at my relays the drop tokens of the cards issued to the
    /// holder whose tag this is; returns how many, and a line per token that
    /// could not be revoked now (kept, to try again later).
    func revokeTokens(issuedTo holder: Data) async throws -> (revoked: Int, failures: [String]) {
        let keys = try requireKeys()
        let tokens = try await db.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT hash, relay FROM issued_token WHERE issued_to = ?", arguments: [holder])
                .map { (hash: [UInt8]($0[0] as Data), relay: $0[1] as String) }
        }
        var revoked = 0, failures: [String] = []
        for token in tokens {
            guard let key = keys.mailboxKeys[token.relay] else { failures.append("no mailbox key for \(token.relay)"); continue }
            do {
                try await RelayClient(baseURL: token.relay).removeToken(hash: token.hash, mailboxKey: key)
            } catch let failure as RelayClient.Failure where failure.status == 404 {
                // Gone already (revoked before, or the relay forgot it): nothing left to revoke.
            } catch let failure as RelayClient.Failure {
                failures.append(failure.description)
                continue
            }
            try await db.writer.write { db in try db.execute(sql: "DELETE FROM issued_token WHERE hash = ?", arguments: [token.hash.data]) }
            revoked += 1
        }
        return (revoked, failures)
    }
}
