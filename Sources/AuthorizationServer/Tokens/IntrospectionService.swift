import Foundation
public import JOSE
import Synchronization
import OpenSSLKit

/// RFC 7662 introspection for registered resource servers, authenticated by their mTLS certificate.
public final class IntrospectionService: Sendable {
    let tokens: any TokenStore
    let resourceServers: any ResourceServerStore
    let issuer: String
    let clock: any WallClock
    let status: (any CertificateStatusPolicy)?
    /// Where the details of a token's consent are read (RFC 9396 §9.2); nil: no consents.
    let consents: (any ConsentStore)?
    /// Parsed resource-server DNs, re-read every few seconds so `fapictl resource-servers add` takes effect.
    private let cache = Mutex<(servers: [(ResourceServer, DistinguishedName)], loadedAt: Date)?>(nil)
    static let cacheLifetime: TimeInterval = 5

    public init(
        tokens: any TokenStore, resourceServers: any ResourceServerStore, issuer: String, clock: any WallClock,
        status: (any CertificateStatusPolicy)? = nil, consents: (any ConsentStore)? = nil
    ) {
        self.consents = consents
        self.tokens = tokens
        self.resourceServers = resourceServers
        self.issuer = issuer
        self.clock = clock
        self.status = status
    }

    /// The resource server presenting `certificate`, or `invalid_client`.
    public func authenticate(_ certificate: ClientCertificate?) async throws(OAuthError) -> ResourceServer {
        guard let certificate else { throw OAuthError.invalidClient(.resourceServer, "introspection without a client certificate") }
        guard certificate.isChainVerified else { throw OAuthError.invalidClient(.resourceServer, "introspection certificate not from a trusted CA") }
        let subject = certificate.subject
        guard let server = try await servers().first(where: { $0.1 == subject })?.0 else {
            throw OAuthError.invalidClient(.resourceServer, "no resource server with subject \(certificate.certificate.subjectDN)")
        }
        try await status?.check(certificate)
        return server
    }

    private func servers() async throws(OAuthError) -> [(ResourceServer, DistinguishedName)] {
        let now = clock.now()
        if let cached = cache.withLock({ $0 }), now.timeIntervalSince(cached.loadedAt) < Self.cacheLifetime { return cached.servers }
        let list: [ResourceServer]
        do { list = try await resourceServers.resourceServers() } catch { throw OAuthError(error) }
        let parsed = list.compactMap { server in (try? DistinguishedName(rfc4514: server.subjectDN)).map { (server, $0) } }
        cache.withLock { $0 = (parsed, now) }
        return parsed
    }

    /// The introspection response members for `token`; `{"active": false}` for unknown, expired or revoked tokens.
    public func introspect(token: String?) async throws(OAuthError) -> [String: JSON] {
        guard let token, !token.isEmpty else { throw OAuthError(.invalidRequest, "token is required") }
        let record: AccessTokenRecord?
        do { record = try await tokens.accessToken(hash: TokenIssuer.hash(token)) } catch { throw OAuthError(error) }
        guard let record, record.isActive(at: clock.now()) else { return ["active": false] }
        // Revocation-aware: a token bound to a certificate since found revoked is no longer active.
        if let thumbprint = record.statusThumbprint, status?.isRevoked(thumbprint: thumbprint) == true { return ["active": false] }
        var response: [String: JSON] = [
            "active": true,
            "client_id": .string(record.clientID),
            // RFC 9449 §6.2: DPoP for a DPoP-bound token.
            "token_type": .string(record.binding.tokenType),
            "exp": .int(Int64(record.expiresAt.timeIntervalSince1970)),
            "iat": .int(Int64(record.issuedAt.timeIntervalSince1970)),
            "iss": .string(issuer),
        ]
        if !record.scope.isEmpty { response["scope"] = .string(record.scope) }
        if let subject = record.subject { response["sub"] = .string(subject) }
        // RFC 8705 §3.2: the binding, for the resource server to compare with its client's certificate.
        // RFC 9449 §6.2: `cnf.jkt` beside it for a DPoP-bound token.
        if let confirmation = record.binding.confirmation { response["cnf"] = confirmation }
        // RFC 9396 §9.2 and Grant Management: the consent and its granted details. A token whose consent has ended
        // (revoked, rejected, expired) is not active, whatever its own row says: the rule the stores apply when they
        // store a token (consumed and awaiting consents, and a grant id without a row, do not end a token).
        if let grantID = record.grantID {
            response["grant_id"] = .string(grantID)
            if let consents {
                let found: Consent?
                do { found = try await consents.consent(id: grantID) } catch { throw OAuthError(error) }
                if let consent = found {
                    guard !consent.status(at: clock.now()).endsTokens else { return ["active": false] }
                    if !(consent.authorizationDetails.arrayValue ?? []).isEmpty { response["authorization_details"] = consent.authorizationDetails }
                }
            }
        }
        return response
    }
}
