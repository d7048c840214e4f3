import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

/// A DPoP key of a client and the proofs it makes (RFC 9449 §4.2), any claim or header member replaceable;
/// a member set to `.null` is left out.
struct DPoPKey: Sendable {
    let signer: SigningKey
    let jwk: JWK

    init(_ kind: AsymmetricKey.Kind = .p256, algorithm: JWSAlgorithm = .ES256) throws {
        signer = try SigningKey(key: AsymmetricKey.generate(kind), algorithm: algorithm, kid: "dpop")
        jwk = try JWK(key: signer.key, kid: nil, use: nil)
    }

    var thumbprint: String { get throws { try jwk.thumbprint } }

    func proof(
        _ method: String = "POST", _ url: String = Core.issuer + "/token", at now: Date, claims: [String: JSON] = [:], header: [String: JSON] = [:]
    ) throws -> String {
        var members: [String: JSON] = [
            "jti": .string(UUID().uuidString), "htm": .string(method), "htu": .string(url), "iat": .int(Int64(now.timeIntervalSince1970)),
        ]
        members.merge(claims) { $1 }
        var headers: [String: JSON] = ["typ": "dpop+jwt", "jwk": .object(try JWK(key: signer.key, kid: nil, use: nil).publicMembers)]
        headers.merge(header) { $1 }
        return try signer.sign(payload: JSON.object(members.filter { $0.value != .null }).bytes, extraHeader: headers.filter { $0.value != .null })
    }

    func request(_ method: String = "POST", _ url: String = Core.issuer + "/token", at now: Date, claims: [String: JSON] = [:]) throws -> DPoPRequest {
        DPoPRequest(proofs: [try proof(method, url, at: now, claims: claims)], method: method, url: url)
    }
}

extension Core {
    /// The token endpoint with a DPoP proof of `key` and the credentials given.
    func dpopToken(_ parameters: [String: String], credentials: ClientCredentials, key: DPoPKey?, claims: [String: JSON] = [:]) async throws
        -> TokenResponse
    {
        try await token.token(parameters: parameters, credentials: credentials, proof: try key?.request(at: clock.now(), claims: claims))
    }
}

/// RFC 9449 §4.3: every check of a proof, one at a time.
@Suite("DPoPProofValidator")
struct DPoPProofValidatorTests {
    let core: Core
    let key: DPoPKey
    let url = Core.issuer + "/token"

    init() async throws {
        core = try await Core()
        key = try DPoPKey()
    }

    func check(_ proofs: [String], method: String = "POST", url: String? = nil, token: String? = nil) async -> String? {
        await failure { try await core.dpop.validate(DPoPRequest(proofs: proofs, method: method, url: url ?? self.url), accessToken: token) }
    }

    func proof(claims: [String: JSON] = [:], header: [String: JSON] = [:], method: String = "POST", url: String? = nil) throws -> String {
        try key.proof(method, url ?? self.url, at: core.clock.now(), claims: claims, header: header)
    }

    @Test("a valid proof of each supported algorithm passes and yields the RFC 7638 thumbprint of its key")
    func valid() async throws {
        for (kind, algorithm) in [(AsymmetricKey.Kind.p256, JWSAlgorithm.ES256), (.rsa(bits: 2048), .PS256), (.ed25519, .EdDSA)] {
            let key = try DPoPKey(kind, algorithm: algorithm)
            let checked = try #require(try await core.dpop.validate(key.request(at: core.clock.now())))
            #expect(checked.thumbprint == (try key.thumbprint))
        }
        #expect(try await core.dpop.validate(DPoPRequest(proofs: [], method: "POST", url: url)) == nil)
    }

    @Test("two DPoP headers, a malformed JWT or an upper-cased proof are invalid_dpop_proof")
    func structure() async throws {
        let one = try proof()
        #expect(await check([one, try proof()]) == "invalid_dpop_proof")
        #expect(await check(["not-a-jwt"]) == "invalid_dpop_proof")
        #expect(await check([one.uppercased()]) == "invalid_dpop_proof")
        #expect(await check([String(repeating: "a", count: 9000)]) == "invalid_dpop_proof")
    }

