import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import Testing

/// A decided request's way to the staff terminal and to the client: `CIBADecisionService` and `CIBADelivery`.
@Suite("CIBADecisionService and CIBADelivery")
struct CIBAServicesTests {
    let fixture: CoreServiceFixture
    let decisions: CIBADecisionService
    let delivery: CIBADelivery

    init() async throws {
        fixture = try CoreServiceFixture("ciba-services")
        let storage = fixture.storage
        let clock = fixture.clock
        // No signing keys: push deliveries cannot issue an ID Token, which is how `transaction_failed` is reached.
        let ring = KeyRing()
        let tokens = CIBATokens(
            codes: storage.codes,
            tokens: TokenIssuer(store: storage.tokens, keyRing: ring, settings: AccessTokenSettings(issuer: CoreServiceFixture.issuer), clock: clock),
            idTokens: IDTokenIssuer(keyRing: ring, issuer: CoreServiceFixture.issuer, clock: clock), clock: clock)
        decisions = CIBADecisionService(store: storage.ciba, clients: storage.clients, clock: clock)
        delivery = CIBADelivery(store: storage.ciba, clients: storage.clients, tokens: tokens, clock: clock)
        try await fixture.client(
            "ping", name: "Call Centre",
            extra: ["backchannel_token_delivery_mode": "ping", "backchannel_client_notification_endpoint": "https://tpp.example/notify"])
        try await fixture.client(
            "push", name: nil,
            extra: [
                "fapi": false, "backchannel_token_delivery_mode": "push", "backchannel_client_notification_endpoint": "https://tpp.example/push",
            ])
    }

    func insert(_ id: String, client: String, mode: String, binding: String? = nil, sealed: Bool = false) async throws {
        let now = fixture.clock.now()
        try await fixture.storage.ciba.insertCIBARequest(
            CIBARequest(
                id: id, authReqIDHash: Crypto.sha256("auth-req-" + id), clientID: client, username: "alice", scope: "openid payments",
                bindingMessage: binding, acr: nil, deliveryMode: mode, notificationToken: sealed ? nil : "bearer-" + id, createdAt: now,
                expiresAt: now.addingTimeInterval(300), interval: 5, pingAuthReqID: sealed ? nil : "auth-req-" + id),
            audit: nil)
    }

    @Test("pending requests carry their client's name and organisation; a decision is recorded once, under the staff name, audited")
    func decide() async throws {
        try await insert("r1", client: "ping", mode: "ping", binding: "Order 1")
        try await insert("r2", client: "push", mode: "push")
        let pending = try await decisions.pending()
        #expect(pending.map(\.id) == ["r1", "r2"])
        #expect(
            pending.first
                == CIBADecisionService.PendingRequest(
                    id: "r1", clientID: "ping", clientName: "Call Centre", organisation: "TPP Ltd", user: "alice", scope: "openid payments",
                    bindingMessage: "Order 1", expiresAt: fixture.clock.now().addingTimeInterval(300)))
        #expect(pending.last?.clientName == nil && pending.last?.bindingMessage == nil)

