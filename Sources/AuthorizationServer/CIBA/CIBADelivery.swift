public import Foundation
import JOSE

/// How decided CIBA requests reach a ping or push client (CIBA Core §10.2, §10.3): which to claim, what to
/// send, and when to stop. The sending itself (an HTTPS POST) and the loop are the caller's. Instances
/// sharing the store claim each notification for `lease` before sending it, so one of them sends it; one not
/// delivered finally is claimable again after the lease, until the request expires. The decision is never
/// lost: a ping client can always poll.
public struct CIBADelivery: Sendable {
    /// One notification to POST to the client's `backchannel_client_notification_endpoint`, with
    /// `Authorization: Bearer <client_notification_token>` (CIBA Core §10.1).
    public struct Notification: Sendable, Equatable {
        public let request: CIBARequest
        public let endpoint: String
        public let bearer: String
        /// The JSON body: `{"auth_req_id"}` for ping, the token response or an error for push.
        public let body: String
    }

    /// What to do with one claimed request.
    public enum Preparation: Sendable, Equatable {
        case send(Notification)
        /// Its secrets were sealed under another key (instances sharing a store need the same key encryption
        /// key): left for the lease to expire, so an instance holding the key sends it.
        case sealedElsewhere
        /// Nobody to tell (the client was removed, or has no notification endpoint): marked notified.
        case dropped
        /// Push mode, and the request could not be redeemed here (another instance did, or storage failed):
        /// left for the lease.
        case skipped
    }

    /// The default `lease`.
    public static let defaultLease: TimeInterval = 30

    let store: any CIBAStore
    let clients: any ClientStore
    /// Issues the tokens of a push delivery.
    let tokens: CIBATokens
    let clock: any WallClock
    /// How long a claimed notification is this instance's to send; one not delivered finally is retried after it.
    public let lease: TimeInterval

    public init(store: any CIBAStore, clients: any ClientStore, tokens: CIBATokens, clock: any WallClock, lease: TimeInterval = CIBADelivery.defaultLease) {
        self.lease = lease
        self.store = store
        self.clients = clients
        self.tokens = tokens
        self.clock = clock
    }

    /// How many to claim per round when one send may take `sendTimeout` to connect and as long to read: all
    /// must be sent within the lease.
    public func claimLimit(sendTimeout: TimeInterval) -> Int {
        max(1, Int(lease / max(2 * sendTimeout, 1)) - 1)
    }

    /// Claims up to `limit` decided requests whose client has not been notified, for `lease`; none when the
    /// store does not answer (the next round tries again).
    public func claim(limit: Int) async -> [CIBARequest] {
        (try? await store.claimCIBANotifications(now: clock.now(), lease: lease, limit: limit)) ?? []
    }

    /// The notification for a claimed request; for push, the request is redeemed first, atomically, and its
    /// tokens issued.
    public func prepare(_ request: CIBARequest) async -> Preparation {
        guard let authReqID = request.pingAuthReqID, let token = request.notificationToken else { return .sealedElsewhere }
        guard let client = try? await clients.client(id: request.clientID),
            let endpoint = client.metadata["backchannel_client_notification_endpoint"]?.stringValue
        else {
            try? await store.markCIBANotified(id: request.id, now: clock.now())
            return .dropped
        }
        guard request.deliveryMode == "push" else {
            // CIBA Core §10.2: the ping carries only the auth_req_id; the client then polls the token endpoint.
            return .send(Notification(request: request, endpoint: endpoint, bearer: token, body: JSON.object(["auth_req_id": .string(authReqID)]).serialized()))
        }
        guard let body = await pushBody(request, client: client, authReqID: authReqID) else { return .skipped }
        return .send(Notification(request: request, endpoint: endpoint, bearer: token, body: body))
    }

    /// CIBA Core §10.3.1 (tokens) and §12 (errors) push bodies; an approved request is redeemed first, atomically.
    func pushBody(_ request: CIBARequest, client: Client, authReqID: String) async -> String? {
        guard request.status == .approved else {
            return JSON.object([
                "auth_req_id": .string(authReqID), "error": "access_denied", "error_description": "the request was denied",
            ]).serialized()
        }
        guard (try? await store.redeemCIBARequest(id: request.id)) == true else { return nil }
        guard let response = try? await tokens.issue(request, client: client, certificate: nil, authReqID: authReqID) else {
            // Redeemed but no tokens: the client cannot poll in push mode, so it is told (CIBA Core §12).
            return JSON.object([
                "auth_req_id": .string(authReqID), "error": "transaction_failed", "error_description": "the tokens could not be issued",
            ]).serialized()
        }
        var members: [String: JSON] = [
            "auth_req_id": .string(authReqID), "access_token": .string(response.accessToken), "token_type": .string(response.tokenType),
            "expires_in": .int(Int64(response.expiresIn)),
        ]
        if let refresh = response.refreshToken { members["refresh_token"] = .string(refresh) }
        if let idToken = response.idToken { members["id_token"] = .string(idToken) }
        return JSON.object(members).serialized()
    }

    /// Whether an attempt that got HTTP `status` (nil: no answer) ends the delivery. CIBA Core §10.2: any 2xx
    /// is success; 401 and 403 will not improve by retrying. Push answers are sent once: their tokens were
    /// issued when the request was redeemed.
    public static func isFinal(deliveryMode: String, status: Int?) -> Bool {
        deliveryMode == "push" || status.map { (200..<300).contains($0) || $0 == 401 || $0 == 403 } == true
    }

    /// Records the attempt's answer: a final one marks the request notified; otherwise it is retried after the
    /// lease. Returns whether it was final.
    public func record(_ notification: Notification, status: Int?) async -> Bool {
        let final = Self.isFinal(deliveryMode: notification.request.deliveryMode, status: status)
        if final { try? await store.markCIBANotified(id: notification.request.id, now: clock.now()) }
        return final
    }
}
