public import Foundation
public import JOSE
import OpenSSLKit

/// The endpoints that receive an authorization or authentication request, as the check table names them.
public enum RequestEndpoint: Sendable, Hashable, CaseIterable {
    /// `/authorize` with a signed request object by value (RFC 9101 §5.1).
    case authorize
    /// `/authorize` with a `request_uri` from PAR (RFC 9126 §4): the pushed request was checked at `/par`.
    case authorizeByReference
    /// `/par` (RFC 9126 §2).
    case pushed
    /// `/bc-authorize` (CIBA Core §7).
    case backchannel
}

/// One request on its way through the check table: what the client sent, and what the steps so far
/// have established (the verified request object, the parsed request, the user a hint names).
public struct RequestCheckSubject: Sendable {
    public let endpoint: RequestEndpoint
    /// The client the request is for: looked up at `/authorize`, authenticated at `/par` and `/bc-authorize`.
    public let client: Client
    /// The parameters as sent; at `/bc-authorize`, replaced by the signed request's members once verified.
    public internal(set) var parameters: [String: String]
    /// The request object, once its signature is verified.
    public internal(set) var requestObject: JWTClaims?
    /// `/authorize` and `/par`: the authorization request read from the request object.
    public internal(set) var request: AuthorizationRequest?
    /// `/bc-authorize`: the user the login hint names.
    public internal(set) var username: String?
    /// `/bc-authorize`: the `requested_expiry` asked for, in seconds (CIBA Core §7.1).
    public internal(set) var requestedExpiry: Int?

    public init(endpoint: RequestEndpoint, client: Client, parameters: [String: String]) {
        self.endpoint = endpoint
        self.client = client
        self.parameters = parameters
    }

    /// A request already read (a pushed one, or a test's): only the rows on the request have work left.
    public init(endpoint: RequestEndpoint, client: Client, request: AuthorizationRequest) {
        self.init(endpoint: endpoint, client: client, parameters: [:])
        self.request = request
    }

    /// The scopes asked for: the request object's, or the (signed) `scope` parameter at `/bc-authorize`.
    public var scopes: [String] { request?.scopes ?? (parameters["scope"] ?? "").split(separator: " ").map(String.init) }

    /// CIBA Core §5: how the client registered to receive the result (poll unless it chose ping or push).
    public var deliveryMode: String { client.metadata["backchannel_token_delivery_mode"]?.stringValue ?? "poll" }
}

/// What the steps may consult besides the request: the request-object verifier's keys, replay memory,
/// issuer and skew, the time, and the few server settings and stores single steps need.
public struct RequestCheckEnvironment: Sendable {
    let objects: RequestObjectValidator
    let now: Date
    /// Server-wide PAR requirement (RFC 9126 §5 `require_pushed_authorization_requests`).
    let requirePushed: Bool
    /// `/bc-authorize`: whether the hinted user exists.
    let users: (any UserStore)?
    /// `/bc-authorize`: our signing keys, to verify an `id_token_hint`.
    let keyRing: KeyRing?

    public init(objects: RequestObjectValidator, now: Date, requirePushed: Bool = false, users: (any UserStore)? = nil, keyRing: KeyRing? = nil) {
        self.objects = objects
        self.now = now
        self.requirePushed = requirePushed
        self.users = users
        self.keyRing = keyRing
    }
}

/// One row of the table: a named single-purpose step and the endpoints that run it.
public struct RequestCheck: Sendable {
    public let name: String
    public let endpoints: Set<RequestEndpoint>
    let run: @Sendable (inout RequestCheckSubject, RequestCheckEnvironment) async throws(OAuthError) -> Void

    init(
        _ name: String, _ endpoints: Set<RequestEndpoint>,
        _ run: @escaping @Sendable (inout RequestCheckSubject, RequestCheckEnvironment) async throws(OAuthError) -> Void
    ) {
        self.name = name
        self.endpoints = endpoints
        self.run = run
    }

