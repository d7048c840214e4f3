public import Foundation
public import JOSE

/// An issued authorization code as stored (by hash), with everything the token request must match.
public struct AuthorizationCodeRecord: Sendable, Equatable {
    public var codeHash: [UInt8]
    public var clientID: String
    public var subject: String
    public var redirectURI: String
    public var scope: String
    public var codeChallenge: String
    public var nonce: String?
    public var authTime: Date
    public var acr: String?
    public var claims: JSON?
    public var expiresAt: Date
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to (`dpop_jkt`, or the PAR proof's key).
    public var dpopThumbprint: String?
    /// The consent (`grant_id`) the code was issued under.
    public var grantID: String?

    public init(
        codeHash: [UInt8], clientID: String, subject: String, redirectURI: String, scope: String, codeChallenge: String, nonce: String?,
        authTime: Date, acr: String?, claims: JSON?, expiresAt: Date, dpopThumbprint: String? = nil, grantID: String? = nil
    ) {
        self.grantID = grantID
        self.dpopThumbprint = dpopThumbprint
        self.codeHash = codeHash
        self.clientID = clientID
        self.subject = subject
        self.redirectURI = redirectURI
        self.scope = scope
        self.codeChallenge = codeChallenge
        self.nonce = nonce
        self.authTime = authTime
        self.acr = acr
        self.claims = claims
        self.expiresAt = expiresAt
    }
}

/// A refresh token as stored (by hash): bound to its client and, when issued over mTLS, its certificate.
public struct RefreshTokenRecord: Sendable, Equatable {
    /// How long a refresh token lives unless configured otherwise: 90 days.
    public static let defaultLifetime: TimeInterval = 90 * 86_400

    public var tokenHash: [UInt8]
    public var clientID: String
    public var subject: String
    public var scope: String
    public var authTime: Date
    public var nonce: String?
    public var certificateThumbprint: String?
    public var codeHash: [UInt8]?
    public var issuedAt: Date
    public var expiresAt: Date
    public var revokedAt: Date?
    /// The DPoP key the first tokens were bound to. Refresh tokens of confidential clients are bound to the client,
    /// not the key (RFC 9449 §5): any key's proof refreshes, but one is required when this is set.
    public var dpopThumbprint: String?
    /// The consent (`grant_id`) the token was issued under; revoking the consent revokes the token.
    public var grantID: String?

    public init(
        tokenHash: [UInt8], clientID: String, subject: String, scope: String, authTime: Date, nonce: String?, certificateThumbprint: String?,
        codeHash: [UInt8]?, issuedAt: Date, expiresAt: Date, revokedAt: Date? = nil, dpopThumbprint: String? = nil,
        grantID: String? = nil
    ) {
        self.grantID = grantID
        self.dpopThumbprint = dpopThumbprint
        self.tokenHash = tokenHash
        self.clientID = clientID
        self.subject = subject
        self.scope = scope
        self.authTime = authTime
        self.nonce = nonce
        self.certificateThumbprint = certificateThumbprint
        self.codeHash = codeHash
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }
}

/// A stored code with its single-use marks.
public struct StoredCode: Sendable, Equatable {
    public var record: AuthorizationCodeRecord
    /// When it was first redeemed.
    public var usedAt: Date?
    /// When it was first redeemed again: tokens of it stored later are stored revoked.
    public var reusedAt: Date?

    public init(record: AuthorizationCodeRecord, usedAt: Date? = nil, reusedAt: Date? = nil) {
        self.record = record
        self.usedAt = usedAt
        self.reusedAt = reusedAt
    }
}

public protocol AuthorizationCodeStore: Sendable {
    /// Stores the code and appends `audit` (the consent it records) in one transaction.
    func insertCode(_ code: AuthorizationCodeRecord, audit: AuditEvent?) async throws(StorageError)
    /// Locks the code's row, hands it to `transition`, writes back its `usedAt`/`reusedAt`, applies its
    /// revocations and appends its audit event, in one transaction; nil when there is no such code.
    func updateCode<R: Sendable>(
        hash: [UInt8], _ transition: @escaping @Sendable (StoredCode) -> StoredTransition<StoredCode, R>
    ) async throws(StorageError) -> R?
    /// Stores the token as `RefreshTokenRecord.asStored` decides from whether its code was reused meanwhile.
    func insertRefreshToken(_ token: RefreshTokenRecord) async throws(StorageError)
    func refreshToken(hash: [UInt8]) async throws(StorageError) -> RefreshTokenRecord?
    /// Applies `revocations` in order, in one transaction, when the first finds a token: then appends `audit`
    /// and returns true; otherwise changes nothing and returns false.
    func revoke(_ revocations: [TokenRevocation], audit: AuditEvent?) async throws(StorageError) -> Bool
}

extension AuthorizationCodeStore {
    /// RFC 7009 §2.1: revokes the refresh token if it is `clientID`'s, with the access tokens issued from it.
    /// `audit` is appended in the same transaction when a token was revoked.
    public func revokeRefreshToken(hash: [UInt8], clientID: String, at: Date, audit: AuditEvent?) async throws(StorageError) -> Bool {
        try await revoke(StoredRevocation.refreshTokenRevoked(hash, clientID: clientID, at: at), audit: audit)
    }

    /// Creates and stores a refresh token (256 random bits, kept as a hash), bound to the client and, when
    /// issued over mTLS, its certificate; returns the value for the token response.
    func issueRefreshToken(
        client: Client, subject: String, scope: String, authTime: Date, nonce: String?, certificate: ClientCertificate?, codeHash: [UInt8]?,
        now: Date, lifetime: TimeInterval, entropy: any EntropySource, dpopThumbprint: String? = nil, grantID: String? = nil
    ) async throws(OAuthError) -> String {
        let value = entropy.token()
        let record = RefreshTokenRecord(
            tokenHash: TokenIssuer.hash(value), clientID: client.clientID, subject: subject, scope: scope, authTime: authTime, nonce: nonce,
            certificateThumbprint: certificate?.thumbprint, codeHash: codeHash, issuedAt: now, expiresAt: now.addingTimeInterval(lifetime),
            dpopThumbprint: dpopThumbprint, grantID: grantID)
        do { try await insertRefreshToken(record) } catch { throw OAuthError(error) }
        return value
    }
}
