public import AuthorizationServer
public import Foundation
import GRDB

/// `TokenStore` and `ReplayStore` over `access_tokens` and `client_assertion_jtis`, with cached statements.
public struct SQLiteTokenStore: TokenStore, ReplayStore, ExpiredRowSweeper {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    public func insertAccessToken(_ record: AccessTokenRecord, audit: AuditEvent?) async throws(StorageError) {
        try await database.write { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO access_tokens (token_hash, client_id, subject, scope, issued_at, expires_at, cnf_x5t, format, revoked_at, origin_hash)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                Data(record.tokenHash), record.clientID, record.subject, record.scope, Self.seconds(record.issuedAt),
                Self.seconds(record.expiresAt), record.certificateThumbprint, record.format, record.revokedAt.map(Self.seconds),
                record.originHash.map { Data($0) },
            ])
            // Its client was removed after authenticating this request: stored revoked, as the removal would have made it.
            try db.cachedStatement(
                sql: """
                    UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ?1)
                    WHERE token_hash = ?2 AND NOT EXISTS (SELECT 1 FROM clients WHERE client_id = ?3)
                    """
            ).execute(arguments: [Self.seconds(record.issuedAt), Data(record.tokenHash), record.clientID])
            if let origin = record.originHash {
                // Issued from a code reused meanwhile, or a refresh token revoked meanwhile (or whose code was
                // reused): stored revoked, as the revocation would have made it had the row existed then.
                try db.cachedStatement(
                    sql: """
                        UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ?1) WHERE token_hash = ?2 AND (
                            EXISTS (SELECT 1 FROM authorization_codes WHERE code_hash = ?3 AND reused_at IS NOT NULL)
                            OR EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ?3 AND revoked_at IS NOT NULL))
                        """
                ).execute(arguments: [Self.seconds(record.issuedAt), Data(record.tokenHash), Data(origin)])
            }
            try SQLiteAuditLog.append(audit, to: db)
        }
    }

    public func accessToken(hash: [UInt8]) async throws(StorageError) -> AccessTokenRecord? {
        try await database.readStatement { db in
            try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT client_id, subject, scope, issued_at, expires_at, cnf_x5t, format, revoked_at
                        FROM access_tokens WHERE token_hash = ?
                        """
                ),
                arguments: [Data(hash)]
            ).map { row in
                AccessTokenRecord(
                    tokenHash: hash, clientID: row[0], subject: row[1], scope: row[2], issuedAt: Self.date(row[3]),
                    expiresAt: Self.date(row[4]), certificateThumbprint: row[5], format: row[6],
                    revokedAt: (row[7] as Int64?).map(Self.date)
                )
            }
        }
    }

    public func revokeAccessToken(hash: [UInt8], clientID: String, at: Date, audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE token_hash = ? AND client_id = ?",
                arguments: [Self.seconds(at), Data(hash), clientID]
            )
            guard db.changesCount > 0 else { return false }
            try SQLiteAuditLog.append(audit, to: db)
            return true
        }
    }

    public func consume(jti: String, clientID: String, expiresAt: Date, now: Date) async throws(StorageError) -> Bool {
        try await database.write { db in
            // Expired entries can be replaced: the assertion they belonged to can no longer be used anyway.
            try db.cachedStatement(sql: "DELETE FROM client_assertion_jtis WHERE client_id = ? AND jti = ? AND expires_at < ?")
                .execute(arguments: [clientID, jti, Self.seconds(now)])
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO client_assertion_jtis (client_id, jti, expires_at) VALUES (?, ?, ?)")
                .execute(arguments: [clientID, jti, Self.seconds(expiresAt)])
            return db.changesCount > 0
        }
    }

    /// Deletes assertion `jti`s past their expiry, and tokens, codes, pushed and CIBA requests expired more
    /// than `retention` ago.
    /// Returns how many rows went.
    public func sweepExpired(now: Date, retention: TimeInterval = 3600) async throws(StorageError) -> Int {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM client_assertion_jtis WHERE expires_at < ?", arguments: [Self.seconds(now)])
            var removed = db.changesCount
            let horizon = Self.seconds(now.addingTimeInterval(-retention))
            for table in [
                "access_tokens", "refresh_tokens", "authorization_codes", "pushed_requests", "ciba_requests", "psu_interactions", "psu_sessions",
            ] {
                try db.execute(sql: "DELETE FROM \(table) WHERE expires_at < ?", arguments: [horizon])
                removed += db.changesCount
            }
            return removed
        }
    }

    static func seconds(_ date: Date) -> Int64 { SQLiteDatabase.seconds(date) }
    static func date(_ seconds: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(seconds)) }
}