    /// A step on the parsed authorization request and its client (`/authorize` by value and `/par`).
    static func request(
        _ name: String, _ endpoints: Set<RequestEndpoint>, _ step: @escaping @Sendable (AuthorizationRequest, Client) throws(OAuthError) -> Void
    ) -> RequestCheck {
        RequestCheck(name, endpoints) { (subject, _) throws(OAuthError) in
            guard let request = subject.request else { throw OAuthError.server("check \(name) ran before the request was read") }
            try step(request, subject.client)
        }
    }
}

/// Every check the authorization, PAR and CIBA endpoints run, in order, with the endpoints that run each
/// (in the manner of node-oidc-provider's `lib/actions/authorization/index.js`). A service builds a
/// `RequestCheckSubject` and calls `run`; adding a check is one step function and one row.
public enum RequestChecks {
    static let authorization: Set<RequestEndpoint> = [.authorize, .pushed]
    static let signed: Set<RequestEndpoint> = [.authorize, .pushed, .backchannel]

    /// The table. Rows are read top to bottom; each endpoint runs the rows that name it.
    public static let table: [RequestCheck] = parameters + requestObject + formRequest + request

    /// The rows on the parameters as sent, before any request object is read.
    public static let parameters: [RequestCheck] = [
        RequestCheck("request_uri not pushed", [.pushed]) { (subject, _) throws(OAuthError) in try requestURINotPushed(subject.parameters) },
        RequestCheck("request and request_uri exclusive", [.authorizeByReference]) { (subject, _) throws(OAuthError) in
            try requestAndRequestURIExclusive(subject.parameters)
        },
        RequestCheck("pushed request required", [.authorize]) { (subject, environment) throws(OAuthError) in
            try pushedRequestRequired(subject.client, serverRequires: environment.requirePushed)
        },
        RequestCheck("CIBA grant registered", [.backchannel]) { (subject, _) throws(OAuthError) in try backchannelGrantRegistered(subject.client) },
    ]

    /// The rows on the request the (verified) request object carries.
    public static let request: [RequestCheck] = [
        .request("redirect_uri registered", authorization, redirectURIRegistered),
        .request("response_type supported", authorization, responseTypeSupported),
        .request("response_type registered", authorization, responseTypeRegistered),
        .request("authorization_code grant registered", authorization, authorizationCodeGrantRegistered),
        .request("response_mode supported", authorization, responseModeSupported),
        .request("FAPI code needs JARM", authorization, codeNeedsJARM),
        .request("hybrid not in query", authorization, hybridNotInQuery),
        RequestCheck("openid requested", [.backchannel]) { (subject, _) throws(OAuthError) in try backchannelNeedsOpenID(subject.scopes) },
        RequestCheck("scope allowed for client", [.authorize, .pushed, .backchannel]) { (subject, _) throws(OAuthError) in
            try scopesAllowed(subject.scopes, client: subject.client)
        },
        .request("hybrid needs openid", authorization, hybridNeedsOpenID),
        .request("nonce with openid", authorization, nonceRequired),
        .request("state without openid", authorization, stateRequired),
        .request("PKCE required when pushed", [.pushed], pkceRequired),
        .request("state and nonce length", authorization, valueLengths),
        RequestCheck("login hint", [.backchannel]) { (subject, environment) throws(OAuthError) in
            guard let keyRing = environment.keyRing else { throw OAuthError.server("no key ring for id_token_hint") }
            subject.username = try loginHint(
                subject.parameters, client: subject.client, keys: keyRing.snapshot.published, issuer: environment.objects.issuer)
        },
        RequestCheck("user known", [.backchannel]) { (subject, environment) async throws(OAuthError) in
            guard let users = environment.users, let username = subject.username else { throw OAuthError.server("no user store for login hints") }
            try await userKnown(username, users: users)
        },
        RequestCheck("binding_message", [.backchannel]) { (subject, _) throws(OAuthError) in try bindingMessage(subject.parameters) },
        RequestCheck("user_code unsupported", [.backchannel]) { (subject, _) throws(OAuthError) in
            try userCodeUnsupported(subject.parameters, client: subject.client)
        },
        RequestCheck("requested_expiry", [.backchannel]) { (subject, _) throws(OAuthError) in
            subject.requestedExpiry = try requestedExpiry(subject.parameters)
        },
        RequestCheck("client_notification_token", [.backchannel]) { (subject, _) throws(OAuthError) in
            try notificationToken(subject.parameters, mode: subject.deliveryMode)
        },
    ]

