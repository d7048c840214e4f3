import Foundation
import Synchronization

/// Work that may block for long (a PKCS#11 module talking to an HSM), run on a thread of its own and awaited for at most
/// a deadline. The thread cannot be cancelled: past the deadline the caller goes on without the result, and the work
/// finishes (or stays blocked) on its thread.
enum BlockingCall {
    static func run<T: Sendable>(timeout: Duration, _ body: @escaping @Sendable () -> T) async -> T? {
        await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            let once = ResumeOnce(continuation)
            let timer = Task {
                try? await Task.sleep(for: timeout)
                once.give(nil)
            }
            let thread = Thread {
                once.give(body())
                timer.cancel()
            }
            thread.name = "fapid-key-load"
            thread.start()
        }
    }
}

/// Resumes its continuation exactly once: with the work's result or a deadline's, whichever comes first.
public final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, Never>?>

    public init(_ continuation: CheckedContinuation<T, Never>) { self.continuation = Mutex(continuation) }

    /// Whether nothing has resumed the continuation yet (a job whose caller gave up is skipped).
    public var isPending: Bool { continuation.withLock { $0 != nil } }

    public func give(_ value: T) {
        continuation.withLock { pending in
            pending?.resume(returning: value)
            pending = nil
        }
    }
}
