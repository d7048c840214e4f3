import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

@Suite("RequestChecks on authorization requests")
struct AuthorizationRequestChecksTests {
    static let redirect = "https://tpp.example/cb"
    static let challenge = Base64URL.encode(Crypto.sha256("a-verifier-of-forty-three-characters-or-more-x"))

    func client(fapi: Bool = true) throws -> Client {
        try Client(
            clientID: "c",
            metadata: [
                "fapi": .bool(fapi), "tls_client_auth_subject_dn": "CN=a,C=GB", "redirect_uris": [.string(Self.redirect)],
                "grant_types": ["authorization_code"], "scope": "openid accounts",
            ], createdAt: Date())
    }

    func request(responseType: String, mode: String? = nil, pkce: Bool = true, nonce: String? = "n") throws -> AuthorizationRequest {
        var members: [String: JSON] = [
            "client_id": "c", "response_type": .string(responseType), "redirect_uri": .string(Self.redirect), "scope": "openid accounts",
            "state": "s",
        ]
        if pkce {
            members["code_challenge"] = .string(Self.challenge)
            members["code_challenge_method"] = "S256"
        }
        if let nonce { members["nonce"] = .string(nonce) }
        if let mode { members["response_mode"] = .string(mode) }
        return try AuthorizationRequest(json: .object(members))
    }

