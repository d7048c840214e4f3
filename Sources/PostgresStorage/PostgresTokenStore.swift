public import AuthorizationServer
public import Foundation
import JOSE
import NIOCore
import PostgresNIO

/// Tokens, codes, refresh tokens, pushed requests and assertion `jti`s on PostgreSQL.
///
/// What must happen once, whichever instance asks, is decided by a row lock or a conditional write:
/// - a code is redeemed under `SELECT … FOR UPDATE` of its row, so of concurrent redemptions one sees it
///   unused and the others see it used (and revoke what the first produced);
/// - an access token's insert share-locks its client's row, so a concurrent removal of the client revokes it
///   or it is stored revoked; without an origin it is group-committed (`PostgresTokenBatch`);
/// - a token stored from a code or refresh token first takes `FOR SHARE` on that origin row, so it either
///   waits for a concurrent reuse or revocation and is stored revoked, or that revocation waits for it and
///   then sees it;
/// - a `request_uri` is consumed by `UPDATE … WHERE used_at IS NULL RETURNING`, a `jti` by
///   `INSERT … ON CONFLICT DO NOTHING RETURNING`.
public struct PostgresTokenStore: TokenStore, ReplayStore, ExpiredRowSweeper, AuthorizationCodeStore, PushedRequestStore {
    let database: PostgresDatabase
    let batch: PostgresTokenBatch

    public init(database: PostgresDatabase) {
        self.database = database
        self.batch = PostgresTokenBatch(database: database)
    }

    // MARK: Access tokens

    public func insertAccessToken(_ record: AccessTokenRecord, audit: AuditEvent?) async throws(StorageError) {
        guard let origin = record.originHash else {
            // The token path's common case: group-committed with the tokens issued at the same moment.
            try await batch.insert(record, audit: audit)
            return
        }
        try await database.transaction { tx in
            // Rows are locked in one order everywhere: the client, then the code or refresh token.
            try await tx.execute("SELECT 1 FROM clients WHERE client_id = \(record.clientID) FOR SHARE")
            var stored = record
            if stored.revokedAt == nil, try await Self.originRevoked(ByteBuffer(bytes: origin), tx) {
                // Issued from a code reused meanwhile, or a refresh token revoked meanwhile.
                stored.revokedAt = record.issuedAt
            }
            try await tx.execute(PostgresTokenBatch.statement([(stored, audit)]).query)
        }
    }

    /// Whether the code or refresh token `origin` was reused or revoked; its row stays share-locked until the
    /// transaction ends, so a reuse or revocation in progress is waited for and one that starts later waits.
    static func originRevoked(_ origin: ByteBuffer, _ tx: Transaction) async throws -> Bool {
        let code = try await tx.rows("SELECT reused_at IS NOT NULL FROM authorization_codes WHERE code_hash = \(origin) FOR SHARE")
        if let row = code.first { return try row.value(0, as: Bool.self) }
        let refresh = try await tx.rows(
            """
            SELECT r.revoked_at IS NOT NULL OR COALESCE(c.reused_at IS NOT NULL, false)
            FROM refresh_tokens r LEFT JOIN authorization_codes c ON c.code_hash = r.code_hash
            WHERE r.token_hash = \(origin) FOR SHARE OF r
            """)
        return try refresh.first?.value(0, as: Bool.self) ?? false
    }

    public func accessToken(hash: [UInt8]) async throws(StorageError) -> AccessTokenRecord? {
        try await database.map(
            """
            SELECT client_id, subject, scope, issued_at, expires_at, cnf_x5t, format, revoked_at
            FROM access_tokens WHERE token_hash = \(ByteBuffer(bytes: hash))
            """
        ) { row in
            AccessTokenRecord(
                tokenHash: hash, clientID: try row.value(0), subject: try row.value(1), scope: try row.value(2), issuedAt: try row.date(3),
                expiresAt: try row.date(4), certificateThumbprint: try row.value(5), format: try row.value(6), revokedAt: try row.optionalDate(7))
        }.first
    }

    public func revokeAccessToken(hash: [UInt8], clientID: String, at: Date, audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await database.transaction { tx in
            let found = try await tx.rows(
                """
                UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, \(StoredTime.seconds(at)))
                WHERE token_hash = \(ByteBuffer(bytes: hash)) AND client_id = \(clientID) RETURNING 1
                """)
            guard !found.isEmpty else { return false }
            try await PostgresAuditLog.append(audit, to: tx)
            return true
        }
    }

