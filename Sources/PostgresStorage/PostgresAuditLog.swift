public import AuthorizationServer
public import Foundation
import PostgresNIO

/// The audit log over `audit_log`, `audit_head` and `audit_checkpoints`, shared by every instance.
///
/// An append is one statement: it updates the single `audit_head` row (which locks it until the
/// transaction ends, so instances append one after another and the chain stays linear), computes the new
/// row's hash there from the previous one (`hashExpression`, generated from `AuditChain.hashedText`), and
/// inserts the row. A store appends inside the transaction of the change an event records, as its last
/// statement, or in the change's own statement: the head is then locked only from that statement to the commit.
public struct PostgresAuditLog: AuditLogReader {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func append(_ event: AuditEvent) async throws(StorageError) {
        var statement = Statement()
        let cte = Self.append(event, into: &statement)
        statement.with(cte)
        statement.sql = "SELECT 1"
        _ = try await database.rows(statement.query)
    }

    static func append(_ event: AuditEvent?, to tx: Transaction) async throws {
        guard let event else { return }
        var statement = Statement()
        let cte = append(event, into: &statement)
        statement.with(cte)
        statement.sql = "SELECT 1"
        try await tx.execute(statement.query)
    }

    /// The common table expressions that append `event`: `audit_next` (the head moved on) and `audit_row`.
    static func append(_ event: AuditEvent, into statement: inout Statement) -> String {
        let values = AuditChain.values(of: event)
        let fields = statement.bind(AuditChain.encodedFields(values))
        let columns = ["time", "type", "client_id", "org_id", "user", "x5t#S256", "interaction_id", "source", "outcome", "reason"]
            .map { statement.bind(values[$0]) + "::text" }.joined(separator: ", ")
        // In an UPDATE every right-hand side reads the row as it was: prev_hash gets the old hash, and the new
        // hash is computed from the old seq and hash (re-read after waiting for the lock, in READ COMMITTED).
        return """
            audit_next AS (
                UPDATE audit_head SET prev_hash = hash, seq = seq + 1,
                    hash = \(hashExpression(seq: "(seq + 1)::text", fields: fields + "::text", previousHash: "hash"))
                WHERE id = 1 RETURNING seq, prev_hash, hash),
            audit_row AS (
                INSERT INTO audit_log (seq, time, type, client_id, org_id, "user", cnf_x5t, interaction_id, source, outcome, reason, prev_hash, hash)
                SELECT seq, \(columns), prev_hash, hash FROM audit_next RETURNING seq)
            """
    }

    /// A row's hash as a SQL expression over SQL text expressions of its `seq`, its encoded fields and the
    /// previous hash: `AuditChain.hashedText` written in SQL, so the database hashes the bytes `AuditChain.hash`
    /// hashes. Both the single append and the token batch's chain use it.
    static func hashExpression(seq: String, fields: String, previousHash: String) -> String {
        "encode(sha256(convert_to(\(AuditChain.hashedText(SQLText(), seq: seq, fields: fields, previousHash: previousHash)), 'UTF8')), 'hex')"
    }

    /// Text as SQL expressions. Literals are the chain's constants, quoted (standard-conforming strings).
    struct SQLText: AuditTextBuilder {
        func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
        func byteCount(_ text: String) -> String { "octet_length(\(text))::text" }
        func concatenation(_ parts: [String]) -> String { "(" + parts.joined(separator: " || ") + ")" }
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
