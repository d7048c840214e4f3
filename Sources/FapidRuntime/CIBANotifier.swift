public import AuthorizationServer
public import Logging
public import ServiceLifecycle
import JOSE

/// Delivers CIBA ping notifications (CIBA Core §10.2): once a decision is recorded (by `fapictl ciba`, from
/// any host sharing the database), POSTs `{"auth_req_id": …}` to the client's notification endpoint with
/// `Authorization: Bearer <client_notification_token>`. No redirects are followed; an endpoint that does
/// not answer 2xx is retried on the next rounds until the request expires. The decision is never lost:
/// the client can always poll.
public struct CIBANotifier: Service {
    let store: any CIBAStore
    let clients: any ClientStore
    let http: OutboundHTTPClient
    let clock: any Clock
    let logger: Logger
    let interval: Duration

    public init(store: any CIBAStore, clients: any ClientStore, http: OutboundHTTPClient, clock: any Clock, logger: Logger, interval: Duration = .milliseconds(250)) {
        self.store = store
        self.clients = clients
        self.http = http
        self.clock = clock
        self.logger = logger
        self.interval = interval
    }

    public func run() async throws {
        await runPeriodically(every: interval) {
            guard let decided = try? await store.unnotifiedCIBADecisions(now: clock.now()) else { return }
            for request in decided {
                guard let authReqID = request.pingAuthReqID, let token = request.notificationToken,
                    let client = try? await clients.client(id: request.clientID),
                    let endpoint = client.metadata["backchannel_client_notification_endpoint"]?.stringValue
                else {
                    try? await store.markCIBANotified(id: request.id, now: clock.now())
                    continue
                }
                let status = await http.notify(endpoint, bearer: token, body: #"{"auth_req_id":"\#(authReqID)"}"#)
                // CIBA Core §10.2: any 2xx is success; 401/403 will not improve by retrying.
                if let status, (200..<300).contains(status) || status == 401 || status == 403 {
                    try? await store.markCIBANotified(id: request.id, now: clock.now())
                }
                logger.info("CIBA ping", metadata: ["client_id": "\(request.clientID)", "request": "\(request.id)", "status": "\(status.map(String.init) ?? "failed")"])
            }
        }
    }
}
