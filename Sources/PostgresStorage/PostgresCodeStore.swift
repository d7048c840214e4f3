public import AuthorizationServer
import Foundation
import JOSE
import NIOCore
import PostgresNIO

/// Authorization codes and refresh tokens on PostgreSQL. A code is changed under `SELECT … FOR UPDATE` of
/// its row, so of concurrent redemptions one sees it unused and the others see it used (and revoke what the
/// first produced); a refresh token stored from a code share-locks the code first.
public struct PostgresCodeStore: AuthorizationCodeStore {
    let database: PostgresDatabase

    public init(database: PostgresDatabase) {
        self.database = database
    }

    public func insertCode(_ code: AuthorizationCodeRecord, audit: AuditEvent?) async throws(StorageError) {
        let claims = code.claims?.serialized()
        try await database.transaction { tx in
            try await tx.execute(
                """
                INSERT INTO authorization_codes
                    (code_hash, client_id, subject, redirect_uri, scope, code_challenge, nonce, auth_time, acr, claims, expires_at, dpop_jkt, grant_id)
                VALUES (\(ByteBuffer(bytes: code.codeHash)), \(code.clientID), \(code.subject), \(code.redirectURI), \(code.scope), \(code.codeChallenge),
                    \(code.nonce), \(StoredTime.seconds(code.authTime)), \(code.acr), \(claims), \(StoredTime.seconds(code.expiresAt)), \(code.dpopThumbprint),
                    \(code.grantID))
                """)
            try await PostgresAuditLog.append(audit, to: tx)
        }
    }

    public func updateCode<R: Sendable>(
        hash: [UInt8], _ transition: @escaping @Sendable (StoredCode) -> StoredTransition<StoredCode, R>
    ) async throws(StorageError) -> R? {
        let code = ByteBuffer(bytes: hash)
        return try await database.transaction { tx -> R? in
            guard
                let row = try await tx.rows(
                    """
                    SELECT client_id, subject, redirect_uri, scope, code_challenge, nonce, auth_time, acr, claims, expires_at, used_at, reused_at, dpop_jkt,
                        grant_id
                    FROM authorization_codes WHERE code_hash = \(code) FOR UPDATE
                    """
                ).first
            else { return nil }
            let claims = try row.value(8, as: String?.self).flatMap { try? JSON.parse(Array($0.utf8)) }
            let record = AuthorizationCodeRecord(
                codeHash: hash, clientID: try row.value(0), subject: try row.value(1), redirectURI: try row.value(2), scope: try row.value(3),
                codeChallenge: try row.value(4), nonce: try row.value(5), authTime: try row.date(6), acr: try row.value(7), claims: claims,
                expiresAt: try row.date(9), dpopThumbprint: try row.value(12), grantID: try row.value(13))
            let step = transition(StoredCode(record: record, usedAt: try row.optionalDate(10), reusedAt: try row.optionalDate(11)))
            if let next = step.updated {
                try await tx.execute(
                    """
                    UPDATE authorization_codes
                    SET used_at = \(next.usedAt.map(StoredTime.seconds)), reused_at = \(next.reusedAt.map(StoredTime.seconds))
                    WHERE code_hash = \(code)
                    """)
            }
            try await PostgresTokenRows.applyAll(step.revocations, tx)
            try await PostgresAuditLog.append(step.audit, to: tx)
            return step.result
        }
    }

    public func insertRefreshToken(_ token: RefreshTokenRecord) async throws(StorageError) {
        try await database.transaction { tx in
            var codeReused = false
            if let code = token.codeHash { codeReused = try await PostgresTokenRows.codeReused(code, tx) }
            // Locked after the code, as every token insert locks its rows: the code, then the consent.
            let stored = token.asStored(codeReused: codeReused, grantRevoked: try await PostgresTokenRows.grantWithdrawn(token.grantID, at: token.issuedAt, tx))
            try await tx.execute(
                """
                INSERT INTO refresh_tokens
                    (token_hash, client_id, subject, scope, auth_time, nonce, cnf_x5t, code_hash, issued_at, expires_at, revoked_at, dpop_jkt, grant_id)
                VALUES (\(ByteBuffer(bytes: stored.tokenHash)), \(stored.clientID), \(stored.subject), \(stored.scope), \(StoredTime.seconds(stored.authTime)),
                    \(stored.nonce), \(stored.certificateThumbprint), \(stored.codeHash.map { ByteBuffer(bytes: $0) }), \(StoredTime.seconds(stored.issuedAt)),
                    \(StoredTime.seconds(stored.expiresAt)), \(stored.revokedAt.map(StoredTime.seconds)), \(stored.dpopThumbprint), \(stored.grantID))
                """)
        }
    }

    public func refreshToken(hash: [UInt8]) async throws(StorageError) -> RefreshTokenRecord? {
        try await database.map(
            """
            SELECT client_id, subject, scope, auth_time, nonce, cnf_x5t, code_hash, issued_at, expires_at, revoked_at, dpop_jkt, grant_id
            FROM refresh_tokens WHERE token_hash = \(ByteBuffer(bytes: hash))
            """
        ) { row in
            RefreshTokenRecord(
                tokenHash: hash, clientID: try row.value(0), subject: try row.value(1), scope: try row.value(2), authTime: try row.date(3),
                nonce: try row.value(4), certificateThumbprint: try row.value(5), codeHash: try row.optionalBytes(6), issuedAt: try row.date(7),
                expiresAt: try row.date(8), revokedAt: try row.optionalDate(9), dpopThumbprint: try row.value(10), grantID: try row.value(11))
        }.first
    }

    public func revoke(_ revocations: [TokenRevocation], audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await database.transaction { tx in try await PostgresTokenRows.revoke(revocations, audit: audit, tx) }
    }
}