    @Test("typ missing or not dpop+jwt; RS256; none; no jwk; a private jwk; a jwk that does not fit alg: refused")
    func header() async throws {
        #expect(await check([try proof(header: ["typ": .null])]) == "invalid_dpop_proof")
        #expect(await check([try proof(header: ["typ": "JWT"])]) == "invalid_dpop_proof")
        #expect(await check([try proof(header: ["jwk": .null])]) == "invalid_dpop_proof")
        let privateJWK = try JWK(key: key.signer.key, kid: nil, use: nil, includePrivate: true)
        #expect(await check([try proof(header: ["jwk": .object(privateJWK.members)])]) == "invalid_dpop_proof")
        let rsa = try DPoPKey(.rsa(bits: 2048), algorithm: .PS256)
        #expect(await check([try proof(header: ["jwk": .object(rsa.jwk.publicMembers)])]) == "invalid_dpop_proof")
        // alg RS256 with an RSA jwk: refused for its algorithm, before any signature check (this library signs no RS256).
        let valid = try rsa.proof(at: core.clock.now())
        let parts = valid.split(separator: ".")
        var rsHeader = try JSON.parseObject(Base64URL.decode(parts[0]))
        rsHeader["alg"] = "RS256"
        let input = Base64URL.encode(JSON.object(rsHeader).bytes) + "." + parts[1]
        let signature = try rsa.signer.key.sign(Array(input.utf8), algorithm: .PS256)
        #expect(await check([input + "." + Base64URL.encode(signature)]) == "invalid_dpop_proof")
        var noneHeader = rsHeader
        noneHeader["alg"] = "none"
        #expect(await check([Base64URL.encode(JSON.object(noneHeader).bytes) + "." + parts[1] + ".c2ln"]) == "invalid_dpop_proof")
    }

    @Test("a signature by another key than the jwk is invalid_dpop_proof")
    func badSignature() async throws {
        let other = try DPoPKey()
        let parts = try proof().split(separator: ".")
        let forged = try other.proof(at: core.clock.now()).split(separator: ".")
        #expect(await check(["\(parts[0]).\(parts[1]).\(forged[2])"]) == "invalid_dpop_proof")
    }

    @Test("jti, htm, htu or iat missing; htm or htu of another request: refused", arguments: ["jti", "htm", "htu", "iat"])
    func requiredClaims(name: String) async throws {
        #expect(await check([try proof(claims: [name: .null])]) == "invalid_dpop_proof")
    }

    @Test("a wrong htm or an htu for another URL is invalid_dpop_proof")
    func methodAndURL() async throws {
        #expect(await check([try proof(method: "GET")]) == "invalid_dpop_proof")
        #expect(await check([try proof(url: Core.issuer + "/userinfo")]) == "invalid_dpop_proof")
        #expect(await check([try proof(url: "https://other.example/token")]) == "invalid_dpop_proof")
        #expect(await check([try proof(claims: ["htu": "not a url"])]) == "invalid_dpop_proof")
    }

    @Test("htu with a query or fragment, another case of scheme and host, an explicit default port: accepted (RFC 3986 §6.2)")
    func normalisedURL() async throws {
        for htu in [url + "?a=b", url + "#f", "HTTPS://AS.Example/token", "https://as.example:443/token", "https://as.example:443/token?x#y"] {
            #expect(await check([try proof(url: htu)]) == nil, "\(htu)")
        }
        #expect(DPoPProofValidator.normalised("https://as.example:8443/token") == "https://as.example:8443/token")
        #expect(DPoPProofValidator.normalised("https://as.example") == "https://as.example/")
        #expect(DPoPProofValidator.normalised("ftp://as.example/token") == nil)
    }

