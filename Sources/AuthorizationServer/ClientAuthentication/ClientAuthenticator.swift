public import Foundation
import JOSE
import OpenSSLKit

/// What the HTTP layer hands over for client authentication.
public struct ClientCredentials: Sendable {
    /// The `client_id` form parameter.
    public var clientID: String?
    public var assertionType: String?
    public var assertion: String?
    /// The certificate of the connection (or from a trusted proxy).
    public var certificate: ClientCertificate?
    /// Whether the request carried an `Authorization` header: shared secrets are not supported.
    public var hasAuthorizationHeader: Bool
    /// The endpoint the request was sent to: it decides the accepted assertion audiences.
    public var endpoint: ClientAuthEndpoint

    public init(
        clientID: String?, assertionType: String?, assertion: String?, certificate: ClientCertificate?, hasAuthorizationHeader: Bool,
        endpoint: ClientAuthEndpoint = .token
    ) {
        self.endpoint = endpoint
        self.clientID = clientID
        self.assertionType = assertionType
        self.assertion = assertion
        self.certificate = certificate
        self.hasAuthorizationHeader = hasAuthorizationHeader
    }
}

public struct AuthenticatedClient: Sendable {
    public let client: Client
    public let method: ClientAuthMethod
    /// The certificate presented on this request, used for binding tokens (RFC 8705 §3) whatever the method.
    public let certificate: ClientCertificate?
}

/// Settings the authenticator reads.
public struct ClientAuthenticationSettings: Sendable {
    /// The issuer: assertion audiences are the issuer and endpoint URLs built from it (`AssertionAudienceRule`).
    public var issuer: String
    public var clockSkew: TimeInterval
    /// The furthest in the future an assertion's `exp` may lie (`client_assertion_max_lifetime_seconds`).
    public var maximumAssertionLifetime: TimeInterval

    public init(issuer: String, clockSkew: TimeInterval = 10, maximumAssertionLifetime: TimeInterval = 3600) {
        self.issuer = issuer
        self.clockSkew = clockSkew
        self.maximumAssertionLifetime = maximumAssertionLifetime
    }
}

/// Authenticates clients at every endpoint that takes client authentication.
/// Any failure is `invalid_client`; the reason goes to the log, never to the client.
public struct ClientAuthenticator: Sendable {
    public static let jwtBearerAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    let clients: any ClientStore
    let replay: any ReplayStore
    let keys: ClientKeyResolver
    let settings: ClientAuthenticationSettings
    let clock: any WallClock
    let status: (any CertificateStatusPolicy)?
    let audit: (any AuditLog)?

    public init(
        clients: any ClientStore,
        replay: any ReplayStore,
        keys: ClientKeyResolver,
        settings: ClientAuthenticationSettings,
        clock: any WallClock,
        status: (any CertificateStatusPolicy)? = nil,
        audit: (any AuditLog)? = nil
    ) {
        self.audit = audit
        self.clients = clients
        self.replay = replay
        self.keys = keys
        self.settings = settings
        self.clock = clock
        self.status = status
    }

    /// Authenticates the client; a failure is counted by reason and appended to the audit log.
    public func authenticate(_ credentials: ClientCredentials) async throws(OAuthError) -> AuthenticatedClient {
        do {
            let authenticated = try await authenticateOnce(credentials)
            AuditContext.current?.client?.note(authenticated.client.clientID)
            return authenticated
        } catch {
            guard error.code == .invalidClient else { throw error }
            let reason = error.failure ?? .unknownClient
            ServerMetrics.clientAuthenticationFailures.increment(reason.rawValue)
            if let audit {
                // The client id as claimed (unauthenticated, bounded); the detail names no secret.
                await audit.record(
                    AuditEvent(
                        .clientAuthenticationFailed, at: clock.now(), clientID: credentials.clientID, certificateThumbprint: credentials.certificate?.thumbprint,
                        outcome: .failure, reason: "\(reason.rawValue): \(error.detail)"))
            }
            throw error
        }
    }

    private func authenticateOnce(_ credentials: ClientCredentials) async throws(OAuthError) -> AuthenticatedClient {
        if credentials.hasAuthorizationHeader {
            throw OAuthError.invalidClient(.sharedSecret, "Authorization header: shared-secret client authentication is not supported")
        }
        if credentials.assertion != nil || credentials.assertionType != nil {
            return try await authenticateAssertion(credentials)
        }
        guard let clientID = credentials.clientID else {
            throw OAuthError.invalidClient(.noCredentials, "no client_id and no client assertion")
        }
        let client = try await load(clientID)
        guard let certificate = credentials.certificate else {
            throw OAuthError.invalidClient(.noCertificate, "client \(clientID) (\(client.authMethod.rawValue)) presented no certificate")
        }
        switch client.authMethod {
        case .tlsClientAuth:
            try Self.matchPKI(certificate, client: client)
            // Revocation is checked for CA-issued certificates only; a self-signed one is its own authority.
            try await status?.check(certificate)
        case .selfSignedTLSClientAuth:
            let candidates = try await keys.keys(for: client, kid: nil)
            guard let presented = try? certificate.certificate.publicKey(),
                candidates.keys.contains(where: { $0.key.hasSamePublicKey(as: presented) && ($0.use == nil || $0.use == "sig") })
            else {
                throw OAuthError.invalidClient(.certificateMismatch, "client \(clientID): certificate key is not among the registered keys")
            }
            try Self.checkValidity(certificate, at: clock.now(), clientID: clientID)
        case .privateKeyJWT:
            throw OAuthError.invalidClient(.wrongMethod, "client \(clientID) is registered for private_key_jwt but sent no assertion")
        }
        return AuthenticatedClient(client: client, method: client.authMethod, certificate: certificate)
    }

