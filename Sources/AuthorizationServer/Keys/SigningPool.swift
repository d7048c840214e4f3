import Foundation
public import JOSE
public import OpenSSLKit

/// Threads of their own for signatures a hardware token computes. A token may take hundreds of milliseconds per
/// signature and offers few sessions: run on Swift's cooperative threads (one per core), a few slow signatures would
/// stall every request. Here at most `threads` signatures are in the token at once, and at most `queueLimit` wait;
/// beyond that a signature fails at once (`cryptoFailure`, "signing queue full") instead of piling up.
public final class SigningPool: @unchecked Sendable {
    public let threads: Int
    public let queueLimit: Int
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var started = false

    public init(threads: Int = 4, queueLimit: Int = 256) {
        self.threads = max(1, threads)
        self.queueLimit = max(1, queueLimit)
    }

    /// Signatures waiting for a thread.
    public var waiting: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count - head
    }

    /// Runs `body` on one of the pool's threads and returns its result.
    /// With `timeout`, the caller gets a failure ("did not answer") once it passes; the signature itself cannot be
    /// taken back from the token and still holds its thread until the token answers.
    public func run<T: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable () throws(JOSEError) -> T) async -> Result<T, JOSEError> {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, JOSEError>, Never>) in
            let once = ResumeOnce(continuation)
            let timer = timeout.map { limit in
                Task {
                    try? await Task.sleep(for: limit)
                    once.give(.failure(JOSEError(.cryptoFailure, "the token did not answer within \(limit)")))
                }
            }
            let job: @Sendable () -> Void = {
                // Its caller's deadline passed while it waited: the token's time goes to signatures someone awaits.
                guard once.isPending else { return }
                once.give(Result { () throws(JOSEError) -> T in try body() })
                timer?.cancel()
            }
            condition.lock()
            if !started {
                started = true
                for index in 0..<threads {
                    let thread = Thread { [self] in work() }
                    thread.name = "fapid-signing-\(index)"
                    thread.start()
                }
            }
            guard jobs.count - head < queueLimit else {
                condition.unlock()
                timer?.cancel()
                once.give(.failure(JOSEError(.cryptoFailure, "signing queue full (\(queueLimit) waiting)")))
                return
            }
            jobs.append(job)
            condition.signal()
            condition.unlock()
        }
    }

    private func work() {
        while true {
            condition.lock()
            while head == jobs.count { condition.wait() }
            let job = jobs[head]
            head += 1
            if head > 64, head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
        }
    }
}