    @Test("iat 10 s before or after passes; an hour either way, or more than 60 s ahead, is refused; extra nbf and exp are tolerated")
    func issuedAtWindow() async throws {
        let now = Int64(core.clock.now().timeIntervalSince1970)
        #expect(await check([try proof(claims: ["iat": .int(now - 10)])]) == nil)
        #expect(await check([try proof(claims: ["iat": .int(now + 10)])]) == nil)
        #expect(await check([try proof(claims: ["iat": .int(now - 3600)])]) == "invalid_dpop_proof")
        #expect(await check([try proof(claims: ["iat": .int(now + 3600)])]) == "invalid_dpop_proof")
        #expect(await check([try proof(claims: ["iat": .int(now + 61)])]) == "invalid_dpop_proof")
        #expect(await check([try proof(claims: ["nbf": .int(now - 5), "exp": .int(now + 60), "extra": "member"], header: ["x": "y"])]) == nil)
    }

    @Test("at a resource, ath must be base64url(SHA-256(access token))")
    func accessTokenHash() async throws {
        let token = "access-token-value"
        let ath = JSON.string(Base64URL.encode(Crypto.sha256(token)))
        #expect(await check([try proof(claims: ["ath": ath])], token: token) == nil)
        #expect(await check([try proof()], token: token) == "invalid_dpop_proof")
        #expect(await check([try proof(claims: ["ath": .string(Base64URL.encode(Crypto.sha256("other")))])], token: token) == "invalid_dpop_proof")
    }

    @Test("a jti is single use (RFC 9449 §11.1), kept for the acceptance window; another key's jti is its own")
    func replay() async throws {
        let once = try proof(claims: ["jti": "jti-1"])
        #expect(await check([once]) == nil)
        #expect(await check([once]) == "invalid_dpop_proof")
        #expect(await check([try proof(claims: ["jti": "jti-1"])]) == "invalid_dpop_proof")
        let other = try DPoPKey()
        #expect(await check([try other.proof(at: core.clock.now(), claims: ["jti": "jti-1"])]) == nil)
    }

    @Test("a nonce, when sent, must be current or the previous period's; required by setting, its absence is use_dpop_nonce")
    func nonces() async throws {
        let nonces = DPoPNonces(key: Core.dpopNonceKey)
        let current = nonces.current(at: core.clock.now())
        #expect(current == core.dpop.currentNonce())
        #expect(await check([try proof(claims: ["nonce": .string(current)])]) == nil)
        #expect(await check([try proof(claims: ["nonce": "made-up"])]) == "use_dpop_nonce")
        let strict = DPoPProofValidator(replay: core.stores.tokens, nonces: nonces, clock: core.clock, settings: DPoPSettings(nonceRequired: true))
        let request = { (claims: [String: JSON]) throws in DPoPRequest(proofs: [try proof(claims: claims)], method: "POST", url: url) }
        #expect(await failure { try await strict.validate(try request([:])) } == "use_dpop_nonce")
        #expect(await failure { try await strict.validate(try request(["nonce": .string(current)])) } == nil)
        core.clock.advance(nonces.period)
        #expect(await failure { try await strict.validate(try request(["nonce": .string(current)])) } == nil)
        core.clock.advance(nonces.period)
        #expect(await failure { try await strict.validate(try request(["nonce": .string(current)])) } == "use_dpop_nonce")
        #expect(nonces.current(at: core.clock.now()) != current)
        // Another instance with the same key accepts what this one handed out.
        #expect(DPoPNonces(key: Core.dpopNonceKey).isValid(nonces.current(at: core.clock.now()), at: core.clock.now()))
        #expect(!DPoPNonces(key: [UInt8](repeating: 8, count: 32)).isValid(nonces.current(at: core.clock.now()), at: core.clock.now()))
    }
}

/// RFC 9449 §5, §6 and FAPI 2 SP §5.3.2.1-4/5: what a token is bound to, per client and per grant.
@Suite("DPoP token binding")
struct DPoPTokenBindingTests {
    let core: Core
    let key: DPoPKey
    static let fapi2: [String: JSON] = ["fapi_profile": "fapi2-security-profile", "response_types": ["code"]]
    let cc = ["grant_type": "client_credentials"]