    private func load(_ clientID: String) async throws(OAuthError) -> Client {
        let client: Client?
        do { client = try await clients.client(id: clientID) } catch { throw OAuthError(error) }
        guard let client else { throw OAuthError.invalidClient(.unknownClient, "unknown client \(clientID)") }
        return client
    }

    /// RFC 8705 §2.1: a chain-verified certificate whose subject DN or registered SAN matches.
    static func matchPKI(_ certificate: ClientCertificate, client: Client) throws(OAuthError) {
        guard certificate.isChainVerified else {
            throw OAuthError.invalidClient(.certificateUntrusted, "client \(client.clientID): certificate does not chain to a trusted CA (\(certificate.trust))")
        }
        if let expected = client.tlsClientAuthSubjectDN {
            guard certificate.subject == expected else {
                throw OAuthError.invalidClient(.certificateMismatch, "client \(client.clientID): subject \(certificate.certificate.subjectDN) does not match \(expected)")
            }
            return
        }
        guard let (kind, value) = client.tlsClientAuthSAN else { throw OAuthError.invalidClient(.certificateMismatch, "client \(client.clientID): no subject registered") }
        let matched = kind.matches(value, in: certificate.certificate.subjectAlternativeNames)
        guard matched else { throw OAuthError.invalidClient(.certificateMismatch, "client \(client.clientID): no \(kind.rawValue) SAN equal to \(value)") }
    }

    /// Self-signed certificates skip chain validation but must still be within their validity period.
    static func checkValidity(_ certificate: ClientCertificate, at now: Date, clientID: String) throws(OAuthError) {
        if let notBefore = certificate.certificate.notBefore, notBefore > now {
            throw OAuthError.invalidClient(.certificateExpired, "client \(clientID): certificate not yet valid")
        }
        if let notAfter = certificate.certificate.notAfter, notAfter < now {
            throw OAuthError.invalidClient(.certificateExpired, "client \(clientID): certificate expired")
        }
    }

    /// RFC 7523 §2.2 and §3, with FAPI's algorithm rules.
    private func authenticateAssertion(_ credentials: ClientCredentials) async throws(OAuthError) -> AuthenticatedClient {
        guard credentials.assertionType == Self.jwtBearerAssertionType else {
            throw OAuthError.invalidClient(.assertionInvalid, "client_assertion_type must be \(Self.jwtBearerAssertionType)")
        }
        guard let assertion = credentials.assertion else { throw OAuthError.invalidClient(.assertionInvalid, "client_assertion missing") }
        let jws: CompactJWS
        let claims: JWTClaims
        do {
            jws = try CompactJWS(assertion, maximumLength: 16 * 1024)
            claims = try jws.claims()
        } catch {
            throw OAuthError.invalidClient(.assertionInvalid, "client assertion rejected: \(error)")
        }
        guard let issuer = claims.issuer else { throw OAuthError.invalidClient(.assertionInvalid, "client assertion has no iss") }
        guard claims.subject == issuer else { throw OAuthError.invalidClient(.assertionInvalid, "client assertion sub must equal iss") }
        if let clientID = credentials.clientID, clientID != issuer {
            // FAPI 1 Baseline §5.2.2-19: inconsistent identification is invalid_client.
            throw OAuthError.invalidClient(.assertionInvalid, "client_id \(clientID) differs from the assertion's iss \(issuer)")
        }
        let client = try await load(issuer)
        guard client.authMethod == .privateKeyJWT else {
            throw OAuthError.invalidClient(.wrongMethod, "client \(issuer) is registered for \(client.authMethod.rawValue), not private_key_jwt")
        }
        let now = clock.now()
        let set = try await keys.keys(for: client, kid: jws.kid)
        do {
            try jws.verify(with: set, allowed: client.allowedAlgorithms(for: .clientAssertion))
            // The profile may fix its own clock tolerance (FAPI 2 SP §5.3.2.1-13: 10 s).
            let skew = client.policy.assertionClockSkew ?? settings.clockSkew
            let validator = JWTValidator(issuer: issuer, requiredClaims: ["exp", "jti"], clockSkew: skew)
            try validator.validate(claims, now: now.timeIntervalSince1970)
        } catch {
            throw OAuthError.invalidClient(.assertionInvalid, "client \(issuer): assertion rejected: \(error)")
        }
        let audience = try? claims.audiences()
        guard
            client.assertionAudienceRule.accepts(
                audience, asString: claims["aud"]?.stringValue != nil, issuer: settings.issuer, endpoint: credentials.endpoint)
        else {
            throw OAuthError.invalidClient(
                .assertionInvalid, "client \(issuer): assertion aud \(audience ?? []) is not accepted at \(credentials.endpoint.rawValue)")
        }
        guard let exp = try? claims.date("exp"), exp <= now.timeIntervalSince1970 + settings.maximumAssertionLifetime else {
            throw OAuthError.invalidClient(.assertionInvalid, "client \(issuer): assertion exp is too far in the future")
        }
        guard let jti = claims.jwtID, !jti.isEmpty, jti.utf8.count <= 256 else { throw OAuthError.invalidClient(.assertionInvalid, "client \(issuer): bad jti") }
        let fresh: Bool
        do {
            fresh = try await replay.consume(
                jti: jti, clientID: issuer, expiresAt: Date(timeIntervalSince1970: exp + settings.clockSkew), now: now)
        } catch {
            throw OAuthError(error)
        }
        guard fresh else { throw OAuthError.invalidClient(.assertionReplayed, "client \(issuer): assertion jti replayed") }
        return AuthenticatedClient(client: client, method: .privateKeyJWT, certificate: credentials.certificate)
    }
}
