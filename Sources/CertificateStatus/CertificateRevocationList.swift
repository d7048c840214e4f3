internal import COpenSSL
public import Foundation
public import JOSE

/// A parsed CRL (RFC 5280 §5), kept for reuse until its `nextUpdate`.
public final class CertificateRevocationList: @unchecked Sendable {
    private let crl: OpaquePointer
    public let thisUpdate: Date?
    public let nextUpdate: Date?

    public init(der: [UInt8]) throws(StatusSourceFailure) {
        let parsed = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509_CRL(nil, &cursor, buffer.count)
        }
        guard let parsed else {
            OpenSSLErrorQueue.clear()
            throw StatusSourceFailure("malformed CRL")
        }
        crl = parsed
        thisUpdate = X509Certificate.date(X509_CRL_get0_lastUpdate(parsed))
        nextUpdate = X509Certificate.date(X509_CRL_get0_nextUpdate(parsed))
    }

    deinit {
        X509_CRL_free(crl)
    }

    /// Checks that `issuer` signed this CRL and named itself as its issuer, and that the CRL is current:
    /// `thisUpdate` not in the future, `nextUpdate` present and not past (a stale CRL proves nothing).
    public func verify(issuer: X509Certificate, now: Date, skew: TimeInterval) throws(StatusSourceFailure) {
        let signed: Bool = issuer.withX509 { x509 in
            X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(x509)) == 0
                && X509_CRL_verify(crl, X509_get0_pubkey(x509)) == 1
        }
        OpenSSLErrorQueue.clear()
        guard signed else { throw StatusSourceFailure("CRL not signed by the certificate's issuer") }
        guard let thisUpdate, thisUpdate <= now.addingTimeInterval(skew) else { throw StatusSourceFailure("CRL thisUpdate in the future") }
        guard let nextUpdate else { throw StatusSourceFailure("CRL without nextUpdate") }
        guard nextUpdate > now.addingTimeInterval(-skew) else { throw StatusSourceFailure("CRL is stale (nextUpdate passed)") }
    }

    /// Whether `certificate`'s serial is listed, with its reason and date.
    public func status(of certificate: X509Certificate) -> RevocationStatus {
        certificate.withX509 { x509 in
            var entry: OpaquePointer?
            let found = X509_CRL_get0_by_serial(crl, &entry, X509_get0_serialNumber(x509))
            // 1: revoked; 2: listed as removeFromCRL (on a delta CRL), which means not revoked.
            guard found == 1, let entry else { return .good }
            var reason: String?
            var critical: Int32 = 0
            if let raw = X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, &critical, nil) {
                let enumerated = raw.assumingMemoryBound(to: ASN1_ENUMERATED.self)
                reason = RevocationReason.name(Int(ASN1_ENUMERATED_get(enumerated)))
                ASN1_ENUMERATED_free(enumerated)
            }
            OpenSSLErrorQueue.clear()
            return .revoked(reason: reason, at: X509Certificate.date(X509_REVOKED_get0_revocationDate(entry)))
        }
    }
}
