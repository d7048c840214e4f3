import Foundation
import HTTPEndpoints
import Testing

@Suite("Rate limiter")
struct RateLimiterTests {
    @Test("a burst is granted, then one request per 1/rate seconds, and keys are independent")
    func buckets() throws {
        let limiter = try #require(RateLimiter(rate: 2, burst: 3))
        let t0 = ContinuousClock.now
        #expect((0..<3).map { _ in limiter.take("a", now: t0) } == [nil, nil, nil])
        #expect(limiter.take("a", now: t0) == 1)
        #expect(limiter.take("b", now: t0) == nil)
        #expect(limiter.take("a", now: t0 + .milliseconds(400)) == 1)
        #expect(limiter.take("a", now: t0 + .milliseconds(600)) == nil)
        #expect(limiter.take("a", now: t0 + .milliseconds(600)) == 1)
        // After a long pause the bucket is full again, never fuller.
        let later = t0 + .seconds(60)
        #expect((0..<3).map { _ in limiter.take("a", now: later) } == [nil, nil, nil])
        #expect(limiter.take("a", now: later) != nil)
    }

    @Test("rate 0 turns limiting off")
    func off() {
        #expect(RateLimiter(rate: 0, burst: 10) == nil)
    }

    @Test("many keys stay bounded in memory and keep working")
    func manyKeys() {
        let limiter = RateLimiter(rate: 1000, burst: 1)!
        let t0 = ContinuousClock.now
        for index in 0..<100_000 { _ = limiter.take("k\(index)", now: t0 + .milliseconds(Int64(index / 1000))) }
        #expect(limiter.take("fresh", now: t0 + .seconds(200)) == nil)
    }
}
