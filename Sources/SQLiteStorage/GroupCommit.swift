import AuthorizationServer
import GRDB
import Synchronization

/// Group commit: concurrent writes share one transaction.
///
/// Each write runs in a savepoint of its own inside the shared transaction, so a write that fails
/// (a constraint, a thrown error) is undone alone; every caller resumes only after the shared
/// transaction has committed, so nothing is reported written before it is. While one batch commits,
/// the writes that arrive queue up and form the next batch: under load many token inserts (and their
/// audit rows) cost one commit and one WAL append, and at low load a batch is a single write.
final class GroupCommit: Sendable {
    /// One queued write: runs in its savepoint, then learns whether the batch committed. `run` throws
    /// only when its savepoint could not be undone: then the whole batch is rolled back.
    struct Item: Sendable {
        let run: @Sendable (Database) throws -> Void
        let finish: @Sendable ((any Error)?) -> Void
    }

    private let pool: DatabasePool
    private let state = Mutex<(pending: [Item], draining: Bool)>(([], false))
    /// The most writes one transaction takes, so one batch cannot hold the write lock for long.
    static let maximumBatch = 256

    init(pool: DatabasePool) {
        self.pool = pool
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let outcome = Mutex<Result<T, any Error>?>(nil)
            let item = Item(
                run: { db in
                    // Prepared once per connection: a savepoint per write costs two cached statements.
                    try db.cachedStatement(sql: "SAVEPOINT fapid_write").execute()
                    do {
                        let value = try body(db)
                        try db.cachedStatement(sql: "RELEASE SAVEPOINT fapid_write").execute()
                        outcome.withLock { $0 = .success(value) }
                    } catch {
                        outcome.withLock { $0 = .failure(error) }
                        // Undo this write alone; if even that fails, the caller rolls the whole batch back.
                        try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT fapid_write").execute()
                        try db.cachedStatement(sql: "RELEASE SAVEPOINT fapid_write").execute()
                    }
                },
                finish: { commitError in
                    if let commitError {
                        continuation.resume(throwing: commitError)
                    } else {
                        continuation.resume(with: outcome.withLock { $0 } ?? .failure(StorageError(.unavailable, "write did not run")))
                    }
                })
            let start = state.withLock { state -> Bool in
                state.pending.append(item)
                if state.draining { return false }
                state.draining = true
                return true
            }
            if start { drain() }
        }
    }

    /// Commits and the writes they carried, since start (logged at debug level with each WAL checkpoint).
    let statistics = Mutex<(commits: Int, writes: Int)>((0, 0))

    /// Runs on GRDB's writer queue until no write is pending.
    private func drain() {
        pool.asyncWriteWithoutTransaction { db in
            while true {
                let batch = self.state.withLock { state -> [Item] in
                    guard !state.pending.isEmpty else {
                        state.draining = false
                        return []
                    }
                    let count = min(state.pending.count, Self.maximumBatch)
                    let batch = Array(state.pending.prefix(count))
                    state.pending.removeFirst(count)
                    return batch
                }
                if batch.isEmpty { return }
                self.statistics.withLock { $0 = ($0.commits + 1, $0.writes + batch.count) }
                do {
                    try db.inTransaction(.immediate) {
                        for item in batch { try item.run(db) }
                        return .commit
                    }
                    for item in batch { item.finish(nil) }
                } catch {
                    for item in batch { item.finish(error) }
                }
            }
        }
    }
}