    init() async throws {
        core = try await Core()
        key = try DPoPKey()
        try await core.register("f2", method: .privateKeyJWT, grants: ["client_credentials"], Self.fapi2.merging(["access_token_format": "jwt"]) { $1 })
        try await core.register("f2-mtls", grants: ["client_credentials"], Self.fapi2)
        try await core.register("f1", grants: ["client_credentials"])
        try await core.register("f1-jwt", method: .privateKeyJWT, grants: ["client_credentials"])
        try await core.register("bound", method: .privateKeyJWT, grants: ["client_credentials"], Self.fapi2.merging(["dpop_bound_access_tokens": true]) { $1 })
    }

    @Test("FAPI 2 private_key_jwt with a proof: token_type DPoP, cnf.jkt in the JWT and the record, no certificate binding")
    func fapi2Proof() async throws {
        let response = try await core.dpopToken(cc, credentials: core.assertion("f2"), key: key)
        #expect(response.tokenType == "DPoP")
        let record = try #require(try await core.accessToken(response.accessToken))
        #expect(record.dpopThumbprint == (try key.thumbprint))
        #expect(record.certificateThumbprint == nil)
        let claims = try core.verifiedClaims(response.accessToken)
        #expect(claims["cnf"] == ["jkt": .string(try key.thumbprint)])
    }

    @Test("FAPI 2 without certificate and without proof is refused; with a certificate and no proof the token is certificate-bound")
    func fapi2SenderConstraint() async throws {
        #expect(await failure { try await core.dpopToken(cc, credentials: core.assertion("f2"), key: nil) } == "invalid_request")
        let response = try await core.dpopToken(cc, credentials: core.assertion("f2", certificate: core.credentials.tpp), key: nil)
        #expect(response.tokenType == "Bearer")
        #expect(try await core.accessToken(response.accessToken)?.certificateThumbprint == core.credentials.tpp[0].sha256Thumbprint)
    }

    @Test("FAPI 2 with both a certificate and a proof: the DPoP binding wins (mTLS client authentication + DPoP)")
    func fapi2Both() async throws {
        let response = try await core.dpopToken(cc, credentials: core.mtls("f2-mtls"), key: key)
        #expect(response.tokenType == "DPoP")
        let record = try #require(try await core.accessToken(response.accessToken))
        #expect(record.dpopThumbprint == (try key.thumbprint))
        #expect(record.certificateThumbprint == nil)
        // The token still follows the status of the certificate the client authenticated with.
        let thumbprint = core.credentials.tpp[0].sha256Thumbprint
        #expect(record.statusCertificateThumbprint == thumbprint)
        let revoked = IntrospectionService(
            tokens: core.stores.tokens, resourceServers: core.stores.clients, issuer: Core.issuer, clock: core.clock,
            status: RevokedCertificates(thumbprints: [thumbprint]))
        #expect(try await revoked.introspect(token: response.accessToken) == ["active": false])
        #expect(try await core.introspection.introspect(token: response.accessToken)["active"] == true)
    }

    @Test("FAPI 1 clients: the certificate stays required and bound; a proof they send is ignored, even a bad one")
    func fapi1Unchanged() async throws {
        #expect(await failure { try await core.dpopToken(cc, credentials: core.assertion("f1-jwt"), key: key) } == "invalid_request")
        let plain = try await core.tokenRequest("f1", cc)
        #expect(plain.tokenType == "Bearer")
        let response = try await core.dpopToken(cc, credentials: core.mtls("f1"), key: key)
        #expect(response.tokenType == "Bearer")
        let record = try #require(try await core.accessToken(response.accessToken))
        #expect(record.certificateThumbprint == core.credentials.tpp[0].sha256Thumbprint)
        #expect(record.dpopThumbprint == nil)
        let garbage = DPoPRequest(proofs: ["not-a-jwt"], method: "POST", url: Core.issuer + "/token")
        let ignored = try await core.token.token(parameters: cc, credentials: core.mtls("f1"), proof: garbage)
        #expect(ignored.tokenType == "Bearer")
    }

