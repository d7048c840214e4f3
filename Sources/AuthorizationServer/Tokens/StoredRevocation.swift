public import Foundation

/// What a store learns, inside the transaction that stores a token, about the code or refresh token it was
/// issued from (its row share-locked where the backend has row locks).
public struct TokenOrigin: Sendable, Equatable {
    /// The origin is a code that was redeemed twice.
    public var codeReused: Bool
    /// The origin is a refresh token that was revoked.
    public var refreshTokenRevoked: Bool
    /// The origin is a refresh token whose code was redeemed twice.
    public var refreshTokenCodeReused: Bool
    /// The consent (grant) the token is issued under was withdrawn before its row was written
    /// (`TokenOrigin.grantWithdrawn`): revoking a consent revokes its tokens, so one stored later is stored revoked.
    public var grantRevoked: Bool

    public init(codeReused: Bool = false, refreshTokenRevoked: Bool = false, refreshTokenCodeReused: Bool = false, grantRevoked: Bool = false) {
        self.codeReused = codeReused
        self.refreshTokenRevoked = refreshTokenRevoked
        self.refreshTokenCodeReused = refreshTokenCodeReused
        self.grantRevoked = grantRevoked
    }

    /// No origin, or one that stands.
    public static let standing = TokenOrigin()

    /// A revocation of the origin reaches the tokens issued from it (RFC 6749 §4.1.2, RFC 7009 §2.1).
    public var isRevoked: Bool { codeReused || refreshTokenRevoked || refreshTokenCodeReused || grantRevoked }

    /// Whether the consent a token is issued under at `issuedAt`, as the store read it in the insert's
    /// transaction (`status` and `expiresAt` as stored; nil when there is no such row), no longer stands for
    /// tokens: revoked, rejected, or expired by then (`Consent.status(at:)`). A consumed single payment stands
    /// (its token follows the payment's status), and so does an awaiting one (no withdrawal happened); a grant
    /// id without a row revokes nothing, as `TokenRevocation.Target.grant` would find nothing to revoke.
    public static func grantWithdrawn(status: Consent.Status?, expiresAt: Date?, at issuedAt: Date) -> Bool {
        guard let status, let expiresAt else { return false }
        return Consent.Status.asOf(status, expiresAt: expiresAt, at: issuedAt).endsTokens
    }
}

extension Consent.Status {
    /// The one "consent ended" rule: a consent revoked, rejected or expired no longer stands for the tokens issued
    /// under it (at storage, `TokenOrigin.grantWithdrawn`, and at introspection). A consumed single payment and an
    /// awaiting consent do not end them.
    public var endsTokens: Bool { self == .revoked || self == .rejected || self == .expired }

    /// The status as of `now` of a consent stored with `status` and `expiresAt` (the one expiry rule of
    /// `Consent.status(at:)`, for stores that read only these two columns).
    public static func asOf(_ status: Consent.Status, expiresAt: Date, at now: Date) -> Consent.Status {
        guard status == .awaitingAuthorisation || status == .authorised, expiresAt.timeIntervalSince1970 <= now.timeIntervalSince1970 else {
            return status
        }
        return .expired
    }
}

/// The "store it revoked" rule: a token whose revocation started before the token's row existed is stored
/// revoked, as the revocation would have made it had it seen the row. Every backend asks this one rule with
/// what it learnt in the insert's transaction.
extension AccessTokenRecord {
    /// The record to store: revoked at issue when its client was removed meanwhile (client removal revokes the
    /// client's tokens) or its origin was revoked meanwhile.
    public func asStored(clientExists: Bool, origin: TokenOrigin) -> AccessTokenRecord {
        guard revokedAt == nil, !clientExists || origin.isRevoked else { return self }
        var stored = self
        stored.revokedAt = issuedAt
        return stored
    }
}

extension RefreshTokenRecord {
    /// The record to store: revoked at issue when the code it comes from was redeemed twice meanwhile, or its
    /// consent was withdrawn meanwhile (`TokenOrigin.grantWithdrawn`).
    public func asStored(codeReused: Bool, grantRevoked: Bool = false) -> RefreshTokenRecord {
        guard revokedAt == nil, codeReused || grantRevoked else { return self }
        var stored = self
        stored.revokedAt = issuedAt
        return stored
    }
}

/// The revocations that go with a change, listed once for every backend.
public enum StoredRevocation {
    /// Removing a client: its tokens stop working at once, on every instance.
    public static func clientRemoved(_ clientID: String, at: Date) -> [TokenRevocation] {
        [TokenRevocation(.client(clientID), at: at)]
    }

    /// RFC 7009 §2.1: revoking a refresh token (its client's) revokes the access tokens issued from it.
    public static func refreshTokenRevoked(_ hash: [UInt8], clientID: String, at: Date) -> [TokenRevocation] {
        [
            TokenRevocation(.refreshToken(hash: hash, clientID: clientID), at: at),
            TokenRevocation(.accessTokensIssuedFrom(origin: hash, clientID: clientID), at: at),
        ]
    }

    /// RFC 7009 §2.1: revoking an access token (its client's) revokes only it.
    public static func accessTokenRevoked(_ hash: [UInt8], clientID: String, at: Date) -> [TokenRevocation] {
        [TokenRevocation(.accessToken(hash: hash, clientID: clientID), at: at)]
    }

    /// Revoking a consent (Grant Management `DELETE /grants/{id}`, `fapictl consents revoke`, the customer's
    /// withdrawal) revokes every access and refresh token issued under it.
    public static func consentRevoked(_ grantID: String, at: Date) -> [TokenRevocation] {
        [TokenRevocation(.grant(grantID), at: at)]
    }

    /// RFC 6749 §4.1.2: a code redeemed twice revokes what it produced: the refresh tokens issued from it and
    /// the access tokens issued from it or from those refresh tokens.
    public static func codeReused(_ code: [UInt8], at: Date) -> [TokenRevocation] {
        [
            TokenRevocation(.refreshTokensIssuedFrom(code: code), at: at),
            TokenRevocation(.accessTokensIssuedFrom(origin: code, clientID: nil), at: at),
            TokenRevocation(.accessTokensRefreshedFrom(code: code), at: at),
        ]
    }
}
