public import AuthorizationServer
public import Logging
public import ServiceLifecycle

/// Deletes what can no longer matter: assertion `jti`s past their expiry, access tokens an hour past theirs.
/// Runs every `interval`; a failure is logged and retried next time.
public struct ExpirySweeper: Service {
    let tokens: any ExpiredRowSweeper
    let clock: any Clock
    let interval: Duration
    let logger: Logger

    public init(tokens: any ExpiredRowSweeper, clock: any Clock, interval: Duration = .seconds(60), logger: Logger) {
        self.tokens = tokens
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await runPeriodically(every: interval) {
            do {
                let removed = try await tokens.sweepExpired(now: clock.now(), retention: 3600)
                if removed > 0 { logger.debug("expired rows removed", metadata: ["count": "\(removed)"]) }
            } catch {
                logger.error("expiry sweep failed", metadata: ["reason": "\(error)"])
            }
        }
    }
}
