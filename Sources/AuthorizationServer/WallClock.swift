public import Foundation

/// Where the core gets the time of day from: the system clock in the daemon, a fixed one in tests
/// (`TestSupport.FixedClock`). Named apart from the standard library's `Clock`, which measures durations.
public protocol WallClock: Sendable {
    func now() -> Date
}

public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}
