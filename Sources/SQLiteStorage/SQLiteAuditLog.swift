public import AuthorizationServer
public import Foundation
import GRDB
import OpenSSLKit

/// The audit log over `audit_log`, `audit_head` and `audit_checkpoints`.
///
/// Stores call `SQLiteAuditLog.append(_:to:)` inside the write transaction of the change an event
/// records, so the change and its audit row commit or vanish together. SQLite has one writer at a time
/// (GRDB opens write transactions IMMEDIATE), which serialises appends across threads and processes.
public struct SQLiteAuditLog: AuditLogReader {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    public func append(_ event: AuditEvent) async throws(StorageError) {
        try await database.write { db in try Self.append(event, to: db) }
    }

    static func append(_ event: AuditEvent?, to db: Database) throws {
        guard let event else { return }
        let head = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM audit_head WHERE id = 1"))
        let previousSeq: Int64 = head?[0] ?? 0
        let previousHash: String = head?[1] ?? AuditChain.genesis
        let seq = previousSeq + 1
        let values = AuditChain.values(of: event)
        let hash = AuditChain.hash(seq: seq, values: values, previousHash: previousHash)
        try db.cachedStatement(
            sql: """
                INSERT INTO audit_log (seq, time, type, client_id, org_id, user, cnf_x5t, interaction_id, source, outcome, reason, prev_hash, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            seq, values["time"], values["type"], values["client_id"], values["org_id"], values["user"], values["x5t#S256"],
            values["interaction_id"], values["source"], values["outcome"], values["reason"], previousHash, hash,
        ])
        try db.cachedStatement(sql: "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1").execute(arguments: [seq, hash])
        guard db.changesCount == 1 else { throw StorageError(.unavailable, "the audit_head row is missing: run fapictl audit verify") }
    }

    /// The recorded head: the last seq and its hash.
    public func head() async throws(StorageError) -> (seq: Int64, hash: String)? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_head WHERE id = 1").map { row in (seq: row[0] as Int64, hash: row[1] as String) }
        }
    }

    /// Rows with `seq` above `after`, at most `limit`, in order.
    public func rows(after: Int64, limit: Int) async throws(StorageError) -> [AuditChain.Row] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT \(Self.columns) FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                arguments: [after, limit]
            ).map(Self.decode)
        }
    }

    /// Rows recorded at or after `since` (RFC 3339 text compares in time order), in order.
    public func rows(since: Date, after: Int64, limit: Int) async throws(StorageError) -> [AuditChain.Row] {
        let from = AuditChain.timestamp(since)
        return try await database.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT \(Self.columns) FROM audit_log WHERE time >= ? AND seq > ? ORDER BY seq LIMIT ?",
                arguments: [from, after, limit]
            ).map(Self.decode)
        }
    }

    static let columns = "seq, time, type, client_id, org_id, user, cnf_x5t, interaction_id, source, outcome, reason, prev_hash, hash"

    static func decode(_ row: Row) -> AuditChain.Row {
        var values: [String: String] = [:]
        let columns = ["time", "type", "client_id", "org_id", "user", "x5t#S256", "interaction_id", "source", "outcome", "reason"]
        for (index, field) in columns.enumerated() {
            // A value of another storage class (edited by hand) still reads as text, and then fails its hash.
            if let value = text(row[index + 1]) { values[field] = value }
        }
        let seq: Int64
        if case .int64(let value) = (row[0] as DatabaseValue).storage { seq = value } else { seq = -1 }
        return AuditChain.Row(seq: seq, values: values, previousHash: text(row[11]) ?? "", hash: text(row[12]) ?? "")
    }

    /// Any storage class as text, so a hand-edited value never traps a conversion.
    static func text(_ value: DatabaseValue) -> String? {
        switch value.storage {
        case .null: nil
        case .int64(let number): String(number)
        case .double(let number): String(number)
        case .string(let string): string
        case .blob(let data): Crypto.hex([UInt8](data))
        }
    }

    // MARK: Checkpoints

    public typealias Checkpoint = AuditCheckpointRecord

    public func insertCheckpoint(seq: Int64, hash: String, jws: String, at: Date) async throws(StorageError) {
        try await database.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO audit_checkpoints (seq, hash, jws, created_at) VALUES (?, ?, ?, ?)",
                arguments: [seq, hash, jws, SQLiteDatabase.seconds(at)])
        }
    }

    public func checkpoints() async throws(StorageError) -> [Checkpoint] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, hash, jws, created_at FROM audit_checkpoints ORDER BY seq").map { row in
                Checkpoint(seq: row[0], hash: row[1], jws: row[2], createdAt: Date(timeIntervalSince1970: TimeInterval(row[3] as Int64)))
            }
        }
    }

    /// The row's hash at `seq`, if the row exists.
    public func hash(at seq: Int64) async throws(StorageError) -> String? {
        try await database.read { db in try String.fetchOne(db, sql: "SELECT hash FROM audit_log WHERE seq = ?", arguments: [seq]) }
    }
}
