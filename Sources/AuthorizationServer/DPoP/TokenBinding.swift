public import JOSE

/// What an issued access token is bound to: the client certificate (RFC 8705 §3, `cnf.x5t#S256`), the DPoP key
/// (RFC 9449 §6, `cnf.jkt`), both, or neither. Decided once per token request by `decide`, the sender-constraint rule.
public struct TokenBinding: Sendable, Equatable {
    public var certificateThumbprint: String?
    public var dpopThumbprint: String?
    /// The certificate the client authenticated with when the token is not bound to it: revoking that certificate
    /// still makes the token inactive (RFC 8705 §2 status of the client's certificate, FAPI 2 SP §5.3.2.1).
    public var statusCertificateThumbprint: String?

    public init(certificateThumbprint: String? = nil, dpopThumbprint: String? = nil, statusCertificateThumbprint: String? = nil) {
        self.certificateThumbprint = certificateThumbprint
        self.dpopThumbprint = dpopThumbprint
        self.statusCertificateThumbprint = statusCertificateThumbprint
    }

    /// RFC 9449 §5: `DPoP` for a DPoP-bound token, `Bearer` otherwise (RFC 8705 keeps `Bearer`).
    public var tokenType: String { dpopThumbprint == nil ? "Bearer" : "DPoP" }

    /// The `cnf` claim (RFC 8705 §3.1 `x5t#S256`, RFC 9449 §6.1 `jkt`) of a JWT access token and of introspection;
    /// nil for an unbound token.
    public var confirmation: JSON? {
        var members: [String: JSON] = [:]
        if let certificateThumbprint { members["x5t#S256"] = .string(certificateThumbprint) }
        if let dpopThumbprint { members["jkt"] = .string(dpopThumbprint) }
        return members.isEmpty ? nil : .object(members)
    }

    /// The sender-constraint rule, per client:
    /// - `dpop_bound_access_tokens` (RFC 9449 §5.2): a proof is required.
    /// - FAPI 2 (SP §5.3.2.1-4/5): bound by mTLS or by DPoP; with a proof the token is DPoP-bound (the proof is the
    ///   client's explicit choice, and the conformance suite's dpop variant with mTLS client authentication expects
    ///   `token_type: DPoP` and uses the token without the certificate); without one, bound to the certificate;
    ///   with neither, refused.
    /// - FAPI 1 Advanced and clients registered with `tls_client_certificate_bound_access_tokens` (FAPI 1 §5.2.2-4,
    ///   RFC 8705 §3.4): the certificate is required and bound, as before. A FAPI 1 client's proof never reaches
    ///   here (`Client.usesDPoP`); one from a `fapi: false` client binds its key as well.
    /// - Other clients: the DPoP key when a proof is sent, else the certificate when one is presented.
    public static func decide(client: Client, certificate: ClientCertificate?, proof: DPoPProof?) throws(OAuthError) -> TokenBinding {
        if client.dpopBoundAccessTokens && proof == nil {
            throw OAuthError(.invalidDPoPProof, "a DPoP proof is required for this client", detail: "dpop_bound_access_tokens (RFC 9449 §5.2)")
        }
        if client.isFAPI && client.policy.offersDPoP {  // FAPI 2: mTLS or DPoP
            if let proof { return TokenBinding(dpopThumbprint: proof.thumbprint, statusCertificateThumbprint: certificate?.thumbprint) }
            guard let certificate else {
                throw OAuthError(
                    .invalidRequest, "a DPoP proof or a client certificate is required: tokens are sender-constrained",
                    detail: "FAPI 2 client without certificate or DPoP proof (FAPI 2 SP §5.3.2.1-4)")
            }
            return TokenBinding(certificateThumbprint: certificate.thumbprint)
        }
        if client.requiresBoundTokens {
            guard let certificate else {
                throw OAuthError(
                    .invalidRequest, "a client certificate is required: tokens are bound to it",
                    detail: "no client certificate; tokens are certificate-bound (RFC 8705 §3)")
            }
            return TokenBinding(certificateThumbprint: certificate.thumbprint, dpopThumbprint: proof?.thumbprint)
        }
        if let proof { return TokenBinding(dpopThumbprint: proof.thumbprint, statusCertificateThumbprint: certificate?.thumbprint) }
        return TokenBinding(certificateThumbprint: certificate?.thumbprint)
    }
}
