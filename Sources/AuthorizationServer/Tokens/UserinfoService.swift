public import JOSE
import OpenSSLKit

/// OIDC Core §5.3 userinfo for user access tokens, enforcing the certificate binding (RFC 8705 §3) and the
/// DPoP binding (RFC 9449 §7).
public struct UserinfoService: Sendable {
    let tokens: any TokenStore
    let clock: any WallClock
    let status: (any CertificateStatusPolicy)?
    let dpop: DPoPProofValidator?

    public init(tokens: any TokenStore, clock: any WallClock, status: (any CertificateStatusPolicy)? = nil, dpop: DPoPProofValidator? = nil) {
        self.tokens = tokens
        self.clock = clock
        self.status = status
        self.dpop = dpop
    }

    /// How the access token was presented (RFC 6750 §2.1, RFC 9449 §7.1).
    public enum Scheme: Sendable {
        case bearer
        /// `Authorization: DPoP`, with the request's proof.
        case dpop(DPoPRequest)
    }

    public func userinfo(accessToken: String?, certificate: ClientCertificate?) async throws(OAuthError) -> [String: JSON] {
        try await userinfo(accessToken: accessToken, scheme: .bearer, certificate: certificate)
    }

    public func userinfo(accessToken: String?, scheme: Scheme, certificate: ClientCertificate?) async throws(OAuthError) -> [String: JSON] {
        guard let accessToken, !accessToken.isEmpty else { throw OAuthError(.invalidToken, "an access token is required") }
        let record: AccessTokenRecord?
        do { record = try await tokens.accessToken(hash: TokenIssuer.hash(accessToken)) } catch { throw OAuthError(error) }
        guard let record, record.isActive(at: clock.now()), let subject = record.subject,
            record.scope.split(separator: " ").contains("openid")
        else { throw OAuthError(.invalidToken, "the access token is not valid here") }
        try await checkSenderConstraint(record, accessToken: accessToken, scheme: scheme, certificate: certificate)
        return ["sub": .string(subject)]
    }

    /// The sender constraint of an access token presented at a resource endpoint of this server (userinfo, Grant
    /// Management): the certificate binding (RFC 8705 §3) with the certificate's status, and the DPoP binding.
    public func checkSenderConstraint(
        _ record: AccessTokenRecord, accessToken: String, scheme: Scheme, certificate: ClientCertificate?
    ) async throws(OAuthError) {
        if let bound = record.certificateThumbprint {
            guard bound == certificate?.thumbprint else { throw OAuthError(.invalidToken, "the access token is bound to another certificate") }
            // The same answer introspection gives: a token bound to a revoked certificate is no longer valid.
            if status?.isRevoked(thumbprint: bound) == true { throw OAuthError(.invalidToken, "the bound certificate is revoked") }
        } else if let authenticated = record.statusCertificateThumbprint, status?.isRevoked(thumbprint: authenticated) == true {
            // A DPoP-bound token of an mTLS client follows the status of the certificate the client authenticated with.
            throw OAuthError(.invalidToken, "the client certificate is revoked")
        }
        try await checkDPoP(record, accessToken: accessToken, scheme: scheme)
    }

    /// RFC 9449 §7.1: a DPoP-bound token only with the DPoP scheme and a proof of its key naming it in `ath`; the
    /// DPoP scheme only with a DPoP-bound token (§7.2: a bearer token is not upgraded by a proof).
    func checkDPoP(_ record: AccessTokenRecord, accessToken: String, scheme: Scheme) async throws(OAuthError) {
        switch (record.dpopThumbprint, scheme) {
        case (nil, .bearer): return
        case (nil, .dpop): throw OAuthError(.invalidToken, "the access token is not DPoP-bound", detail: "bearer token sent with the DPoP scheme")
        case (.some, .bearer): throw OAuthError(.invalidToken, "the access token is DPoP-bound: use the DPoP scheme with a proof")
        case (.some(let bound), .dpop(let request)):
            guard let dpop else { throw OAuthError(.invalidDPoPProof, "DPoP is not supported here") }
            guard let proof = try await dpop.validate(request, accessToken: accessToken) else {
                throw OAuthError(.invalidDPoPProof, "a DPoP proof is required with the DPoP scheme")
            }
            guard Crypto.constantTimeEqual(bound, proof.thumbprint) else {
                throw OAuthError(.invalidDPoPProof, "the DPoP proof key is not the one the token is bound to")
            }
        }
    }
}
