public import AuthorizationServer
public import Foundation

/// The sign-in failure counters in memory. Instances of `LoginService` given the same one behave as
/// instances of the daemon sharing a database.
public struct MemorySignInAttemptStore: SignInAttemptStore {
    let database: MemoryDatabase

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
    }

    /// How many counters are kept.
    public var count: Int { (try? database.read { $0.signInCounters.count }) ?? 0 }

    public func countSignInAttempt(keys: [[UInt8]], now: Date, window: TimeInterval) async throws(StorageError) -> [SignInAttemptCount] {
        // Stored times are whole seconds, as in the databases.
        let current = StoredTime.date(now.storedSeconds)
        let ends = StoredTime.date(now.addingTimeInterval(window).storedSeconds)
        return try database.write { state in
            keys.map { key in
                var counter =
                    state.signInCounters[key].flatMap { $0.windowEnds > current ? $0 : nil } ?? MemoryState.SignInCounter(failures: 0, windowEnds: ends)
                counter.failures += 1
                state.signInCounters[key] = counter
                return SignInAttemptCount(failures: counter.failures, windowEnds: counter.windowEnds)
            }
        }
    }

    public func forgiveSignInAttempt(keys: [[UInt8]], now: Date) async throws(StorageError) {
        let current = StoredTime.date(now.storedSeconds)
        try database.write { state in
            for key in keys where (state.signInCounters[key]?.windowEnds ?? .distantPast) > current {
                state.signInCounters[key]!.failures = max(0, state.signInCounters[key]!.failures - 1)
            }
        }
    }

    public func sweepSignInAttempts(now: Date) async throws(StorageError) -> Int {
        let current = StoredTime.date(now.storedSeconds)
        return try database.write { state in
            let before = state.signInCounters.count
            state.signInCounters = state.signInCounters.filter { $0.value.windowEnds > current }
            return before - state.signInCounters.count
        }
    }
}
