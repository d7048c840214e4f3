import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import OpenSSLKit
import TestSupport

/// Two clients (ping, and push for a non-FAPI client) on fresh storage, with the CIBA services over it.
struct CIBAFixture {
    let fixture: CoreServiceFixture
    let decisions: CIBADecisionService
    let delivery: CIBADelivery

    init(_ name: String) async throws {
        fixture = try CoreServiceFixture(name)
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
}