    @Test("FAPI 1 clients cannot register dpop_bound_access_tokens: true; FAPI 2 clients can")
    func fapi1CannotBeDPoPBound() throws {
        let base: [String: JSON] = ["redirect_uris": [.string(Core.redirectURI)], "tls_client_auth_subject_dn": "CN=tpp"]
        var fapi1 = base
        fapi1["dpop_bound_access_tokens"] = true
        #expect(throws: ClientMetadataError.self) { try Client(clientID: "c", metadata: fapi1, createdAt: Date(timeIntervalSince1970: 0)) }
        var fapi2 = fapi1
        fapi2["fapi_profile"] = "fapi2-security-profile"
        fapi2["response_types"] = ["code"]
        #expect(try Client(clientID: "c", metadata: fapi2, createdAt: Date(timeIntervalSince1970: 0)).dpopBoundAccessTokens)
    }

    @Test("dpop_bound_access_tokens: a token request without a proof is invalid_dpop_proof, even with a certificate (RFC 9449 §5.2)")
    func boundClient() async throws {
        #expect(await failure { try await core.dpopToken(cc, credentials: core.assertion("bound", certificate: core.credentials.tpp), key: nil) } == "invalid_dpop_proof")
        #expect(try await core.dpopToken(cc, credentials: core.assertion("bound"), key: key).tokenType == "DPoP")
        #expect(throws: ClientMetadataError.self) {
            try Client(clientID: "x", metadata: ["dpop_bound_access_tokens": "yes", "tls_client_auth_subject_dn": "CN=x"], createdAt: Date())
        }
    }

    @Test("an invalid proof at the token endpoint is invalid_dpop_proof, a stale nonce use_dpop_nonce")
    func invalidProof() async throws {
        #expect(await failure { try await core.dpopToken(cc, credentials: core.assertion("f2"), key: key, claims: ["htm": "GET"]) } == "invalid_dpop_proof")
        #expect(await failure { try await core.dpopToken(cc, credentials: core.assertion("f2"), key: key, claims: ["nonce": "x"]) } == "use_dpop_nonce")
    }

    @Test("introspection: token_type DPoP and cnf.jkt (RFC 9449 §6.2); inactive once the client is removed")
    func introspection() async throws {
        let response = try await core.dpopToken(cc, credentials: core.assertion("f2"), key: key)
        let active = try await core.introspection.introspect(token: response.accessToken)
        #expect(active["active"] == true)
        #expect(active["token_type"] == "DPoP")
        #expect(active["cnf"] == ["jkt": .string(try key.thumbprint)])
        #expect(try await core.stores.clients.removeClient(id: "f2", at: core.clock.now(), audit: nil))
        #expect(try await core.introspection.introspect(token: response.accessToken) == ["active": false])
    }
}

/// RFC 9449 §5 and §10: refresh tokens bound to the client, and codes bound to a DPoP key.
@Suite("DPoP code and refresh binding")
struct DPoPGrantBindingTests {
    let core: Core
    let key: DPoPKey

    init() async throws {
        core = try await Core()
        key = try DPoPKey()
        try await core.register(
            "f2", method: .privateKeyJWT, grants: ["authorization_code", "refresh_token"], ["fapi_profile": "fapi2-security-profile", "response_types": ["code"]])
    }

    func code(boundTo jkt: String?) async throws -> String {
        let code = "code-\(UUID().uuidString)"
        try await core.stores.codes.insertCode(
            AuthorizationCodeRecord(
                codeHash: Crypto.sha256(code), clientID: "f2", subject: "alice", redirectURI: Core.redirectURI, scope: "openid accounts",
                codeChallenge: Core.challenge, nonce: nil, authTime: core.clock.now(), acr: nil, claims: nil,
                expiresAt: core.clock.now().addingTimeInterval(60), dpopThumbprint: jkt),
            audit: nil)
        return code
    }

    /// Without a DPoP key the client presents its certificate (a FAPI 2 client must use one or the other).
    func redeem(_ code: String, key: DPoPKey?) async throws -> TokenResponse {
        try await core.dpopToken(
            ["grant_type": "authorization_code", "code": code, "redirect_uri": Core.redirectURI, "code_verifier": Core.verifier],
            credentials: core.assertion("f2", certificate: key == nil ? core.credentials.tpp : nil), key: key)
    }

