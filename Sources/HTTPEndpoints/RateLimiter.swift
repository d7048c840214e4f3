import HTTPTypes
import Synchronization

/// Token buckets by key: `rate` requests a second on average, `burst` at once. In memory and per
/// instance, sharded so concurrent requests rarely meet on one lock.
public final class RateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public let rate: Double
    public let burst: Double
    final class Shard: Sendable {
        let buckets = Mutex<[String: Bucket]>([:])
    }

    private let shards: [Shard]
    /// Entries kept per shard before refilled (full) buckets are dropped.
    static let shardLimit = 4096

    /// nil when `rate` is 0 (limiting off).
    public init?(rate: Int, burst: Int) {
        guard rate > 0 else { return nil }
        self.rate = Double(rate)
        self.burst = Double(max(burst, 1))
        shards = (0..<16).map { _ in Shard() }
    }

    /// Takes one token for `key`: nil when granted, else the seconds to wait for the next token.
    public func take(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        let shard = shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
        return shard.buckets.withLock { buckets -> Int? in
            var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            bucket.tokens = min(burst, bucket.tokens + seconds * rate)
            bucket.updated = now
            if buckets.count >= Self.shardLimit && buckets[key] == nil { prune(&buckets, now: now) }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                buckets[key] = bucket
                return nil
            }
            buckets[key] = bucket
            return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
        }
    }

    /// Drops buckets that have refilled completely: forgetting them changes nothing.
    private func prune(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant) {
        let refill = Duration.seconds(burst / rate)
        buckets = buckets.filter { now - $0.value.updated < refill }
        if buckets.count >= Self.shardLimit { buckets.removeAll(keepingCapacity: true) }
    }
}

/// The limits of the endpoints that take client authentication or registration, and of the PSU's browser
/// endpoints (per source address: behind a trusted proxy the forwarded one).
public struct RateLimits: Sendable {
    public let perClient: RateLimiter?
    public let perAddress: RateLimiter?
    /// `GET /authorize`: each one stores an interaction (CWE-400).
    public let authorize: RateLimiter?
    /// `POST /authorize/login` and `POST /account/consents/login`: each one costs a password hash (CWE-307, CWE-400).
    public let signIn: RateLimiter?
    /// Paths limited (POST only). `/consents` is the resource servers' intent creation: authenticated by mTLS as at
    /// `/introspect`, and each request stores a consent row (CWE-400), so it is limited per address and per client.
    public static let paths: Set<String> = ["/token", "/par", "/bc-authorize", "/register", "/introspect", "/revoke", "/consents"]

    public init(perClient: RateLimiter?, perAddress: RateLimiter?, authorize: RateLimiter? = nil, signIn: RateLimiter? = nil) {
        self.perClient = perClient
        self.perAddress = perAddress
        self.authorize = authorize
        self.signIn = signIn
    }

    /// The browser endpoint's limiter for this request, if it has one.
    func browser(method: HTTPRequest.Method, endpoint: String) -> RateLimiter? {
        switch (method, endpoint) {
        case (.get, "/authorize"): authorize
        case (.post, "/authorize/login"), (.post, "/account/consents/login"): signIn
        default: nil
        }
    }

    public static let none = RateLimits(perClient: nil, perAddress: nil)
}
