import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import Synchronization
import Testing

/// A gate a pool thread waits at, opened from the test.
private final class Gate: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let entered = Atomic<Int>(0)
    func pass() {
        entered.add(1, ordering: .sequentiallyConsistent)
        semaphore.wait()
    }
    var waiting: Int { entered.load(ordering: .sequentiallyConsistent) }
    func open(_ count: Int = 1) { for _ in 0..<count { semaphore.signal() } }
}

private func eventually(_ condition: () -> Bool) async throws {
    for _ in 0..<500 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
    #expect(condition())
}

@Suite("SigningPool: signatures a token computes run on threads of their own, bounded")
struct SigningPoolTests {
    @Test("results and errors come back")
    func resultsAndErrors() async throws {
        let pool = SigningPool(threads: 2, queueLimit: 4)
        let value = await pool.run { () throws(JOSEError) -> Int in 42 }
        #expect(try value.get() == 42)
        let failed = await pool.run { () throws(JOSEError) -> Int in throw JOSEError(.invalidKey, "token gone") }
        #expect(throws: JOSEError.self) { try failed.get() }
        #expect("\(failed)".contains("token gone"))
    }

    @Test("signatures stuck in the token (more than there are cores) leave the cooperative threads free")
    func offTheCooperativePool() async throws {
        let stuck = ProcessInfo.processInfo.activeProcessorCount + 2
        let pool = SigningPool(threads: stuck, queueLimit: 4)
        let gate = Gate()
        let held = (0..<stuck).map { _ in Task { await pool.run { () throws(JOSEError) -> Int in gate.pass(); return 1 } } }
        try await eventually { gate.waiting == stuck }
        let others = await withTaskGroup(of: Int.self) { group in
            for value in 0..<32 { group.addTask { value } }
            return await group.reduce(0, +)
        }
        #expect(others == 496)
        gate.open(stuck)
        for task in held { #expect(try await task.value.get() == 1) }
    }

    @Test("beyond its queue limit a signature fails at once instead of waiting; the queued ones still complete")
    func bounded() async throws {
        let pool = SigningPool(threads: 1, queueLimit: 1)
        let gate = Gate()
        let busy = Task { await pool.run { () throws(JOSEError) -> Int in gate.pass(); return 1 } }
        try await eventually { gate.waiting == 1 }
        let queued = Task { await pool.run { () throws(JOSEError) -> Int in 2 } }
        try await eventually { pool.waiting == 1 }
        let refused = await pool.run { () throws(JOSEError) -> Int in 3 }
        #expect("\(refused)".contains("signing queue full"))
        gate.open()
        #expect(try await busy.value.get() == 1)
        #expect(try await queued.value.get() == 2)
        #expect(pool.waiting == 0)
    }
}

@Suite("KeyHealth: which token keys failed their last probe")
struct KeyHealthTests {
    @Test("a failure is reported once until the key signs again; only kids asked about and kept are named")
    func transitions() {
        let health = KeyHealth()
        #expect(health.failing(among: ["a", "b"]).isEmpty)
        #expect(health.recordFailure("b", reason: "gone"))
        #expect(!health.recordFailure("b", reason: "still gone"))
        #expect(health.recordFailure("a", reason: "gone"))
        #expect(health.failing(among: ["c", "b", "a"]) == ["a", "b"])
        #expect(health.failing(among: ["c"]).isEmpty)
        #expect(health.recordSuccess("a"))
        #expect(!health.recordSuccess("a"))
        #expect(health.failing(among: ["a", "b"]) == ["b"])
        health.keep(only: ["a"])
        #expect(health.failing(among: ["a", "b"]).isEmpty)
    }
}
