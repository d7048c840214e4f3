internal import COpenSSL

/// An RSA, EC P-256 or Ed25519 key held as one OpenSSL `EVP_PKEY`, parsed once and shared.
///
/// OpenSSL 3 allows concurrent sign and verify operations on one `EVP_PKEY`: each operation
/// makes its own context, and the key itself is never mutated after construction.
public final class AsymmetricKey: @unchecked Sendable {
    public enum Kind: Sendable, Equatable, CustomStringConvertible {
        case rsa(bits: Int)
        case p256
        case ed25519

        public var description: String {
            switch self {
            case .rsa(let bits): "RSA-\(bits)"
            case .p256: "EC P-256"
            case .ed25519: "Ed25519"
            }
        }
    }

    /// Smallest RSA modulus accepted anywhere (FAPI 1 Baseline §5.2.2-5, FAPI 2 SP §5.4.1).
    public static let minimumRSABits = 2048
    /// Largest RSA modulus accepted anywhere: checking and using a bigger one costs CPU an attacker
    /// chooses (a 16384-bit public check takes most of a second), and no profile needs more (CWE-400).
    public static let maximumRSABits = 4096
    /// Largest RSA public exponent, in bytes (OpenSSL's own limit for moduli over 3072 bits is 64 bits).
    package static let maximumRSAExponentBytes = 8

    package let pkey: OpaquePointer
    public let kind: Kind
    public let isPrivate: Bool
    /// For a private key that lives in a hardware token (PKCS#11, through OpenSSL's engine): its public half as an
    /// ordinary key, which answers everything about the public components. Nil for every other key.
    package let publicHalf: AsymmetricKey?

    /// Whether the private key lives in a token and never leaves it.
    public var isInToken: Bool { publicHalf != nil }

    /// Takes ownership of `pkey`, a private key held by a token: its kind and public components come from its
    /// SubjectPublicKeyInfo, re-read as an ordinary public key. Frees `pkey` if the key is refused.
    package init(takingTokenKey pkey: OpaquePointer) throws(CryptoError) {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(pkey, &out)
        guard length > 0, let out else {
            EVP_PKEY_free(pkey)
            throw OpenSSLErrorQueue.failure(.invalidKey, "the token key has no readable public half")
        }
        defer { fapid_openssl_free(out) }
        let publicHalf: AsymmetricKey
        do {
            publicHalf = try AsymmetricKey(publicKeyDER: Array(UnsafeBufferPointer(start: out, count: Int(length))))
        } catch {
            EVP_PKEY_free(pkey)
            throw error
        }
        self.pkey = pkey
        self.isPrivate = true
        self.kind = publicHalf.kind
        self.publicHalf = publicHalf
    }

    /// Takes ownership of `pkey`; frees it if the key is refused.
    package init(taking pkey: OpaquePointer, isPrivate: Bool) throws(CryptoError) {
        self.pkey = pkey
        self.isPrivate = isPrivate
        self.publicHalf = nil
        switch EVP_PKEY_get_base_id(pkey) {
        case EVP_PKEY_RSA:
            let bits = Int(EVP_PKEY_get_bits(pkey))
            guard bits >= Self.minimumRSABits else {
                EVP_PKEY_free(pkey)
                throw CryptoError(.weakKey, "RSA key of \(bits) bits; at least \(Self.minimumRSABits) required")
            }
            guard bits <= Self.maximumRSABits else {
                EVP_PKEY_free(pkey)
                throw CryptoError(.invalidKey, "RSA key of \(bits) bits; at most \(Self.maximumRSABits) accepted")
            }
            kind = .rsa(bits: bits)
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            let ok = EVP_PKEY_get_utf8_string_param(pkey, "group", &name, name.count, &length)
            let group = ok == 1 ? String(nulTerminated: name) : ""
            guard group == "prime256v1" || group == "P-256" else {
                EVP_PKEY_free(pkey)
                OpenSSLErrorQueue.clear()
                throw CryptoError(.weakKey, "EC curve \(group.isEmpty ? "unknown" : group) is not accepted; only P-256")
            }
            kind = .p256
        case EVP_PKEY_ED25519:
            kind = .ed25519
        default:
            EVP_PKEY_free(pkey)
            throw CryptoError(.invalidKey, "unsupported key type")
        }
    }

