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
            var origin = try SQLiteTokenRows.origin(record.originHash, db)
            origin.grantRevoked = try SQLiteTokenRows.grantWithdrawn(record.grantID, at: record.issuedAt, db)
            let stored = record.asStored(clientExists: try SQLiteTokenRows.clientExists(record.clientID, db), origin: origin)
            try db.cachedStatement(
                sql: """
                    INSERT INTO access_tokens
                        (token_hash, client_id, subject, scope, issued_at, expires_at, cnf_x5t, format, revoked_at, origin_hash, cnf_jkt, status_x5t, grant_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                Data(stored.tokenHash), stored.clientID, stored.subject, stored.scope, Self.seconds(stored.issuedAt),
                Self.seconds(stored.expiresAt), stored.certificateThumbprint, stored.format, stored.revokedAt.map(Self.seconds),
                stored.originHash.map { Data($0) }, stored.dpopThumbprint, stored.statusCertificateThumbprint, stored.grantID,
            ])
            try SQLiteAuditLog.append(audit, to: db)
        }
    }

    public func accessToken(hash: [UInt8]) async throws(StorageError) -> AccessTokenRecord? {
        try await database.readStatement { db in
            try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT client_id, subject, scope, issued_at, expires_at, cnf_x5t, format, revoked_at, cnf_jkt, status_x5t, grant_id
                        FROM access_tokens WHERE token_hash = ?
                        """
                ),
                arguments: [Data(hash)]
            ).map { row in
                AccessTokenRecord(
                    tokenHash: hash, clientID: row[0], subject: row[1], scope: row[2], issuedAt: Self.date(row[3]),
                    expiresAt: Self.date(row[4]), certificateThumbprint: row[5], format: row[6],
                    revokedAt: (row[7] as Int64?).map(Self.date), dpopThumbprint: row[8], statusCertificateThumbprint: row[9],
                    grantID: row[10]
                )
            }
        }
    }

    public func revoke(_ revocations: [TokenRevocation], audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await database.write { db in try SQLiteTokenRows.revoke(revocations, audit: audit, db) }
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

    public func deleteExpired(_ cutoffs: [ExpiryCutoff]) async throws(StorageError) -> Int {
        try await database.write { db in try SQLiteTokenRows.deleteExpired(cutoffs, db) }
    }

    static func seconds(_ date: Date) -> Int64 { SQLiteDatabase.seconds(date) }
    static func date(_ seconds: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(seconds)) }
}
