internal import COpenSSL
public import Foundation

/// Trust anchors for chain verification (`X509_STORE`), shared and read-only after construction.
///
/// Used for `tls_client_auth` client certificates and for `x5c` chains in JWS headers.
public final class CertificateTrustStore: @unchecked Sendable {
    private let store: OpaquePointer
    public let anchors: [X509Certificate]

    public init(anchors: [X509Certificate]) throws(CryptoError) {
        guard let store = X509_STORE_new() else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "X509_STORE_new") }
        self.store = store
        self.anchors = anchors
        for anchor in anchors {
            guard anchor.withX509({ X509_STORE_add_cert(store, $0) }) == 1 else {
                throw OpenSSLErrorQueue.failure(.certificate, "cannot add trust anchor \(anchor.subjectDN)")
            }
        }
    }

    public convenience init(pemFile path: String) throws(CryptoError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CryptoError(.certificate, "cannot read \(path)")
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

    /// What a verified certificate is going to be used for.
    public enum Purpose: Sendable {
        /// TLS client authentication (RFC 8705 §2.1 `tls_client_auth`, resource servers, DCR transport
        /// certificates): the `clientAuth` purpose on the whole path (the EKU when present, RFC 5280
        /// §4.2.1.12), `digitalSignature` in the leaf's key usage when it has one (§4.2.1.3), and a leaf key
        /// of RSA ≥ 2048 bits, EC P-256/P-384/P-521 or EdDSA (FAPI 1 Baseline §5.2.2-5).
        case clientAuthentication
    }

    /// Builds and verifies a path from `leaf` through `intermediates` to an anchor, checking validity
    /// at `time` and, when given, `purpose`. Returns the verified chain, leaf first.
    public func verify(
        leaf: X509Certificate, intermediates: [X509Certificate] = [], at time: Date, purpose: Purpose? = nil
    ) throws(CryptoError) -> [X509Certificate] {
        guard let context = X509_STORE_CTX_new() else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "X509_STORE_CTX_new") }
        defer { X509_STORE_CTX_free(context) }
        guard let untrusted = fapid_x509_stack_new() else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "sk_X509_new") }
        defer { fapid_x509_stack_free(untrusted) }
        for certificate in intermediates { _ = fapid_x509_stack_push(untrusted, certificate.x509) }
        let result: Int32 = withExtendedLifetime((leaf, intermediates)) {
            guard X509_STORE_CTX_init(context, store, leaf.x509, untrusted) == 1 else { return -1 }
            X509_STORE_CTX_set_time(context, 0, time_t(time.timeIntervalSince1970))
            if purpose == .clientAuthentication {
                // X509_PURPOSE_SSL_CLIENT: EKU clientAuth (when present) on the leaf and the CAs of the path.
                guard X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_CLIENT) == 1 else { return -1 }
            }
            return X509_verify_cert(context)
        }
        guard result == 1 else {
            let code = X509_STORE_CTX_get_error(context)
            let reason = String(cString: X509_verify_cert_error_string(Int(code)))
            OpenSSLErrorQueue.clear()
            throw CryptoError(.certificate, "chain verification failed: \(reason)")
        }
        if purpose == .clientAuthentication { try Self.checkClientLeaf(leaf) }
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

    /// The leaf rules OpenSSL's SSL_CLIENT purpose does not cover: it also accepts `keyAgreement` alone,
    /// and checks no key size.
    static func checkClientLeaf(_ leaf: X509Certificate) throws(CryptoError) {
        let usage = X509_get_key_usage(leaf.x509)
        OpenSSLErrorQueue.clear()
        // UINT32_MAX: no keyUsage extension, so every usage is allowed (RFC 5280 §4.2.1.3).
        guard usage == UInt32.max || usage & UInt32(KU_DIGITAL_SIGNATURE) != 0 else {
            throw CryptoError(.certificate, "the client certificate's key usage lacks digitalSignature")
        }
        guard let key = X509_get0_pubkey(leaf.x509) else { throw OpenSSLErrorQueue.failure(.certificate, "X509_get0_pubkey") }
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA, EVP_PKEY_RSA_PSS:
            let bits = Int(EVP_PKEY_get_bits(key))
            guard bits >= 2048 else { throw CryptoError(.certificate, "the client certificate's RSA key has \(bits) bits; at least 2048 required") }
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            let group = EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 ? String(nulTerminated: name) : ""
            OpenSSLErrorQueue.clear()
            guard ["prime256v1", "secp384r1", "secp521r1"].contains(group) else {
                let curve = group.isEmpty ? "unknown" : group
                throw CryptoError(.certificate, "the client certificate's EC curve \(curve) is not accepted; P-256 or stronger")
            }
        case EVP_PKEY_ED25519, EVP_PKEY_ED448:
            break
        default:
            throw CryptoError(.certificate, "the client certificate's key type is not accepted")
        }
    }
}
