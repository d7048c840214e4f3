import Dispatch
import Foundation
import Synchronization

/// Runs password hashing (scrypt: tens of milliseconds of CPU and 32 MiB each) on threads of its own, at most
/// `width` at once, so sign-ins never block Swift's cooperative pool (everything else the daemon does) and a
/// flood of them cannot take more than `width` cores. Callers beyond `width` wait in line; beyond
/// `maximumWaiting` they are turned away at once, which keeps memory bounded under attack (CWE-400).
public final class PasswordHashPool: Sendable {
    public let width: Int
    public let maximumWaiting: Int

    private struct State {
        var running = 0
        var waiting: [CheckedContinuation<Bool, Never>] = []
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "fapid.password-hash", qos: .userInitiated, attributes: .concurrent)

    /// `width` defaults to the cores of the machine.
    public init(width: Int? = nil, maximumWaiting: Int = 128) {
        self.width = max(1, width ?? ProcessInfo.processInfo.activeProcessorCount)
        self.maximumWaiting = max(0, maximumWaiting)
    }

    /// Runs `work` on the pool's threads once a slot is free; nil, without running it, when the line is full.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T? {
        guard await acquire() else { return nil }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            queue.async { continuation.resume(returning: work()) }
        }
        release()
        return result
    }

    /// How many run now and how many wait (for tests and metrics).
    public var load: (running: Int, waiting: Int) {
        state.withLock { ($0.running, $0.waiting.count) }
    }

    private func acquire() async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let decided = state.withLock { state -> Bool? in
                if state.running < width {
                    state.running += 1
                    return true
                }
                guard state.waiting.count < maximumWaiting else { return false }
                state.waiting.append(continuation)
                return nil
            }
            if let decided { continuation.resume(returning: decided) }
        }
    }

    /// Hands the slot to the next in line, or frees it.
    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if !state.waiting.isEmpty { return state.waiting.removeFirst() }
            state.running -= 1
            return nil
        }
        next?.resume(returning: true)
    }
}
