import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing

/// The staff decision on a CIBA request (CIBA Core §5 step 3), as the admin socket records it.
@Suite("CIBA decision")
struct CIBADecisionTests {
    let ciba: CIBAFixture
    init() async throws { ciba = try await CIBAFixture() }

    @Test("a pending request is decided once, audited with the staff member, and leaves the pending list")
    func decidesOnce() async throws {
        _ = try await ciba.request()
        let request = try #require(try await ciba.core.stores.ciba.pendingCIBARequests(now: ciba.core.clock.now()).first)
        #expect(try await ciba.core.stores.ciba.pendingCIBACount(now: ciba.core.clock.now()) == 1)
        #expect(try await ciba.core.stores.ciba.decideCIBARequest(id: request.id, approve: true, by: "staff-1", now: ciba.core.clock.now()))
        #expect(try await ciba.core.stores.ciba.decideCIBARequest(id: request.id, approve: false, by: "staff-2", now: ciba.core.clock.now()) == false)
        #expect(try await ciba.core.stores.ciba.pendingCIBARequests(now: ciba.core.clock.now()).isEmpty)
        let rows = try await ciba.core.stores.audit.rows(after: 0)
        #expect(rows.last?.values["type"] == "ciba.decided")
        #expect(rows.last?.values["user"] == "staff-1")
        #expect(rows.last?.values["outcome"] == "success")
    }

    @Test("an unknown request id is not decided")
    func unknown() async throws {
        #expect(try await ciba.core.stores.ciba.decideCIBARequest(id: "000000000000000000", approve: true, by: "staff-1", now: ciba.core.clock.now()) == false)
    }

    @Test("a decided ping request is claimed for notification once per lease, and no more once notified")
    func pingClaimed() async throws {
        _ = try await ciba.request(["client_notification_token": "token-1"], client: "ping")
        let store = ciba.core.stores.ciba
        #expect(try await store.claimCIBANotifications(now: ciba.core.clock.now(), lease: 30, limit: 10).isEmpty)
        try await ciba.decide(approve: true)
        let claimed = try await store.claimCIBANotifications(now: ciba.core.clock.now(), lease: 30, limit: 10)
        #expect(claimed.map(\.notificationToken) == ["token-1"])
        #expect(try await store.claimCIBANotifications(now: ciba.core.clock.now(), lease: 30, limit: 10).isEmpty)
        ciba.core.clock.advance(31)
        let again = try #require(try await store.claimCIBANotifications(now: ciba.core.clock.now(), lease: 30, limit: 10).first)
        try await store.markCIBANotified(id: again.id, now: ciba.core.clock.now())
        ciba.core.clock.advance(31)
        #expect(try await store.claimCIBANotifications(now: ciba.core.clock.now(), lease: 30, limit: 10).isEmpty)
    }
}
