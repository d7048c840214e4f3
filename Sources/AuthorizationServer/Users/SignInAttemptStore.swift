public import Foundation

/// One key's failed sign-ins in its current window, after counting an attempt.
public struct SignInAttemptCount: Sendable, Equatable {
    /// Failures in the window, the attempt just counted included.
    public var failures: Int
    /// When the window (started by the key's first failure) ends and the count starts again.
    public var windowEnds: Date

    public init(failures: Int, windowEnds: Date) {
        self.failures = failures
        self.windowEnds = windowEnds
    }
}

/// The PSU sign-in failure counters (CWE-307), in the shared storage so that every instance behind a load
/// balancer sees the same counts. Keys are SHA-256 hashes of `user:NAME`, `address:ADDR` or
/// `interaction:ID`, so no guessed name (often a mistyped password) is stored in clear.
public protocol SignInAttemptStore: Sendable {
    /// Counts one attempt as a failure under every key, atomically per key: of concurrent attempts, at any
    /// instance, each sees a distinct count. A key whose window has ended starts again at 1 with a window of
    /// `window` seconds from `now`. Returns each key's count, in the order of `keys`.
    func countSignInAttempt(keys: [[UInt8]], now: Date, window: TimeInterval) async throws(StorageError) -> [SignInAttemptCount]
    /// Takes one failure back from each key (the attempt succeeded); keys whose window has ended are left alone.
    func forgiveSignInAttempt(keys: [[UInt8]], now: Date) async throws(StorageError)
    /// Removes counters whose window has ended; returns how many went.
    func sweepSignInAttempts(now: Date) async throws(StorageError) -> Int
}
