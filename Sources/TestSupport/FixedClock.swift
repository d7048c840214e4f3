public import AuthorizationServer
public import Foundation
import Synchronization

/// A clock that stands still until a test sets or advances it; safe to share between concurrent tasks.
public final class FixedClock: WallClock {
    private let current: Mutex<Date>

    /// 2027-01-15T08:00:00Z, the instant most tests start from.
    public static let defaultStart = Date(timeIntervalSince1970: 1_800_000_000)

    public init(_ start: Date = FixedClock.defaultStart) {
        current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    /// Moves the clock to `date`.
    public func set(_ date: Date) { current.withLock { $0 = date } }

    /// Moves the clock forward by `seconds` (backward when negative).
    public func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}
