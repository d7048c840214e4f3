internal import COpenSSL
public import Foundation
public import OpenSSLKit

/// A parsed CRL (RFC 5280 §5), kept for reuse until its `nextUpdate`.
///
/// Only complete, direct CRLs are used: a delta CRL, an indirect CRL, a CRL partitioned by reason or
/// for attribute certificates, and a CRL with a critical extension (or entry extension) this code does
/// not process are refused (RFC 5280 §5.2, §5.3: such a CRL must not decide anyone's status).
public final class CertificateRevocationList: @unchecked Sendable {
    private let crl: OpaquePointer
    public let thisUpdate: Date?
    public let nextUpdate: Date?
    /// The CRLNumber (RFC 5280 §5.2.3) as a big-endian magnitude without leading zeros; nil when absent.
    public let number: [UInt8]?
    /// What the IssuingDistributionPoint extension (§5.2.5) limits the CRL to; nil without the extension.
    let scope: Scope?
    /// Why the CRL cannot be used at all, found while parsing.
    let defect: String?

    /// The IssuingDistributionPoint of a usable CRL.
    struct Scope: Sendable {
        var onlyUserCertificates = false
        var onlyCACertificates = false
        /// The URIs of the IDP's `fullName`, when it names a distribution point.
        var distributionPointURIs: [String]?
    }

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
        var defect: String?
        (number, defect) = Self.crlNumber(parsed)
        let (scope, scopeDefect) = Self.issuingDistributionPoint(parsed)
        self.scope = scope
        defect = defect ?? scopeDefect ?? Self.extensionDefect(parsed)
        self.defect = defect
        OpenSSLErrorQueue.clear()
    }

    deinit {
        X509_CRL_free(crl)
    }

    /// Checks that the CRL is usable, that `issuer` signed it and named itself as its issuer, that the
    /// issuer's key may sign CRLs (cRLSign, when it has a key usage: RFC 5280 §4.2.1.3, §6.3.3 (f)), and
    /// that the CRL is current: `thisUpdate` not in the future, `nextUpdate` present and not past (a stale
    /// CRL proves nothing).
    public func verify(issuer: X509Certificate, now: Date, skew: TimeInterval) throws(StatusSourceFailure) {
        if let defect { throw StatusSourceFailure(defect) }
        let usage: UInt32 = issuer.withX509 { X509_get_key_usage($0) }
        OpenSSLErrorQueue.clear()
        // UINT32_MAX: the issuer has no keyUsage extension, so any usage is allowed.
        guard usage == UInt32.max || usage & UInt32(KU_CRL_SIGN) != 0 else {
            throw StatusSourceFailure("the CRL issuer's key usage lacks cRLSign")
        }
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

    /// Checks that the CRL covers `certificate`, found through its distribution points `distributionPoints`
    /// (RFC 5280 §6.3.3 (b)(2)): a CRL only for CA certificates says nothing about a leaf and one only
    /// for end-entity certificates nothing about a CA, and a CRL naming its distribution point covers only
    /// certificates that name it too.
    public func checkScope(of certificate: X509Certificate, distributionPoints: [String]) throws(StatusSourceFailure) {
        guard let scope else { return }
        let isCA: Bool = certificate.withX509 { X509_get_extension_flags($0) & UInt32(EXFLAG_CA) != 0 }
        OpenSSLErrorQueue.clear()
        if scope.onlyCACertificates, !isCA { throw StatusSourceFailure("the CRL covers only CA certificates (IssuingDistributionPoint)") }
        if scope.onlyUserCertificates, isCA { throw StatusSourceFailure("the CRL covers only end-entity certificates (IssuingDistributionPoint)") }
        if let names = scope.distributionPointURIs, !names.contains(where: distributionPoints.contains) {
            throw StatusSourceFailure("the CRL's distribution point is not one the certificate names (IssuingDistributionPoint)")
        }
    }

    /// Whether this CRL may replace `cached` for the same URL: never one with a lower CRLNumber, nor one
    /// without a number after one with (RFC 5280 §5.2.3: the numbers only grow; a lower one is a replay).
    public func mayReplace(_ cached: CertificateRevocationList) -> Bool {
        guard let old = cached.number else { return true }
        guard let new = number else { return false }
        if new.count != old.count { return new.count > old.count }
        return !new.lexicographicallyPrecedes(old)
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

    private static func crlNumber(_ crl: OpaquePointer) -> ([UInt8]?, String?) {
        var critical: Int32 = 0
        guard let raw = X509_CRL_get_ext_d2i(crl, NID_crl_number, &critical, nil) else {
            return critical == -1 ? (nil, nil) : (nil, "malformed or repeated CRLNumber")
        }
        let integer = raw.assumingMemoryBound(to: ASN1_INTEGER.self)
        defer { ASN1_INTEGER_free(integer) }
        guard let bignum = ASN1_INTEGER_to_BN(integer, nil) else { return (nil, "malformed CRLNumber") }
        defer { BN_free(bignum) }
        guard BN_is_negative(bignum) == 0 else { return (nil, "negative CRLNumber") }
        var bytes = [UInt8](repeating: 0, count: Int((BN_num_bits(bignum) + 7) / 8))
        _ = BN_bn2bin(bignum, &bytes)
        return (bytes, nil)
    }

    private static func issuingDistributionPoint(_ crl: OpaquePointer) -> (Scope?, String?) {
        var critical: Int32 = 0
        guard let raw = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &critical, nil) else {
            return critical == -1 ? (nil, nil) : (nil, "malformed or repeated IssuingDistributionPoint")
        }
        let idp = raw.assumingMemoryBound(to: ISSUING_DIST_POINT.self)
        defer { ISSUING_DIST_POINT_free(idp) }
        // RFC 5280 §5.2.5: these partitions need several CRLs (or another issuer's) to answer; not supported.
        if idp.pointee.indirectCRL != 0 { return (nil, "indirect CRLs are not supported") }
        if idp.pointee.onlysomereasons != nil { return (nil, "CRLs partitioned by reason are not supported") }
        if idp.pointee.onlyattr != 0 { return (nil, "the CRL covers only attribute certificates") }
        if idp.pointee.onlyuser != 0, idp.pointee.onlyCA != 0 {
            return (nil, "IssuingDistributionPoint asserts both onlyContainsUserCerts and onlyContainsCACerts")
        }
        var scope = Scope(onlyUserCertificates: idp.pointee.onlyuser != 0, onlyCACertificates: idp.pointee.onlyCA != 0)
        if let name = idp.pointee.distpoint {
            guard name.pointee.type == 0, let full = name.pointee.name.fullname else {
                return (nil, "IssuingDistributionPoint names its distribution point relative to the issuer (not supported)")
            }
            var uris: [String] = []
            for index in 0..<fapid_general_names_count(full) {
                guard let general = fapid_general_names_value(full, index), general.pointee.type == GEN_URI,
                    let uri = general.pointee.d.uniformResourceIdentifier, let data = ASN1_STRING_get0_data(uri)
                else { continue }
                uris.append(String(decoding: UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(uri))), as: UTF8.self))
            }
            scope.distributionPointURIs = uris
        }
        return (scope, nil)
    }

    /// A delta CRL, or a critical extension (of the CRL or of an entry) this code does not process.
    private static func extensionDefect(_ crl: OpaquePointer) -> String? {
        // Processed here: the issuer's key identifier (used by nothing, but harmless), CRLNumber, IDP.
        let understood: Set<Int32> = [NID_authority_key_identifier, NID_crl_number, NID_issuing_distribution_point]
        for index in 0..<X509_CRL_get_ext_count(crl) {
            guard let ext = X509_CRL_get_ext(crl, index) else { return "malformed CRL extension" }
            let nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext))
            // RFC 5280 §5.2.4: a delta CRL lists only changes; alone it would make revoked certificates look good.
            if nid == NID_delta_crl { return "delta CRLs are not used" }
            if X509_EXTENSION_get_critical(ext) != 0, !understood.contains(nid) {
                return "the CRL has a critical extension that is not understood (\(objectText(X509_EXTENSION_get_object(ext))))"
            }
        }
        // RFC 5280 §5.3: an entry's critical extension we cannot process (e.g. certificateIssuer of an
        // indirect CRL) makes the whole CRL unusable. Reason code and invalidity date are non-critical.
        let understoodEntry: Set<Int32> = [NID_crl_reason, NID_invalidity_date]
        guard let entries = X509_CRL_get_REVOKED(crl) else { return nil }
        for index in 0..<fapid_revoked_count(entries) {
            guard let entry = fapid_revoked_value(entries, index) else { continue }
            for extIndex in 0..<X509_REVOKED_get_ext_count(entry) {
                guard let ext = X509_REVOKED_get_ext(entry, extIndex) else { return "malformed CRL entry extension" }
                if X509_EXTENSION_get_critical(ext) != 0, !understoodEntry.contains(OBJ_obj2nid(X509_EXTENSION_get_object(ext))) {
                    return "a CRL entry has a critical extension that is not understood (\(objectText(X509_EXTENSION_get_object(ext))))"
                }
            }
        }
        return nil
    }

    private static func objectText(_ object: OpaquePointer?) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
        return String(nulTerminated: buffer)
    }
}