    @Test("a code bound to a key is redeemed with a proof of that key; another key is invalid_grant, none (certificate only) invalid_dpop_proof")
    func codeBinding() async throws {
        let jkt = try key.thumbprint
        #expect(try await redeem(try code(boundTo: jkt), key: key).tokenType == "DPoP")
        #expect(await failure { try await redeem(try code(boundTo: jkt), key: try DPoPKey()) } == "invalid_grant")
        #expect(await failure { try await redeem(try code(boundTo: jkt), key: nil) } == "invalid_dpop_proof")
    }

    @Test("refresh with a new DPoP key binds the new token to the new key; without a proof it is invalid_dpop_proof")
    func refreshWithNewKey() async throws {
        let first = try await redeem(try code(boundTo: nil), key: key)
        let refresh = try #require(first.refreshToken)
        let newKey = try DPoPKey()
        let second = try await core.dpopToken(["grant_type": "refresh_token", "refresh_token": refresh], credentials: core.assertion("f2"), key: newKey)
        #expect(second.tokenType == "DPoP")
        #expect(try await core.accessToken(second.accessToken)?.dpopThumbprint == (try newKey.thumbprint))
        #expect(
            await failure {
                try await core.dpopToken(
                    ["grant_type": "refresh_token", "refresh_token": refresh], credentials: core.assertion("f2", certificate: core.credentials.tpp),
                    key: nil)
            } == "invalid_dpop_proof")
    }

    @Test("a proof at PAR binds the pushed request to its key; dpop_jkt alone binds as given; a mismatch is invalid_dpop_proof")
    func pushedBinding() async throws {
        let url = Core.issuer + "/par"
        let proof = try key.request("POST", url, at: core.clock.now())
        let jkt = try key.thumbprint
        #expect(try await PushedAuthorizationService.dpopBinding(nil, proof: proof, validator: core.dpop) == jkt)
        #expect(try await PushedAuthorizationService.dpopBinding(jkt, proof: try key.request("POST", url, at: core.clock.now()), validator: core.dpop) == jkt)
        #expect(try await PushedAuthorizationService.dpopBinding(jkt, proof: nil, validator: core.dpop) == jkt)
        let other = try DPoPKey().thumbprint
        #expect(
            await failure {
                try await PushedAuthorizationService.dpopBinding(other, proof: try key.request("POST", url, at: core.clock.now()), validator: core.dpop)
            } == "invalid_dpop_proof")
        // dpop_jkt travels in the request object and is stored with the pushed request.
        let request = try AuthorizationRequest(json: [
            "client_id": "f2", "response_type": "code", "redirect_uri": .string(Core.redirectURI), "dpop_jkt": .string(jkt),
        ])
        #expect(request.dpopJKT == jkt)
        #expect(try AuthorizationRequest(json: request.json).dpopJKT == jkt)
        #expect(throws: OAuthError.self) {
            try AuthorizationRequest(json: ["client_id": "f2", "response_type": "code", "redirect_uri": .string(Core.redirectURI), "dpop_jkt": "short"])
        }
    }

    @Test("PAR of a FAPI 1 client with a proof: the proof is ignored, the request is bound to no key")
    func pushedFAPI1() async throws {
        try await core.register("tpp", grants: ["authorization_code"])
        let proof = try key.request("POST", Core.issuer + "/par", at: core.clock.now())
        let pushed = try await core.pushed.push(
            parameters: ["request": try core.requestObject("tpp")], credentials: core.mtls("tpp", endpoint: .pushedAuthorization), proof: proof)
        let stored = try #require(try await core.stores.pushed.pushedRequest(uriHash: Crypto.sha256(pushed.requestURI), clientID: "tpp", now: core.clock.now()))
        #expect(stored.request.dpopJKT == nil)
    }
}

/// RFC 9449 §7: userinfo with `Authorization: DPoP`.
@Suite("DPoP at userinfo")
struct DPoPUserinfoTests {
    let core: Core
    let key: DPoPKey
    let url = Core.issuer + "/userinfo"

