public import AuthorizationServer
public import Foundation
import Synchronization

/// The in-memory twin of the sign-in failure counters: the same contract, for core tests. Instances of
/// `LoginService` given the same one behave as instances of the daemon sharing a database.
public final class InMemorySignInAttemptStore: SignInAttemptStore {
    private struct Counter {
        var failures: Int
        var windowEnds: Date
    }

    private let counters = Mutex<[[UInt8]: Counter]>([:])

    public init() {}

    /// How many counters are kept.
    public var count: Int { counters.withLock { $0.count } }

    public func countSignInAttempt(keys: [[UInt8]], now: Date, window: TimeInterval) async throws(StorageError) -> [SignInAttemptCount] {
        // Stored times are whole seconds, as in the databases.
        let current = StoredTime.date(StoredTime.seconds(now))
        let ends = StoredTime.date(StoredTime.seconds(now.addingTimeInterval(window)))
        return counters.withLock { all in
            keys.map { key in
                var counter = all[key].flatMap { $0.windowEnds > current ? $0 : nil } ?? Counter(failures: 0, windowEnds: ends)
                counter.failures += 1
                all[key] = counter
                return SignInAttemptCount(failures: counter.failures, windowEnds: counter.windowEnds)
            }
        }
    }

    public func forgiveSignInAttempt(keys: [[UInt8]], now: Date) async throws(StorageError) {
        let current = StoredTime.date(StoredTime.seconds(now))
        counters.withLock { all in
            for key in keys where (all[key]?.windowEnds ?? .distantPast) > current { all[key]!.failures = max(0, all[key]!.failures - 1) }
        }
    }

    public func sweepSignInAttempts(now: Date) async throws(StorageError) -> Int {
        let current = StoredTime.date(StoredTime.seconds(now))
        return counters.withLock { all in
            let before = all.count
            all = all.filter { $0.value.windowEnds > current }
            return before - all.count
        }
    }
}
