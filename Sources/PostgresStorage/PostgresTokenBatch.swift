import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import NIOCore
import PostgresNIO
import Synchronization

/// Group commit of the token path on PostgreSQL: access tokens issued at the same moment (without an origin or a
/// consent, as `client_credentials` issues them) are stored with their audit rows by one statement, committed once.
///
/// Each audited change must lock the single audit head row until it commits, so one instance's tokens would
/// otherwise commit one after another, each waiting for the previous one's round trip and WAL flush. While a
/// batch is in flight, new tokens queue; the next batch takes them all. The statement locks the head, chains
/// the batch's audit rows from it with a recursive CTE (`PostgresAuditLog.hashExpression`), share-locks the
/// tokens' clients (a token of a client removed meanwhile is stored revoked, as `AccessTokenRecord.asStored`
/// decides: each row carries the rule's answer for both facts and the statement picks one), inserts the
/// tokens and audit rows, and moves the head. Every caller is answered after that commit. A batch that fails
/// as a whole is retried one token at a time, so one bad token fails alone.
final class PostgresTokenBatch: Sendable {
    struct Item: Sendable {
        let record: AccessTokenRecord
        let audit: AuditEvent?
        let done: @Sendable (StorageError?) -> Void
    }

    let database: PostgresDatabase
    /// Largest batch: bounded so that one statement's parameter text stays small.
    static let limit = 256
    private let state = Mutex<(queue: [Item], running: Bool)>(([], false))

    init(database: PostgresDatabase) {
        self.database = database
    }