    /// The request object rows (RFC 9101 JAR at `/authorize` and `/par`, CIBA Core §7.1.1 signed requests).
    public static let requestObject: [RequestCheck] = [
        RequestCheck("request object required", signed) { (subject, _) throws(OAuthError) in try requestObjectRequired(subject) },
        RequestCheck("request object signature", signed) { (subject, environment) async throws(OAuthError) in
            subject.requestObject = try await requestObjectSignature(subject, environment)
        },
        RequestCheck("request object claims", signed) { (subject, environment) throws(OAuthError) in
            guard let claims = subject.requestObject else { return }
            try requestObjectClaims(claims, endpoint: subject.endpoint, client: subject.client, environment)
        },
        RequestCheck("request object nbf horizon", [.backchannel]) { (subject, environment) throws(OAuthError) in
            guard let claims = subject.requestObject else { return }
            try requestObjectNotBeforeHorizon(claims, now: environment.now)
        },
        RequestCheck("request object not nested", authorization) { (subject, _) throws(OAuthError) in
            guard let claims = subject.requestObject else { return }
            try requestObjectNotNested(claims)
        },
        RequestCheck("request object client_id", authorization) { (subject, _) throws(OAuthError) in
            guard let claims = subject.requestObject else { return }
            try requestObjectClientID(claims, client: subject.client)
        },
        RequestCheck("request object jti", signed) { (subject, environment) async throws(OAuthError) in
            guard let claims = subject.requestObject else { return }
            try await requestObjectReplay(claims, endpoint: subject.endpoint, client: subject.client, environment)
        },
        RequestCheck("request object parameters", signed) { (subject, _) throws(OAuthError) in
            guard let claims = subject.requestObject else { return }
            if subject.endpoint == .backchannel {
                subject.parameters = backchannelParameters(claims)
            } else {
                var members = claims.members
                members["client_id"] = .string(subject.client.clientID)
                subject.request = try AuthorizationRequest(clientJSON: .object(members))
            }
        },
    ]

    /// The row that reads an unsigned pushed request: a profile that does not require a signed request object at
    /// `/par` (FAPI 2 SP §5.3.2.2) takes the form parameters themselves (RFC 9126 §2.1).
    public static let formRequest: [RequestCheck] = [
        RequestCheck("form parameters when unsigned", [.pushed]) { (subject, _) throws(OAuthError) in
            guard subject.request == nil, subject.requestObject == nil else { return }
            subject.request = try formParameters(subject.parameters, client: subject.client)
        }
    ]

    /// Runs the rows of `rows` that name the subject's endpoint, in order; the first refusal stops it.
    public static func run(_ subject: inout RequestCheckSubject, _ environment: RequestCheckEnvironment, rows: [RequestCheck] = table)
        async throws(OAuthError)
    {
        for row in rows where row.endpoints.contains(subject.endpoint) {
            try await row.run(&subject, environment)
        }
    }
}

// MARK: - Parameters

extension RequestChecks {
    /// RFC 9126 §2.1: `request_uri` must not be pushed.
    public static func requestURINotPushed(_ parameters: [String: String]) throws(OAuthError) {
        if parameters["request_uri"] != nil { throw OAuthError(.invalidRequest, "request_uri is not allowed at the PAR endpoint") }
    }

