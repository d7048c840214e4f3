import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing
import OpenSSLKit

/// CIBA Core §10.1 and §11: the token request of a poll client, through the staff decision.
@Suite("CIBAGrant")
struct CIBAGrantTests {
    let ciba: CIBAFixture
    init() async throws { ciba = try await CIBAFixture() }

    @Test("undecided: authorization_pending; polled within the interval: slow_down, and the interval grows by 5 s")
    func pendingAndSlowDown() async throws {
        let id = try await ciba.request().authReqID
        #expect(await failure { try await ciba.poll(id) } == "authorization_pending")
        ciba.core.clock.advance(2)
        #expect(await failure { try await ciba.poll(id) } == "slow_down")
        ciba.core.clock.advance(6)
        // 6 s is not the 10 s interval now in force.
        #expect(await failure { try await ciba.poll(id) } == "slow_down")
        ciba.core.clock.advance(15)
        #expect(await failure { try await ciba.poll(id) } == "authorization_pending")
    }

    @Test("denied: access_denied")
    func denied() async throws {
        let id = try await ciba.request().authReqID
        try await ciba.decide(approve: false)
        #expect(await failure { try await ciba.poll(id) } == "access_denied")
    }

    @Test("past its expiry: expired_token, and no decision is taken any more")
    func expired() async throws {
        let id = try await ciba.request(["requested_expiry": "60"]).authReqID
        let request = try #require(try await ciba.core.stores.ciba.pendingCIBARequests(now: ciba.core.clock.now()).first)
        ciba.core.clock.advance(61)
        #expect(await failure { try await ciba.poll(id) } == "expired_token")
        #expect(try await ciba.core.stores.ciba.decideCIBARequest(id: request.id, approve: true, by: "staff-1", now: ciba.core.clock.now()) == false)
    }

    @Test("approved: tokens once (bound access token, refresh token, ID Token naming the request); a second poll is invalid_grant")
    func approvedOnce() async throws {
        let id = try await ciba.request().authReqID
        #expect(try await ciba.decide(approve: true))
        let response = try await ciba.poll(id)
        #expect(response.scope == "openid accounts")
        let record = try #require(try await ciba.core.accessToken(response.accessToken))
        #expect(record.subject == "alice")
        #expect(record.certificateThumbprint == ciba.core.credentials.tpp[0].sha256Thumbprint)
        let claims = try ciba.core.verifiedClaims(try #require(response.idToken))
        #expect(claims["urn:openid:params:jwt:claim:auth_req_id"]?.stringValue == id)
        #expect(claims["urn:openid:params:jwt:claim:rt_hash"]?.stringValue == IDTokenIssuer.halfHash(try #require(response.refreshToken)))
        #expect(claims["at_hash"]?.stringValue == IDTokenIssuer.halfHash(response.accessToken))
        #expect(await failure { try await ciba.poll(id) } == "invalid_grant")
    }

    @Test("another client's auth_req_id, an unknown one or none is refused")
    func wrongRequests() async throws {
        try await ciba.core.register("ciba2", grants: [CIBAGrant.grantTypeURN])
        let id = try await ciba.request().authReqID
        #expect(await failure { try await ciba.poll(id, client: "ciba2") } == "invalid_grant")
        #expect(await failure { try await ciba.poll("unknown") } == "invalid_grant")
        #expect(await failure { try await ciba.core.tokenRequest("ciba", ["grant_type": CIBAGrant.grantTypeURN]) } == "invalid_request")
    }
}
