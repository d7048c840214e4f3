import JOSE
import OpenSSLKit

/// Seals what a CIBA ping or push notification must send as it is (CIBA Core §10.2, §10.3: the `auth_req_id`
/// and the client's `client_notification_token`) for the time it waits in storage, so neither sits in the
/// database in plaintext until delivery. AES-256-GCM (`SealedBox`); the request's id is the additional data,
/// so a box copied to another row does not open.
public struct CIBANotificationSealer: Sendable {
    /// The secrets of one request, as sealed together.
    public struct Secrets: Sendable, Equatable {
        public var authReqID: String?
        public var notificationToken: String?

        public init(authReqID: String?, notificationToken: String?) {
            self.authReqID = authReqID
            self.notificationToken = notificationToken
        }
    }

    let key: [UInt8]

    /// `key`: 32 bytes.
    public init(key: [UInt8]) throws(StorageError) {
        guard key.count == SealedBox.keyLength else { throw StorageError(.unavailable, "the CIBA notification key must be 32 bytes") }
        self.key = key
    }

    static func additionalData(_ requestID: String) -> [UInt8] { Array("fapid ciba notification v1 \(requestID)".utf8) }

    public func seal(_ secrets: Secrets, requestID: String) throws(StorageError) -> [UInt8] {
        var members: [String: JSON] = [:]
        if let authReqID = secrets.authReqID { members["auth_req_id"] = .string(authReqID) }
        if let token = secrets.notificationToken { members["client_notification_token"] = .string(token) }
        do {
            return try SealedBox.seal(JSON.object(members).bytes, key: key, additionalData: Self.additionalData(requestID))
        } catch {
            throw StorageError(.unavailable, "cannot seal the CIBA notification secrets: \(error)")
        }
    }

    /// The secrets, or nil when the box was sealed under another key, for another row, or altered.
    public func open(_ box: [UInt8], requestID: String) -> Secrets? {
        guard let plaintext = try? SealedBox.open(box, key: key, additionalData: Self.additionalData(requestID)),
            let object = try? JSON.parseObject(plaintext)
        else { return nil }
        return Secrets(authReqID: object["auth_req_id"]?.stringValue, notificationToken: object["client_notification_token"]?.stringValue)
    }
}

/// How a request's notification secrets are stored, once for every backend that seals them.
extension CIBARequest {
    /// The request as stored, and the sealed box of its secrets: with a sealer, a ping or push request's
    /// `auth_req_id` and `client_notification_token` leave the row and go into the box.
    public func sealingSecrets(with sealer: CIBANotificationSealer?) throws(StorageError) -> (stored: CIBARequest, sealed: [UInt8]?) {
        guard let sealer, pingAuthReqID != nil || notificationToken != nil else { return (self, nil) }
        let sealed = try sealer.seal(.init(authReqID: pingAuthReqID, notificationToken: notificationToken), requestID: id)
        var stored = self
        stored.pingAuthReqID = nil
        stored.notificationToken = nil
        return (stored, sealed)
    }

    /// The stored request with the secrets of `sealed` put back. Sealed under another key (or altered): no
    /// secrets, so no notification is sent from this instance.
    public func openingSecrets(_ sealed: [UInt8]?, with sealer: CIBANotificationSealer?) -> CIBARequest {
        guard let sealed else { return self }
        let secrets = sealer?.open(sealed, requestID: id)
        var request = self
        request.pingAuthReqID = secrets?.authReqID
        request.notificationToken = secrets?.notificationToken
        return request
    }
}
