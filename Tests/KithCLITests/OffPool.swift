import Foundation
import Testing

/// Runs blocking work (a child process and its pipes) on a GCD thread, so
/// that a long scenario does not hold one of the test pool's few threads
/// while the other tests run.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}

/// `kith`, run without holding a thread of the test pool.
func kithAsync(_ args: [String], env: [String: String] = [:]) async throws -> Output {
    try await offPool { try kith(args, env: env) }
}

/// `kithOK`, run without holding a thread of the test pool.
@discardableResult
func kithOKAsync(_ args: [String], env: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
    let r = try await kithAsync(args, env: env)
    #expect(r.status == 0, "kith \(args.first ?? "") failed: \(r.stderr)", sourceLocation: sourceLocation)
    return r.stdout.trimmingCharacters(in: .newlines)
}

/// `feed`, run without holding a thread of the test pool.
func feedAsync(_ home: String) async throws -> [FeedItem] {
    try JSONDecoder().decode([FeedItem].self, from: Data(try await kithOKAsync(["feed", "--home", home, "--json"]).utf8))
}