    /// The code the request rows of `RequestChecks` refuse `request` with at `endpoint`; nil when they accept it.
    static func refusal(_ request: AuthorizationRequest, _ client: Client, _ endpoint: RequestEndpoint = .pushed) async -> OAuthError.Code? {
        var subject = RequestCheckSubject(endpoint: endpoint, client: client, request: request)
        do {
            try await RequestChecks.run(&subject, RequestChecksTests.environment(), rows: RequestChecks.request)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("FAPI 1 clients get response_type code only with JARM (FAPI 1 Advanced §5.2.2-2)")
    func codeNeedsJARM() async throws {
        let fapi = try client()
        for mode in [nil, "query", "fragment", "form_post"] {
            let plain = try request(responseType: "code", mode: mode)
            #expect(await Self.refusal(plain, fapi) == .invalidRequest)
        }
        for mode in ["jwt", "query.jwt", "form_post.jwt"] {
            #expect(await Self.refusal(try request(responseType: "code", mode: mode), fapi, .pushed) == nil)
        }
        #expect(await Self.refusal(try request(responseType: "code id_token"), fapi, .pushed) == nil)
        #expect(await Self.refusal(try request(responseType: "code"), try client(fapi: false), .pushed) == nil)
    }

    @Test("PKCE is required with PAR and optional by value (FAPI 1 Advanced §5.2.2-18)")
    func pkceByDelivery() async throws {
        let fapi = try client()
        let withoutPKCE = try request(responseType: "code id_token", pkce: false)
        #expect(await Self.refusal(withoutPKCE, fapi, .pushed) == .invalidRequest)
        #expect(await Self.refusal(withoutPKCE, fapi, .authorize) == nil)
        #expect(await Self.refusal(try request(responseType: "code id_token"), fapi, .authorize) == nil)
    }

    @Test("nonce is required whenever openid is asked for, JARM code flow included (FAPI 1 Advanced §5.2.2.2)")
    func nonceWithOpenID() async throws {
        let fapi = try client()
        #expect(await Self.refusal(try request(responseType: "code", mode: "jwt", nonce: nil), fapi) == .invalidRequest)
        #expect(await Self.refusal(try request(responseType: "code id_token", nonce: nil), fapi) == .invalidRequest)
        #expect(await Self.refusal(try request(responseType: "code", mode: "jwt"), fapi) == nil)
    }
}

@Suite("PKCE verifier at the token endpoint")
struct PKCEVerifierTests {
    static let verifier = "a-verifier-of-forty-three-characters-or-more-x"

    func code(_ verifier: String?, _ challenge: String) -> OAuthError.Code? {
        do {
            try AuthorizationCodeGrant.checkVerifier(verifier, challenge: challenge)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("missing or wrong verifiers are invalid_grant (RFC 7636 §4.6); no verifier for a code without PKCE")
    func verifier() {
        let challenge = Base64URL.encode(Crypto.sha256(Self.verifier))
        #expect(code(Self.verifier, challenge) == nil)
        #expect(code(nil, challenge) == .invalidGrant)
        #expect(code("", challenge) == .invalidGrant)
        #expect(code(Self.verifier + "y", challenge) == .invalidGrant)
        #expect(code(nil, "") == nil)
        #expect(code(Self.verifier, "") == .invalidGrant)
    }
}

/// Users for the CIBA hint check.
struct FixedUserStore: UserStore {
    let names: Set<String>
    func insertUser(_ user: User) async throws(StorageError) {}
    func user(named: String) async throws(StorageError) -> User? {
        names.contains(named) ? User(username: named, passwordHash: "-", createdAt: RequestChecksTests.now) : nil
    }
    func users() async throws(StorageError) -> [User] { [] }
}

/// One test per step of the check table: each step on a hand-made request and client, accepted or refused
/// with the code (and, where clients rely on it, the description) the endpoints send.
@Suite("RequestChecks")
struct RequestChecksTests {
    static let issuer = "https://as.example"
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let redirect = "https://tpp.example/cb"

    static func environment(replay: MemoryReplayStore = MemoryReplayStore()) -> RequestCheckEnvironment {
        let clock = FixedClock(now)
        let objects = RequestObjectValidator(
            keys: ClientKeyResolver(fetcher: NoFetcher(), clock: clock), replay: replay, issuer: issuer, clock: clock)
        return RequestCheckEnvironment(objects: objects, now: now)
    }

    static func client(_ extra: [String: JSON] = [:], jwk: JWK? = nil) throws -> Client {
        var metadata: [String: JSON] = [
            "fapi": true, "tls_client_auth_subject_dn": "CN=a,C=GB", "redirect_uris": [.string(redirect)],
            "grant_types": ["authorization_code", .string(CIBAGrant.grantTypeURN)], "scope": "openid accounts",
        ]
        if let jwk { metadata["jwks"] = ["keys": [.object(jwk.publicMembers)]] }
        metadata.merge(extra) { $1 }
        return try Client(clientID: "c", metadata: metadata, createdAt: now)
    }

    static func request(_ extra: [String: JSON] = [:]) throws -> AuthorizationRequest {
        var members: [String: JSON] = [
            "client_id": "c", "response_type": "code id_token", "redirect_uri": .string(redirect), "scope": "openid accounts", "state": "s",
            "nonce": "n", "code_challenge": .string(Base64URL.encode(Crypto.sha256("v"))), "code_challenge_method": "S256",
        ]
        members.merge(extra) { $1 }
        return try AuthorizationRequest(json: .object(members))
    }

    /// The refusal a step throws, or nil when it accepts.
    static func refusal(_ step: () async throws(OAuthError) -> Void) async -> OAuthError? {
        do {
            try await step()
            return nil
        } catch {
            return error
        }
    }

    // MARK: The table

    @Test("each endpoint runs its own rows, in order; pushed requests are not checked again at /authorize")
    func rowsPerEndpoint() {
        func rows(_ endpoint: RequestEndpoint) -> [String] { RequestChecks.table.filter { $0.endpoints.contains(endpoint) }.map(\.name) }
        #expect(rows(.authorizeByReference) == ["request and request_uri exclusive"])
        #expect(rows(.pushed).first == "request_uri not pushed")
        #expect(rows(.pushed).contains("PKCE required when pushed"))
        #expect(!rows(.authorize).contains("PKCE required when pushed"))
        #expect(rows(.backchannel).prefix(2) == ["CIBA grant registered", "request object required"])
        #expect(rows(.backchannel).last == "client_notification_token")
        let shared = Set(rows(.authorize)).intersection(rows(.backchannel))
        #expect(shared.isSuperset(of: ["request object signature", "request object claims", "request object jti", "scope allowed for client"]))
        #expect(Set(RequestChecks.table.map(\.name)).count == RequestChecks.table.count)
    }

    // MARK: Parameters

    @Test("request_uri is refused at /par (RFC 9126 §2.1)")
    func requestURINotPushed() async {
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.requestURINotPushed(["request": "x"]) } == nil)
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.requestURINotPushed(["request_uri": "x"]) }?.code == .invalidRequest)
    }

