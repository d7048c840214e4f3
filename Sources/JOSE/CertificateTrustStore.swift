internal import COpenSSL
public import Foundation

/// Trust anchors for chain verification (`X509_STORE`), shared and read-only after construction.
///
/// Used for `tls_client_auth` client certificates and for `x5c` chains in JWS headers.
public final class CertificateTrustStore: @unchecked Sendable {
    private let store: OpaquePointer
    public let anchors: [X509Certificate]

    public init(anchors: [X509Certificate]) throws(JOSEError) {
        guard let store = X509_STORE_new() else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "X509_STORE_new") }
        self.store = store
        self.anchors = anchors
        for anchor in anchors {
            guard anchor.withX509({ X509_STORE_add_cert(store, $0) }) == 1 else {
                throw OpenSSLErrorQueue.failure(.certificate, "cannot add trust anchor \(anchor.subjectDN)")
            }
        }
    }

    public convenience init(pemFile path: String) throws(JOSEError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw JOSEError(.certificate, "cannot read \(path)")
        }
        try self.init(anchors: try X509Certificate.parsePEM(text))
    }

    deinit {
        X509_STORE_free(store)
    }

    /// Lends the `X509_STORE` (for OCSP response verification in CertificateStatus).
    package func withStore<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        defer { withExtendedLifetime(self) {} }
        return try body(store)
    }

    /// Builds and verifies a path from `leaf` through `intermediates` to an anchor, checking validity
    /// at `time`. Returns the verified chain, leaf first.
    public func verify(leaf: X509Certificate, intermediates: [X509Certificate] = [], at time: Date) throws(JOSEError) -> [X509Certificate] {
        guard let context = X509_STORE_CTX_new() else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "X509_STORE_CTX_new") }
        defer { X509_STORE_CTX_free(context) }
        guard let untrusted = fapid_x509_stack_new() else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "sk_X509_new") }
        defer { fapid_x509_stack_free(untrusted) }
        for certificate in intermediates { _ = fapid_x509_stack_push(untrusted, certificate.x509) }
        let result: Int32 = withExtendedLifetime((leaf, intermediates)) {
            guard X509_STORE_CTX_init(context, store, leaf.x509, untrusted) == 1 else { return -1 }
            X509_STORE_CTX_set_time(context, 0, time_t(time.timeIntervalSince1970))
            return X509_verify_cert(context)
        }
        guard result == 1 else {
            let code = X509_STORE_CTX_get_error(context)
            let reason = String(cString: X509_verify_cert_error_string(Int(code)))
            OpenSSLErrorQueue.clear()
            throw JOSEError(.certificate, "chain verification failed: \(reason)")
        }
        guard let chain = X509_STORE_CTX_get1_chain(context) else { return [leaf] }
        defer { fapid_x509_stack_pop_free(chain) }
        var verified: [X509Certificate] = []
        for index in 0..<fapid_x509_stack_count(chain) {
            guard let entry = fapid_x509_stack_value(chain, index) else { continue }
            X509_up_ref(entry)
            verified.append(try X509Certificate(taking: entry))
        }
        return verified
    }
}