    // MARK: Replay

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

    public func sweepExpired(now: Date, retention: TimeInterval = 3600) async throws(StorageError) -> Int {
        let current = StoredTime.seconds(now)
        let horizon = StoredTime.seconds(now.addingTimeInterval(-retention))
        return try await database.transaction { tx in
            var removed = try await tx.rows("DELETE FROM client_assertion_jtis WHERE expires_at < \(current) RETURNING 1").count
            for table in [
                "access_tokens", "refresh_tokens", "authorization_codes", "pushed_requests", "ciba_requests", "psu_interactions", "psu_sessions",
            ] {
                removed += try await tx.rows("DELETE FROM \(unescaped: table) WHERE expires_at < \(horizon) RETURNING 1").count
            }
            return removed
        }
    }

    // MARK: Codes and refresh tokens

    public func insertCode(_ code: AuthorizationCodeRecord, audit: AuditEvent?) async throws(StorageError) {
        let claims = code.claims?.serialized()
        try await database.transaction { tx in
            try await tx.execute(
                """
                INSERT INTO authorization_codes
                    (code_hash, client_id, subject, redirect_uri, scope, code_challenge, nonce, auth_time, acr, claims, expires_at)
                VALUES (\(ByteBuffer(bytes: code.codeHash)), \(code.clientID), \(code.subject), \(code.redirectURI), \(code.scope), \(code.codeChallenge),
                    \(code.nonce), \(StoredTime.seconds(code.authTime)), \(code.acr), \(claims), \(StoredTime.seconds(code.expiresAt)))
                """)
            try await PostgresAuditLog.append(audit, to: tx)
        }
    }

    public func redeemCode(hash: [UInt8], now: Date) async throws(StorageError) -> CodeRedemption {
        let current = StoredTime.seconds(now)
        let code = ByteBuffer(bytes: hash)
        return try await database.transaction { tx -> CodeRedemption in
            guard
                let row = try await tx.rows(
                    """
                    SELECT client_id, subject, redirect_uri, scope, code_challenge, nonce, auth_time, acr, claims, expires_at, used_at
                    FROM authorization_codes WHERE code_hash = \(code) FOR UPDATE
                    """
                ).first
            else { return .unknownOrExpired }
            if try row.value(10, as: Int64?.self) != nil {
                // Reuse: revoke what the first redemption produced and mark the code, so that anything of it
                // still to be stored is stored revoked.
                try await tx.execute("UPDATE authorization_codes SET reused_at = COALESCE(reused_at, \(current)) WHERE code_hash = \(code)")
                try await tx.execute("UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, \(current)) WHERE code_hash = \(code)")
                try await tx.execute(
                    """
                    UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, \(current))
                    WHERE origin_hash = \(code) OR origin_hash IN (SELECT token_hash FROM refresh_tokens WHERE code_hash = \(code))
                    """)
                try await PostgresAuditLog.append(
                    AuditEvent(
                        .codeReuseDetected, at: now, clientID: try row.value(0, as: String.self), user: try row.value(1, as: String.self),
                        outcome: .failure, reason: "authorization code redeemed twice: the tokens issued from it were revoked"),
                    to: tx)
                return .reused
            }
            guard try row.value(9, as: Int64.self) > current else { return .unknownOrExpired }
            try await tx.execute("UPDATE authorization_codes SET used_at = \(current) WHERE code_hash = \(code)")
            let claims = try row.value(8, as: String?.self).flatMap { try? JSON.parse(Array($0.utf8)) }
            return .redeemed(
                AuthorizationCodeRecord(
                    codeHash: hash, clientID: try row.value(0), subject: try row.value(1), redirectURI: try row.value(2), scope: try row.value(3),
                    codeChallenge: try row.value(4), nonce: try row.value(5), authTime: try row.date(6), acr: try row.value(7), claims: claims,
                    expiresAt: try row.date(9)))
        }
    }