    /// RFC 9101 §5: a request is sent by value or by reference, never both.
    public static func requestAndRequestURIExclusive(_ parameters: [String: String]) throws(OAuthError) {
        guard parameters["request"] == nil else { throw OAuthError(.invalidRequest, "request and request_uri are exclusive") }
    }

    /// RFC 9126 §6: PAR is required unless the client registered `require_pushed_authorization_requests: false`;
    /// always when its profile says so (FAPI 2 SP §5.3.2.2-2).
    public static func pushedRequestRequired(_ client: Client, serverRequires: Bool) throws(OAuthError) {
        let optedOut = client.metadata["require_pushed_authorization_requests"]?.boolValue == false
        guard !serverRequires, !client.policy.requiresPushedRequests, optedOut else {
            throw OAuthError(.invalidRequest, "this client must use pushed authorization requests")
        }
    }

    /// CIBA Core §4: only clients registered for the CIBA grant may start one.
    public static func backchannelGrantRegistered(_ client: Client) throws(OAuthError) {
        guard client.grantTypes.contains(CIBAGrant.grantTypeURN) else {
            throw OAuthError(.unauthorizedClient, "the client is not registered for CIBA")
        }
    }
}

// MARK: - Request object

extension RequestChecks {
    /// FAPI 1 Advanced §5.2.2-1 / FAPI 2 MS §5.3.2-1: only a signed request object at `/authorize` and `/par`; loose
    /// parameters are never used. FAPI 2 SP clients may push form parameters instead (the profile's
    /// `requiresSignedRequestAtPAR`). FAPI-CIBA with FAPI 1: FAPI clients send signed authentication requests.
    public static func requestObjectRequired(_ subject: RequestCheckSubject) throws(OAuthError) {
        guard subject.parameters["request"] == nil else { return }
        switch subject.endpoint {
        case .authorize: throw OAuthError(.invalidRequest, "a signed request object is required; unsigned parameters are not accepted")
        case .pushed:
            if subject.client.policy.requiresSignedRequestAtPAR { throw OAuthError(.invalidRequest, "a signed request object (request) is required") }
        case .backchannel:
            if subject.client.isFAPI { throw OAuthError(.invalidRequest, "FAPI clients send a signed authentication request (request)") }
        case .authorizeByReference: return
        }
    }

    /// The refusal of a bad request object: `invalid_request_object` for JAR (RFC 9101 §6.2), `invalid_request`
    /// for a CIBA signed authentication request (CIBA Core §13).
    static func badObject(_ endpoint: RequestEndpoint, _ jarDescription: String, detail: String) -> OAuthError {
        endpoint == .backchannel
            ? OAuthError(.invalidRequest, "the signed authentication request is not acceptable", detail: detail)
            : OAuthError(.invalidRequestObject, jarDescription, detail: detail)
    }

    /// The request object is a JWS signed by one of the client's keys with an algorithm the client may use
    /// (PS256/ES256 for FAPI clients, never `none`). Returns its claims; nil when none was sent.
    public static func requestObjectSignature(_ subject: RequestCheckSubject, _ environment: RequestCheckEnvironment)
        async throws(OAuthError) -> JWTClaims?
    {
        guard let token = subject.parameters["request"] else { return nil }
        let (jws, claims): (CompactJWS, JWTClaims)
        do { (jws, claims) = try CompactJWS.jwt(token) } catch {
            throw badObject(subject.endpoint, "the request object is not a signed JWT", detail: "\(error)")
        }
        let set = try await environment.objects.keys.keys(for: subject.client, kid: jws.kid)
        let purpose: Client.SignedObject = subject.endpoint == .backchannel ? .backchannelRequest : .requestObject
        do throws(JOSEError) {
            _ = try jws.verify(with: set, allowed: subject.client.allowedAlgorithms(for: purpose))
        } catch {
            throw badObject(subject.endpoint, "the request object is not acceptable: \(error.code.rawValue)", detail: "\(error)")
        }
        return claims
    }

