import AuthorizationServer
import Foundation
import Synchronization
import Testing

@Suite("PasswordHash")
struct PasswordHashTests {
    @Test("scrypt hashes verify the right password only, and are salted")
    func roundTrip() throws {
        let hash = try PasswordHash.make("correct horse battery staple")
        #expect(hash.hasPrefix("scrypt$32768$8$1$"))
        #expect(PasswordHash.verify("correct horse battery staple", against: hash))
        #expect(!PasswordHash.verify("correct horse battery stapler", against: hash))
        #expect(!PasswordHash.verify("", against: hash))
        #expect(try PasswordHash.make("correct horse battery staple") != hash)
    }

    @Test("malformed or oversized encodings never verify", arguments: ["", "scrypt$", "bcrypt$1$2$3$AAAA$AAAA", "scrypt$99999999$8$1$AAAA$AAAA", "scrypt$16$8$1$@@$AAAA"])
    func malformed(encoded: String) {
        #expect(!PasswordHash.verify("x", against: encoded))
    }
}

/// A counter shared by concurrent work.
final class SharedCount: Sendable {
    let value = Mutex(0)
}

@Suite("PasswordHashPool")
struct PasswordHashPoolTests {
    @Test("runs at most its width at once, off the cooperative pool, and hands every result back")
    func bounded() async {
        let pool = PasswordHashPool(width: 2, maximumWaiting: 64)
        let running = SharedCount()
        let peak = SharedCount()
        let results = await withTaskGroup(of: Int?.self) { group in
            for index in 0..<8 {
                group.addTask {
                    await pool.run { () -> Int in
                        let now = running.value.withLock { value -> Int in
                            value += 1
                            return value
                        }
                        peak.value.withLock { $0 = max($0, now) }
                        // Hold the slot until a second job runs beside it (or 5 s pass), so that how fast the
                        // tasks happen to be scheduled cannot decide whether the width is reached.
                        let deadline = ContinuousClock.now + .seconds(5)
                        while peak.value.withLock({ $0 }) < 2 && ContinuousClock.now < deadline { usleep(1_000) }
                        usleep(5_000)
                        running.value.withLock { $0 -= 1 }
                        return index
                    }
                }
            }
            var all: [Int] = []
            for await result in group { if let result { all.append(result) } }
            return all
        }
        #expect(results.sorted() == Array(0..<8))
        #expect(peak.value.withLock { $0 } == 2)
        #expect(pool.load == (running: 0, waiting: 0))
    }

    @Test("beyond its line it refuses at once, without running the work")
    func refusesBeyondTheLine() async {
        let pool = PasswordHashPool(width: 1, maximumWaiting: 1)
        let ran = SharedCount()
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    await pool.run { () -> Bool in
                        ran.value.withLock { $0 += 1 }
                        usleep(50_000)
                        return true
                    } ?? false
                }
            }
            var all: [Bool] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.filter { $0 }.count == ran.value.withLock { $0 })
        #expect(outcomes.contains(false) && outcomes.contains(true))
    }
}
