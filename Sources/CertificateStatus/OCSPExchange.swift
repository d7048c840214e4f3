internal import COpenSSL
public import Foundation
public import JOSE

/// One OCSP exchange (RFC 6960): a request with a nonce for one certificate, and the judgement of the
/// response. All DER and signature work is OpenSSL's (`OCSP_*`).
public final class OCSPExchange: @unchecked Sendable {
    private let request: OpaquePointer
    private let certificateID: OpaquePointer
    /// The DER to POST as `application/ocsp-request`.
    public let requestDER: [UInt8]
    let leaf: X509Certificate
    let issuer: X509Certificate

    public init(leaf: X509Certificate, issuer: X509Certificate) throws(StatusSourceFailure) {
        self.leaf = leaf
        self.issuer = issuer
        guard let id = leaf.withX509({ l in issuer.withX509 { i in OCSP_cert_to_id(nil, l, i) } }) else {
            throw StatusSourceFailure("cannot build an OCSP certificate id: \(OpenSSLErrorQueue.drain())")
        }
        certificateID = id
        guard let request = OCSP_REQUEST_new() else {
            OCSP_CERTID_free(id)
            throw StatusSourceFailure("OCSP_REQUEST_new failed")
        }
        self.request = request
        guard let copy = OCSP_CERTID_dup(id), OCSP_request_add0_id(request, copy) != nil, OCSP_request_add1_nonce(request, nil, -1) == 1 else {
            OCSP_REQUEST_free(request)
            OCSP_CERTID_free(id)
            throw StatusSourceFailure("cannot build an OCSP request: \(OpenSSLErrorQueue.drain())")
        }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_OCSP_REQUEST(request, &out)
        guard length > 0, let out else {
            OCSP_REQUEST_free(request)
            OCSP_CERTID_free(id)
            throw StatusSourceFailure("cannot encode the OCSP request")
        }
        requestDER = Array(UnsafeBufferPointer(start: out, count: Int(length)))
        fapid_openssl_free(out)
    }

    deinit {
        OCSP_REQUEST_free(request)
        OCSP_CERTID_free(certificateID)
    }

    public struct Answer: Sendable {
        public let status: RevocationStatus
        public let thisUpdate: Date?
        public let nextUpdate: Date?
    }

    /// Judges a response: successful status, signature by the issuer or an authorised delegated responder
    /// (checked by `OCSP_basic_verify` against `trustStore`), nonce, certificate id, and time window.
    /// `unknown` and every defect are failures, so the caller falls back to the CRL.
    public func evaluate(_ der: [UInt8], trustStore: CertificateTrustStore, now: Date, skew: TimeInterval) throws(StatusSourceFailure) -> Answer {
        let response = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_OCSP_RESPONSE(nil, &cursor, buffer.count)
        }
        guard let response else { throw failure("malformed OCSP response") }
        defer { OCSP_RESPONSE_free(response) }
        let code = OCSP_response_status(response)
        guard code == OCSP_RESPONSE_STATUS_SUCCESSFUL else {
            throw failure("responder answered \(String(cString: OCSP_response_status_str(Int(code))))")
        }
        guard let basic = OCSP_response_get1_basic(response) else { throw failure("no basic OCSP response") }
        defer { OCSP_BASICRESP_free(basic) }

        // 1 = nonces equal, 2 = neither has one, -1 = responder does not echo nonces (allowed); 0 = mismatch, 3 = unasked.
        let nonce = OCSP_check_nonce(request, basic)
        guard nonce == 1 || nonce == 2 || nonce == -1 else { throw failure("OCSP nonce does not match the request") }

        guard let untrusted = fapid_x509_stack_new() else { throw failure("allocation failed") }
        defer { fapid_x509_stack_free(untrusted) }
        let verified: Int32 = issuer.withX509 { issuerX509 in
            _ = fapid_x509_stack_push(untrusted, issuerX509)
            return trustStore.withStore { store in OCSP_basic_verify(basic, untrusted, store, 0) }
        }
        guard verified == 1 else { throw failure("OCSP response signature or responder not authorised") }

        var status: Int32 = -1
        var reason: Int32 = -1
        var revokedAt: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
        var thisUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
        var nextUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
        guard OCSP_resp_find_status(basic, certificateID, &status, &reason, &revokedAt, &thisUpdate, &nextUpdate) == 1 else {
            throw failure("OCSP response is not about this certificate")
        }
        guard let thisUpdate else { throw failure("OCSP response without thisUpdate") }
        // thisUpdate not in the future, nextUpdate not past, each with `skew` of tolerance.
        guard OCSP_check_validity(thisUpdate, nextUpdate, Int(skew), -1) == 1 else {
            throw failure("OCSP response outside its validity window")
        }
        let answer: RevocationStatus
        switch status {
        case V_OCSP_CERTSTATUS_GOOD: answer = .good
        case V_OCSP_CERTSTATUS_REVOKED:
            answer = .revoked(reason: reason >= 0 ? RevocationReason.name(Int(reason)) : nil, at: X509Certificate.date(revokedAt))
        default: throw failure("responder does not know the certificate (unknown)")
        }
        return Answer(status: answer, thisUpdate: X509Certificate.date(thisUpdate), nextUpdate: nextUpdate.flatMap { X509Certificate.date($0) })
    }

    private func failure(_ message: String) -> StatusSourceFailure {
        OpenSSLErrorQueue.clear()
        return StatusSourceFailure(message)
    }
}

enum RevocationReason {
    /// RFC 5280 §5.3.1 CRLReason names.
    static func name(_ code: Int) -> String {
        let names = [
            0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged", 4: "superseded",
            5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL", 9: "privilegeWithdrawn", 10: "aACompromise",
        ]
        return names[code] ?? "reason \(code)"
    }
}
