internal import COpenSSL
public import OpenSSLKit

/// A digest-sign context initialised once for a key and algorithm (provider fetches, PSS parameters),
/// copied for each signature: OpenSSL 3's per-call initialisation costs about as much as an ECDSA
/// signature itself. The template is only ever read (copied), so threads may share it.
final class PreparedSigner: @unchecked Sendable {
    let template: OpaquePointer

    init(key: AsymmetricKey, algorithm: JWSAlgorithm) throws(JOSEError) {
        guard let context = EVP_MD_CTX_new() else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_MD_CTX_new") }
        do {
            try key.initialiseSigning(context, algorithm: algorithm)
        } catch {
            EVP_MD_CTX_free(context)
            throw error
        }
        template = context
    }

    deinit { EVP_MD_CTX_free(template) }
}

extension AsymmetricKey {
    func initialiseSigning(_ context: OpaquePointer, algorithm: JWSAlgorithm) throws(JOSEError) {
        try withPKey { pkey throws(JOSEError) in
            var keyContext: OpaquePointer?
            let md = algorithm == .EdDSA ? nil : Crypto.sha256Digest
            guard EVP_DigestSignInit(context, &keyContext, md, nil, pkey) == 1 else {
                throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_DigestSignInit")
            }
            if algorithm == .PS256 { try Self.configurePSS(keyContext) }
        }
    }

    /// Signs `input` (the JWS signing input) with `algorithm`; ES256 comes back as raw r‖s.
    public func sign(_ input: [UInt8], algorithm: JWSAlgorithm) throws(JOSEError) -> [UInt8] {
        try sign(input, algorithm: algorithm, prepared: nil)
    }

    func sign(_ input: [UInt8], algorithm: JWSAlgorithm, prepared: PreparedSigner?) throws(JOSEError) -> [UInt8] {
        guard isPrivate else { throw JOSEError(.invalidKey, "signing needs a private key") }
        guard algorithm.fits(kind) else { throw JOSEError(.algorithmMismatch, "\(algorithm) does not fit a \(kind) key") }
        guard algorithm != .RS256 else { throw JOSEError(.unsupportedAlgorithm, "RS256 is verify-only") }
        guard let context = EVP_MD_CTX_new() else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        if let prepared, EVP_MD_CTX_copy_ex(context, prepared.template) == 1 {
            // Ready to sign: the copy carries the key, digest and padding.
        } else {
            try initialiseSigning(context, algorithm: algorithm)
        }
        var length = 0
        guard input.withUnsafeBufferPointer({ EVP_DigestSign(context, nil, &length, $0.baseAddress, $0.count) }) == 1 else {
            throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_DigestSign (length)")
        }
        var signature = [UInt8](repeating: 0, count: length)
        let ok = input.withUnsafeBufferPointer { data in
            signature.withUnsafeMutableBufferPointer { EVP_DigestSign(context, $0.baseAddress, &length, data.baseAddress, data.count) }
        }
        guard ok == 1 else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_DigestSign") }
        signature.removeLast(signature.count - length)
        return algorithm == .ES256 ? try ECDSASignature.rawFromDER(signature) : signature
    }

    /// Verifies a JWS signature; throws `algorithmMismatch` when the algorithm does not fit this key
    /// and `invalidSignature` when the signature does not verify.
    public func verify(signature: [UInt8], input: [UInt8], algorithm: JWSAlgorithm) throws(JOSEError) {
        guard algorithm.fits(kind) else { throw JOSEError(.algorithmMismatch, "\(algorithm) does not fit a \(kind) key") }
        let encoded: [UInt8]
        if algorithm == .ES256 {
            // RFC 7518 §3.4: exactly 64 bytes; a DER signature is malformed here.
            guard signature.count == 64 else { throw JOSEError(.invalidSignature, "ES256 signature must be 64 bytes") }
            encoded = try ECDSASignature.derFromRaw(signature)
        } else {
            encoded = signature
        }
        guard let context = EVP_MD_CTX_new() else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        try withPKey { pkey throws(JOSEError) in
            var keyContext: OpaquePointer?
            let md = algorithm == .EdDSA ? nil : Crypto.sha256Digest
            guard EVP_DigestVerifyInit(context, &keyContext, md, nil, pkey) == 1 else {
                throw OpenSSLErrorQueue.failure(.cryptoFailure, "EVP_DigestVerifyInit")
            }
            if algorithm == .PS256 { try Self.configurePSS(keyContext) }
        }
        let result = encoded.withUnsafeBufferPointer { sig in
            input.withUnsafeBufferPointer { data in
                EVP_DigestVerify(context, sig.baseAddress, sig.count, data.baseAddress, data.count)
            }
        }
        guard result == 1 else {
            // A failed verify leaves entries on the queue.
            OpenSSLErrorQueue.clear()
            throw JOSEError(.invalidSignature, "\(algorithm) signature does not verify")
        }
    }

    /// RFC 7518 §3.5: PSS with MGF1 over the same hash and a salt as long as the hash (32 bytes).
    static func configurePSS(_ keyContext: OpaquePointer?) throws(JOSEError) {
        guard EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
            EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, 32) == 1,
            EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, Crypto.sha256Digest) == 1
        else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "PSS parameters") }
    }
}

/// Conversion between JOSE's fixed-size r‖s and the DER `ECDSA-Sig-Value` OpenSSL speaks.
enum ECDSASignature {
    static func rawFromDER(_ der: [UInt8]) throws(JOSEError) -> [UInt8] {
        let signature = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &cursor, buffer.count)
        }
        guard let signature else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "d2i_ECDSA_SIG") }
        defer { ECDSA_SIG_free(signature) }
        var raw = [UInt8](repeating: 0, count: 64)
        let ok = raw.withUnsafeMutableBufferPointer { out in
            BN_bn2binpad(ECDSA_SIG_get0_r(signature), out.baseAddress, 32) == 32
                && BN_bn2binpad(ECDSA_SIG_get0_s(signature), out.baseAddress! + 32, 32) == 32
        }
        guard ok else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "BN_bn2binpad") }
        return raw
    }

    static func derFromRaw(_ raw: [UInt8]) throws(JOSEError) -> [UInt8] {
        guard let signature = ECDSA_SIG_new() else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "ECDSA_SIG_new") }
        defer { ECDSA_SIG_free(signature) }
        let r = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, 32, nil) }
        let s = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress! + 32, 32, nil) }
        guard let r, let s, ECDSA_SIG_set0(signature, r, s) == 1 else {
            BN_free(r)
            BN_free(s)
            throw OpenSSLErrorQueue.failure(.cryptoFailure, "ECDSA_SIG_set0")
        }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_ECDSA_SIG(signature, &out)
        guard length > 0, let out else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "i2d_ECDSA_SIG") }
        defer { fapid_openssl_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}
