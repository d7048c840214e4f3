public import AuthorizationServer
import Foundation
import OpenSSLKit

/// The key of the server-provided DPoP nonces (RFC 9449 §8, `DPoPNonces`), which every instance must share so a
/// nonce one instance handed out is accepted by another. With `key_encryption_key_file`, a key derived from it
/// (SHA-256 over a label and the key encryption key); without one, `<keys_dir>/dpop-nonce.key` (32 random bytes as
/// hex, mode 0600), created on first start, as for `CIBANotificationKey`: instances sharing a PostgreSQL database
/// then need the same file.
public enum DPoPNonceKey {
    public static let fileName = "dpop-nonce.key"

    public static func nonces(_ configuration: FapidConfiguration) throws -> DPoPNonces {
        if let file = configuration.keyEncryptionKeyFile {
            let keyEncryptionKey = try SigningKeyManager.readKeyEncryptionKey(file)
            return DPoPNonces(key: Crypto.sha256(Array("fapid dpop nonce key v1".utf8) + keyEncryptionKey))
        }
        let path = URL(fileURLWithPath: configuration.keysDirectory).appendingPathComponent(fileName).path
        if !FileManager.default.fileExists(atPath: path) { try CIBANotificationKey.create(path) }
        return DPoPNonces(key: try SigningKeyManager.readKeyEncryptionKey(path))
    }
}
