public import CertificateStatus
public import Foundation

/// `StatusCacheStore` in memory, bounded to `maximumRows`.
public struct MemoryStatusCacheStore: StatusCacheStore {
    let database: MemoryDatabase
    let maximumRows: Int

    public init(database: MemoryDatabase = MemoryDatabase(), maximumRows: Int = 100_000) {
        self.database = database
        self.maximumRows = maximumRows
    }

    public func loadStatuses(now: Date) async throws -> [PersistedStatus] {
        try database.read { state in
            state.statuses.values.filter { $0.until.storedSeconds > now.storedSeconds }.sorted { $0.thumbprint < $1.thumbprint }
        }
    }

    public func saveStatus(_ status: PersistedStatus, now: Date) async throws {
        let limit = maximumRows
        try database.write { state in
            state.statuses[status.thumbprint] = status
            state.statuses = state.statuses.filter { $0.value.until.storedSeconds >= now.storedSeconds }
            // Beyond the bound, the answers that expire first go.
            let excess = state.statuses.count - limit
            if excess > 0 {
                for stale in state.statuses.values.sorted(by: { $0.until < $1.until }).prefix(excess) { state.statuses[stale.thumbprint] = nil }
            }
        }
    }
}