    /// `iss` = client_id, `aud` = the issuer, `exp` and `nbf` present (CIBA: `iat` and `jti` too), `exp − nbf`
    /// at most 60 minutes and `nbf` no more than 60 minutes old (FAPI 1 Advanced §5.2.2-12/-16, FAPI-CIBA §5.2.2).
    public static func requestObjectClaims(
        _ claims: JWTClaims, endpoint: RequestEndpoint, client: Client, _ environment: RequestCheckEnvironment
    ) throws(OAuthError) {
        let required: Set<String> = endpoint == .backchannel ? ["exp", "iat", "nbf", "jti"] : ["exp", "nbf"]
        do {
            try JWTValidator(
                issuer: client.clientID, audiences: [environment.objects.issuer], requiredClaims: required, clockSkew: environment.objects.clockSkew,
                maximumLifetime: 3600, maximumAge: 3600
            ).validate(claims, now: environment.now.timeIntervalSince1970)
        } catch {
            throw badObject(endpoint, "the request object is not acceptable: \(error.code.rawValue)", detail: "\(error)")
        }
    }

    /// A CIBA signed request may not become valid more than ten minutes from now.
    public static func requestObjectNotBeforeHorizon(_ claims: JWTClaims, now: Date) throws(OAuthError) {
        let nbf: Double?
        do { nbf = try claims.date("nbf") } catch { throw badObject(.backchannel, "", detail: "\(error)") }
        if let nbf, nbf > now.timeIntervalSince1970 + 600 { throw OAuthError(.invalidRequest, "nbf too far in the future") }
    }

    /// RFC 9101 §4 / RFC 9126 §2.1: a request object never carries request or request_uri (it would name another request).
    public static func requestObjectNotNested(_ claims: JWTClaims) throws(OAuthError) {
        if let nested = ["request_uri", "request"].first(where: { claims[$0] != nil }) {
            throw OAuthError(.invalidRequestObject, "the request object must not contain \(nested)")
        }
    }

    /// RFC 9101 §6.3: a `client_id` inside the request object names the client that sent it.
    public static func requestObjectClientID(_ claims: JWTClaims, client: Client) throws(OAuthError) {
        if let claimed = claims["client_id"]?.stringValue, claimed != client.clientID {
            throw OAuthError(.invalidRequestObject, "client_id in the request object does not match the client")
        }
    }

    /// `jti` single use (required for CIBA, FAPI-CIBA §5.2.2; when present for JAR), remembered as long as the
    /// object is accepted: until `exp` plus the allowed clock skew. JAR and CIBA keep separate memories.
    public static func requestObjectReplay(
        _ claims: JWTClaims, endpoint: RequestEndpoint, client: Client, _ environment: RequestCheckEnvironment
    ) async throws(OAuthError) {
        guard let jti = claims.jwtID, let exp = try? claims.date("exp") else { return }
        let memory = (endpoint == .backchannel ? "ciba:" : "jar:") + client.clientID
        let until = Date(timeIntervalSince1970: exp + environment.objects.clockSkew)
        let fresh: Bool
        do { fresh = try await environment.objects.replay.consume(jti: jti, clientID: memory, expiresAt: until, now: environment.now) } catch {
            throw OAuthError(error)
        }
        guard fresh else {
            throw OAuthError(endpoint == .backchannel ? .invalidRequest : .invalidRequestObject, "the request object was already used (jti)")
        }
    }

