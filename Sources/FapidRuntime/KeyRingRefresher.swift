public import AuthorizationServer
public import Logging
public import ServiceLifecycle

/// Re-reads the signing-key records every few seconds, so a `fapictl keys rotate` (from this host or
/// another instance sharing the database) takes effect without a restart. A failed reload keeps the
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
            do {
                try await manager.reload(ring, now: clock.now())
            } catch {
                logger.error("signing key reload failed; keeping the loaded keys", metadata: ["reason": "\(error)"])
            }
        }
    }
}
