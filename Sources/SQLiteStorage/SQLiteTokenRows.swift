import AuthorizationServer
import Foundation
import GRDB

/// The token primitives every SQLite store runs inside its write transaction: applying the revocations the
/// core lists, learning the facts the core's stored-revoked rule asks for, and deleting by expiry cutoff.
enum SQLiteTokenRows {
    /// Applies the first revocation; when it found a token, the others and `audit` too. Returns whether it did.
    static func revoke(_ revocations: [TokenRevocation], audit: AuditEvent?, _ db: Database) throws -> Bool {
        guard let first = revocations.first, try apply(first, db) > 0 else { return false }
        try applyAll(revocations.dropFirst(), db)
        try SQLiteAuditLog.append(audit, to: db)
        return true
    }

    static func applyAll(_ revocations: some Sequence<TokenRevocation>, _ db: Database) throws {
        for revocation in revocations { _ = try apply(revocation, db) }
    }

    /// Marks the revocation's tokens revoked (keeping an earlier revocation time); returns how many it found.
    static func apply(_ revocation: TokenRevocation, _ db: Database) throws -> Int {
        let at = StoredTime.seconds(revocation.at)
        func mark(_ table: String, _ condition: String, _ values: [any DatabaseValueConvertible]) throws -> Int {
            try db.execute(
                sql: "UPDATE \(table) SET revoked_at = COALESCE(revoked_at, ?) WHERE \(condition)", arguments: StatementArguments([at] + values))
            return db.changesCount
        }
        switch revocation.target {
        case .client(let id):
            return try mark("access_tokens", "client_id = ?", [id]) + mark("refresh_tokens", "client_id = ?", [id])
        case .accessToken(let hash, let clientID):
            return try mark("access_tokens", "token_hash = ? AND client_id = ?", [Data(hash), clientID])
        case .refreshToken(let hash, let clientID):
            return try mark("refresh_tokens", "token_hash = ? AND client_id = ?", [Data(hash), clientID])
        case .accessTokensIssuedFrom(let origin, let clientID?):
            return try mark("access_tokens", "origin_hash = ? AND client_id = ?", [Data(origin), clientID])
        case .accessTokensIssuedFrom(let origin, nil):
            return try mark("access_tokens", "origin_hash = ?", [Data(origin)])
        case .refreshTokensIssuedFrom(let code):
            return try mark("refresh_tokens", "code_hash = ?", [Data(code)])
        case .accessTokensRefreshedFrom(let code):
            return try mark("access_tokens", "origin_hash IN (SELECT token_hash FROM refresh_tokens WHERE code_hash = ?)", [Data(code)])
        case .grant(let id):
            return try mark("access_tokens", "grant_id = ?", [id]) + mark("refresh_tokens", "grant_id = ?", [id])
        }
    }

    static func clientExists(_ id: String, _ db: Database) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM clients WHERE client_id = ?)"), arguments: [id]) ?? false
    }

    static func codeReused(_ code: [UInt8], _ db: Database) throws -> Bool {
        let statement = try db.cachedStatement(sql: "SELECT reused_at IS NOT NULL FROM authorization_codes WHERE code_hash = ?")
        return try Bool.fetchOne(statement, arguments: [Data(code)]) ?? false
    }

    /// Whether the consent `grantID` names was withdrawn by `issuedAt` (`TokenOrigin.grantWithdrawn`), read in the
    /// write transaction: a revocation of the consent is either committed before (and seen here) or runs after this
    /// insert commits (and then revokes the row). No statement for a token without a consent.
    static func grantWithdrawn(_ grantID: String?, at issuedAt: Date, _ db: Database) throws -> Bool {
        guard let grantID else { return false }
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT status, expires_at FROM consents WHERE id = ?"), arguments: [grantID]) else {
            return false
        }
        let expires: Int64 = row[1]
        return TokenOrigin.grantWithdrawn(
            status: Consent.Status(rawValue: row[0]), expiresAt: Date(timeIntervalSince1970: TimeInterval(expires)), at: issuedAt)
    }

    /// The code or refresh token `origin`, as `AccessTokenRecord.asStored` asks about it.
    static func origin(_ origin: [UInt8]?, _ db: Database) throws -> TokenOrigin {
        guard let origin else { return .standing }
        if let reused = try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT reused_at IS NOT NULL FROM authorization_codes WHERE code_hash = ?"), arguments: [Data(origin)])
        {
            return TokenOrigin(codeReused: reused)
        }
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT r.revoked_at IS NOT NULL, COALESCE(c.reused_at IS NOT NULL, 0)
                        FROM refresh_tokens r LEFT JOIN authorization_codes c ON c.code_hash = r.code_hash WHERE r.token_hash = ?
                        """),
                arguments: [Data(origin)])
        else { return .standing }
        return TokenOrigin(refreshTokenRevoked: row[0], refreshTokenCodeReused: row[1])
    }

    static func deleteExpired(_ cutoffs: [ExpiryCutoff], _ db: Database) throws -> Int {
        var removed = 0
        for cutoff in cutoffs {
            try db.execute(
                sql: "DELETE FROM \(cutoff.aggregate.rawValue) WHERE expires_at \(cutoff.inclusive ? "<=" : "<") ?",
                arguments: [StoredTime.seconds(cutoff.before)])
            removed += db.changesCount
        }
        return removed
    }
}