    /// RFC 9126 §2.1: an unsigned pushed request's form parameters as an authorization request, for the client
    /// that authenticated; `claims` (OIDC Core §5.5) arrives as JSON text.
    public static func formParameters(_ parameters: [String: String], client: Client) throws(OAuthError) -> AuthorizationRequest {
        var members: [String: JSON] = [:]
        for (name, value) in parameters where !formOnlyParameters.contains(name) { members[name] = .string(value) }
        if let claims = parameters["claims"] {
            guard let object = try? JSON.parse(Array(claims.utf8)), object.objectValue != nil else {
                throw OAuthError(.invalidRequest, "claims must be a JSON object")
            }
            members["claims"] = object
        }
        // RFC 9396 §3: in a form, `authorization_details` is JSON text; bounded before it is parsed (CWE-400).
        if let details = parameters["authorization_details"] {
            guard details.utf8.count <= AuthorizationRequest.maximumAuthorizationDetailsBytes else {
                throw OAuthError(.invalidAuthorizationDetails, "authorization_details is too large")
            }
            guard let parsed = try? JSON.parse(Array(details.utf8)), parsed.arrayValue != nil else {
                throw OAuthError(.invalidAuthorizationDetails, "authorization_details must be a JSON array")
            }
            members["authorization_details"] = parsed
        }
        if let claimed = parameters["client_id"], claimed != client.clientID {
            throw OAuthError(.invalidRequest, "client_id does not match the authenticated client")
        }
        members["client_id"] = .string(client.clientID)
        return try AuthorizationRequest(clientJSON: .object(members))
    }

    /// Form members of a pushed request that are client authentication, not part of the authorization request.
    static let formOnlyParameters: Set<String> = ["client_assertion", "client_assertion_type", "client_secret"]

    /// CIBA Core §7.1.1: the signed request's members are the request's parameters (strings, and numbers as text).
    static func backchannelParameters(_ claims: JWTClaims) -> [String: String] {
        var parameters: [String: String] = [:]
        for (name, value) in claims.members {
            if let text = value.stringValue { parameters[name] = text } else if let number = value.int64Value { parameters[name] = String(number) }
        }
        return parameters
    }
}

// MARK: - Authorization request

extension RequestChecks {
    /// Response types offered: hybrid (FAPI 1 Advanced) and code (FAPI 2, with PAR).
    public static let responseTypes: Set<String> = ["code id_token", "code"]
    /// Response modes offered: OAuth 2.0 Multiple Response Types, Form Post, and JARM (JARM §2.3).
    static let responseModes: Set<String> = ["fragment", "query", "form_post", "jwt", "fragment.jwt", "query.jwt", "form_post.jwt"]
    /// JARM response modes (JARM §2.3).
    static let jarmModes: Set<String> = ["jwt", "query.jwt", "fragment.jwt", "form_post.jwt"]

    /// FAPI 1 Baseline §5.2.2-8/9/10: registered, required, exact match (no normalisation).
    public static func redirectURIRegistered(_ request: AuthorizationRequest, _ client: Client) throws(OAuthError) {
        guard client.redirectURIs.contains(request.redirectURI) else {
            throw OAuthError(.invalidRequest, "redirect_uri is not registered for this client")
        }
    }

    /// The response types fapid offers, narrowed by the client's profile (FAPI 2 SP §5.3.2.2-1: code only).
    public static func responseTypeSupported(_ request: AuthorizationRequest, _ client: Client) throws(OAuthError) {
        guard responseTypes.contains(request.responseType) else { throw OAuthError(.invalidRequest, "response_type must be code id_token or code") }
        guard client.policy.responseTypes.contains(request.responseType) else {
            throw OAuthError(.invalidRequest, "response_type must be code for \(client.profile.rawValue) clients")
        }
    }

    /// RFC 7591 §2: a client that registered `response_types` uses only those.
    public static func responseTypeRegistered(_ request: AuthorizationRequest, _ client: Client) throws(OAuthError) {
        if let registered = client.metadata["response_types"]?.arrayValue?.compactMap(\.stringValue), !registered.contains(request.responseType) {
            throw OAuthError(.unauthorizedClient, "the client is not registered for response_type \(request.responseType)")
        }
    }

    public static func authorizationCodeGrantRegistered(_ request: AuthorizationRequest, _ client: Client) throws(OAuthError) {
        guard client.grantTypes.contains("authorization_code") else {
            throw OAuthError(.unauthorizedClient, "the client is not registered for the authorization_code grant")
        }
    }

