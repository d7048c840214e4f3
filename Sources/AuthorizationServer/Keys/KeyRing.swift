public import Foundation
public import JOSE
public import OpenSSLKit
import Synchronization

/// The server's signing keys as the request path sees them: the keys that may sign, each with the time it
/// signs from and until, and the published JWKS, held as an immutable snapshot that a reload swaps atomically.
///
/// Which key signs is decided at signing time from the records' times (`SigningKeyRecord.state(at:)`), not at
/// reload time, so a staged rotation takes effect on the second it was scheduled for on every instance.
/// Private keys are parsed (or, for a token, loaded) once per kid and kept; a reload only loads kids it has not seen.
public final class KeyRing: Sendable {
    public struct Snapshot: Sendable {
        /// Keys that sign now or will: `next` and `active` records, newest first within an algorithm.
        let candidates: [JWSAlgorithm: [(record: SigningKeyRecord, signer: ServerSigner)]]
        public let published: [JWK]
        /// The serialized `/jwks` document, built once per reload rather than once per request.
        public let jwksDocument: [UInt8]
        public let records: [SigningKeyRecord]
        /// Every loaded signer by kid (`next`, `active` and `retiring` keys alike).
        public let loaded: [String: ServerSigner]

        static let empty = Snapshot(candidates: [:], published: [], jwksDocument: Array(#"{"keys":[]}"#.utf8), records: [], loaded: [:])

        /// The key of `algorithm` that signs at `now`: the newest record whose state is `active`.
        public func signer(for algorithm: JWSAlgorithm, at now: Date) -> ServerSigner? {
            candidates[algorithm]?.first(where: { $0.record.state(at: now) == .active })?.signer
        }

        /// Every algorithm with a key that signs at `now`, and that key.
        public func signers(at now: Date) -> [JWSAlgorithm: ServerSigner] {
            var result: [JWSAlgorithm: ServerSigner] = [:]
            for algorithm in candidates.keys { result[algorithm] = signer(for: algorithm, at: now) }
            return result
        }
    }

    /// Reads and parses the private key of a record (the runtime checks file permissions, opens sealed keys
    /// and loads token keys).
    public typealias KeyLoader = @Sendable (SigningKeyRecord) throws -> AsymmetricKey

    private let state = Mutex<(snapshot: Snapshot, parsed: [String: ServerSigner])>((.empty, [:]))
    let clock: any WallClock
    /// Where signatures by keys in a token run; file and sealed keys sign on the caller's thread.
    public let pool: SigningPool
    /// Keys in a token that failed their last probe signature (`/healthz`).
    public let health = KeyHealth()

    public init(clock: any WallClock = SystemClock(), pool: SigningPool = SigningPool()) {
        self.clock = clock
        self.pool = pool
    }

    public var snapshot: Snapshot { state.withLock { $0.snapshot } }

    /// The key of `algorithm` that signs now.
    public func signer(for algorithm: JWSAlgorithm) -> ServerSigner? {
        let now = clock.now()
        return state.withLock { $0.snapshot.signer(for: algorithm, at: now) }
    }

    /// Forgets the loaded key `kid`, so the next reload loads it again (a token that went away and came back).
    public func forget(_ kid: String) {
        state.withLock { _ = $0.parsed.removeValue(forKey: kid) }
    }

    /// Rebuilds the snapshot from `records` at `now`. Throws, and keeps the previous snapshot, when a key cannot
    /// be loaded or does not fit its record.
    public func reload(records: [SigningKeyRecord], now: Date, load: KeyLoader) throws {
        let known = state.withLock { $0.parsed }
        var parsed: [String: ServerSigner] = [:]
        var candidates: [JWSAlgorithm: [(record: SigningKeyRecord, signer: ServerSigner)]] = [:]
        var published: [JWK] = []
        for record in records {
            let recordState = record.state(at: now)
            guard recordState != .removed else { continue }
            let signer: ServerSigner
            if let cached = known[record.kid], cached.algorithm == record.algorithm {
                signer = cached
            } else {
                let key = try load(record)
                let signingKey = try SigningKey(key: key, algorithm: record.algorithm, kid: record.kid)
                signer = ServerSigner(key: signingKey, pool: key.isInToken ? pool : nil)
            }
            parsed[record.kid] = signer
            published.append(try signer.key.publicJWK())
            if recordState == .next || recordState == .active { candidates[record.algorithm, default: []].append((record, signer)) }
        }
        // Newest first: when two records are active at once (an emergency rotation over a scheduled one), the newer signs.
        for algorithm in candidates.keys {
            candidates[algorithm]?.sort { ($0.record.activeFrom, $0.record.createdAt) > ($1.record.activeFrom, $1.record.createdAt) }
        }
        let document = JWKSet(keys: published).publicJSON.bytes
        let snapshot = Snapshot(candidates: candidates, published: published, jwksDocument: document, records: records, loaded: parsed)
        state.withLock { $0 = (snapshot, parsed) }
    }
}
