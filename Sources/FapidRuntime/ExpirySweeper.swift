public import AuthorizationServer
public import Logging
public import ServiceLifecycle

/// Deletes what can no longer matter, as `ExpirySweep` lists it: assertion `jti`s past their expiry, tokens,
/// codes and requests `ExpirySweep.retention` past theirs, and, at once, expired PSU interactions and sessions
/// (each holds a whole request: CWE-400) and sign-in counters whose window has ended. Consents are never
/// deleted (they are evidence): those past their expiry are marked `expired`, at most `consentBatch` a pass, with
/// their tokens revoked (`Consent.markedExpired`). Runs every `interval`; a failure is logged and retried next time.
public struct ExpirySweeper: Service {
    let tokens: any ExpiredRowSweeper
    let interactions: (any InteractionStore)?
    let signInAttempts: (any SignInAttemptStore)?
    let consents: (any ConsentStore)?
    let consentBatch: Int
    let clock: any WallClock
    let interval: Duration
    let logger: Logger

    public init(
        tokens: any ExpiredRowSweeper, interactions: (any InteractionStore)? = nil, signInAttempts: (any SignInAttemptStore)? = nil,
        consents: (any ConsentStore)? = nil, consentBatch: Int = 100, clock: any WallClock, interval: Duration = .seconds(60), logger: Logger
    ) {
        self.consents = consents
        self.consentBatch = consentBatch
        self.tokens = tokens
        self.interactions = interactions
        self.signInAttempts = signInAttempts
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await runPeriodically(every: interval) { _ = await sweep() }
    }

    /// One pass; returns how many rows went (or, for consents, were marked expired).
    public func sweep() async -> Int {
        let now = clock.now()
        var removed = 0
        do {
            removed += try await tokens.sweepExpired(now: now, retention: ExpirySweep.retention)
        } catch {
            logger.error("expiry sweep failed", metadata: ["reason": "\(error)"])
        }
        do {
            removed += try await interactions?.sweepExpiredInteractions(now: now) ?? 0
        } catch {
            logger.error("expiry sweep of PSU interactions failed", metadata: ["reason": "\(error)"])
        }
        do {
            removed += try await signInAttempts?.sweepSignInAttempts(now: now) ?? 0
        } catch {
            logger.error("expiry sweep of sign-in counters failed", metadata: ["reason": "\(error)"])
        }
        do {
            let expired = try await consents?.markExpiredConsents(now: now, limit: consentBatch) ?? 0
            if expired > 0 { logger.info("consents expired", metadata: ["count": "\(expired)"]) }
            removed += expired
        } catch {
            logger.error("expiry sweep of consents failed", metadata: ["reason": "\(error)"])
        }
        if removed > 0 { logger.debug("expired rows removed", metadata: ["count": "\(removed)"]) }
        return removed
    }
}
