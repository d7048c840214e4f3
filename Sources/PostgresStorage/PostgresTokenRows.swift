import AuthorizationServer
import Foundation
import NIOCore
import PostgresNIO

/// The token primitives every PostgreSQL store runs inside its transaction: applying the revocations the
/// core lists, learning (under `FOR SHARE`) the facts the core's stored-revoked rule asks for, and deleting
/// by expiry cutoff. A fact's row stays share-locked until the transaction ends, so a revocation in
/// progress is waited for and one that starts later waits for the insert, then sees its row.
enum PostgresTokenRows {
    /// Applies the first revocation; when it found a token, the others and `audit` too. Returns whether it did.
    static func revoke(_ revocations: [TokenRevocation], audit: AuditEvent?, _ tx: Transaction) async throws -> Bool {
        guard let first = revocations.first, try await apply(first, tx) > 0 else { return false }
        try await applyAll(revocations.dropFirst(), tx)
        try await PostgresAuditLog.append(audit, to: tx)
        return true
    }

    static func applyAll(_ revocations: some Sequence<TokenRevocation>, _ tx: Transaction) async throws {
        for revocation in revocations { _ = try await apply(revocation, tx) }
    }

    /// Marks the revocation's tokens revoked (keeping an earlier revocation time); returns how many it found.
    static func apply(_ revocation: TokenRevocation, _ tx: Transaction) async throws -> Int {
        func mark(_ table: String, _ condition: (inout Statement) -> String) async throws -> Int {
            var statement = Statement()
            let at = statement.bind(StoredTime.seconds(revocation.at))
            let predicate = condition(&statement)
            statement.sql = "UPDATE \(table) SET revoked_at = COALESCE(revoked_at, \(at)) WHERE \(predicate) RETURNING 1"
            return try await tx.rows(statement.query).count
        }
        switch revocation.target {
        case .client(let id):
            let access = try await mark("access_tokens") { "client_id = \($0.bind(id))" }
            return try await access + mark("refresh_tokens") { "client_id = \($0.bind(id))" }
        case .accessToken(let hash, let clientID):
            return try await mark("access_tokens") { "token_hash = \($0.bind(ByteBuffer(bytes: hash))) AND client_id = \($0.bind(clientID))" }
        case .refreshToken(let hash, let clientID):
            return try await mark("refresh_tokens") { "token_hash = \($0.bind(ByteBuffer(bytes: hash))) AND client_id = \($0.bind(clientID))" }
        case .accessTokensIssuedFrom(let origin, let clientID?):
            return try await mark("access_tokens") { "origin_hash = \($0.bind(ByteBuffer(bytes: origin))) AND client_id = \($0.bind(clientID))" }
        case .accessTokensIssuedFrom(let origin, nil):
            return try await mark("access_tokens") { "origin_hash = \($0.bind(ByteBuffer(bytes: origin)))" }
        case .refreshTokensIssuedFrom(let code):
            return try await mark("refresh_tokens") { "code_hash = \($0.bind(ByteBuffer(bytes: code)))" }
        case .accessTokensRefreshedFrom(let code):
            return try await mark("access_tokens") {
                "origin_hash IN (SELECT token_hash FROM refresh_tokens WHERE code_hash = \($0.bind(ByteBuffer(bytes: code))))"
            }
        case .grant(let id):
            let access = try await mark("access_tokens") { "grant_id = \($0.bind(id))" }
            return try await access + mark("refresh_tokens") { "grant_id = \($0.bind(id))" }
        }
    }

    /// Whether the client exists; its row stays share-locked, so a concurrent removal waits (and then revokes
    /// what was stored) or this waits for the removal.
    static func clientExists(_ id: String, _ tx: Transaction) async throws -> Bool {
        try await !tx.rows("SELECT 1 FROM clients WHERE client_id = \(id) FOR SHARE").isEmpty
    }

    static func codeReused(_ code: [UInt8], _ tx: Transaction) async throws -> Bool {
        let rows = try await tx.rows("SELECT reused_at IS NOT NULL FROM authorization_codes WHERE code_hash = \(ByteBuffer(bytes: code)) FOR SHARE")
        return try rows.first?.value(0, as: Bool.self) ?? false
    }

    /// Whether the consent `grantID` names was withdrawn by `issuedAt` (`TokenOrigin.grantWithdrawn`). Its row stays
    /// share-locked, as the client's is: a revocation of the consent in progress is waited for (and seen), one that
    /// starts later waits for the insert to commit and then revokes the stored row. Locked after the client and the
    /// origin. No statement for a token without a consent.
    static func grantWithdrawn(_ grantID: String?, at issuedAt: Date, _ tx: Transaction) async throws -> Bool {
        guard let grantID else { return false }
        guard let row = try await tx.rows("SELECT status, expires_at FROM consents WHERE id = \(grantID) FOR SHARE").first else { return false }
        return TokenOrigin.grantWithdrawn(
            status: Consent.Status(rawValue: try row.value(0, as: String.self)), expiresAt: try row.date(1), at: issuedAt)
    }

    /// The code or refresh token `origin`, as `AccessTokenRecord.asStored` asks about it.
    static func origin(_ origin: [UInt8]?, _ tx: Transaction) async throws -> TokenOrigin {
        guard let origin else { return .standing }
        let hash = ByteBuffer(bytes: origin)
        if let code = try await tx.rows("SELECT reused_at IS NOT NULL FROM authorization_codes WHERE code_hash = \(hash) FOR SHARE").first {
            return TokenOrigin(codeReused: try code.value(0, as: Bool.self))
        }
        let refresh = try await tx.rows(
            """
            SELECT r.revoked_at IS NOT NULL, COALESCE(c.reused_at IS NOT NULL, false)
            FROM refresh_tokens r LEFT JOIN authorization_codes c ON c.code_hash = r.code_hash
            WHERE r.token_hash = \(hash) FOR SHARE OF r
            """)
        guard let row = refresh.first else { return .standing }
        return TokenOrigin(refreshTokenRevoked: try row.value(0, as: Bool.self), refreshTokenCodeReused: try row.value(1, as: Bool.self))
    }

    static func deleteExpired(_ cutoffs: [ExpiryCutoff], _ tx: Transaction) async throws -> Int {
        var removed = 0
        for cutoff in cutoffs {
            let before = StoredTime.seconds(cutoff.before)
            let comparison = cutoff.inclusive ? "<=" : "<"
            removed += try await tx.rows(
                "DELETE FROM \(unescaped: cutoff.aggregate.rawValue) WHERE expires_at \(unescaped: comparison) \(before) RETURNING 1"
            ).count
        }
        return removed
    }
}
