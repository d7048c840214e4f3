public import AuthorizationServer
public import Foundation
import JOSE
import PostgresNIO

/// The audit log over `audit_log`, `audit_head` and `audit_checkpoints`, shared by every instance.
///
/// Stores append inside the transaction of the change an event records, as the last step before COMMIT:
/// `SELECT … FROM audit_head FOR UPDATE` makes instances append one after another, so the chain stays
/// linear, and the lock is held only from there to the commit.
public struct PostgresAuditLog: AuditLogReader {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func append(_ event: AuditEvent) async throws(StorageError) {
        try await database.transaction { tx in try await Self.append(event, to: tx) }
    }

    static func append(_ event: AuditEvent?, to tx: Transaction) async throws {
        guard let event else { return }
        guard let head = try await tx.rows("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE").first else {
            throw StorageError(.unavailable, "the audit_head row is missing: run fapictl audit verify")
        }
        let previousSeq = try head.value(0, as: Int64.self)
        let previousHash = try head.value(1, as: String.self)
        let seq = previousSeq + 1
        let values = AuditChain.values(of: event)
        let hash = AuditChain.hash(seq: seq, values: values, previousHash: previousHash)
        try await tx.execute(
            """
            INSERT INTO audit_log (seq, time, type, client_id, org_id, "user", cnf_x5t, interaction_id, source, outcome, reason, prev_hash, hash)
            VALUES (\(seq), \(values["time"]), \(values["type"]), \(values["client_id"]), \(values["org_id"]), \(values["user"]),
                \(values["x5t#S256"]), \(values["interaction_id"]), \(values["source"]), \(values["outcome"]), \(values["reason"]),
                \(previousHash), \(hash))
            """)
        try await tx.execute("UPDATE audit_head SET seq = \(seq), hash = \(hash) WHERE id = 1")
    }

    public func head() async throws(StorageError) -> (seq: Int64, hash: String)? {
        let rows = try await database.rows("SELECT seq, hash FROM audit_head WHERE id = 1")
        do {
            return try rows.first.map { row in (seq: try row.value(0, as: Int64.self), hash: try row.value(1, as: String.self)) }
        } catch {
            throw PostgresDatabase.translate(error).error
        }
    }

    static let columns = #"seq, time, type, client_id, org_id, "user", cnf_x5t, interaction_id, source, outcome, reason, prev_hash, hash"#

    public func rows(after: Int64, limit: Int) async throws(StorageError) -> [AuditChain.Row] {
        Self.decode(try await database.rows("SELECT \(unescaped: Self.columns) FROM audit_log WHERE seq > \(after) ORDER BY seq LIMIT \(limit)"))
    }

    public func rows(since: Date, after: Int64, limit: Int) async throws(StorageError) -> [AuditChain.Row] {
        let from = AuditChain.timestamp(since)
        return Self.decode(
            try await database.rows(
                "SELECT \(unescaped: Self.columns) FROM audit_log WHERE time >= \(from) AND seq > \(after) ORDER BY seq LIMIT \(limit)"))
    }

    /// Every column is text or a number here; a value edited to something unreadable reads as empty and then
    /// fails its hash, as it should.
    static func decode(_ rows: [PostgresRandomAccessRow]) -> [AuditChain.Row] {
        let fields = ["time", "type", "client_id", "org_id", "user", "x5t#S256", "interaction_id", "source", "outcome", "reason"]
        return rows.map { row in
            var values: [String: String] = [:]
            for (index, field) in fields.enumerated() {
                if let value = (try? row.value(index + 1, as: String?.self)) ?? nil { values[field] = value }
            }
            return AuditChain.Row(
                seq: (try? row.value(0, as: Int64.self)) ?? -1, values: values, previousHash: (try? row.value(11, as: String.self)) ?? "",
                hash: (try? row.value(12, as: String.self)) ?? "")
        }
    }

    public func insertCheckpoint(seq: Int64, hash: String, jws: String, at: Date) async throws(StorageError) {
        _ = try await database.rows(
            """
            INSERT INTO audit_checkpoints (seq, hash, jws, created_at) VALUES (\(seq), \(hash), \(jws), \(StoredTime.seconds(at)))
            ON CONFLICT (seq) DO NOTHING
            """)
    }

    public func checkpoints() async throws(StorageError) -> [AuditCheckpointRecord] {
        let rows = try await database.rows("SELECT seq, hash, jws, created_at FROM audit_checkpoints ORDER BY seq")
        do {
            return try rows.map { row in
                AuditCheckpointRecord(
                    seq: try row.value(0), hash: try row.value(1), jws: try row.value(2), createdAt: try row.date(3))
            }
        } catch {
            throw PostgresDatabase.translate(error).error
        }
    }

    public func hash(at seq: Int64) async throws(StorageError) -> String? {
        let rows = try await database.rows("SELECT hash FROM audit_log WHERE seq = \(seq)")
        return rows.first.flatMap { try? $0.value(0, as: String.self) }
    }
}