    init() async throws {
        core = try await Core()
        key = try DPoPKey()
        try await core.register(
            "f2", method: .privateKeyJWT, grants: ["authorization_code"], ["fapi_profile": "fapi2-security-profile", "response_types": ["code"]])
    }

    func token(key: DPoPKey?) async throws -> String {
        let code = try await core.storeCode("f2")
        return try await core.dpopToken(
            ["grant_type": "authorization_code", "code": code, "redirect_uri": Core.redirectURI, "code_verifier": Core.verifier],
            credentials: core.assertion("f2", certificate: key == nil ? core.credentials.tpp : nil), key: key
        ).accessToken
    }

    func call(_ token: String, proofKey: DPoPKey?, claims: [String: JSON] = [:], method: String = "GET") async -> String? {
        await failure {
            let ath = JSON.string(Base64URL.encode(Crypto.sha256(token)))
            let proofs = try proofKey.map { [try $0.proof(method, url, at: core.clock.now(), claims: ["ath": ath].merging(claims) { $1 })] } ?? []
            return try await core.userinfo.userinfo(
                accessToken: token, scheme: .dpop(DPoPRequest(proofs: proofs, method: method, url: url)), certificate: nil)
        }
    }

    @Test("a DPoP-bound token with the DPoP scheme and a proof of its key naming it in ath: the claims")
    func valid() async throws {
        let token = try await token(key: key)
        #expect(await call(token, proofKey: key) == nil)
        #expect(await call(token, proofKey: key, method: "POST") == nil)
    }

    @Test("sent as Bearer: invalid_token; no proof, another key's, a wrong ath or htu: invalid_dpop_proof")
    func refused() async throws {
        let token = try await token(key: key)
        #expect(await failure { try await core.userinfo.userinfo(accessToken: token, certificate: nil) } == "invalid_token")
        #expect(await call(token, proofKey: nil) == "invalid_dpop_proof")
        #expect(await call(token, proofKey: try DPoPKey()) == "invalid_dpop_proof")
        #expect(await call(token, proofKey: key, claims: ["ath": "wrong"]) == "invalid_dpop_proof")
        #expect(await call(token, proofKey: key, claims: ["ath": .null]) == "invalid_dpop_proof")
        #expect(await call(token, proofKey: key, claims: ["htu": .string(Core.issuer + "/token")]) == "invalid_dpop_proof")
    }

    @Test("a certificate-bound token sent with the DPoP scheme is invalid_token")
    func bearerTokenWithDPoPScheme() async throws {
        let token = try await token(key: nil)
        #expect(await call(token, proofKey: key) == "invalid_token")
    }
}

/// CIBA tokens are bound by the same rule (RFC 9449 §5 for every grant, `TokenBinding.decide`).
@Suite("DPoP with CIBA")
struct DPoPCIBATests {
    @Test("a FAPI-CIBA (FAPI 1) client's poll with a proof: the proof is ignored, the token is certificate-bound")
    func poll() async throws {
        let ciba = try await CIBAFixture()
        let key = try DPoPKey()
        let id = try await ciba.request().authReqID
        #expect(try await ciba.decide(approve: true))
        let response = try await ciba.core.dpopToken(
            ["grant_type": CIBAGrant.grantTypeURN, "auth_req_id": id], credentials: ciba.core.mtls("ciba"), key: key)
        #expect(response.tokenType == "Bearer")
        let record = try #require(try await ciba.core.accessToken(response.accessToken))
        #expect(record.dpopThumbprint == nil)
        #expect(record.certificateThumbprint == ciba.core.credentials.tpp[0].sha256Thumbprint)
    }
}

/// A status policy that knows some certificates as revoked (and refuses them at authentication).
struct RevokedCertificates: CertificateStatusPolicy {
    let thumbprints: Set<String>

    func check(_ certificate: ClientCertificate) async throws(OAuthError) {
        if thumbprints.contains(certificate.thumbprint) { throw OAuthError(.invalidClient, "revoked") }
    }

    func isRevoked(thumbprint: String) -> Bool { thumbprints.contains(thumbprint) }
}
