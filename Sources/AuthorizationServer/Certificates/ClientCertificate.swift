public import Foundation
public import OpenSSLKit

/// The certificate a client presented, and what the server could establish about it.
///
/// TLS proves the client holds the certificate's private key; `trust` says whether the chain leads
/// to a configured CA (`tls_client_auth`, RFC 8705 §2.1) or not (a self-signed certificate, usable
/// only for `self_signed_tls_client_auth`, RFC 8705 §2.2, where the key itself is what is matched).
public struct ClientCertificate: Sendable {
    public enum Trust: Sendable, Equatable {
        /// Verified to a trust anchor; the chain runs from the leaf to the anchor.
        case chainVerified
        /// Not verified to any anchor: self-signed, or from a CA we do not trust. Says why.
        case unverified(String)
    }

    public enum Source: String, Sendable {
        /// From the TLS handshake on this connection.
        case tls
        /// From the RFC 9440 `Client-Cert` header set by a trusted TLS-terminating proxy.
        case proxyHeader
    }

    /// The leaf certificate.
    public let certificate: X509Certificate
    /// What the client sent, leaf first.
    public let presentedChain: [X509Certificate]
    /// The verified path (leaf to anchor) when `trust` is `.chainVerified`, else empty.
    public let verifiedChain: [X509Certificate]
    public let trust: Trust
    public let source: Source
    /// The leaf's subject, parsed once (compared on every `tls_client_auth` and introspection request).
    public let subject: DistinguishedName

    init(certificate: X509Certificate, presentedChain: [X509Certificate], verifiedChain: [X509Certificate], trust: Trust, source: Source) {
        self.certificate = certificate
        self.presentedChain = presentedChain
        self.verifiedChain = verifiedChain
        self.trust = trust
        self.source = source
        subject = DistinguishedName(subjectOf: certificate)
    }

    /// `x5t#S256` of the leaf, for certificate-bound tokens (RFC 8705 §3.1).
    public var thumbprint: String { certificate.sha256Thumbprint }

    public var isChainVerified: Bool { trust == .chainVerified }

    /// Classifies a presented chain against `trustStore` at `now`. Chain verification includes the TLS client
    /// purpose (EKU clientAuth, key usage digitalSignature, leaf key strength): a CA-issued certificate made
    /// for anything else is not chain-verified, so it authenticates nobody by its CA.
    public static func evaluate(
        presented chain: [X509Certificate],
        trustStore: CertificateTrustStore,
        source: Source,
        at now: Date
    ) -> ClientCertificate? {
        guard let leaf = chain.first else { return nil }
        do {
            let verified = try trustStore.verify(leaf: leaf, intermediates: Array(chain.dropFirst()), at: now, purpose: .clientAuthentication)
            return ClientCertificate(certificate: leaf, presentedChain: chain, verifiedChain: verified, trust: .chainVerified, source: source)
        } catch {
            let reason = leaf.isSelfSigned ? "self-signed" : error.detail
            return ClientCertificate(certificate: leaf, presentedChain: chain, verifiedChain: [], trust: .unverified(reason), source: source)
        }
    }
}
