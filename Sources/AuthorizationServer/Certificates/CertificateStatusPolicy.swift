/// The revocation check the core runs on chain-verified client certificates (RFC 8705 §2.1 clients,
/// resource servers) and consults for certificate-bound tokens. Implemented over CertificateStatus by
/// the runtime; absent in tests that do not need it.
public protocol CertificateStatusPolicy: Sendable {
    /// Throws `invalid_client` when the certificate is revoked, or its status cannot be learned and the
    /// policy fails closed.
    func check(_ certificate: ClientCertificate) async throws(OAuthError)
    /// Whether the certificate with this `x5t#S256` is known to be revoked.
    func isRevoked(thumbprint: String) -> Bool
    /// The answer the last check of the certificate with this `x5t#S256` accepted it on, in words (e.g.
    /// `good ocsp http://ocsp.example/ at 2026-12-01T10:00:00Z`), for the evidence of a consent; nil when unknown.
    func lastAnswer(thumbprint: String) -> String?
}

extension CertificateStatusPolicy {
    public func lastAnswer(thumbprint: String) -> String? { nil }
}