    @Test("request and request_uri together are refused (RFC 9101 §5)")
    func requestAndRequestURIExclusive() async {
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.requestAndRequestURIExclusive(["request_uri": "x"]) } == nil)
        let both = await Self.refusal { () throws(OAuthError) in
            try RequestChecks.requestAndRequestURIExclusive(["request_uri": "x", "request": "y"])
        }
        #expect(both?.code == .invalidRequest)
    }

    @Test("PAR is required unless the client opted out and the server allows it (RFC 9126 §6)")
    func pushedRequestRequired() async throws {
        let optedOut = try Self.client(["require_pushed_authorization_requests": false])
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.pushedRequestRequired(optedOut, serverRequires: false) } == nil)
        #expect(
            await Self.refusal { () throws(OAuthError) in try RequestChecks.pushedRequestRequired(optedOut, serverRequires: true) }?.code
                == .invalidRequest)
        let plain = try Self.client()
        #expect(
            await Self.refusal { () throws(OAuthError) in try RequestChecks.pushedRequestRequired(plain, serverRequires: false) }?.code
                == .invalidRequest)
    }

    @Test("only clients registered for the CIBA grant start one (unauthorized_client)")
    func backchannelGrantRegistered() async throws {
        let ciba = try Self.client()
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.backchannelGrantRegistered(ciba) } == nil)
        let other = try Self.client(["grant_types": ["authorization_code"]])
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.backchannelGrantRegistered(other) }?.code == .unauthorizedClient)
    }

    // MARK: Request object

    @Test("a request object is required at /authorize and /par, and from FAPI clients at /bc-authorize")
    func requestObjectRequired() async throws {
        let fapi = try Self.client()
        let plain = try Self.client(["fapi": false])
        for endpoint in [RequestEndpoint.authorize, .pushed, .backchannel] {
            let subject = RequestCheckSubject(endpoint: endpoint, client: fapi, parameters: ["scope": "openid"])
            #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.requestObjectRequired(subject) }?.code == .invalidRequest)
            let signed = RequestCheckSubject(endpoint: endpoint, client: fapi, parameters: ["request": "x"])
            #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.requestObjectRequired(signed) } == nil)
        }
        let loose = RequestCheckSubject(endpoint: .backchannel, client: plain, parameters: ["scope": "openid"])
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.requestObjectRequired(loose) } == nil)
    }

    @Test("the request object is signed by the client's key with an allowed algorithm; JAR and CIBA refuse with their own codes")
    func requestObjectSignature() async throws {
        let key = try AsymmetricKey.generate(.p256)
        let jwk = try JWK(key: key)
        let signer = try SigningKey(key: key, algorithm: .ES256, kid: jwk.kid ?? "k")
        let stranger = try SigningKey(key: try AsymmetricKey.generate(.p256), algorithm: .ES256, kid: jwk.kid ?? "k")
        let client = try Self.client(jwk: jwk)
        let claims: [String: JSON] = ["iss": "c", "scope": "openid"]
        func verify(_ token: String, at endpoint: RequestEndpoint) async -> OAuthError? {
            await Self.refusal { () async throws(OAuthError) in
                _ = try await RequestChecks.requestObjectSignature(
                    RequestCheckSubject(endpoint: endpoint, client: client, parameters: ["request": token]), Self.environment())
            }
        }
        #expect(await verify(try signer.sign(claims: claims), at: .pushed) == nil)
        #expect(await verify(try signer.sign(claims: claims), at: .backchannel) == nil)
        #expect(await verify(try stranger.sign(claims: claims), at: .pushed)?.code == .invalidRequestObject)
        #expect(await verify(try stranger.sign(claims: claims), at: .backchannel)?.code == .invalidRequest)
        #expect(await verify("not.a.jws", at: .authorize)?.code == .invalidRequestObject)
        let none = RequestCheckSubject(endpoint: .backchannel, client: client, parameters: [:])
        #expect(try await RequestChecks.requestObjectSignature(none, Self.environment()) == nil)
    }

    @Test("iss, aud, exp and nbf are checked (CIBA: iat and jti required too), lifetime at most 60 minutes")
    func requestObjectClaims() async throws {
        let client = try Self.client()
        let now = Int64(Self.now.timeIntervalSince1970)
        let good: [String: JSON] = ["iss": "c", "aud": .string(Self.issuer), "exp": .int(now + 300), "nbf": .int(now)]
        func check(_ members: [String: JSON], _ endpoint: RequestEndpoint) async -> OAuthError? {
            await Self.refusal { () throws(OAuthError) in
                try RequestChecks.requestObjectClaims(JWTClaims(members), endpoint: endpoint, client: client, Self.environment())
            }
        }
        #expect(await check(good, .pushed) == nil)
        #expect(await check(good, .backchannel)?.code == .invalidRequest)
        #expect(await check(good.merging(["iat": .int(now), "jti": "j"]) { $1 }, .backchannel) == nil)
        #expect(await check(good.merging(["aud": "https://other.example"]) { $1 }, .pushed)?.code == .invalidRequestObject)
        #expect(await check(good.merging(["iss": "d"]) { $1 }, .authorize)?.code == .invalidRequestObject)
        #expect(await check(good.merging(["exp": .int(now + 7200)]) { $1 }, .pushed)?.code == .invalidRequestObject)
        #expect(await check(good.filter { $0.key != "nbf" }, .pushed)?.code == .invalidRequestObject)
    }

    @Test("a CIBA signed request may not start more than ten minutes from now")
    func requestObjectNotBeforeHorizon() async {
        let now = Self.now.timeIntervalSince1970
        let soon = await Self.refusal { () throws(OAuthError) in
            try RequestChecks.requestObjectNotBeforeHorizon(JWTClaims(["nbf": .int(Int64(now) + 500)]), now: Self.now)
        }
        #expect(soon == nil)
        let late = await Self.refusal { () throws(OAuthError) in
            try RequestChecks.requestObjectNotBeforeHorizon(JWTClaims(["nbf": .int(Int64(now) + 700)]), now: Self.now)
        }
        #expect(late?.code == .invalidRequest)
        #expect(late?.description == "nbf too far in the future")
    }

    @Test("a request object never carries request or request_uri (RFC 9101 §4)", arguments: ["request", "request_uri"])
    func requestObjectNotNested(member: String) async {
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.requestObjectNotNested(JWTClaims(["scope": "openid"])) } == nil)
        let nested = await Self.refusal { () throws(OAuthError) in try RequestChecks.requestObjectNotNested(JWTClaims([member: "x"])) }
        #expect(nested?.code == .invalidRequestObject)
    }

    @Test("client_id inside the request object names the sending client")
    func requestObjectClientID() async throws {
        let client = try Self.client()
        #expect(
            await Self.refusal { () throws(OAuthError) in try RequestChecks.requestObjectClientID(JWTClaims(["client_id": "c"]), client: client) }
                == nil)
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.requestObjectClientID(JWTClaims([:]), client: client) } == nil)
        let other = await Self.refusal { () throws(OAuthError) in
            try RequestChecks.requestObjectClientID(JWTClaims(["client_id": "d"]), client: client)
        }
        #expect(other?.code == .invalidRequestObject)
    }

    @Test("jti is single use, separately for JAR and CIBA, remembered until exp plus skew")
    func requestObjectReplay() async throws {
        let client = try Self.client()
        let replay = MemoryReplayStore()
        let environment = Self.environment(replay: replay)
        let exp = Self.now.timeIntervalSince1970 + 300
        let claims = JWTClaims(["jti": "j1", "exp": .int(Int64(exp))])
        func consume(_ endpoint: RequestEndpoint) async -> OAuthError? {
            await Self.refusal { () async throws(OAuthError) in
                try await RequestChecks.requestObjectReplay(claims, endpoint: endpoint, client: client, environment)
            }
        }
        #expect(await consume(.pushed) == nil)
        #expect(await consume(.authorize)?.code == .invalidRequestObject)
        #expect(await consume(.backchannel) == nil)
        #expect(await consume(.backchannel)?.code == .invalidRequest)
        #expect(replay.expiry(of: "j1", clientID: "jar:c") == Date(timeIntervalSince1970: exp + 10))
    }

    @Test("the verified request object becomes the request: parameters as text at /bc-authorize, an AuthorizationRequest at /par")
    func requestObjectParameters() async throws {
        let key = try AsymmetricKey.generate(.p256)
        let jwk = try JWK(key: key)
        let signer = try SigningKey(key: key, algorithm: .ES256, kid: jwk.kid ?? "k")
        let client = try Self.client(jwk: jwk)
        let now = Int64(Self.now.timeIntervalSince1970)
        let token = try signer.sign(claims: [
            "iss": "c", "aud": .string(Self.issuer), "exp": .int(now + 300), "nbf": .int(now), "iat": .int(now), "jti": "j2",
            "scope": "openid accounts", "login_hint": "alice", "requested_expiry": .int(120), "response_type": "code id_token",
            "redirect_uri": .string(Self.redirect), "nonce": "n",
        ])
        var backchannel = RequestCheckSubject(endpoint: .backchannel, client: client, parameters: ["request": token, "login_hint": "mallory"])
        try await RequestChecks.run(&backchannel, Self.environment(), rows: RequestChecks.requestObject)
        #expect(backchannel.parameters["login_hint"] == "alice")
        #expect(backchannel.parameters["requested_expiry"] == "120")
        #expect(backchannel.request == nil)
        var pushed = RequestCheckSubject(endpoint: .pushed, client: client, parameters: ["request": token])
        try await RequestChecks.run(&pushed, Self.environment(), rows: RequestChecks.requestObject)
        #expect(pushed.request?.clientID == "c")
        #expect(pushed.request?.scopes == ["openid", "accounts"])
    }

    // MARK: Authorization request

    static func check(_ step: (AuthorizationRequest, Client) throws(OAuthError) -> Void, _ request: AuthorizationRequest, _ client: Client)
        -> OAuthError.Code?
    {
        do {
            try step(request, client)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("redirect_uri must be registered, exactly (FAPI 1 Baseline §5.2.2-8)")
    func redirectURIRegistered() throws {
        let client = try Self.client()
        #expect(Self.check(RequestChecks.redirectURIRegistered, try Self.request(), client) == nil)
        #expect(
            Self.check(RequestChecks.redirectURIRegistered, try Self.request(["redirect_uri": "https://tpp.example/cb/"]), client) == .invalidRequest)
    }

    @Test("response_type is code id_token or code")
    func responseTypeSupported() throws {
        let client = try Self.client()
        #expect(Self.check(RequestChecks.responseTypeSupported, try Self.request(["response_type": "code"]), client) == nil)
        #expect(Self.check(RequestChecks.responseTypeSupported, try Self.request(["response_type": "token"]), client) == .invalidRequest)
    }

    @Test("response_type must be one the client registered (unauthorized_client)")
    func responseTypeRegistered() throws {
        let hybrid = try Self.client(["response_types": ["code id_token"]])
        #expect(Self.check(RequestChecks.responseTypeRegistered, try Self.request(), hybrid) == nil)
        #expect(Self.check(RequestChecks.responseTypeRegistered, try Self.request(["response_type": "code"]), hybrid) == .unauthorizedClient)
        #expect(Self.check(RequestChecks.responseTypeRegistered, try Self.request(["response_type": "code"]), try Self.client()) == nil)
    }

    @Test("the client must be registered for the authorization_code grant")
    func authorizationCodeGrantRegistered() throws {
        #expect(Self.check(RequestChecks.authorizationCodeGrantRegistered, try Self.request(), try Self.client()) == nil)
        let ciba = try Self.client(["grant_types": [.string(CIBAGrant.grantTypeURN)]])
        #expect(Self.check(RequestChecks.authorizationCodeGrantRegistered, try Self.request(), ciba) == .unauthorizedClient)
    }

    @Test("response_mode must be one offered")
    func responseModeSupported() throws {
        let client = try Self.client()
        #expect(Self.check(RequestChecks.responseModeSupported, try Self.request(["response_mode": "form_post.jwt"]), client) == nil)
        #expect(Self.check(RequestChecks.responseModeSupported, try Self.request(["response_mode": "web_message"]), client) == .invalidRequest)
    }

    @Test("FAPI code flow needs a JARM response mode (FAPI 1 Advanced §5.2.2-2)")
    func codeNeedsJARM() throws {
        let fapi = try Self.client()
        #expect(Self.check(RequestChecks.codeNeedsJARM, try Self.request(["response_type": "code", "response_mode": "jwt"]), fapi) == nil)
        #expect(Self.check(RequestChecks.codeNeedsJARM, try Self.request(["response_type": "code"]), fapi) == .invalidRequest)
        #expect(Self.check(RequestChecks.codeNeedsJARM, try Self.request(["response_type": "code"]), try Self.client(["fapi": false])) == nil)
    }

    @Test("the hybrid flow never answers in the query (OIDC Core §3.3.2.5)")
    func hybridNotInQuery() throws {
        let client = try Self.client()
        #expect(Self.check(RequestChecks.hybridNotInQuery, try Self.request(["response_mode": "fragment"]), client) == nil)
        #expect(Self.check(RequestChecks.hybridNotInQuery, try Self.request(["response_mode": "query"]), client) == .invalidRequest)
        #expect(Self.check(RequestChecks.hybridNotInQuery, try Self.request(["response_mode": "query.jwt"]), client) == .invalidRequest)
    }

    @Test("a CIBA request asks for openid (invalid_scope otherwise)")
    func backchannelNeedsOpenID() async {
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.backchannelNeedsOpenID(["openid", "accounts"]) } == nil)
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.backchannelNeedsOpenID(["accounts"]) }?.code == .invalidScope)
    }

    @Test("only scopes registered for the client, at every endpoint")
    func scopesAllowed() async throws {
        let client = try Self.client()
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.scopesAllowed(["openid", "accounts"], client: client) } == nil)
        let beyond = await Self.refusal { () throws(OAuthError) in try RequestChecks.scopesAllowed(["openid", "payments"], client: client) }
        #expect(beyond?.code == .invalidScope)
        #expect(beyond?.description == "scope payments is not allowed for this client")
    }

    @Test("code id_token needs openid")
    func hybridNeedsOpenID() throws {
        let client = try Self.client()
        #expect(Self.check(RequestChecks.hybridNeedsOpenID, try Self.request(), client) == nil)
        #expect(Self.check(RequestChecks.hybridNeedsOpenID, try Self.request(["scope": "accounts"]), client) == .invalidRequest)
        #expect(Self.check(RequestChecks.hybridNeedsOpenID, try Self.request(["response_type": "code", "scope": "accounts"]), client) == nil)
    }

    @Test("nonce is required with openid (FAPI 1 Advanced §5.2.2.2)")
    func nonceRequired() throws {
        let client = try Self.client()
        #expect(Self.check(RequestChecks.nonceRequired, try Self.request(), client) == nil)
        #expect(Self.check(RequestChecks.nonceRequired, try Self.request(["nonce": ""]), client) == .invalidRequest)
        #expect(Self.check(RequestChecks.nonceRequired, try Self.request(["scope": "accounts", "nonce": ""]), client) == nil)
    }

    @Test("state is required without openid (FAPI 1 Baseline §5.2.2.3)")
    func stateRequired() throws {
        let client = try Self.client()
        var stateless = try Self.request(["scope": "accounts"])
        #expect(Self.check(RequestChecks.stateRequired, stateless, client) == nil)
        stateless.state = nil
        #expect(Self.check(RequestChecks.stateRequired, stateless, client) == .invalidRequest)
        var openID = try Self.request()
        openID.state = nil
        #expect(Self.check(RequestChecks.stateRequired, openID, client) == nil)
    }

    @Test("PKCE is required (the row runs at /par only)")
    func pkceRequired() throws {
        let client = try Self.client()
        #expect(Self.check(RequestChecks.pkceRequired, try Self.request(), client) == nil)
        var plain = try Self.request()
        plain.codeChallenge = ""
        #expect(Self.check(RequestChecks.pkceRequired, plain, client) == .invalidRequest)
    }

    @Test("long state or nonce is refused, never truncated")
    func valueLengths() throws {
        let client = try Self.client()
        #expect(Self.check(RequestChecks.valueLengths, try Self.request(["state": .string(String(repeating: "s", count: 1024))]), client) == nil)
        #expect(
            Self.check(RequestChecks.valueLengths, try Self.request(["state": .string(String(repeating: "s", count: 1025))]), client)
                == .invalidRequest)
        #expect(
            Self.check(RequestChecks.valueLengths, try Self.request(["nonce": .string(String(repeating: "n", count: 513))]), client)
                == .invalidRequest)
    }

    // MARK: Backchannel authentication request

    @Test("exactly one hint; login_hint names the user; login_hint_token is not supported; id_token_hint must be ours and for this client")
    func loginHint() async throws {
        let client = try Self.client()
        let key = try AsymmetricKey.generate(.p256)
        let jwk = try JWK(key: key)
        let ours = try SigningKey(key: key, algorithm: .ES256, kid: jwk.kid ?? "k")
        func hint(_ parameters: [String: String], keys: [JWK] = [jwk]) async -> (String?, OAuthError?) {
            var username: String?
            let error = await Self.refusal { () throws(OAuthError) in
                username = try RequestChecks.loginHint(parameters, client: client, keys: keys, issuer: Self.issuer)
            }
            return (username, error)
        }
        #expect(await hint(["login_hint": "alice"]).0 == "alice")
        #expect(await hint([:]).1?.code == .invalidRequest)
        #expect(await hint(["login_hint": "alice", "id_token_hint": "x"]).1?.code == .invalidRequest)
        #expect(await hint(["login_hint_token": "x"]).1?.code == .invalidRequest)
        let idToken = try ours.sign(claims: ["iss": .string(Self.issuer), "sub": "bob", "aud": "c"])
        #expect(await hint(["id_token_hint": idToken]).0 == "bob")
        let elsewhere = try ours.sign(claims: ["iss": .string(Self.issuer), "sub": "bob", "aud": "d"])
        #expect(await hint(["id_token_hint": elsewhere]).1?.description == "id_token_hint was not issued to this client")
        let foreign = try ours.sign(claims: ["iss": "https://other.example", "sub": "bob", "aud": "c"])
        #expect(await hint(["id_token_hint": foreign]).1?.description == "id_token_hint is not an ID Token of this server")
        #expect(await hint(["id_token_hint": idToken], keys: []).1?.code == .invalidRequest)
    }

    @Test("the hinted user must exist (unknown_user_id, CIBA Core §13)")
    func userKnown() async {
        let users = FixedUserStore(names: ["alice"])
        #expect(await Self.refusal { () async throws(OAuthError) in try await RequestChecks.userKnown("alice", users: users) } == nil)
        #expect(
            await Self.refusal { () async throws(OAuthError) in try await RequestChecks.userKnown("mallory", users: users) }?.code == .unknownUserID)
    }

    @Test("binding_message is required, at most 64 printable characters (FAPI-CIBA AS-2)")
    func bindingMessage() async {
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.bindingMessage(["binding_message": "Pay 10 GBP"]) } == nil)
        for bad in [[:], ["binding_message": ""], ["binding_message": String(repeating: "x", count: 65)], ["binding_message": "a\u{202E}b"]] {
            #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.bindingMessage(bad) }?.code == .invalidBindingMessage)
        }
    }

    @Test("user codes are not supported (invalid_user_code)")
    func userCodeUnsupported() async throws {
        let client = try Self.client()
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.userCodeUnsupported([:], client: client) } == nil)
        #expect(
            await Self.refusal { () throws(OAuthError) in try RequestChecks.userCodeUnsupported(["user_code": "1234"], client: client) }?.code
                == .invalidUserCode)
        let needsCode = try Self.client(["backchannel_user_code_parameter": true])
        #expect(
            await Self.refusal { () throws(OAuthError) in try RequestChecks.userCodeUnsupported([:], client: needsCode) }?.code == .invalidUserCode)
    }

    @Test("requested_expiry is a positive integer when sent")
    func requestedExpiry() throws {
        #expect(try RequestChecks.requestedExpiry([:]) == nil)
        #expect(try RequestChecks.requestedExpiry(["requested_expiry": "120"]) == 120)
        for bad in ["0", "-5", "soon", "1.5"] {
            #expect(throws: OAuthError.self) { try RequestChecks.requestedExpiry(["requested_expiry": bad]) }
        }
    }

    @Test("ping and push clients send a client_notification_token of at most 1024 characters")
    func notificationToken() async {
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.notificationToken([:], mode: "poll") } == nil)
        #expect(
            await Self.refusal { () throws(OAuthError) in try RequestChecks.notificationToken(["client_notification_token": "t"], mode: "ping") }
                == nil)
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.notificationToken([:], mode: "ping") }?.code == .invalidRequest)
        let long = ["client_notification_token": String(repeating: "t", count: 1025)]
        #expect(await Self.refusal { () throws(OAuthError) in try RequestChecks.notificationToken(long, mode: "push") }?.code == .invalidRequest)
    }
}