    public static func responseModeSupported(_ request: AuthorizationRequest, _ client: Client) throws(OAuthError) {
        if let mode = request.responseMode, !responseModes.contains(mode) {
            throw OAuthError(.invalidRequest, "response_mode \(mode) is not supported")
        }
    }

    /// FAPI 1 Advanced §5.2.2-2: response_type code only with JARM, so the response is signed (not FAPI 2: PAR
    /// and PKCE protect a plain code response there, FAPI 2 SP §5.3.2.2).
    public static func codeNeedsJARM(_ request: AuthorizationRequest, _ client: Client) throws(OAuthError) {
        if client.isFAPI, client.policy.codeNeedsJARM, request.responseType == "code", !(request.responseMode.map(jarmModes.contains) ?? false) {
            throw OAuthError(.invalidRequest, "response_type code needs response_mode jwt; use code id_token otherwise")
        }
    }

    /// OIDC Core §3.3.2.5: the hybrid flow never returns tokens in the query.
    public static func hybridNotInQuery(_ request: AuthorizationRequest, _ client: Client) throws(OAuthError) {
        if request.responseType == "code id_token", request.responseMode == "query" || request.responseMode == "query.jwt" {
            throw OAuthError(.invalidRequest, "code id_token cannot use a query response mode")
        }
    }

    /// CIBA Core §7.1: an authentication request is an OpenID request.
    public static func backchannelNeedsOpenID(_ scopes: [String]) throws(OAuthError) {
        guard scopes.contains("openid") else { throw OAuthError(.invalidScope, "scope must contain openid") }
    }

    /// RFC 6749 §3.3: only scopes the client is registered for (every endpoint).
    public static func scopesAllowed(_ scopes: [String], client: Client) throws(OAuthError) {
        for scope in scopes where !client.scopes.contains(scope) { throw OAuthError(.invalidScope, "scope \(scope) is not allowed for this client") }
    }

    /// OIDC Core §3.3.2.11: the hybrid flow's ID Token needs the openid scope.
    public static func hybridNeedsOpenID(_ request: AuthorizationRequest, _ client: Client) throws(OAuthError) {
        if request.responseType == "code id_token", !request.scopes.contains("openid") {
            throw OAuthError(.invalidRequest, "code id_token needs the openid scope")
        }
    }

    /// FAPI 1 Advanced §5.2.2.2: nonce is required whenever openid is requested, whatever the response type.
    /// FAPI 2 (the profile's `nonceRequiredWithOpenID`): optional, PKCE binds the code.
    public static func nonceRequired(_ request: AuthorizationRequest, _ client: Client) throws(OAuthError) {
        if client.policy.nonceRequiredWithOpenID, request.scopes.contains("openid"), (request.nonce ?? "").isEmpty { throw OAuthError(.invalidRequest, "nonce is required") }
    }

    /// FAPI 1 Baseline §5.2.2.3: without openid, state protects the client.
    /// FAPI 2 (the profile's `stateRequiredWithoutOpenID`): optional, PKCE protects the client.
    public static func stateRequired(_ request: AuthorizationRequest, _ client: Client) throws(OAuthError) {
        if client.policy.stateRequiredWithoutOpenID, !request.scopes.contains("openid"), request.state == nil {
            throw OAuthError(.invalidRequest, "state is required when openid is not requested")
        }
    }

    /// FAPI 1 Advanced §5.2.2-18: PKCE (S256) with PAR; optional for a signed request object sent by value.
    public static func pkceRequired(_ request: AuthorizationRequest, _ client: Client) throws(OAuthError) {
        if request.codeChallenge.isEmpty { throw OAuthError(.invalidRequest, "code_challenge is required (PKCE)") }
    }

    /// Long values are refused, never truncated (conformance: return unchanged or reject).
    public static func valueLengths(_ request: AuthorizationRequest, _ client: Client) throws(OAuthError) {
        if (request.state?.count ?? 0) > 1024 || (request.nonce?.count ?? 0) > 512 { throw OAuthError(.invalidRequest, "state or nonce is too long") }
    }
}

