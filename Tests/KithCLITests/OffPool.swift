import Foundation
import Testing

/// Runs `body`, which blocks (it waits for processes and sleeps), on a
/// thread of its own rather than on Swift concurrency's few threads, which
/// the in-process relays of the other test suites need meanwhile. It stays
/// in the test's task, so its expectations count for the test.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withTaskExecutorPreference(ThreadPerJobExecutor.shared) { try body() }
}

/// Runs each job on a new thread: a job that blocks blocks only its own.
final class ThreadPerJobExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = ThreadPerJobExecutor()

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        Thread.detachNewThread { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
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
    try JSONDecoder().decode(FeedPage<FeedItem>.self, from: Data(try await kithOKAsync(["feed", "--home", home, "--all", "--json"]).utf8)).posts
}
