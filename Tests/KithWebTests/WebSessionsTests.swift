import KithCrypto
import Synchronization
import Testing
@testable import KithWeb

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let now = Mutex<UInt64>(1_800_000_000)
    func read() -> UInt64 { now.withLock { $0 } }
    func advance(_ seconds: UInt64) { now.withLock { $0 += seconds } }
}

@Suite struct WebSessionsTests {
    @Test func aLoginTokenWorksOnceAndOnlyInTime() throws {
        let clock = TestClock()
        let sessions = WebSessions(clock: clock.read)
        let token = sessions.mintLogin()
        #expect(token.count == 64)
        let id = try #require(sessions.logIn(token: token))
        #expect(sessions.session(id: id) != nil)
        #expect(sessions.logIn(token: token) == nil, "a spent token")

        let late = sessions.mintLogin()
        clock.advance(WebSessions.loginLifetime)
        #expect(sessions.logIn(token: late) == nil, "an expired token")

        for bad in ["", "zz", String(repeating: "0", count: 64), token.uppercased(), String(token.dropLast())] {
            #expect(sessions.logIn(token: bad) == nil)
            #expect(sessions.session(id: bad) == nil)
        }
    }

    @Test func sessionsEndWhenIdleOrSignedOutAndAreBounded() throws {
        let clock = TestClock()
        let sessions = WebSessions(clock: clock.read)
        let id = try #require(sessions.logIn(token: sessions.mintLogin()))
        clock.advance(WebSessions.idleLifetime - 1)
        #expect(sessions.session(id: id) != nil, "use keeps it open")
        clock.advance(WebSessions.idleLifetime - 1)
        #expect(sessions.session(id: id) != nil)
        clock.advance(WebSessions.idleLifetime)
        #expect(sessions.session(id: id) == nil, "idle too long")

        // A session in use every hour still ends after its longest life.
        let busy = try #require(sessions.logIn(token: sessions.mintLogin()))
        let hours = WebSessions.maxLifetime / 3600
        for _ in 1..<hours {
            clock.advance(3600)
            #expect(sessions.session(id: busy) != nil)
        }
        clock.advance(3600)
        #expect(sessions.session(id: busy) == nil, "too old")

        let other = try #require(sessions.logIn(token: sessions.mintLogin()))
        sessions.end(id: other)
        #expect(sessions.session(id: other) == nil)

        // The oldest session gives way to a new one past the limit.
        let first = try #require(sessions.logIn(token: sessions.mintLogin()))
        clock.advance(1)
        var ids: [String] = []
        for _ in 0..<WebSessions.maxSessions {
            ids.append(try #require(sessions.logIn(token: sessions.mintLogin())))
            clock.advance(1)
        }
        #expect(sessions.session(id: first) == nil)
        #expect(ids.allSatisfy { sessions.session(id: $0) != nil })

        // So does the oldest login link.
        let oldest = sessions.mintLogin()
        clock.advance(1)
        for _ in 0..<WebSessions.maxLogins { _ = sessions.mintLogin() }
        #expect(sessions.logIn(token: oldest) == nil)
    }

    @Test func theCSRFTokenIsTheSessionsOwn() throws {
        let sessions = WebSessions()
        func signIn() throws -> WebSessions.Session {
            let id = try #require(sessions.logIn(token: sessions.mintLogin()))
            return try #require(sessions.session(id: id))
        }
        let (a, b) = (try signIn(), try signIn())
        #expect(WebSessions.csrfMatches(a.csrf, a))
        #expect(!WebSessions.csrfMatches(b.csrf, a))
        #expect(!WebSessions.csrfMatches(nil, a))
        #expect(!WebSessions.csrfMatches("", a))
        #expect(!WebSessions.csrfMatches(String(a.csrf.dropLast()), a))
    }
}