// MARK: - Backchannel authentication request

extension RequestChecks {
    static let bindingMessageScalars = 64
    static let bindingMessageBytes = 256

    /// CIBA Core §7.1: exactly one hint. `login_hint` names the user; `id_token_hint` must be an ID Token this
    /// server issued (signature checked with our keys, expiry ignored) to this very client ("previously issued
    /// to the Client"). Returns the username.
    public static func loginHint(_ parameters: [String: String], client: Client, keys: [JWK], issuer: String) throws(OAuthError) -> String {
        let hints = ["login_hint", "login_hint_token", "id_token_hint"].filter { parameters[$0] != nil }
        guard hints.count == 1 else { throw OAuthError(.invalidRequest, "exactly one of login_hint, login_hint_token and id_token_hint is required") }
        if let username = parameters["login_hint"] { return username }
        guard let token = parameters["id_token_hint"] else {
            throw OAuthError(.invalidRequest, "login_hint_token is not supported; use login_hint or id_token_hint")
        }
        guard let jws = try? CompactJWS(token), (try? jws.verify(with: JWKSet(keys: keys), allowed: JWSAlgorithm.fapi2)) != nil,
            let claims = try? jws.claims(), claims.issuer == issuer, let subject = claims.subject
        else { throw OAuthError(.invalidRequest, "id_token_hint is not an ID Token of this server") }
        guard let audience = try? claims.audiences(), audience.contains(client.clientID) else {
            throw OAuthError(
                .invalidRequest, "id_token_hint was not issued to this client", detail: "id_token_hint aud does not name \(client.clientID)")
        }
        return subject
    }

    /// CIBA Core §13 `unknown_user_id`: the hint must name a user of this bank.
    public static func userKnown(_ username: String, users: any UserStore) async throws(OAuthError) {
        let user: User?
        do throws(StorageError) { user = try await users.user(named: username) } catch { throw OAuthError(error) }
        guard user != nil else { throw OAuthError(.unknownUserID, "no such user") }
    }

    /// FAPI-CIBA AS-2: a binding message, shown to the approver (bank staff and the customer): bounded in scalars
    /// and bytes, no control or format characters.
    public static func bindingMessage(_ parameters: [String: String]) throws(OAuthError) {
        guard let binding = parameters["binding_message"], !binding.isEmpty else {
            throw OAuthError(.invalidBindingMessage, "binding_message is required")
        }
        guard DisplayText.isSafe(binding, scalars: bindingMessageScalars, bytes: bindingMessageBytes) else {
            throw OAuthError(.invalidBindingMessage, "binding_message must be at most 64 printable characters")
        }
    }

    /// CIBA Core §7.1: user codes are not supported here, so neither a `user_code` nor a client that needs one.
    public static func userCodeUnsupported(_ parameters: [String: String], client: Client) throws(OAuthError) {
        if parameters["user_code"] != nil || client.metadata["backchannel_user_code_parameter"]?.boolValue == true {
            throw OAuthError(.invalidUserCode, "user codes are not supported")
        }
    }

    /// CIBA Core §7.1: a positive integer, sent as a string or a number; nil when not asked for.
    public static func requestedExpiry(_ parameters: [String: String]) throws(OAuthError) -> Int? {
        guard let requested = parameters["requested_expiry"] else { return nil }
        guard let seconds = Int(requested), seconds > 0 else { throw OAuthError(.invalidRequest, "requested_expiry must be a positive integer") }
        return seconds
    }

    /// CIBA Core §7.1: ping and push clients send the bearer token the notification will carry.
    public static func notificationToken(_ parameters: [String: String], mode: String) throws(OAuthError) {
        guard mode != "poll" else { return }
        guard let token = parameters["client_notification_token"], !token.isEmpty, token.count <= 1024 else {
            throw OAuthError(.invalidRequest, "client_notification_token is required for \(mode) mode")
        }
    }
}
