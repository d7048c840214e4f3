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

    public init(
        id: String, authReqIDHash: [UInt8], clientID: String, username: String, scope: String, bindingMessage: String?, acr: String?,
        deliveryMode: String, notificationToken: String?, createdAt: Date, expiresAt: Date, interval: Int, lastPolledAt: Date? = nil,
        status: Status = .pending, decidedBy: String? = nil, decidedAt: Date? = nil, pingAuthReqID: String? = nil
    ) {
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

/// What a poll found (CIBA Core §11), decided atomically by the store.
public enum CIBAPoll: Sendable, Equatable {
    case pending
    /// Polled faster than the interval; the interval has grown by 5 s.
    case slowDown
    case denied
    case expired
    /// Approved and now redeemed: tokens may be issued, once.
    case approved(CIBARequest)
    /// Unknown, another client's, or already redeemed.
    case invalid
}

public protocol CIBAStore: Sendable {
    /// Stores the request and appends `audit` in one transaction.
    func insertCIBARequest(_ request: CIBARequest, audit: AuditEvent?) async throws(StorageError)
    /// One poll: updates `last_polled_at`, grows the interval on `slow_down`, and moves approved to redeemed.
    func pollCIBARequest(authReqIDHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> CIBAPoll
    /// Pending requests, oldest first, for the staff terminal.
    func pendingCIBARequests(now: Date) async throws(StorageError) -> [CIBARequest]
    /// Records the decision of a pending, unexpired request, with a `ciba.decided` audit event naming the
    /// staff member `by`, in one transaction; false otherwise.
    func decideCIBARequest(id: String, approve: Bool, by: String, now: Date) async throws(StorageError) -> Bool
    /// At most `limit` decided ping/push requests whose client has not been notified yet and that no instance
    /// has claimed in the last `lease`: each is claimed for `lease` by this call, atomically, so that of several
    /// instances sharing the store only one sends it. One not marked notified is claimable again after the
    /// lease; the caller claims no more than it can send within one.
    func claimCIBANotifications(now: Date, lease: TimeInterval, limit: Int) async throws(StorageError) -> [CIBARequest]
    /// How many requests await a decision (for the `fapid_ciba_pending_requests` gauge).
    func pendingCIBACount(now: Date) async throws(StorageError) -> Int
    func markCIBANotified(id: String, now: Date) async throws(StorageError)
    /// Push mode: moves an approved request to redeemed, atomically; false if it was not approved.
    func redeemCIBARequest(id: String) async throws(StorageError) -> Bool
}
