import Dispatch
public import Logging
public import SQLiteStorage
public import ServiceLifecycle

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
