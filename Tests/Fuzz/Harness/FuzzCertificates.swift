import AuthorizationServer
import CertificateStatus
import Foundation
import HTTPEndpoints
import OpenSSLKit

/// Targets for certificates and their status: what a TLS peer, a trusted proxy, an OCSP responder or a CRL
/// server sends.
enum FuzzCertificates {
    static func x509(_ bytes: [UInt8]) {
        guard let certificate = try? X509Certificate(der: bytes) else { return }
        inspect(certificate)
        // The DER we keep (and hash into x5t#S256, RFC 8705 §3.1) is the DER we were given.
        FuzzInvariant.check(certificate.der == bytes, "the kept DER differs from the presented bytes")
        _ = try? X509Certificate.parsePEM(certificate.pem)
    }

    /// Everything the daemon reads off a certificate it was presented.
    static func inspect(_ certificate: X509Certificate) {
        _ = certificate.subjectDN
        _ = certificate.issuerDN
        _ = certificate.subjectRDNs
        _ = certificate.subjectAlternativeNames
        _ = try? certificate.psd2Attributes()
        _ = try? certificate.publicKey()
        _ = certificate.isSelfSigned
        _ = certificate.notBefore
        _ = certificate.notAfter
        _ = StatusPointers(of: certificate)
        let name = DistinguishedName(subjectOf: certificate)
        _ = name == FuzzFixtures.shared.leafName
    }

    static func distinguishedName(_ bytes: [UInt8]) {
        guard let text = String(validating: bytes, as: UTF8.self), let name = try? DistinguishedName(rfc4514: text) else { return }
        // The string form we print is one we read back as the same name (RFC 4514 §2, §3).
        guard let reread = try? DistinguishedName(rfc4514: name.description) else {
            FuzzInvariant.check(false, "printed DN does not parse")
            return
        }
        FuzzInvariant.check(!name.isComparable || reread == name, "printed DN names another DN")
        _ = name == FuzzFixtures.shared.leafName
    }

    /// Input: the `Client-Cert` value, then optionally a newline and the `Client-Cert-Chain` value.
    static func clientCert(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard let chain = ClientCertificateSource.headerChain(certificate: String(parts[0]), chain: parts.count > 1 ? String(parts[1]) : nil)
        else { return }
        var certificates: [X509Certificate] = []
        for der in chain.prefix(8) {
            guard let certificate = try? X509Certificate(der: der) else { return }
            certificates.append(certificate)
        }
        let fixtures = FuzzFixtures.shared
        guard let evaluated = ClientCertificate.evaluate(presented: certificates, trustStore: fixtures.trust, source: .proxyHeader, at: fixtures.now)
        else { return }
        inspect(evaluated.certificate)
        _ = evaluated.thumbprint
    }

    static func ocsp(_ bytes: [UInt8]) {
        let fixtures = FuzzFixtures.shared
        for (exchange, requireNonce) in [(fixtures.ocspExchange, false), (fixtures.ocspExchange, true), (fixtures.revokedExchange, false)] {
            FuzzReport.outcome("ocsp") {
                _ = try exchange.evaluate(
                    bytes, trustStore: fixtures.trust, now: fixtures.now, requirements: OCSPExchange.Requirements(requireNonce: requireNonce))
            }
        }
    }

    static func crl(_ bytes: [UInt8]) {
        guard let list = try? CertificateRevocationList(der: bytes) else { return }
        let fixtures = FuzzFixtures.shared
        FuzzReport.outcome("crl") { try list.verify(issuer: fixtures.ca, now: fixtures.now, skew: 300) }
        _ = try? list.checkScope(of: fixtures.leaf, distributionPoints: StatusPointers(of: fixtures.leaf).crl)
        _ = list.status(of: fixtures.leaf)
        _ = list.status(of: fixtures.revoked)
        _ = list.mayReplace(list)
    }
}
