public import AuthorizationServer
public import Logging
public import SQLiteStorage
public import ServiceLifecycle
import Dispatch

/// Deletes what can no longer matter: assertion `jti`s past their expiry, access tokens an hour past theirs.
/// Runs every `interval`; a failure is logged and retried next time.
public struct ExpirySweeper: Service {
    let tokens: SQLiteTokenStore
    let clock: any Clock
    let interval: Duration
    let logger: Logger

    public init(tokens: SQLiteTokenStore, clock: any Clock, interval: Duration = .seconds(60), logger: Logger) {
        self.tokens = tokens
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await runPeriodically(every: interval) {
            do {
                let removed = try await tokens.sweepExpired(now: clock.now())
                if removed > 0 { logger.debug("expired rows removed", metadata: ["count": "\(removed)"]) }
            } catch {
                logger.error("expiry sweep failed", metadata: ["reason": "\(error)"])
            }
        }
    }
}

/// Copies the WAL into the database every `interval`, from a connection of its own on a thread of its
/// own, so that commits on the token path never do it (see `SQLiteDatabase.init(backgroundCheckpoints:)`).
/// A last checkpoint runs at shutdown.
public struct WALCheckpointer: Service {
    let database: SQLiteDatabase
    let interval: Duration
    let logger: Logger
    static let queue = DispatchQueue(label: "fapid.wal-checkpoint")

    public init(database: SQLiteDatabase, interval: Duration = .seconds(1), logger: Logger) {
        self.database = database
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await runPeriodically(every: interval) { await checkpoint() }
        await checkpoint()
    }

    func checkpoint() async {
        let database = database
        let logger = logger
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Self.queue.async {
                do {
                    let result = try database.checkpoint()
                    logger.debug(
                        "WAL checkpoint",
                        metadata: [
                            "busy": "\(result.busy)", "frames": "\(result.walFrames)", "copied": "\(result.checkpointed)",
                            "commits": "\(database.commitStatistics.commits)", "writes": "\(database.commitStatistics.writes)",
                        ])
                } catch {
                    logger.warning("WAL checkpoint failed", metadata: ["reason": "\(error)"])
                }
                continuation.resume()
            }
        }
    }
}
