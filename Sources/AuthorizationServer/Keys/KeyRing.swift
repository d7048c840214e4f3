public import Foundation
public import JOSE
public import OpenSSLKit
import Synchronization

/// The server's signing keys as the request path sees them: the keys that may sign, each with the time it
/// signs from and until, and the published JWKS, held as an immutable snapshot that a reload swaps atomically.
///
/// Which key signs is decided at signing time from the records' times (`SigningKeyRecord.state(at:)`), not at
/// reload time, so a staged rotation takes effect on the second it was scheduled for on every instance.
/// Private keys are parsed (or, for a token, loaded) once per kid and kept; a reload only loads kids it has not seen,
/// and only for keys that sign now or will (`next`, `active`): a `retiring` key is published from the public JWK its
/// record keeps. A key that cannot be loaded does not stop the others: it is left unused (published from its record's
/// JWK if it has one, as other instances may sign with it) and named in `unloadable`, which `/healthz` reports.
public final class KeyRing: Sendable {
    public struct Snapshot: Sendable {
        /// Keys that sign now or will: `next` and `active` records, newest first within an algorithm.
        let candidates: [JWSAlgorithm: [(record: SigningKeyRecord, signer: ServerSigner)]]
        public let published: [JWK]
        /// The serialized `/jwks` document, built once per reload rather than once per request.
        public let jwksDocument: [UInt8]
        public let records: [SigningKeyRecord]
        /// Every loaded signer by kid.
        public let loaded: [String: ServerSigner]
        /// `next` and `active` keys that could not be loaded, and why (the reason never holds key material or a PIN).
        public let unloadable: [String: String]

        static let empty = Snapshot(
            candidates: [:], published: [], jwksDocument: Array(#"{"keys":[]}"#.utf8), records: [], loaded: [:], unloadable: [:])

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

    /// The snapshot, the loaded signers by kid, the kids forgotten while a reload was running (not kept by it), and
    /// reload numbers: the last started, and the one whose snapshot is in use.
    private let state = Mutex<(snapshot: Snapshot, parsed: [String: ServerSigner], forgotten: Set<String>, started: Int, applied: Int)>(
        (.empty, [:], [], 0, 0))
    /// Whether a `reloadOffThread` is still loading.
    private let reloading = Mutex(false)
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

    /// The time the ring chooses signers by.
    public func now() -> Date { clock.now() }

    /// The key of `algorithm` that signs now.
    public func signer(for algorithm: JWSAlgorithm) -> ServerSigner? {
        let now = clock.now()
        return state.withLock { $0.snapshot.signer(for: algorithm, at: now) }
    }

    /// Forgets the loaded key `kid`, so the next reload loads it again (a token that went away and came back).
    public func forget(_ kid: String) {
        state.withLock {
            $0.parsed.removeValue(forKey: kid)
            $0.forgotten.insert(kid)
        }
    }

    /// Rebuilds the snapshot from `records` at `now` and returns the `next` and `active` keys that could not be loaded
    /// (also in `snapshot.unloadable`). Loading may block (a token); call it off the cooperative threads
    /// (`reloadOffThread`).
    @discardableResult
    public func reload(records: [SigningKeyRecord], now: Date, load: KeyLoader) -> [String: String] {
        let (known, number) = state.withLock { current in
            current.forgotten = []
            current.started += 1
            return (current.parsed, current.started)
        }
        var parsed: [String: ServerSigner] = [:]
        var candidates: [JWSAlgorithm: [(record: SigningKeyRecord, signer: ServerSigner)]] = [:]
        var published: [JWK] = []
        var unloadable: [String: String] = [:]
        for record in records {
            let recordState = record.state(at: now)
            guard recordState != .removed else { continue }
            let stored = record.publicJWK.flatMap { try? JWK(json: Array($0.utf8)) }
            // A retiring key is published from its record; one from before public JWKs were kept loads to tell.
            if recordState == .retiring, let stored {
                published.append(stored)
                continue
            }
            let signer: ServerSigner
            if let cached = known[record.kid], cached.algorithm == record.algorithm {
                signer = cached
            } else {
                do {
                    let key = try load(record)
                    let signingKey = try SigningKey(key: key, algorithm: record.algorithm, kid: record.kid)
                    signer = ServerSigner(key: signingKey, pool: key.isInToken ? pool : nil)
                } catch {
                    if recordState != .retiring { unloadable[record.kid] = "\(error)" }
                    if let stored { published.append(stored) }
                    continue
                }
            }
            guard let jwk = try? signer.key.publicJWK() else { continue }
            parsed[record.kid] = signer
            published.append(jwk)
            if recordState == .next || recordState == .active { candidates[record.algorithm, default: []].append((record, signer)) }
        }
        // Newest first: when two records are active at once (an emergency rotation over a scheduled one), the newer signs.
        for algorithm in candidates.keys {
            candidates[algorithm]?.sort { ($0.record.activeFrom, $0.record.createdAt) > ($1.record.activeFrom, $1.record.createdAt) }
        }
        let document = JWKSet(keys: published).publicJSON.bytes
        let snapshot = Snapshot(
            candidates: candidates, published: published, jwksDocument: document, records: records, loaded: parsed, unloadable: unloadable)
        state.withLock { current in
            // A key forgotten while this reload ran is loaded again by the next one.
            let kept = parsed.filter { !current.forgotten.contains($0.key) }
            if number > current.applied {
                current.snapshot = snapshot
                current.parsed = kept
                current.applied = number
            } else {
                // A later reload (made while this one hung) is in use: only the keys this one loaded are worth keeping.
                current.parsed.merge(kept) { old, _ in old }
            }
            current.forgotten = []
        }
        return unloadable
    }

    /// `reload` on a thread of its own, so that a token that is slow or hangs while a key loads holds neither a
    /// cooperative thread nor the caller beyond `timeout`. Nil when it did not finish in time, or when an earlier
    /// reload still has not (it goes on, and applies its snapshot when it finishes; no other starts meanwhile).
    ///
    /// While a load hangs, the ring is still rebuilt from the fresh records at every call, loading no token key: keys
    /// already loaded keep their new times (an old key still retires on time), token keys not yet loaded are published
    /// from their records' JWKs and named in `unloadable` ("still loading"), so `/healthz` says so. The hung reload, when it
    /// returns, keeps the keys it loaded but does not replace a snapshot made after it started.
    public func reloadOffThread(records: [SigningKeyRecord], now: Date, timeout: Duration, load: @escaping KeyLoader) async -> [String: String] {
        let started = reloading.withLock { busy in
            guard !busy else { return false }
            busy = true
            return true
        }
        if started, let unloadable = await BlockingCall.run(timeout: timeout, { [self] in
            defer { reloading.withLock { $0 = false } }
            return reload(records: records, now: now, load: load)
        }) {
            return unloadable
        }
        // Meanwhile only keys in a token wait (the module is what hangs, and it is held); files and sealed keys load.
        let pending = started ? "did not load within \(timeout)" : "still loading (an earlier load has not returned)"
        return reload(records: records, now: now) { record in
            guard record.location != .pkcs11 else { throw StillLoading(description: pending) }
            return try load(record)
        }
    }

    struct StillLoading: Error, CustomStringConvertible {
        let description: String
    }
}