    public func insertRefreshToken(_ token: RefreshTokenRecord) async throws(StorageError) {
        try await database.transaction { tx in
            var revokedAt = token.revokedAt.map(StoredTime.seconds)
            if let code = token.codeHash, revokedAt == nil {
                // Its code was reused meanwhile: the reuse's revocation could not see this row yet.
                let reused = try await tx.rows("SELECT reused_at IS NOT NULL FROM authorization_codes WHERE code_hash = \(ByteBuffer(bytes: code)) FOR SHARE")
                if try reused.first?.value(0, as: Bool.self) == true { revokedAt = StoredTime.seconds(token.issuedAt) }
            }
            try await tx.execute(
                """
                INSERT INTO refresh_tokens
                    (token_hash, client_id, subject, scope, auth_time, nonce, cnf_x5t, code_hash, issued_at, expires_at, revoked_at)
                VALUES (\(ByteBuffer(bytes: token.tokenHash)), \(token.clientID), \(token.subject), \(token.scope), \(StoredTime.seconds(token.authTime)),
                    \(token.nonce), \(token.certificateThumbprint), \(token.codeHash.map { ByteBuffer(bytes: $0) }), \(StoredTime.seconds(token.issuedAt)),
                    \(StoredTime.seconds(token.expiresAt)), \(revokedAt))
                """)
        }
    }

    public func refreshToken(hash: [UInt8]) async throws(StorageError) -> RefreshTokenRecord? {
        try await database.map(
            """
            SELECT client_id, subject, scope, auth_time, nonce, cnf_x5t, code_hash, issued_at, expires_at, revoked_at
            FROM refresh_tokens WHERE token_hash = \(ByteBuffer(bytes: hash))
            """
        ) { row in
            RefreshTokenRecord(
                tokenHash: hash, clientID: try row.value(0), subject: try row.value(1), scope: try row.value(2), authTime: try row.date(3),
                nonce: try row.value(4), certificateThumbprint: try row.value(5), codeHash: try row.optionalBytes(6), issuedAt: try row.date(7),
                expiresAt: try row.date(8), revokedAt: try row.optionalDate(9))
        }.first
    }

    public func revokeRefreshToken(hash: [UInt8], clientID: String, at: Date, audit: AuditEvent?) async throws(StorageError) -> Bool {
        let now = StoredTime.seconds(at)
        return try await database.transaction { tx in
            let found = try await tx.rows(
                """
                UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, \(now))
                WHERE token_hash = \(ByteBuffer(bytes: hash)) AND client_id = \(clientID) RETURNING 1
                """)
            guard !found.isEmpty else { return false }
            try await tx.execute(
                """
                UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, \(now))
                WHERE origin_hash = \(ByteBuffer(bytes: hash)) AND client_id = \(clientID)
                """)
            try await PostgresAuditLog.append(audit, to: tx)
            return true
        }
    }

    // MARK: Pushed requests

    public func insertPushedRequest(_ pushed: PushedRequest) async throws(StorageError) {
        let json = pushed.request.json.serialized()
        _ = try await database.rows(
            """
            INSERT INTO pushed_requests (uri_hash, client_id, request, expires_at)
            VALUES (\(ByteBuffer(bytes: pushed.uriHash)), \(pushed.clientID), \(json), \(StoredTime.seconds(pushed.expiresAt)))
            """)
    }

    public func pushedRequest(uriHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> PushedRequest? {
        let rows = try await database.map(
            """
            SELECT request, expires_at FROM pushed_requests
            WHERE uri_hash = \(ByteBuffer(bytes: uriHash)) AND client_id = \(clientID) AND used_at IS NULL AND expires_at > \(StoredTime.seconds(now))
            """
        ) { row in (try row.value(0, as: String.self), try row.date(1)) }
        guard let (json, expires) = rows.first else { return nil }
        do {
            let request = try AuthorizationRequest(json: try JSON.parse(Array(json.utf8)))
            return PushedRequest(uriHash: uriHash, clientID: clientID, request: request, expiresAt: expires)
        } catch {
            throw StorageError(.conflict, "stored pushed request no longer parses")
        }
    }

    public func consumePushedRequest(uriHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> Bool {
        let seconds = StoredTime.seconds(now)
        return try await !database.rows(
            """
            UPDATE pushed_requests SET used_at = \(seconds)
            WHERE uri_hash = \(ByteBuffer(bytes: uriHash)) AND client_id = \(clientID) AND used_at IS NULL AND expires_at > \(seconds) RETURNING 1
            """
        ).isEmpty
    }
}
