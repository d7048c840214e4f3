public import AuthorizationServer
import Foundation
import OpenSSLKit

/// The key that seals CIBA ping/push secrets (`auth_req_id`, `client_notification_token`) until delivery.
/// With `key_encryption_key_file`, a key derived from it (SHA-256 over a label and the key encryption key),
/// so every instance that shares the key encryption key opens what another sealed. Without one, a key of this
/// daemon's own in `<keys_dir>/ciba-notification.key` (32 random bytes as hex, mode 0600), created on first
/// start; instances sharing a PostgreSQL database then need the same file.
public enum CIBANotificationKey {
    public static let fileName = "ciba-notification.key"

    public static func sealer(_ configuration: FapidConfiguration) throws -> CIBANotificationSealer {
        if let file = configuration.keyEncryptionKeyFile {
            let keyEncryptionKey = try SigningKeyManager.readKeyEncryptionKey(file)
            // Its own key, not the one sealing signing keys: a box of one kind never opens as the other.
            return try CIBANotificationSealer(key: Crypto.sha256(Array("fapid ciba notification key v1".utf8) + keyEncryptionKey))
        }
        let path = URL(fileURLWithPath: configuration.keysDirectory).appendingPathComponent(fileName).path
        if !FileManager.default.fileExists(atPath: path) { try create(path) }
        return try CIBANotificationSealer(key: try SigningKeyManager.readKeyEncryptionKey(path))
    }

    /// Writes a fresh key beside the final name, then links it in: two daemons starting at once over one keys
    /// directory both end up with the same whole file, never a half-written one.
    static func create(_ path: String) throws {
        let temporary = path + ".\(getpid()).tmp"
        unlink(temporary)
        try PrivateKeyFile.write(Crypto.hex(Crypto.randomBytes(SealedBox.keyLength)) + "\n", to: temporary)
        defer { unlink(temporary) }
        guard link(temporary, path) == 0 || errno == EEXIST else {
            throw PrivateKeyFile.Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }
}
