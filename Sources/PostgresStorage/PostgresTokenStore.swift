public import AuthorizationServer
public import Foundation
import NIOCore
import PostgresNIO

/// Access tokens and assertion `jti`s on PostgreSQL.
///
/// What must happen once, whichever instance asks, is decided by a row lock or a conditional write:
/// - an access token's insert share-locks its client's row, so a concurrent removal of the client revokes it
///   or it is stored revoked; without an origin it is group-committed (`PostgresTokenBatch`);
/// - a token stored from a code or refresh token first takes `FOR SHARE` on that origin row, so it either
///   waits for a concurrent reuse or revocation and is stored revoked, or that revocation waits for it and
///   then sees it;
/// - a token issued under a consent (`grantID`) share-locks the consent's row the same way, so a concurrent
///   revocation of the consent revokes it or it is stored revoked (`TokenOrigin.grantWithdrawn`);
/// - a `jti` is consumed by `INSERT … ON CONFLICT DO NOTHING RETURNING`.
public struct PostgresTokenStore: TokenStore, ReplayStore, ExpiredRowSweeper {
    let database: PostgresDatabase
    let batch: PostgresTokenBatch

    public init(database: PostgresDatabase) {
        self.database = database
        self.batch = PostgresTokenBatch(database: database)
    }

    public func insertAccessToken(_ record: AccessTokenRecord, audit: AuditEvent?) async throws(StorageError) {
        guard record.originHash != nil || record.grantID != nil else {
            // The token path's common case: group-committed with the tokens issued at the same moment.
            try await batch.insert(record, audit: audit)
            return
        }
        try await database.transaction { tx in
            // Rows are locked in one order everywhere: the client, then the code or refresh token, then the consent.
            let clientExists = try await PostgresTokenRows.clientExists(record.clientID, tx)
            var origin = try await PostgresTokenRows.origin(record.originHash, tx)
            origin.grantRevoked = try await PostgresTokenRows.grantWithdrawn(record.grantID, at: record.issuedAt, tx)
            let stored = record.asStored(clientExists: clientExists, origin: origin)
            try await tx.execute(PostgresTokenBatch.statement([(stored, audit)]).query)
        }
    }

    public func accessToken(hash: [UInt8]) async throws(StorageError) -> AccessTokenRecord? {
        try await database.map(
            """
            SELECT client_id, subject, scope, issued_at, expires_at, cnf_x5t, format, revoked_at, cnf_jkt, status_x5t, grant_id
            FROM access_tokens WHERE token_hash = \(ByteBuffer(bytes: hash))
            """
        ) { row in
            AccessTokenRecord(
                tokenHash: hash, clientID: try row.value(0), subject: try row.value(1), scope: try row.value(2), issuedAt: try row.date(3),
                expiresAt: try row.date(4), certificateThumbprint: try row.value(5), format: try row.value(6), revokedAt: try row.optionalDate(7),
                dpopThumbprint: try row.value(8), statusCertificateThumbprint: try row.value(9), grantID: try row.value(10))
        }.first
    }

    public func revoke(_ revocations: [TokenRevocation], audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await database.transaction { tx in try await PostgresTokenRows.revoke(revocations, audit: audit, tx) }
    }

    public func consume(jti: String, clientID: String, expiresAt: Date, now: Date) async throws(StorageError) -> Bool {
        try await database.transaction { tx in
            // An expired entry can be replaced: the assertion it belonged to can no longer be used anyway.
            try await tx.execute(
                "DELETE FROM client_assertion_jtis WHERE client_id = \(clientID) AND jti = \(jti) AND expires_at < \(StoredTime.seconds(now))")
            let inserted = try await tx.rows(
                """
                INSERT INTO client_assertion_jtis (client_id, jti, expires_at) VALUES (\(clientID), \(jti), \(StoredTime.seconds(expiresAt)))
                ON CONFLICT (client_id, jti) DO NOTHING RETURNING 1
                """)
            return !inserted.isEmpty
        }
    }

    public func deleteExpired(_ cutoffs: [ExpiryCutoff]) async throws(StorageError) -> Int {
        try await database.transaction { tx in try await PostgresTokenRows.deleteExpired(cutoffs, tx) }
    }
}
