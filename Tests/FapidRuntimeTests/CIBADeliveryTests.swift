import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// A decided request's way to a ping or push client.
@Suite("CIBADelivery")
struct CIBADeliveryTests {
    let ciba: CIBAFixture
    var fixture: CoreServiceFixture { ciba.fixture }
    var decisions: CIBADecisionService { ciba.decisions }
    var delivery: CIBADelivery { ciba.delivery }

    init() async throws { ciba = try await CIBAFixture("CIBADelivery") }

    func insert(_ id: String, client: String, mode: String, binding: String? = nil, sealed: Bool = false) async throws {
        try await ciba.insert(id, client: client, mode: mode, binding: binding, sealed: sealed)
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
        fixture.clock.advance(ciba.delivery.lease + 1)
        #expect(await delivery.claim(limit: 10).map(\.id) == ["r1"], "claimable again after the lease")
        #expect(await delivery.record(notification, status: 204))
        fixture.clock.advance(ciba.delivery.lease + 1)
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
        #expect(ciba.delivery.claimLimit(sendTimeout: 2) == 6)
        #expect(ciba.delivery.claimLimit(sendTimeout: 30) == 1)
        #expect(ciba.delivery.claimLimit(sendTimeout: 0) == 29)
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
        fixture.clock.advance(ciba.delivery.lease + 1)
        #expect(await delivery.claim(limit: 10).map(\.id) == ["sealed"], "the dropped one is marked notified")
    }
}
