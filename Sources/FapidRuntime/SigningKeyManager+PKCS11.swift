public import AuthorizationServer
public import Foundation
public import JOSE
public import OpenSSLKit

extension SigningKeyManager {
    /// The algorithm a token key signs with: RSA → PS256, P-256 → ES256.
    public static func algorithm(for key: AsymmetricKey) throws -> JWSAlgorithm {
        switch key.kind {
        case .rsa: return .PS256
        case .p256: return .ES256
        case .ed25519: throw PrivateKeyFile.Failure(description: "fapid keeps only RSA (PS256) and P-256 (ES256) keys in tokens")
        }
    }

    /// The record of the token key `uri` names, not yet stored: loaded through the engine, its algorithm taken from
    /// the key, its kid the RFC 7638 thumbprint of its public half, `keyFile` the canonical URI.
    public func tokenKeyRecord(_ uri: PKCS11URI, now: Date) throws -> (record: SigningKeyRecord, key: AsymmetricKey) {
        guard uri.object != nil || uri.id != nil else {
            throw PrivateKeyFile.Failure(description: "the URI must name a key in the token (object=LABEL or id=%NN…)")
        }
        var named = uri
        named.type = "private"
        let key = try loadTokenKey(named)
        let algorithm = try Self.algorithm(for: key)
        _ = try SigningKey(key: key, algorithm: algorithm, kid: "check")
        return (SigningKeyRecord(kid: try JWK.thumbprint(of: key), algorithm: algorithm, keyFile: named.description, createdAt: now), key)
    }

    /// Makes a new key pair for `algorithm` inside the token `token` names and returns its record, not yet stored.
    /// The object gets a random 16-byte CKA_ID and the label `fapid-<alg>-<seconds since 1970>`.
    public func newTokenKey(_ algorithm: JWSAlgorithm, in token: PKCS11URI, now: Date) throws -> SigningKeyRecord {
        guard let pkcs11 else { throw PrivateKeyFile.Failure(description: "set pkcs11_module (FAPID_PKCS11_MODULE) to make keys in a token") }
        let kind: AsymmetricKey.Kind =
            switch algorithm {
            case .PS256: .rsa(bits: rsaBits)
            case .ES256: .p256
            default: throw PrivateKeyFile.Failure(description: "fapid keeps only PS256 and ES256 keys in tokens")
            }
        var tokenOnly = PKCS11URI(token: token.token, serial: token.serial)
        tokenOnly.manufacturer = token.manufacturer
        tokenOnly.model = token.model
        let label = "fapid-\(algorithm.rawValue.lowercased())-\(Int64(now.timeIntervalSince1970))"
        let made = try PKCS11Token.generateKeyPair(
            module: pkcs11.module, token: tokenOnly, pin: pkcs11.pin, kind: kind, id: Crypto.randomBytes(16), label: label)
        return try tokenKeyRecord(made, now: now).record
    }
}
