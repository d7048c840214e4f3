public import AuthorizationServer
public import Logging
public import ServiceLifecycle
import NIOCore

/// Sends CIBA ping and push notifications (CIBA Core §10.2, §10.3) as the core's `CIBADelivery` prepares
/// them: once a decision is recorded (by `fapictl ciba`, from any host sharing the database), each round
/// claims the decided requests, POSTs each notification (no redirects followed) and records the answer.
/// Which to claim, what to send and when to retry are `CIBADelivery`'s; this keeps the HTTP and the loop.
public struct CIBANotifier: Service {
    let delivery: CIBADelivery
    let http: OutboundHTTPClient
    let logger: Logger
    let interval: Duration
    /// Claimed per round: each send may take the outbound connect and read timeouts, and all must be sent
    /// within the lease.
    var claimLimit: Int { delivery.claimLimit(sendTimeout: Double(http.timeout.nanoseconds) / 1e9) }

    public init(delivery: CIBADelivery, http: OutboundHTTPClient, logger: Logger, interval: Duration = .milliseconds(250)) {
        self.delivery = delivery
        self.http = http
        self.logger = logger
        self.interval = interval
    }

    public func run() async throws {
        await runPeriodically(every: interval) {
            for request in await delivery.claim(limit: claimLimit) {
                switch await delivery.prepare(request) {
                case .sealedElsewhere:
                    logger.warning(
                        "CIBA notification cannot be sent: its secrets do not open with this instance's key",
                        metadata: ["client_id": "\(request.clientID)", "request": "\(request.id)"])
                case .dropped, .skipped:
                    continue
                case .send(let notification):
                    await send(notification)
                }
            }
        }
    }

    func send(_ notification: CIBADelivery.Notification) async {
        let request = notification.request
        let outcome = await http.notify(
            notification.endpoint, bearer: notification.bearer, body: notification.body, purpose: "CIBA \(request.deliveryMode)")
        let status = outcome.status
        let final = await delivery.record(notification, status: status)
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
