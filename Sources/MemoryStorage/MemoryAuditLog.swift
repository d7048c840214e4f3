public import AuthorizationServer
public import Foundation

/// The audit log in memory, chained with `AuditChain.hash` like the SQL backends' (`MemoryState.appendAudit`).
public struct MemoryAuditLog: AuditLogReader {
    let database: MemoryDatabase

    public init(database: MemoryDatabase = MemoryDatabase()) {
        self.database = database
    }

    public func append(_ event: AuditEvent) async throws(StorageError) {
        try database.write { $0.appendAudit(event) }
    }

    public func head() async throws(StorageError) -> (seq: Int64, hash: String)? {
        try database.read { state in state.auditRows.last.map { (seq: $0.seq, hash: $0.hash) } ?? (seq: 0, hash: AuditChain.genesis) }
    }

    public func rows(after: Int64, limit: Int) async throws(StorageError) -> [AuditChain.Row] {
        try database.read { state in Array(state.auditRows.filter { $0.seq > after }.prefix(limit)) }
    }

    /// RFC 3339 text compares in time order, as in the SQL backends.
    public func rows(since: Date, after: Int64, limit: Int) async throws(StorageError) -> [AuditChain.Row] {
        let from = AuditChain.timestamp(since)
        return try database.read { state in Array(state.auditRows.filter { $0.seq > after && ($0.values["time"] ?? "") >= from }.prefix(limit)) }
    }

    public func hash(at seq: Int64) async throws(StorageError) -> String? {
        try database.read { state in state.auditRows.first { $0.seq == seq }?.hash }
    }

    public func insertCheckpoint(seq: Int64, hash: String, jws: String, at: Date) async throws(StorageError) {
        try database.write { state in
            if state.checkpoints[seq] == nil {
                state.checkpoints[seq] = AuditCheckpointRecord(seq: seq, hash: hash, jws: jws, createdAt: StoredTime.date(at.storedSeconds))
            }
        }
    }

    public func checkpoints() async throws(StorageError) -> [AuditCheckpointRecord] {
        try database.read { state in state.checkpoints.values.sorted { $0.seq < $1.seq } }
    }
}
