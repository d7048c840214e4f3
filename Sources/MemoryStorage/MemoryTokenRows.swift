import AuthorizationServer
import Foundation

/// The token primitives of the memory stores, run inside their transaction: applying the revocations the
/// core lists, learning the facts of the core's stored-revoked rule, deleting by expiry cutoff.
extension MemoryState {
    /// Applies the first revocation; when it found a token, the others and `audit` too. Returns whether it did.
    mutating func revoke(_ revocations: [TokenRevocation], audit: AuditEvent?) -> Bool {
        guard let first = revocations.first, apply(first) > 0 else { return false }
        applyAll(revocations.dropFirst())
        appendAudit(audit)
        return true
    }

    mutating func applyAll(_ revocations: some Sequence<TokenRevocation>) {
        for revocation in revocations { _ = apply(revocation) }
    }

    /// Marks the revocation's tokens revoked (keeping an earlier revocation time); returns how many it found.
    mutating func apply(_ revocation: TokenRevocation) -> Int {
        let at = revocation.at
        func markAccess(_ matches: (AccessTokenRecord) -> Bool) -> Int {
            let keys = accessTokens.filter { matches($0.value) }.map(\.key)
            for key in keys { accessTokens[key]!.revokedAt = accessTokens[key]!.revokedAt ?? at }
            return keys.count
        }
        func markRefresh(_ matches: (RefreshTokenRecord) -> Bool) -> Int {
            let keys = refreshTokens.filter { matches($0.value) }.map(\.key)
            for key in keys { refreshTokens[key]!.revokedAt = refreshTokens[key]!.revokedAt ?? at }
            return keys.count
        }
        switch revocation.target {
        case .client(let id):
            return markAccess { $0.clientID == id } + markRefresh { $0.clientID == id }
        case .accessToken(let hash, let clientID):
            return markAccess { $0.tokenHash == hash && $0.clientID == clientID }
        case .refreshToken(let hash, let clientID):
            return markRefresh { $0.tokenHash == hash && $0.clientID == clientID }
        case .accessTokensIssuedFrom(let origin, let clientID):
            return markAccess { $0.originHash == origin && (clientID == nil || $0.clientID == clientID) }
        case .refreshTokensIssuedFrom(let code):
            return markRefresh { $0.codeHash == code }
        case .accessTokensRefreshedFrom(let code):
            let refreshed = Set(refreshTokens.values.filter { $0.codeHash == code }.map(\.tokenHash))
            return markAccess { $0.originHash.map(refreshed.contains) ?? false }
        case .grant(let id):
            return markAccess { $0.grantID == id } + markRefresh { $0.grantID == id }
        }
    }

    func codeReused(_ code: [UInt8]?) -> Bool {
        code.flatMap { codes[$0]?.reusedAt } != nil
    }

    /// Whether the consent `grantID` names was withdrawn by `issuedAt` (`TokenOrigin.grantWithdrawn`).
    func grantWithdrawn(_ grantID: String?, at issuedAt: Date) -> Bool {
        guard let grantID, let consent = consents[grantID] else { return false }
        return TokenOrigin.grantWithdrawn(status: consent.status, expiresAt: consent.expiresAt, at: issuedAt)
    }

    /// The code or refresh token `origin`, as `AccessTokenRecord.asStored` asks about it.
    func origin(_ origin: [UInt8]?) -> TokenOrigin {
        guard let origin else { return .standing }
        if let code = codes[origin] { return TokenOrigin(codeReused: code.reusedAt != nil) }
        guard let refresh = refreshTokens[origin] else { return .standing }
        return TokenOrigin(refreshTokenRevoked: refresh.revokedAt != nil, refreshTokenCodeReused: codeReused(refresh.codeHash))
    }

    mutating func deleteExpired(_ cutoffs: [ExpiryCutoff]) -> Int {
        var removed = 0
        func sweep<Key, Value>(_ rows: inout [Key: Value], _ cutoff: ExpiryCutoff, _ expiry: (Value) -> Date) {
            let before = rows.count
            let bound = cutoff.before.storedSeconds
            rows = rows.filter { row in
                let expires = expiry(row.value).storedSeconds
                return !(cutoff.inclusive ? expires <= bound : expires < bound)
            }
            removed += before - rows.count
        }
        for cutoff in cutoffs {
            switch cutoff.aggregate {
            case .assertionJTIs: sweep(&jtis, cutoff) { $0 }
            case .accessTokens: sweep(&accessTokens, cutoff, \.expiresAt)
            case .refreshTokens: sweep(&refreshTokens, cutoff, \.expiresAt)
            case .authorizationCodes: sweep(&codes, cutoff, \.record.expiresAt)
            case .pushedRequests: sweep(&pushed, cutoff, \.pushed.expiresAt)
            case .cibaRequests: sweep(&ciba, cutoff, \.request.expiresAt)
            case .psuInteractions: sweep(&interactions, cutoff, \.expiresAt)
            case .psuSessions: sweep(&sessions, cutoff, \.expiresAt)
            }
        }
        return removed
    }
}
