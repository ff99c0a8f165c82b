import Foundation
import KithCrypto
import Synchronization

/// The web app's login links and sessions, in memory only: a daemon that
/// restarts forgets them, and its owner runs `kith open` again.
///
/// A login token is 32 random bytes, given once to `kith open` (through the
/// owner-only control socket), good for `loginLifetime` seconds and spent by
/// its first use. A session is 32 other random bytes in a cookie, with its
/// own CSRF token for forms. Only BLAKE2b hashes of the tokens and session
/// ids are kept, so a memory dump does not hand out a live session; the
/// CSRF token is compared in constant time.
public final class WebSessions: Sendable {
    /// Seconds a login link stays good.
    public static let loginLifetime: UInt64 = 120
    /// Seconds a session may stay unused before it ends.
    public static let idleLifetime: UInt64 = 12 * 3600
    /// Seconds a session lasts at most, however often it is used.
    public static let maxLifetime: UInt64 = 7 * 24 * 3600
    /// The most login links outstanding and sessions open at once: the oldest go first.
    public static let maxLogins = 16
    public static let maxSessions = 32

    /// A signed-in browser's session, as its requests see it.
    public struct Session: Sendable {
        /// Put in every form, and checked on every POST.
        public let csrf: String
    }

    private struct Stored {
        let csrf: String
        let created: UInt64
        var lastUsed: UInt64

        /// Whether it is still open at `now`: used lately, and not too old.
        func open(at now: UInt64) -> Bool {
            now - min(now, lastUsed) < WebSessions.idleLifetime && now - min(now, created) < WebSessions.maxLifetime
        }
    }

    private struct State {
        /// Hash of a login token → when it expires.
        var logins: [[UInt8]: UInt64] = [:]
        /// Hash of a session id → the session.
        var sessions: [[UInt8]: Stored] = [:]
    }

    private let state = Mutex(State())
    private let clock: @Sendable () -> UInt64

    /// `clock` gives Unix seconds.
    public init(clock: @escaping @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970) }) {
        self.clock = clock
    }

    /// A new login token, as text for a URL (64 hex digits).
    public func mintLogin() -> String {
        let token = randomBytes(32)
        let now = clock()
        state.withLock { state in
            state.logins = state.logins.filter { $0.value > now }
            if state.logins.count >= Self.maxLogins, let oldest = state.logins.min(by: { $0.value < $1.value }) {
                state.logins.removeValue(forKey: oldest.key)
            }
            state.logins[Self.hash(token)] = now + Self.loginLifetime
        }
        return Hex.encode(token)
    }

    /// Spends a login token: a new session's id (for the cookie), or nil
    /// when the token is unknown, spent or expired.
    public func logIn(token: String) -> String? {
        guard let bytes = Self.token(token) else { return nil }
        let now = clock()
        let id = randomBytes(32)
        let csrf = Hex.encode(randomBytes(32))
        return state.withLock { state -> String? in
            guard let expiry = state.logins.removeValue(forKey: Self.hash(bytes)), expiry > now else { return nil }
            state.sessions = state.sessions.filter { $0.value.open(at: now) }
            if state.sessions.count >= Self.maxSessions, let oldest = state.sessions.min(by: { $0.value.lastUsed < $1.value.lastUsed }) {
                state.sessions.removeValue(forKey: oldest.key)
            }
            state.sessions[Self.hash(id)] = Stored(csrf: csrf, created: now, lastUsed: now)
            return Hex.encode(id)
        }
    }

    /// The session a cookie's id names, if it is open; using it keeps it open.
    public func session(id: String) -> Session? {
        guard let bytes = Self.token(id) else { return nil }
        let now = clock()
        return state.withLock { state -> Session? in
            let key = Self.hash(bytes)
            guard var stored = state.sessions[key] else { return nil }
            guard stored.open(at: now) else {
                state.sessions.removeValue(forKey: key)
                return nil
            }
            stored.lastUsed = now
            state.sessions[key] = stored
            return Session(csrf: stored.csrf)
        }
    }

    /// Ends a session (signing out).
    public func end(id: String) {
        guard let bytes = Self.token(id) else { return }
        _ = state.withLock { $0.sessions.removeValue(forKey: Self.hash(bytes)) }
    }

    /// Whether a form's CSRF token is the session's.
    public static func csrfMatches(_ given: String?, _ session: Session) -> Bool {
        guard let given else { return false }
        return constantTimeEqual(Array(given.utf8), Array(session.csrf.utf8))
    }

    /// 32 bytes from their 64 hex digits; anything else is no token.
    private static func token(_ text: String) -> [UInt8]? {
        guard text.utf8.count == 64, let bytes = Hex.decode(text), bytes.count == 32 else { return nil }
        return bytes
    }

    private static func hash(_ bytes: [UInt8]) -> [UInt8] { Hash.blake2b(bytes) }
}
