import AuthorizationServer
import Foundation
import JOSE
import TestSupport
import Testing

/// CIBA Core §7 with FAPI-CIBA: the backchannel authentication request.
@Suite("BackchannelAuthenticationService")
struct BackchannelAuthenticationServiceTests {
    let ciba: CIBAFixture
    init() async throws { ciba = try await CIBAFixture() }

    @Test("a signed request for a known user is acknowledged with an auth_req_id, the default expiry and the poll interval")
    func acknowledged() async throws {
        let acknowledgement = try await ciba.request()
        #expect(acknowledgement.authReqID == SeededEntropy(seed: Core.seed).token())
        #expect(acknowledgement.expiresIn == 300)
        #expect(acknowledgement.interval == 5)
        let pending = try await ciba.core.stores.ciba.pendingCIBARequests(now: ciba.core.clock.now())
        #expect(pending.count == 1)
        #expect(pending.first?.username == "alice")
        #expect(pending.first?.bindingMessage == "W4SCT")
        #expect(pending.first?.authReqIDHash == TokenIssuer.hash(acknowledgement.authReqID))
        #expect(try await ciba.core.auditTypes() == ["ciba.requested"])
    }

    @Test("requested_expiry is honoured up to the maximum; a non-positive one is invalid_request")
    func expiry() async throws {
        #expect(try await ciba.request(["requested_expiry": "120"]).expiresIn == 120)
        #expect(try await ciba.request(["requested_expiry": .int(5000)]).expiresIn == 600)
        #expect(await failure { try await ciba.request(["requested_expiry": "0"]) } == "invalid_request")
    }

    @Test("an unknown user is unknown_user_id; a missing or unsafe binding message is invalid_binding_message")
    func userAndBindingMessage() async throws {
        #expect(await failure { try await ciba.request(["login_hint": "mallory"]) } == "unknown_user_id")
        #expect(await failure { try await ciba.request(["binding_message": .null]) } == "invalid_binding_message")
        #expect(await failure { try await ciba.request(["binding_message": "line\u{0A}break"]) } == "invalid_binding_message")
        #expect(await failure { try await ciba.request(["binding_message": .string(String(repeating: "x", count: 65))]) } == "invalid_binding_message")
    }

    @Test("exactly one hint; scope must hold openid and stay within the registration")
    func hintsAndScope() async throws {
        #expect(await failure { try await ciba.request(["login_hint": .null]) } == "invalid_request")
        #expect(await failure { try await ciba.request(["id_token_hint": "x"]) } == "invalid_request")
        #expect(await failure { try await ciba.request(["scope": "accounts"]) } == "invalid_scope")
        #expect(await failure { try await ciba.request(["scope": "openid admin"]) } == "invalid_scope")
    }

    @Test("a FAPI client must sign; a replayed jti, a wrong audience or a foreign signature is invalid_request")
    func signedRequests() async throws {
        let unsigned = ["scope": "openid", "login_hint": "alice", "binding_message": "W4SCT"]
        #expect(await failure {
            try await ciba.core.backchannel.request(parameters: unsigned, credentials: ciba.core.mtls("ciba", endpoint: .backchannelAuthentication))
        } == "invalid_request")
        _ = try await ciba.request(["jti": "once"])
        #expect(await failure { try await ciba.request(["jti": "once"]) } == "invalid_request")
        #expect(await failure { try await ciba.request(["aud": "https://elsewhere.example"]) } == "invalid_request")
        let forged = try ciba.core.credentials.strangerSigner.sign(claims: [
            "iss": "ciba", "aud": .string(Core.issuer), "iat": .int(Int64(ciba.core.clock.now().timeIntervalSince1970)),
            "nbf": .int(Int64(ciba.core.clock.now().timeIntervalSince1970)), "exp": .int(Int64(ciba.core.clock.now().timeIntervalSince1970) + 60),
            "jti": "forged", "scope": "openid", "login_hint": "alice", "binding_message": "W4SCT",
        ])
        #expect(await failure {
            try await ciba.core.backchannel.request(parameters: ["request": forged], credentials: ciba.core.mtls("ciba", endpoint: .backchannelAuthentication))
        } == "invalid_request")
    }

    @Test("a client not registered for CIBA is unauthorized_client; ping mode needs a client_notification_token")
    func clientRules() async throws {
        #expect(await failure { try await ciba.request(client: "web") } == "unauthorized_client")
        #expect(await failure { try await ciba.request(client: "ping") } == "invalid_request")
        let acknowledgement = try await ciba.request(["client_notification_token": "token-1"], client: "ping")
        #expect(acknowledgement.interval == 5)
        let stored = try #require(try await ciba.core.stores.ciba.pendingCIBARequests(now: ciba.core.clock.now()).first)
        #expect(stored.deliveryMode == "ping")
        #expect(stored.pingAuthReqID == acknowledgement.authReqID)
    }
}
