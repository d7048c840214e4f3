internal import CPKCS11

/// Keys inside a PKCS#11 token. Loading goes through OpenSSL's `pkcs11` engine (libp11, Debian's
/// `libengine-pkcs11-openssl`): the key comes back as an `EVP_PKEY` whose signatures the token computes, so every
/// JWS is still an `EVP_DigestSign` and the private key never leaves the token. Generation talks PKCS#11 directly
/// (`C_GenerateKeyPair`), as no engine call creates keys.
public enum PKCS11Token {
    /// Runs `body`, a signature with a token key, while no key is being loaded or made (libp11 may free and rebuild
    /// its view of the token's objects then).
    public static func whileSigning<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        fapid_pkcs11_signing_begin()
        defer { fapid_pkcs11_signing_end() }
        return try body()
    }

    /// The private key `uri` names, in the token the module `module` drives.
    public static func loadPrivateKey(module: String, uri: PKCS11URI, pin: String?) throws(CryptoError) -> AsymmetricKey {
        var named = uri
        named.type = "private"
        var error = [CChar](repeating: 0, count: 512)
        let key = fapid_pkcs11_load_private_key(module, named.description, pin, &error, error.count)
        guard let key else { throw CryptoError(.invalidKey, "\(uri): \(String(nulTerminated: error))") }
        return try AsymmetricKey(takingTokenKey: key)
    }

    /// Makes a key pair inside the token `token` names (by label, and serial if given): RSA with `rsaBits`, or P-256.
    /// Returns the URI of the new private key: the token's attributes, `object` = `label`, `id` = `id`.
    public static func generateKeyPair(
        module: String, token: PKCS11URI, pin: String?, kind: AsymmetricKey.Kind, id: [UInt8], label: String
    ) throws(CryptoError) -> PKCS11URI {
        guard let tokenLabel = token.token else { throw CryptoError(.invalidKey, "the token URI must name the token (token=LABEL)") }
        guard token.object == nil, token.id == nil else {
            throw CryptoError(.invalidKey, "the token URI names an object; give only the token (token=LABEL, optionally serial=…)")
        }
        let elliptic: Int32
        let bits: UInt
        switch kind {
        case .rsa(let size):
            guard size >= AsymmetricKey.minimumRSABits, size <= AsymmetricKey.maximumRSABits else {
                throw CryptoError(.weakKey, "RSA keys must have \(AsymmetricKey.minimumRSABits) to \(AsymmetricKey.maximumRSABits) bits")
            }
            (elliptic, bits) = (0, UInt(size))
        case .p256: (elliptic, bits) = (1, 0)
        case .ed25519: throw CryptoError(.unsupportedAlgorithm, "fapid keeps only PS256 and ES256 keys in tokens")
        }
        var error = [CChar](repeating: 0, count: 512)
        let result = id.withUnsafeBufferPointer { idBuffer in
            fapid_pkcs11_generate_key_pair(
                module, tokenLabel, token.serial, pin, elliptic, bits, idBuffer.baseAddress, idBuffer.count, label, &error, error.count)
        }
        guard result == 0 else { throw CryptoError(.cryptoFailure, "\(token): \(String(nulTerminated: error))") }
        var made = PKCS11URI(token: tokenLabel, serial: token.serial, object: label, id: id, type: "private")
        made.manufacturer = token.manufacturer
        made.model = token.model
        return made
    }
}
