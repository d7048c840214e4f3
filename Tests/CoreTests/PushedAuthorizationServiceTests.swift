import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// RFC 9126 pushed authorization requests with the FAPI rules: authenticated, signed, PKCE.
@Suite("PushedAuthorizationService")
struct PushedAuthorizationServiceTests {
    let core: Core

    init() async throws {
        core = try await Core()
        try await core.register("tpp", grants: ["authorization_code"])
        try await core.register("cc", grants: ["client_credentials"])
    }

    func push(_ parameters: [String: String], client: String = "tpp") async throws -> (requestURI: String, expiresIn: Int) {
        try await core.pushed.push(parameters: parameters, credentials: core.mtls(client, endpoint: .pushedAuthorization))
    }

    @Test("a signed request gets a single-use urn request_uri of 256 random bits, for 90 s, stored by hash")
    func pushes() async throws {
        let pushed = try await push(["request": try core.requestObject("tpp")])
        #expect(pushed.requestURI == PushedAuthorizationService.uriPrefix + SeededEntropy(seed: Core.seed).token())
        #expect(pushed.expiresIn == 90)
        let stored = try await core.stores.pushed.pushedRequest(uriHash: Crypto.sha256(pushed.requestURI), clientID: "tpp", now: core.clock.now())
        #expect(stored?.request.codeChallenge == Core.challenge)
        #expect(stored?.expiresAt == core.clock.now().addingTimeInterval(90))
    }

    @Test("no request object, or a request_uri pushed, is invalid_request")
    func parameters() async throws {
        #expect(await failure { try await push(["response_type": "code id_token", "client_id": "tpp"]) } == "invalid_request")
        #expect(await failure { try await push(["request": try core.requestObject("tpp"), "request_uri": "urn:x"]) } == "invalid_request")
    }

    @Test("a request object signed by another key, expired, for another audience or replayed is invalid_request_object")
    func requestObjects() async throws {
        #expect(await failure { try await push(["request": try core.requestObject("tpp", signer: core.credentials.strangerSigner)]) } == "invalid_request_object")
        let now = Int64(core.clock.now().timeIntervalSince1970)
        #expect(await failure { try await push(["request": try core.requestObject("tpp", ["exp": .int(now - 60), "nbf": .int(now - 600)])]) } == "invalid_request_object")
        #expect(await failure { try await push(["request": try core.requestObject("tpp", ["aud": "https://elsewhere.example"])]) } == "invalid_request_object")
        let once = try core.requestObject("tpp", ["jti": "once"])
        _ = try await push(["request": once])
        #expect(await failure { try await push(["request": once]) } == "invalid_request_object")
    }

    @Test("the authorization checks run: PKCE is required with PAR, the redirect URI must be registered, the scope allowed")
    func checks() async throws {
        #expect(await failure { try await push(["request": try core.requestObject("tpp", ["code_challenge": .null, "code_challenge_method": .null])]) } == "invalid_request")
        #expect(await failure { try await push(["request": try core.requestObject("tpp", ["redirect_uri": "https://evil.example/cb"])]) } == "invalid_request")
        #expect(await failure { try await push(["request": try core.requestObject("tpp", ["scope": "openid admin"])]) } == "invalid_scope")
        #expect(await failure { try await push(["request": try core.requestObject("cc")], client: "cc") } == "unauthorized_client")
    }

    @Test("the client must authenticate")
    func authenticates() async throws {
        let credentials = core.mtls("tpp", core.credentials.other, endpoint: .pushedAuthorization)
        #expect(await failure { try await core.pushed.push(parameters: ["request": try core.requestObject("tpp")], credentials: credentials) } == "invalid_client")
    }
}