    func insert(_ record: AccessTokenRecord, audit: AuditEvent?) async throws(StorageError) {
        let failure: StorageError? = await withCheckedContinuation { continuation in
            let item = Item(record: record, audit: audit) { error in continuation.resume(returning: error) }
            let start = state.withLock { state -> Bool in
                state.queue.append(item)
                guard !state.running else { return false }
                state.running = true
                return true
            }
            if start { Task { await self.drain() } }
        }
        if let failure { throw failure }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Item] in
                guard !state.queue.isEmpty else {
                    state.running = false
                    return []
                }
                let taken = Array(state.queue.prefix(Self.limit))
                state.queue.removeFirst(taken.count)
                return taken
            }
            if batch.isEmpty { return }
            await run(batch)
        }
    }

    private func run(_ batch: [Item]) async {
        do {
            _ = try await database.rows(Self.statement(batch.map { ($0.record, $0.audit) }).query)
            for item in batch { item.done(nil) }
        } catch {
            // Only a conflict says the statement changed nothing because of one of its tokens; after a timeout
            // or a lost connection the batch may have committed, and inserting it again would fail anyway.
            guard batch.count > 1, error.code == .conflict else {
                for item in batch { item.done(error) }
                return
            }
            // One statement failed for all: each token again on its own, so only a bad one fails.
            for item in batch {
                do {
                    _ = try await database.rows(Self.statement([(item.record, item.audit)]).query)
                    item.done(nil)
                } catch {
                    item.done(error)
                }
            }
        }
    }

    /// One statement storing `tokens` and their audit events. The batch travels as one JSON parameter.
    static func statement(_ tokens: [(record: AccessTokenRecord, audit: AuditEvent?)]) -> Statement {
        var rows: [JSON] = []
        var audited = 0
        for (index, (record, audit)) in tokens.enumerated() {
            var row: [String: JSON] = [
                "n": .int(Int64(index)), "token_hash": .string(Crypto.hex(record.tokenHash)), "client_id": .string(record.clientID),
                "subject": record.subject.map(JSON.string) ?? .null, "scope": .string(record.scope),
                "issued_at": .int(StoredTime.seconds(record.issuedAt)), "expires_at": .int(StoredTime.seconds(record.expiresAt)),
                "cnf_x5t": record.certificateThumbprint.map(JSON.string) ?? .null, "format": .string(record.format),
                "cnf_jkt": record.dpopThumbprint.map(JSON.string) ?? .null,
                "status_x5t": record.statusCertificateThumbprint.map(JSON.string) ?? .null,
                "revoked_at": stored(record, clientExists: true), "revoked_if_removed": stored(record, clientExists: false),
                "origin_hash": record.originHash.map { .string(Crypto.hex($0)) } ?? .null,
                "grant_id": record.grantID.map(JSON.string) ?? .null,
            ]
            if let audit {
                audited += 1
                let values = AuditChain.values(of: audit)
                row["k"] = .int(Int64(audited))
                row["fields"] = .string(AuditChain.encodedFields(values))
                for (key, column) in [
                    ("time", "a_time"), ("type", "a_type"), ("client_id", "a_client_id"), ("org_id", "a_org_id"), ("user", "a_user"),
                    ("x5t#S256", "a_cnf"), ("interaction_id", "a_interaction_id"), ("source", "a_source"), ("outcome", "a_outcome"),
                    ("reason", "a_reason"),
                ] {
                    row[column] = values[key].map(JSON.string) ?? .null
                }
            }
            rows.append(.object(row))
        }
        var statement = Statement()
        let batch = statement.bind(JSON.array(rows).serialized())
        statement.with(
            """
            batch AS (
                SELECT * FROM jsonb_to_recordset(\(batch)::jsonb) AS e(
                    n int, token_hash text, client_id text, subject text, scope text, issued_at bigint, expires_at bigint, cnf_x5t text,
                    cnf_jkt text, status_x5t text, format text, revoked_at bigint, revoked_if_removed bigint, origin_hash text, grant_id text, k bigint, fields text, a_time text, a_type text,
                    a_client_id text, a_org_id text, a_user text, a_cnf text, a_interaction_id text, a_source text, a_outcome text, a_reason text))
            """)
        statement.with("live AS (SELECT client_id FROM clients WHERE client_id IN (SELECT client_id FROM batch) FOR SHARE)")
        statement.with(
            """
            tokens AS (
                INSERT INTO access_tokens
                    (token_hash, client_id, subject, scope, issued_at, expires_at, cnf_x5t, format, revoked_at, origin_hash, cnf_jkt, status_x5t, grant_id)
                SELECT decode(token_hash, 'hex'), client_id, subject, scope, issued_at, expires_at, cnf_x5t, format,
                    CASE WHEN client_id IN (SELECT client_id FROM live) THEN revoked_at ELSE revoked_if_removed END,
                    decode(origin_hash, 'hex'), cnf_jkt, status_x5t, grant_id
                FROM batch ORDER BY n RETURNING 1)
            """)
        if audited > 0 {
            // The head is locked (and re-read, in READ COMMITTED, once the lock is ours); the chain continues
            // from it one event at a time; the head moves to the last link.
            statement.with("head AS (SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE)")
            statement.with(
                """
                chain AS (
                    WITH RECURSIVE link (k, seq, prev, hash) AS (
                        SELECT 0::bigint, seq, NULL::text, hash FROM head
                        UNION ALL
                        SELECT b.k, l.seq + 1, l.hash,
                            \(PostgresAuditLog.hashExpression(seq: "(l.seq + 1)::text", fields: "b.fields", previousHash: "l.hash"))
                        FROM link l JOIN batch b ON b.k = l.k + 1)
                    SELECT * FROM link WHERE k > 0)
                """)
            statement.with(
                """
                audit AS (
                    INSERT INTO audit_log (seq, time, type, client_id, org_id, "user", cnf_x5t, interaction_id, source, outcome, reason, prev_hash, hash)
                    SELECT c.seq, b.a_time, b.a_type, b.a_client_id, b.a_org_id, b.a_user, b.a_cnf, b.a_interaction_id, b.a_source, b.a_outcome,
                        b.a_reason, c.prev, c.hash
                    FROM chain c JOIN batch b ON b.k = c.k ORDER BY c.k RETURNING 1)
                """)
            statement.with(
                """
                moved AS (
                    UPDATE audit_head SET seq = last.seq, hash = last.hash, prev_hash = last.prev
                    FROM (SELECT seq, hash, prev FROM chain ORDER BY k DESC LIMIT 1) last WHERE audit_head.id = 1 RETURNING 1)
                """)
        }
        statement.sql = "SELECT count(*) FROM tokens"
        return statement
    }

    /// The `revoked_at` that `AccessTokenRecord.asStored` gives `record` (origins and consents are looked up before
    /// a token with one reaches this statement: such a token arrives with its `revokedAt` decided).
    private static func stored(_ record: AccessTokenRecord, clientExists: Bool) -> JSON {
        record.asStored(clientExists: clientExists, origin: .standing).revokedAt.map { .int(StoredTime.seconds($0)) } ?? .null
    }
}
