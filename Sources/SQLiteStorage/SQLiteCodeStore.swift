public import AuthorizationServer
public import Foundation
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
                        (code_hash, client_id, subject, redirect_uri, scope, code_challenge, nonce, auth_time, acr, claims, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    Data(code.codeHash), code.clientID, code.subject, code.redirectURI, code.scope, code.codeChallenge, code.nonce,
                    Self.seconds(code.authTime), code.acr, claims, Self.seconds(code.expiresAt),
                ])
            try SQLiteAuditLog.append(audit, to: db)
        }
    }

    public func redeemCode(hash: [UInt8], now: Date) async throws(StorageError) -> CodeRedemption {
        let current = Self.seconds(now)
        return try await database.write { db -> CodeRedemption in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT client_id, subject, redirect_uri, scope, code_challenge, nonce, auth_time, acr, claims, expires_at, used_at
                        FROM authorization_codes WHERE code_hash = ?
                        """,
                    arguments: [Data(hash)])
            else { return .unknownOrExpired }
            if (row[10] as Int64?) != nil {
                // Reuse: revoke what the first redemption produced (refresh tokens and access tokens), and mark
                // the code, so that anything of it still to be stored is stored revoked.
                try db.execute(
                    sql: "UPDATE authorization_codes SET reused_at = COALESCE(reused_at, ?) WHERE code_hash = ?", arguments: [current, Data(hash)])
                try db.execute(sql: "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE code_hash = ?", arguments: [current, Data(hash)])
                try db.execute(sql: "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE origin_hash = ?", arguments: [current, Data(hash)])
                try db.execute(
                    sql: """
                        UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ?)
                        WHERE origin_hash IN (SELECT token_hash FROM refresh_tokens WHERE code_hash = ?)
                        """,
                    arguments: [current, Data(hash)])
                try SQLiteAuditLog.append(
                    AuditEvent(
                        .codeReuseDetected, at: now, clientID: row[0], user: row[1], outcome: .failure,
                        reason: "authorization code redeemed twice: the tokens issued from it were revoked"),
                    to: db)
                return .reused
            }
            guard (row[9] as Int64) > current else { return .unknownOrExpired }
            try db.execute(sql: "UPDATE authorization_codes SET used_at = ? WHERE code_hash = ?", arguments: [current, Data(hash)])
            let claims = (row[8] as String?).flatMap { try? JSON.parse(Array($0.utf8)) }
            return .redeemed(
                AuthorizationCodeRecord(
                    codeHash: hash, clientID: row[0], subject: row[1], redirectURI: row[2], scope: row[3], codeChallenge: row[4], nonce: row[5],
                    authTime: Self.date(row[6]), acr: row[7], claims: claims, expiresAt: Self.date(row[9])))
        }
    }

    public func insertRefreshToken(_ token: RefreshTokenRecord) async throws(StorageError) {
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO refresh_tokens
                        (token_hash, client_id, subject, scope, auth_time, nonce, cnf_x5t, code_hash, issued_at, expires_at, revoked_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    Data(token.tokenHash), token.clientID, token.subject, token.scope, Self.seconds(token.authTime), token.nonce,
                    token.certificateThumbprint, token.codeHash.map { Data($0) }, Self.seconds(token.issuedAt), Self.seconds(token.expiresAt),
                    token.revokedAt.map(Self.seconds),
                ])
            if let code = token.codeHash {
                // Its code was reused meanwhile: the reuse's revocation could not see this row yet.
                try db.execute(
                    sql: """
                        UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE token_hash = ?
                        AND EXISTS (SELECT 1 FROM authorization_codes WHERE code_hash = ? AND reused_at IS NOT NULL)
                        """,
                    arguments: [Self.seconds(token.issuedAt), Data(token.tokenHash), Data(code)])
            }
        }
    }

    public func revokeRefreshToken(hash: [UInt8], clientID: String, at: Date, audit: AuditEvent?) async throws(StorageError) -> Bool {
        let now = Self.seconds(at)
        return try await database.write { db in
            try db.execute(
                sql: "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE token_hash = ? AND client_id = ?",
                arguments: [now, Data(hash), clientID])
            guard db.changesCount > 0 else { return false }
            try db.execute(
                sql: "UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE origin_hash = ? AND client_id = ?",
                arguments: [now, Data(hash), clientID])
            try SQLiteAuditLog.append(audit, to: db)
            return true
        }
    }

    public func refreshToken(hash: [UInt8]) async throws(StorageError) -> RefreshTokenRecord? {
        try await database.readStatement { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT client_id, subject, scope, auth_time, nonce, cnf_x5t, code_hash, issued_at, expires_at, revoked_at
                    FROM refresh_tokens WHERE token_hash = ?
                    """,
                arguments: [Data(hash)]
            ).map { row in
                RefreshTokenRecord(
                    tokenHash: hash, clientID: row[0], subject: row[1], scope: row[2], authTime: Self.date(row[3]), nonce: row[4],
                    certificateThumbprint: row[5], codeHash: (row[6] as Data?).map { [UInt8]($0) }, issuedAt: Self.date(row[7]),
                    expiresAt: Self.date(row[8]), revokedAt: (row[9] as Int64?).map(Self.date))
            }
        }
    }
}
