public import AuthorizationServer
import Foundation
import GRDB
import JOSE

/// `AuthorizationCodeStore` over `authorization_codes` and `refresh_tokens`.
public struct SQLiteCodeStore: AuthorizationCodeStore {
    let database: SQLiteDatabase

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    static func seconds(_ date: Date) -> Int64 { SQLiteDatabase.seconds(date) }
    static func date(_ seconds: Int64) -> Date { Date(timeIntervalSince1970: TimeInterval(seconds)) }

    public func insertCode(_ code: AuthorizationCodeRecord, audit: AuditEvent?) async throws(StorageError) {
        let claims = code.claims?.serialized()
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO authorization_codes
                        (code_hash, client_id, subject, redirect_uri, scope, code_challenge, nonce, auth_time, acr, claims, expires_at, dpop_jkt, grant_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    Data(code.codeHash), code.clientID, code.subject, code.redirectURI, code.scope, code.codeChallenge, code.nonce,
                    Self.seconds(code.authTime), code.acr, claims, Self.seconds(code.expiresAt), code.dpopThumbprint, code.grantID,
                ])
            try SQLiteAuditLog.append(audit, to: db)
        }
    }

    public func updateCode<R: Sendable>(
        hash: [UInt8], _ transition: @escaping @Sendable (StoredCode) -> StoredTransition<StoredCode, R>
    ) async throws(StorageError) -> R? {
        try await database.write { db -> R? in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT client_id, subject, redirect_uri, scope, code_challenge, nonce, auth_time, acr, claims, expires_at, used_at, reused_at, dpop_jkt,
                            grant_id
                        FROM authorization_codes WHERE code_hash = ?
                        """,
                    arguments: [Data(hash)])
            else { return nil }
            let claims = (row[8] as String?).flatMap { try? JSON.parse(Array($0.utf8)) }
            let record = AuthorizationCodeRecord(
                codeHash: hash, clientID: row[0], subject: row[1], redirectURI: row[2], scope: row[3], codeChallenge: row[4], nonce: row[5],
                authTime: Self.date(row[6]), acr: row[7], claims: claims, expiresAt: Self.date(row[9]), dpopThumbprint: row[12],
                grantID: row[13])
            let step = transition(StoredCode(record: record, usedAt: (row[10] as Int64?).map(Self.date), reusedAt: (row[11] as Int64?).map(Self.date)))
            if let next = step.updated {
                try db.execute(
                    sql: "UPDATE authorization_codes SET used_at = ?, reused_at = ? WHERE code_hash = ?",
                    arguments: [next.usedAt.map(Self.seconds), next.reusedAt.map(Self.seconds), Data(hash)])
            }
            try SQLiteTokenRows.applyAll(step.revocations, db)
            try SQLiteAuditLog.append(step.audit, to: db)
            return step.result
        }
    }

    public func insertRefreshToken(_ token: RefreshTokenRecord) async throws(StorageError) {
        try await database.write { db in
            let stored = token.asStored(
                codeReused: try token.codeHash.map { code in try SQLiteTokenRows.codeReused(code, db) } ?? false,
                grantRevoked: try SQLiteTokenRows.grantWithdrawn(token.grantID, at: token.issuedAt, db))
            try db.execute(
                sql: """
                    INSERT INTO refresh_tokens
                        (token_hash, client_id, subject, scope, auth_time, nonce, cnf_x5t, code_hash, issued_at, expires_at, revoked_at, dpop_jkt, grant_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    Data(stored.tokenHash), stored.clientID, stored.subject, stored.scope, Self.seconds(stored.authTime), stored.nonce,
                    stored.certificateThumbprint, stored.codeHash.map { Data($0) }, Self.seconds(stored.issuedAt), Self.seconds(stored.expiresAt),
                    stored.revokedAt.map(Self.seconds), stored.dpopThumbprint, stored.grantID,
                ])
        }
    }

    public func revoke(_ revocations: [TokenRevocation], audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await database.write { db in try SQLiteTokenRows.revoke(revocations, audit: audit, db) }
    }

    public func refreshToken(hash: [UInt8]) async throws(StorageError) -> RefreshTokenRecord? {
        try await database.readStatement { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT client_id, subject, scope, auth_time, nonce, cnf_x5t, code_hash, issued_at, expires_at, revoked_at, dpop_jkt, grant_id
                    FROM refresh_tokens WHERE token_hash = ?
                    """,
                arguments: [Data(hash)]
            ).map { row in
                RefreshTokenRecord(
                    tokenHash: hash, clientID: row[0], subject: row[1], scope: row[2], authTime: Self.date(row[3]), nonce: row[4],
                    certificateThumbprint: row[5], codeHash: (row[6] as Data?).map { [UInt8]($0) }, issuedAt: Self.date(row[7]),
                    expiresAt: Self.date(row[8]), revokedAt: (row[9] as Int64?).map(Self.date), dpopThumbprint: row[10], grantID: row[11])
            }
        }
    }
}
