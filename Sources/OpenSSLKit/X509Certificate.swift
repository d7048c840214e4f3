package import COpenSSL
public import Foundation

/// One parsed X.509 certificate, owned as an OpenSSL `X509`.
///
/// Parsed once; the DER and its SHA-256 thumbprint (RFC 8705 §3.1 `x5t#S256`) are kept beside it
/// because certificate binding reads them on every request.
public final class X509Certificate: @unchecked Sendable {
    let x509: OpaquePointer
    /// The certificate's DER encoding.
    public let der: [UInt8]
    /// base64url(SHA-256(DER)): the `x5t#S256` value.
    public let sha256Thumbprint: String

    /// Takes ownership of `x509`.
    package init(taking x509: OpaquePointer) throws(CryptoError) {
        self.x509 = x509
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(x509, &out)
        guard length > 0, let out else {
            X509_free(x509)
            throw OpenSSLErrorQueue.failure(.certificate, "i2d_X509")
        }
        der = Array(UnsafeBufferPointer(start: out, count: Int(length)))
        fapid_openssl_free(out)
        sha256Thumbprint = Base64URL.encode(Crypto.sha256(der))
    }

    deinit {
        X509_free(x509)
    }

    package func withX509<R, E: Error>(_ body: (OpaquePointer) throws(E) -> R) throws(E) -> R {
        defer { withExtendedLifetime(self) {} }
        return try body(x509)
    }

    /// Parses one DER certificate; trailing bytes are refused.
    public convenience init(der: [UInt8]) throws(CryptoError) {
        let parsed = der.withUnsafeBufferPointer { buffer -> (OpaquePointer?, Int) in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let x509 = d2i_X509(nil, &cursor, buffer.count)
            let consumed = cursor.map { $0 - buffer.baseAddress! } ?? 0
            return (x509, consumed)
        }
        guard let x509 = parsed.0 else { throw OpenSSLErrorQueue.failure(.certificate, "not a DER certificate") }
        guard parsed.1 == der.count else {
            X509_free(x509)
            throw CryptoError(.certificate, "trailing bytes after the DER certificate")
        }
        try self.init(taking: x509)
        // d2i reads BER too, and i2d writes DER: a certificate not sent in DER (RFC 5280 §4.1) would be kept, and
        // hashed into x5t#S256, as other bytes than those presented.
        guard self.der == der else { throw CryptoError(.certificate, "the certificate is not in DER") }
    }

    /// Parses every `CERTIFICATE` block of a PEM text, in order.
    public static func parsePEM(_ pem: String) throws(CryptoError) -> [X509Certificate] {
        let bytes = Array(pem.utf8)
        var certificates: [X509Certificate] = []
        var failure: CryptoError?
        bytes.withUnsafeBytes { buffer in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return }
            defer { BIO_free(bio) }
            while let x509 = PEM_read_bio_X509(bio, nil, nil, nil) {
                do throws(CryptoError) { certificates.append(try X509Certificate(taking: x509)) } catch { failure = error }
            }
            // Reading stops with "no start line" at the end of input; that entry is expected.
            OpenSSLErrorQueue.clear()
        }
        if let failure { throw failure }
        guard !certificates.isEmpty else { throw CryptoError(.certificate, "no PEM certificate found") }
        return certificates
    }

    public var pem: String {
        let body = Base64URL.encodeStandard(der)
        var lines = ["-----BEGIN CERTIFICATE-----"]
        var index = body.startIndex
        while index < body.endIndex {
            let end = body.index(index, offsetBy: 64, limitedBy: body.endIndex) ?? body.endIndex
            lines.append(String(body[index..<end]))
            index = end
        }
        lines.append("-----END CERTIFICATE-----")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Subject DN in RFC 4514 / RFC 2253 string form.
    public var subjectDN: String { Self.distinguishedName(X509_get_subject_name(x509)) }
    public var issuerDN: String { Self.distinguishedName(X509_get_issuer_name(x509)) }

    static func distinguishedName(_ name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard X509_NAME_print_ex(bio, name, 0, fapid_name_flags_rfc2253()) >= 0 else {
            OpenSSLErrorQueue.clear()
            return ""
        }
        var data: UnsafeMutablePointer<CChar>?
        let length = fapid_bio_mem_data(bio, &data)
        guard let data, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }

    /// The subject public key; throws for keys we do not accept (RSA under 2048 bits, curves other than P-256).
    public func publicKey() throws(CryptoError) -> AsymmetricKey {
        guard let pkey = X509_get_pubkey(x509) else { throw OpenSSLErrorQueue.failure(.certificate, "X509_get_pubkey") }
        return try AsymmetricKey(taking: pkey, isPrivate: false)
    }

    /// Whether the subject equals the issuer and the certificate's own key verifies its signature.
    public var isSelfSigned: Bool {
        let result = X509_self_signed(x509, 1)
        OpenSSLErrorQueue.clear()
        return result == 1
    }

    public var notBefore: Date? { Self.date(X509_get0_notBefore(x509)) }
    public var notAfter: Date? { Self.date(X509_get0_notAfter(x509)) }

    package static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}