        #expect(try await decisions.decide(id: "r1", approve: true, by: "staff1"))
        #expect(try await !decisions.decide(id: "r1", approve: false, by: "staff2"), "decided already")
        #expect(try await !decisions.decide(id: "nope", approve: true, by: "staff1"))
        #expect(try await decisions.pending().map(\.id) == ["r2"])
        let rows = try await fixture.storage.audit.rows(after: 0)
        #expect(rows.filter { $0.values["type"] == "ciba.decided" }.map { $0.values["user"] } == ["staff1"])
    }

    @Test("an expired request cannot be decided")
    func expired() async throws {
        try await insert("r1", client: "ping", mode: "ping")
        fixture.clock.advance(301)
        #expect(try await decisions.pending().isEmpty)
        #expect(try await !decisions.decide(id: "r1", approve: true, by: "staff1"))
    }

    @Test("ping: the auth_req_id to the client's endpoint with its bearer; retried until a final answer, then not claimed again")
    func ping() async throws {
        try await insert("r1", client: "ping", mode: "ping")
        #expect(await delivery.claim(limit: 10).isEmpty, "undecided requests are not claimed")
        _ = try await decisions.decide(id: "r1", approve: true, by: "staff1")
        let claimed = await delivery.claim(limit: 10)
        #expect(claimed.map(\.id) == ["r1"])
        guard let request = claimed.first, case .send(let notification) = await delivery.prepare(request) else {
            Issue.record("a decided ping request is sent")
            return
        }
        #expect(notification.endpoint == "https://tpp.example/notify" && notification.bearer == "bearer-r1")
        #expect(try JSON.parseObject(Array(notification.body.utf8)) == ["auth_req_id": "auth-req-r1"])
        #expect(await delivery.claim(limit: 10).isEmpty, "claimed for the lease")

        #expect(await !delivery.record(notification, status: 503), "a 5xx is retried")
        #expect(await !delivery.record(notification, status: nil), "no answer is retried")
        fixture.clock.advance(CIBADelivery.lease + 1)
        #expect(await delivery.claim(limit: 10).map(\.id) == ["r1"], "claimable again after the lease")
        #expect(await delivery.record(notification, status: 204))
        fixture.clock.advance(CIBADelivery.lease + 1)
        #expect(await delivery.claim(limit: 10).isEmpty, "delivered")
    }

    @Test("which answers end a delivery (CIBA Core §10.2): 2xx, 401, 403; every push answer")
    func finalAnswers() {
        for status in [200, 204, 299, 401, 403] { #expect(CIBADelivery.isFinal(deliveryMode: "ping", status: status)) }
        for status in [nil, 301, 400, 404, 429, 500, 503] as [Int?] { #expect(!CIBADelivery.isFinal(deliveryMode: "ping", status: status)) }
        for status in [nil, 500, 204] as [Int?] { #expect(CIBADelivery.isFinal(deliveryMode: "push", status: status)) }
    }

    @Test("claims per round fit the lease: two timeouts per send")
    func claimLimit() {
        #expect(CIBADelivery.claimLimit(sendTimeout: 2) == 6)
        #expect(CIBADelivery.claimLimit(sendTimeout: 30) == 1)
        #expect(CIBADelivery.claimLimit(sendTimeout: 0) == 29)
    }

    @Test("push: a denial is sent as access_denied; tokens that cannot be issued as transaction_failed (CIBA Core §12), once")
    func push() async throws {
        try await insert("denied", client: "push", mode: "push")
        try await insert("approved", client: "push", mode: "push")
        _ = try await decisions.decide(id: "denied", approve: false, by: "staff1")
        _ = try await decisions.decide(id: "approved", approve: true, by: "staff1")
        var bodies: [String: [String: JSON]] = [:]
        for request in await delivery.claim(limit: 10) {
            guard case .send(let notification) = await delivery.prepare(request) else {
                Issue.record("a decided push request is sent")
                continue
            }
            bodies[request.id] = try JSON.parseObject(Array(notification.body.utf8))
            #expect(await delivery.record(notification, status: 500), "push answers are sent once")
        }
        #expect(bodies["denied"]?["error"] == "access_denied" && bodies["denied"]?["auth_req_id"] == "auth-req-denied")
        #expect(bodies["approved"]?["error"] == "transaction_failed" && bodies["approved"]?["access_token"] == nil)
        // Redeemed when it was prepared: the client cannot poll it afterwards.
        let poll = try await fixture.storage.ciba.pollCIBARequest(authReqIDHash: Crypto.sha256("auth-req-approved"), clientID: "push", now: fixture.clock.now())
        #expect(poll == .invalid)
    }

    @Test("secrets sealed under another key are left for the lease; a removed client's notification is dropped")
    func undeliverable() async throws {
        try await insert("sealed", client: "ping", mode: "ping", sealed: true)
        try await insert("orphan", client: "ping", mode: "ping")
        _ = try await decisions.decide(id: "sealed", approve: true, by: "staff1")
        _ = try await decisions.decide(id: "orphan", approve: true, by: "staff1")
        #expect(try await fixture.storage.clients.removeClient(id: "ping", at: fixture.clock.now(), audit: nil))
        var preparations: [String: CIBADelivery.Preparation] = [:]
        for request in await delivery.claim(limit: 10) { preparations[request.id] = await delivery.prepare(request) }
        #expect(preparations == ["sealed": .sealedElsewhere, "orphan": .dropped])
        fixture.clock.advance(CIBADelivery.lease + 1)
        #expect(await delivery.claim(limit: 10).map(\.id) == ["sealed"], "the dropped one is marked notified")
    }
}
