@testable import KithDaemon
import Testing

/// The daemon's "sync now": a fire wakes a waiting sync service at once,
/// a fire with nobody waiting is kept for the next wait, and a wait ends at
/// its timeout or when cancelled.
@Suite struct SyncTriggerTests {
    /// A wait of ten minutes that only a fire can end within the test's limit.
    @Test(.timeLimit(.minutes(1))) func aFireWakesAWaitingSync() async {
        let trigger = SyncTrigger()
        let waiting = Task { await trigger.wait(upTo: .seconds(600)) }
        try? await Task.sleep(for: .milliseconds(50))
        // One fire ends it, whether the wait had begun (woken) or not yet (kept for it).
        trigger.fire()
        await waiting.value
    }

    @Test(.timeLimit(.minutes(1))) func aFireWithNobodyWaitingIsKeptOnce() async {
        let trigger = SyncTrigger()
        trigger.fire()
        trigger.fire()
        await trigger.wait(upTo: .seconds(600))
        // Kept once only: the next wait runs to its timeout.
        let start = ContinuousClock.now
        await trigger.wait(upTo: .milliseconds(200))
        #expect(start.duration(to: .now) >= .milliseconds(200))
    }

    /// Waits ended by a fire, a timeout or cancellation leave nothing behind.
    @Test(.timeLimit(.minutes(1))) func endedWaitsLeaveNothingBehind() async {
        let trigger = SyncTrigger()
        for round in 0..<50 {
            let waiting = Task { await trigger.wait(upTo: .milliseconds(round % 3 == 0 ? 1 : 600_000)) }
            if round % 3 == 1 { trigger.fire() } else if round % 3 == 2 { waiting.cancel() }
            await waiting.value
        }
        #expect(trigger.waiting == 0)
    }

    @Test(.timeLimit(.minutes(1))) func cancellingAWaitEndsIt() async {
        let trigger = SyncTrigger()
        let waiting = Task { await trigger.wait(upTo: .seconds(600)) }
        waiting.cancel()
        await waiting.value
        // The cancelled wait consumed nothing: a later fire is kept for the next wait.
        trigger.fire()
        await trigger.wait(upTo: .seconds(600))
    }
}
