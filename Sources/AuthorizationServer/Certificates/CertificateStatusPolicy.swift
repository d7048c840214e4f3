/// The revocation check the core runs on chain-verified client certificates (RFC 8705 §2.1 clients,
/// resource servers) and consults for certificate-bound tokens. Implemented over CertificateStatus by
/// the runtime; absent in tests that do not need it.
public protocol CertificateStatusPolicy: Sendable {
    /// Throws `invalid_client` when the certificate is revoked, or its status cannot be learned and the
    /// policy fails closed.
    func check(_ certificate: ClientCertificate) async throws(OAuthError)
    /// Whether the certificate with this `x5t#S256` is known to be revoked.
    func isRevoked(thumbprint: String) -> Bool
}
