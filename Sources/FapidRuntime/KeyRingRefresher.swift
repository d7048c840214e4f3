public import AuthorizationServer
public import Foundation
import JOSE
public import Logging
public import ServiceLifecycle

/// Re-reads the signing-key records every few seconds, so a `fapictl keys rotate` (from this host or
/// another instance sharing the database) takes effect without a restart, then records the key-state
/// transitions the schedule brought as audit events (once across instances). A failed reload keeps the
/// keys already loaded and is logged.
public struct KeyRingRefresher: Service {
    let manager: SigningKeyManager
    let ring: KeyRing
    let clock: any WallClock
    let interval: Duration
    let logger: Logger

    public init(manager: SigningKeyManager, ring: KeyRing, clock: any WallClock, interval: Duration, logger: Logger) {
        self.manager = manager
        self.ring = ring
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await runPeriodically(every: interval) {
            let now = clock.now()
            do {
                // Bounded by the refresh period, so a key that hangs while loading delays nothing by more than one period
                // (the schedule's minimum publish-ahead counts on it).
                try await manager.reload(ring, now: now, timeout: min(interval, .seconds(30)))
            } catch {
                logger.error("signing keys not loaded; the others are in use", metadata: ["reason": "\(error)"])
            }
            // A fresh time: the reload may have taken a while (a token), and a state judged at an older time than
            // another instance already recorded would be refused anyway (states only move forward).
            await recordTransitions()
        }
    }

    /// Records the key-state transitions due at `now` (default: the clock's) and logs each one this instance
    /// recorded; a storage failure is logged and retried at the next refresh.
    public func recordTransitions(now: Date? = nil) async {
        do {
            for (record, state) in try await manager.recordTransitions(now: now ?? clock.now()) {
                logger.info(
                    "signing key state changed",
                    metadata: ["kid": "\(record.kid)", "alg": "\(record.algorithm.rawValue)", "state": "\(state.rawValue)"])
            }
        } catch {
            logger.error("recording signing key transitions failed", metadata: ["reason": "\(error)"])
        }
    }
}
