public import AuthorizationServer
public import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

/// One probe signature with a key, bounded in time: a token that does not answer must not hold the caller.
public enum SigningKeyProbe {
    /// How a probe that timed out begins its reason.
    static let timedOut = "no signature within"

    /// What a probe signs (never sent anywhere).
    static let payload = Array(#"{"probe":"fapid"}"#.utf8)

    /// Signs once with `signer`; nil when it signed within `timeout`, the reason otherwise. `finished` runs when the
    /// signature itself returns, which for a hung token may be long after the probe gave up on it.
    public static func probe(_ signer: ServerSigner, timeout: Duration, finished: @escaping @Sendable () -> Void = {}) async -> String? {
        await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            let answer = ResumeOnce(continuation)
            let timer = Task {
                try? await Task.sleep(for: timeout)
                answer.give("\(timedOut) \(timeout)")
            }
            Task {
                do {
                    // No deadline of the pool's: `finished` must run only when the token is free again (one probe per key).
                    _ = try await signer.sign(payload: payload, deadline: nil)
                    answer.give(nil)
                } catch {
                    answer.give("\(error)")
                }
                timer.cancel()
                finished()
            }
        }
    }

    /// Start-up fails closed: every `active` and `next` key must sign once, else the reason names the kid, where the
    /// key lives (file, database, or its `pkcs11:` URI — never the PIN) and the error.
    public static func requireSigning(_ ring: KeyRing, now: Date, timeout: Duration = .seconds(10)) async throws {
        for (record, signer) in ring.snapshot.activeAndNext(at: now) {
            if let failure = await probe(signer, timeout: timeout) {
                throw PrivateKeyFile.Failure(description: "signing key \(record.kid) (\(record.keyFile)) cannot sign: \(failure)")
            }
        }
    }
}

/// Every `key_refresh_seconds`, a probe signature with each key in a hardware token that is `active` or `next`, so a
/// token that went away shows in `/healthz` (503 naming the kid) and in the log before a client notices. At most one
/// probe per key is in the token at a time; one that does not answer within `timeout` counts as failed. A failing key
/// is forgotten by the key ring, so the next reload loads it afresh (a token put back, a new session) and the probe
/// after that finds it signing again.
public struct SigningKeyHealthMonitor: Service {
    let ring: KeyRing
    let clock: any WallClock
    let interval: Duration
    let timeout: Duration
    let logger: Logger
    private let inFlight = InFlight()

    public init(ring: KeyRing, clock: any WallClock, interval: Duration, timeout: Duration = .seconds(5), logger: Logger) {
        self.ring = ring
        self.clock = clock
        self.interval = interval
        self.timeout = timeout
        self.logger = logger
    }

    public func run() async throws {
        await runPeriodically(every: interval) { await check() }
    }

    /// One round of probes; returns when each has signed, failed or timed out.
    public func check() async {
        let keys = ring.snapshot.activeAndNext(at: clock.now()).filter { $0.signer.isInToken }
        ring.health.keep(only: Set(keys.map(\.record.kid)))
        await withTaskGroup(of: Void.self) { group in
            for (record, signer) in keys where inFlight.start(record.kid) {
                group.addTask {
                    let kid = record.kid
                    let failure = await SigningKeyProbe.probe(signer, timeout: timeout) { inFlight.finish(kid) }
                    report(record, failure: failure)
                }
            }
        }
    }

    private func report(_ record: SigningKeyRecord, failure: String?) {
        let metadata: Logger.Metadata = ["kid": "\(record.kid)", "key": "\(record.keyFile)"]
        guard let failure else {
            if ring.health.recordSuccess(record.kid) { logger.info("signing key signs again", metadata: metadata) }
            return
        }
        // A full queue is load, not a token failure: the probe says nothing then (marking every instance's key failing
        // under a burst would drain them all at once).
        guard !failure.contains("signing queue full") else { return }
        if ring.health.recordFailure(record.kid, reason: failure) {
            logger.error("signing key cannot sign", metadata: metadata.merging(["reason": "\(failure)"]) { $1 })
        }
        // An error (a token removed, a session lost) loads the key afresh; a probe that only timed out leaves it, as a
        // reload would only wait on the same token.
        if !failure.hasPrefix(SigningKeyProbe.timedOut) { ring.forget(record.kid) }
    }

    /// Kids with a probe signature still in the token.
    private final class InFlight: Sendable {
        private let kids = Mutex<Set<String>>([])

        /// False when a probe of `kid` has not returned yet.
        func start(_ kid: String) -> Bool { kids.withLock { $0.insert(kid).inserted } }
        func finish(_ kid: String) { _ = kids.withLock { $0.remove(kid) } }
    }
}
