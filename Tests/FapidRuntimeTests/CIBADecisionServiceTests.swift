import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import TestSupport
import Testing

/// The staff terminal's side: pending requests and decisions.
@Suite("CIBADecisionService")
struct CIBADecisionServiceTests {
    let ciba: CIBAFixture
    var fixture: CoreServiceFixture { ciba.fixture }
    var decisions: CIBADecisionService { ciba.decisions }
    var delivery: CIBADelivery { ciba.delivery }

    init() async throws { ciba = try await CIBAFixture("CIBADecisionService") }

    func insert(_ id: String, client: String, mode: String, binding: String? = nil, sealed: Bool = false) async throws {
        try await ciba.insert(id, client: client, mode: mode, binding: binding, sealed: sealed)
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
}
