public import Foundation

/// A backchannel authentication request (CIBA Core §7) as stored.
public struct CIBARequest: Sendable, Equatable {
    public enum Status: String, Sendable {
        case pending, approved, denied, redeemed
    }

    /// Internal id shown to bank staff; never the secret `auth_req_id`.
    public var id: String
    public var authReqIDHash: [UInt8]
    public var clientID: String
    public var username: String
    public var scope: String
    public var bindingMessage: String?
    public var acr: String?
    public var deliveryMode: String
    public var notificationToken: String?
    public var createdAt: Date
    public var expiresAt: Date
    public var interval: Int
    public var lastPolledAt: Date?
    public var status: Status
    public var decidedBy: String?
    public var decidedAt: Date?
    /// Ping and push modes only, until the client is notified (CIBA Core §10.2 and §10.3 send it).
    public var pingAuthReqID: String?
    /// The consent (`grant_id`) the request asks for, when it carries `authorization_details`.
    public var grantID: String?

    public init(
        id: String, authReqIDHash: [UInt8], clientID: String, username: String, scope: String, bindingMessage: String?, acr: String?,
        deliveryMode: String, notificationToken: String?, createdAt: Date, expiresAt: Date, interval: Int, lastPolledAt: Date? = nil,
        status: Status = .pending, decidedBy: String? = nil, decidedAt: Date? = nil, pingAuthReqID: String? = nil,
        grantID: String? = nil
    ) {
        self.grantID = grantID
        self.pingAuthReqID = pingAuthReqID
        self.id = id
        self.authReqIDHash = authReqIDHash
        self.clientID = clientID
        self.username = username
        self.scope = scope
        self.bindingMessage = bindingMessage
        self.acr = acr
        self.deliveryMode = deliveryMode
        self.notificationToken = notificationToken
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.interval = interval
        self.lastPolledAt = lastPolledAt
        self.status = status
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
    }
}

public protocol CIBAStore: Sendable {
    /// Stores the request and appends `audit` in one transaction.
    func insertCIBARequest(_ request: CIBARequest, audit: AuditEvent?) async throws(StorageError)
    /// Locks the request's row, hands it to `transition`, writes back its state (status, interval,
    /// `last_polled_at`, decision) and appends its audit event, in one transaction; nil when there is none.
    func updateCIBARequest<R: Sendable>(
        authReqIDHash: [UInt8], _ transition: @escaping @Sendable (CIBARequest) -> StoredTransition<CIBARequest, R>
    ) async throws(StorageError) -> R?
    /// The same, for the request with internal id `id`.
    func updateCIBARequest<R: Sendable>(
        id: String, _ transition: @escaping @Sendable (CIBARequest) -> StoredTransition<CIBARequest, R>
    ) async throws(StorageError) -> R?
    /// Pending requests, oldest first, for the staff terminal.
    func pendingCIBARequests(now: Date) async throws(StorageError) -> [CIBARequest]
    /// At most `limit` decided ping/push requests whose client has not been notified yet and that no instance
    /// has claimed in the last `lease`: each is claimed for `lease` by this call, atomically, so that of several
    /// instances sharing the store only one sends it. One not marked notified is claimable again after the
    /// lease; the caller claims no more than it can send within one.
    func claimCIBANotifications(now: Date, lease: TimeInterval, limit: Int) async throws(StorageError) -> [CIBARequest]
    /// How many requests await a decision (for the `fapid_ciba_pending_requests` gauge).
    func pendingCIBACount(now: Date) async throws(StorageError) -> Int
    func markCIBANotified(id: String, now: Date) async throws(StorageError)
}