    deinit {
        EVP_PKEY_free(pkey)
    }

    /// Lends the `EVP_PKEY` for the duration of `body` only.
    package func withPKey<R, E: Error>(_ body: (OpaquePointer) throws(E) -> R) throws(E) -> R {
        defer { withExtendedLifetime(self) {} }
        return try body(pkey)
    }

    // MARK: Generation

    public static func generate(_ kind: Kind) throws(CryptoError) -> AsymmetricKey {
        let created: OpaquePointer?
        switch kind {
        case .rsa(let bits):
            guard bits >= minimumRSABits else { throw CryptoError(.weakKey, "RSA keys must have at least \(minimumRSABits) bits") }
            guard bits <= maximumRSABits else { throw CryptoError(.invalidKey, "RSA keys may have at most \(maximumRSABits) bits") }
            created = fapid_rsa_generate(UInt32(bits))
        case .p256:
            created = "P-256".withCString { fapid_ec_generate($0) }
        case .ed25519:
            created = fapid_ed25519_generate()
        }
        guard let created else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "key generation failed") }
        return try AsymmetricKey(taking: created, isPrivate: true)
    }

    // MARK: PEM and DER

    /// Reads a PEM private key (PKCS#8 or traditional) or, failing that, a PEM public key (SubjectPublicKeyInfo).
    public convenience init(pem: String) throws(CryptoError) {
        let bytes = Array(pem.utf8)
        if let key = Self.readPEM(bytes, privateKey: true) {
            try self.init(taking: key, isPrivate: true)
        } else if let key = Self.readPEM(bytes, privateKey: false) {
            try self.init(taking: key, isPrivate: false)
        } else {
            throw OpenSSLErrorQueue.failure(.invalidKey, "not a PEM private or public key")
        }
    }

    private static func readPEM(_ bytes: [UInt8], privateKey: Bool) -> OpaquePointer? {
        bytes.withUnsafeBytes { buffer -> OpaquePointer? in
            // BIO_new_mem_buf does not copy: the BIO must not outlive `buffer`.
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            let key = privateKey ? PEM_read_bio_PrivateKey(bio, nil, nil, nil) : PEM_read_bio_PUBKEY(bio, nil, nil, nil)
            if key == nil { OpenSSLErrorQueue.clear() }
            return key
        }
    }

    /// Parses a DER SubjectPublicKeyInfo.
    public convenience init(publicKeyDER der: [UInt8]) throws(CryptoError) {
        let key = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let key else { throw OpenSSLErrorQueue.failure(.invalidKey, "not a DER public key") }
        try self.init(taking: key, isPrivate: false)
    }

    /// PKCS#8 PEM of the private key, for key files (written 0600 by the caller).
    public func privateKeyPEM() throws(CryptoError) -> String {
        guard isPrivate else { throw CryptoError(.invalidKey, "not a private key") }
        guard publicHalf == nil else { throw CryptoError(.invalidKey, "the private key lives in a token and cannot be exported") }
        return try Self.writePEM { bio in PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil) }
    }

    public func publicKeyPEM() throws(CryptoError) -> String {
        try Self.writePEM { bio in PEM_write_bio_PUBKEY(bio, pkey) }
    }

    private static func writePEM(_ write: (OpaquePointer) -> Int32) throws(CryptoError) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "BIO_new") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "PEM write") }
        var data: UnsafeMutablePointer<CChar>?
        let length = fapid_bio_mem_data(bio, &data)
        guard let data, length > 0 else { throw CryptoError(.cryptoFailure, "empty PEM") }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }

    /// DER SubjectPublicKeyInfo: two keys are the same public key exactly when these bytes are equal.
    public func publicKeyDER() throws(CryptoError) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(pkey, &out)
        guard length > 0, let out else { throw OpenSSLErrorQueue.failure(.cryptoFailure, "i2d_PUBKEY") }
        defer { fapid_openssl_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// Whether both hold the same public key (EVP_PKEY_eq compares public components).
    public func hasSamePublicKey(as other: AsymmetricKey) -> Bool {
        let result = withPKey { a in other.withPKey { b in EVP_PKEY_eq(a, b) } }
        if result != 1 { OpenSSLErrorQueue.clear() }
        return result == 1
    }
}
