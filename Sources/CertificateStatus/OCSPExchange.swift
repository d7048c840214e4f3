internal import COpenSSL
public import Foundation
public import OpenSSLKit

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

    /// What `evaluate` demands beyond a valid signature and certificate id.
    public struct Requirements: Sendable {
        /// Clock tolerance for `thisUpdate` and `nextUpdate`.
        public var skew: TimeInterval
        /// The oldest `thisUpdate` accepted from a response without `nextUpdate` (RFC 5019 §4 leaves such a
        /// response's lifetime to the client; unbounded, an old signed answer could be replayed for ever).
        public var maximumAge: TimeInterval
        /// Refuse a response that does not echo our nonce (RFC 6960 §4.4.1), so that no recorded answer can
        /// be replayed. Off by default: RFC 5019 responders pre-sign answers and ignore nonces.
        public var requireNonce: Bool

        public init(skew: TimeInterval = 300, maximumAge: TimeInterval = 3600, requireNonce: Bool = false) {
            self.skew = skew
            self.maximumAge = maximumAge
            self.requireNonce = requireNonce
        }
    }

    /// Judges a response with the default requirements and `skew`.
    public func evaluate(_ der: [UInt8], trustStore: CertificateTrustStore, now: Date, skew: TimeInterval) throws(StatusSourceFailure) -> Answer {
        try evaluate(der, trustStore: trustStore, now: now, requirements: Requirements(skew: skew))
    }

    /// Judges a response: successful status, signature by the issuer or an authorised delegated responder
    /// (checked by `OCSP_basic_verify` against `trustStore`), nonce, certificate id, and time window
    /// (judged at `now`). `unknown` and every defect are failures, so the caller falls back to the CRL.
    public func evaluate(
        _ der: [UInt8], trustStore: CertificateTrustStore, now: Date, requirements: Requirements
    ) throws(StatusSourceFailure) -> Answer {
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

        // 1 = nonces equal, 2 = neither has one, -1 = responder does not echo nonces; 0 = mismatch, 3 = unasked.
        let nonce = OCSP_check_nonce(request, basic)
        if requirements.requireNonce {
            // RFC 6960 §4.4.1: only an echoed nonce proves the answer was made for this request.
            guard nonce == 1 else {
                throw failure(nonce == -1 ? "OCSP response without our nonce (nonces required)" : "OCSP nonce does not match the request")
            }
        } else {
            guard nonce == 1 || nonce == 2 || nonce == -1 else { throw failure("OCSP nonce does not match the request") }
        }

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
        // Well-formed times, nextUpdate not before thisUpdate (the time checks themselves follow, at `now`).
        guard OCSP_check_validity(thisUpdate, nextUpdate, Int(Int32.max), -1) == 1,
            let issued = X509Certificate.date(thisUpdate)
        else {
            throw failure("OCSP response with malformed thisUpdate or nextUpdate")
        }
        let next = nextUpdate.flatMap { X509Certificate.date($0) }
        if nextUpdate != nil, next == nil { throw failure("OCSP response with malformed nextUpdate") }
        let skew = requirements.skew
        // RFC 6960 §4.2.2.1: thisUpdate not in the future, nextUpdate not past, each with `skew` of tolerance.
        guard issued <= now.addingTimeInterval(skew) else { throw failure("OCSP response outside its validity window (thisUpdate in the future)") }
        if let next {
            guard next >= now.addingTimeInterval(-skew) else { throw failure("OCSP response outside its validity window (nextUpdate passed)") }
        } else {
            // RFC 5019 §4: without nextUpdate, the client decides how long the answer is good for.
            guard issued >= now.addingTimeInterval(-(requirements.maximumAge + skew)) else {
                throw failure("OCSP response without nextUpdate older than the maximum age of \(Int(requirements.maximumAge)) s")
            }
        }
        let answer: RevocationStatus
        switch status {
        case V_OCSP_CERTSTATUS_GOOD: answer = .good
        case V_OCSP_CERTSTATUS_REVOKED:
            answer = .revoked(reason: reason >= 0 ? RevocationReason.name(Int(reason)) : nil, at: X509Certificate.date(revokedAt))
        default: throw failure("responder does not know the certificate (unknown)")
        }
        return Answer(status: answer, thisUpdate: issued, nextUpdate: next)
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
