public import AuthorizationServer
public import Logging
public import ServiceLifecycle
import JOSE
import NIOCore
import Foundation

/// Delivers CIBA ping notifications (CIBA Core §10.2): once a decision is recorded (by `fapictl ciba`, from
/// any host sharing the database), POSTs `{"auth_req_id": …}` to the client's notification endpoint with
/// `Authorization: Bearer <client_notification_token>`. No redirects are followed; an endpoint that does
/// not answer 2xx is retried after the claim's lease (30 s) until the request expires; instances sharing the
/// database claim each notification before sending it, so it is sent by one of them. The decision is never lost:
/// the client can always poll.
public struct CIBANotifier: Service {
    let store: any CIBAStore
    let clients: any ClientStore
    let http: OutboundHTTPClient
    let clock: any Clock
    let logger: Logger
    let interval: Duration
    /// Issues tokens for push delivery.
    let tokens: CIBATokens
    /// How long a claimed notification is this instance's to send; a failed one is retried after it.
    let claimLease: TimeInterval = 30
    /// Claimed per round: each send may take the outbound connect and read timeouts, and all must be sent
    /// within the lease.
    var claimLimit: Int { max(1, Int(claimLease / max(2 * Double(http.timeout.nanoseconds) / 1e9, 1)) - 1) }

    public init(
        store: any CIBAStore, clients: any ClientStore, http: OutboundHTTPClient, tokens: CIBATokens, clock: any Clock, logger: Logger,
        interval: Duration = .milliseconds(250)
    ) {
        self.tokens = tokens
        self.store = store
        self.clients = clients
        self.http = http
        self.clock = clock
        self.logger = logger
        self.interval = interval
    }

    /// CIBA Core §10.3 (tokens) and §12 (errors) push bodies; the request is redeemed first, atomically.
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

    public func run() async throws {
        await runPeriodically(every: interval) {
            // Claimed for a lease longer than one delivery attempt: of several instances only one sends it.
            guard let decided = try? await store.claimCIBANotifications(now: clock.now(), lease: claimLease, limit: claimLimit) else { return }
            for request in decided {
                guard let authReqID = request.pingAuthReqID, let token = request.notificationToken,
                    let client = try? await clients.client(id: request.clientID),
                    let endpoint = client.metadata["backchannel_client_notification_endpoint"]?.stringValue
                else {
                    if request.pingAuthReqID == nil || request.notificationToken == nil {
                        // Sealed under another key (instances sharing a database need the same key encryption key):
                        // left for the lease to expire, so an instance holding the key sends it.
                        logger.warning(
                            "CIBA notification cannot be sent: its secrets do not open with this instance's key",
                            metadata: ["client_id": "\(request.clientID)", "request": "\(request.id)"])
                        continue
                    }
                    try? await store.markCIBANotified(id: request.id, now: clock.now())
                    continue
                }
                let body: String
                if request.deliveryMode == "push" {
                    guard let pushed = await pushBody(request, client: client, authReqID: authReqID) else { continue }
                    body = pushed
                } else {
                    body = JSON.object(["auth_req_id": .string(authReqID)]).serialized()
                }
                let outcome = await http.notify(endpoint, bearer: token, body: body)
                let status = outcome.status
                // CIBA Core §10.2: any 2xx is success; 401/403 will not improve by retrying. Push answers are
                // delivered once: their tokens were issued when the request was redeemed.
                let final = request.deliveryMode == "push" || status.map({ (200..<300).contains($0) || $0 == 401 || $0 == 403 }) == true
                if final { try? await store.markCIBANotified(id: request.id, now: clock.now()) }
                var metadata: Logger.Metadata = [
                    "client_id": "\(request.clientID)", "request": "\(request.id)", "mode": "\(request.deliveryMode)",
                    "status": "\(status.map(String.init) ?? "failed")",
                ]
                if status.map({ (200..<300).contains($0) }) != true {
                    metadata["reason"] = "\(outcome)"
                    metadata["retry"] = "\(final ? "no" : "after the lease")"
                }
                logger.info("CIBA notification", metadata: metadata)
            }
        }
    }
}
