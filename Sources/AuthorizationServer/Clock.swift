public import Foundation

/// Where the core gets the time from: the system clock in the daemon, a fixed one in tests.
public protocol Clock: Sendable {
    func now() -> Date
}

public struct SystemClock: Clock {
    public init() {}
    public func now() -> Date { Date() }
}
