public import Foundation
public import JOSE
import OpenSSLKit

/// Settings token issuing reads.
public struct AccessTokenSettings: Sendable {
    public var issuer: String
    /// Access token lifetime (default 300 s).
    public var lifetime: TimeInterval
    /// `aud` of RFC 9068 JWT access tokens; the issuer when not set.
    public var jwtAudience: String?

    public init(issuer: String, lifetime: TimeInterval = 300, jwtAudience: String? = nil) {
        self.issuer = issuer
        self.lifetime = lifetime
        self.jwtAudience = jwtAudience
    }
}

public struct IssuedAccessToken: Sendable {
    public let value: String
    public let expiresIn: Int
    public let scope: String
    public let record: AccessTokenRecord

    /// RFC 9449 §5: `DPoP` for a DPoP-bound token, `Bearer` otherwise.
    public var tokenType: String { record.binding.tokenType }
}

/// Issues access tokens: opaque 256-bit values or RFC 9068 JWTs, stored only as SHA-256 hashes,
/// and bound to the client certificate of the request whenever there is one (RFC 8705 §3).
public struct TokenIssuer: Sendable {
    let store: any TokenStore
    let keyRing: KeyRing
    let settings: AccessTokenSettings
    let clock: any WallClock
    let entropy: any EntropySource

    public init(store: any TokenStore, keyRing: KeyRing, settings: AccessTokenSettings, clock: any WallClock, entropy: any EntropySource = SystemEntropy()) {
        self.store = store
        self.keyRing = keyRing
        self.settings = settings
        self.clock = clock
        self.entropy = entropy
    }

    public static func hash(_ token: String) -> [UInt8] { Crypto.sha256(token) }

    public func issueAccessToken(
        client: Client, subject: String?, scope: String, certificate: ClientCertificate?, origin: [UInt8]? = nil, grant: String
    ) async throws(OAuthError) -> IssuedAccessToken {
        try await issueAccessToken(
            client: client, subject: subject, scope: scope, binding: TokenBinding(certificateThumbprint: certificate?.thumbprint), origin: origin,
            grant: grant)
    }

    /// Issues a token bound as `binding` says (`TokenBinding.decide`): `cnf.x5t#S256` and/or `cnf.jkt` (RFC 9449 §6.1).
    /// Under a consent, `consent` names it (`grant_id`) and the details the token carries (RFC 9396 §9.1).
    public func issueAccessToken(
        client: Client, subject: String?, scope: String, binding: TokenBinding, origin: [UInt8]? = nil, grant: String,
        consent: (grantID: String, details: JSON)? = nil
    ) async throws(OAuthError) -> IssuedAccessToken {
        let now = clock.now()
        let issuedAt = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        let expiresAt = issuedAt.addingTimeInterval(settings.lifetime)
        let thumbprint = binding.certificateThumbprint
        let jkt = binding.dpopThumbprint
        let value: String
        let format: String
        if let algorithm = client.jwtAccessTokenAlgorithm {
            // The signer of the same instant as `iat`: a token's kid and its iat agree across a key switch.
            guard let signer = keyRing.snapshot.signer(for: algorithm, at: now) else { throw OAuthError.server("no active \(algorithm) signing key") }
            var claims: [String: JSON] = [
                "iss": .string(settings.issuer),
                "sub": .string(subject ?? client.clientID),
                "aud": .string(settings.jwtAudience ?? settings.issuer),
                "client_id": .string(client.clientID),
                "iat": .int(Int64(issuedAt.timeIntervalSince1970)),
                "exp": .int(Int64(expiresAt.timeIntervalSince1970)),
                "jti": .string(entropy.token()),
            ]
            if !scope.isEmpty { claims["scope"] = .string(scope) }
            if let confirmation = binding.confirmation { claims["cnf"] = confirmation }
            // RFC 9396 §9.1 and Grant Management: the granted details and the consent they come from.
            if let consent {
                claims["grant_id"] = .string(consent.grantID)
                if !(consent.details.arrayValue ?? []).isEmpty { claims["authorization_details"] = consent.details }
            }
            do {
                // RFC 9068 §2.1: typ at+jwt.
                value = try await signer.sign(claims: claims, type: "at+jwt")
            } catch {
                throw OAuthError.server("signing a JWT access token failed: \(error)")
            }
            format = "jwt"
        } else {
            value = entropy.token()
            format = "opaque"
        }
        let record = AccessTokenRecord(
            tokenHash: Self.hash(value), clientID: client.clientID, subject: subject, scope: scope, issuedAt: issuedAt,
            expiresAt: expiresAt, certificateThumbprint: thumbprint, format: format, originHash: origin, dpopThumbprint: jkt,
            statusCertificateThumbprint: binding.statusCertificateThumbprint, grantID: consent?.grantID
        )
        let event = AuditEvent(
            grant == "refresh_token" ? .tokenRefreshed : .tokenIssued, at: now, client: client, user: subject, certificateThumbprint: thumbprint,
            reason: "grant_type=\(grant) format=\(format) scope=\(scope)" + (jkt.map { " dpop_jkt=\($0)" } ?? "")
                + (consent.map { " grant_id=\($0.grantID)" } ?? ""))
        do { try await store.insertAccessToken(record, audit: event) } catch { throw OAuthError(error) }
        ServerMetrics.tokensIssued.increment(grant)
        return IssuedAccessToken(value: value, expiresIn: Int(settings.lifetime), scope: scope, record: record)
    }
}
