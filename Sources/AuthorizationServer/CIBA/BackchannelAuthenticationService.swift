import Foundation
import JOSE
import OpenSSLKit

/// CIBA Core §7 with the FAPI-CIBA profile: an authenticated, confidential client asks for a user's
/// approval; the answer is an `auth_req_id` to poll with (or to be pinged about).
public struct BackchannelAuthenticationService: Sendable {
    public struct Acknowledgement: Sendable {
        public let authReqID: String
        public let expiresIn: Int
        public let interval: Int?
    }

    let authenticator: ClientAuthenticator
    let keys: ClientKeyResolver
    let replay: any ReplayStore
    let users: any UserStore
    let store: any CIBAStore
    let keyRing: KeyRing
    let issuer: String
    let clock: any Clock
    /// The protocol knobs of a request's acknowledgement (CIBA Core §7.3).
    public struct Settings: Sendable {
        /// `expires_in` of a request that names no `requested_expiry`, in seconds.
        public var defaultExpiry = 300
        /// The longest `requested_expiry` honoured, in seconds; a longer one is cut to it.
        public var maximumExpiry = 600
        /// The polling `interval` for poll and ping clients, in seconds (§7.3: 5 when absent).
        public var interval = 5

        public init() {}
    }

    let settings: Settings
    public var defaultExpiry: Int { settings.defaultExpiry }
    public var maximumExpiry: Int { settings.maximumExpiry }
    public var interval: Int { settings.interval }

    public init(
        authenticator: ClientAuthenticator, keys: ClientKeyResolver, replay: any ReplayStore, users: any UserStore, store: any CIBAStore,
        keyRing: KeyRing, issuer: String, clock: any Clock, settings: Settings = Settings()
    ) {
        self.settings = settings
        self.authenticator = authenticator
        self.keys = keys
        self.replay = replay
        self.users = users
        self.store = store
        self.keyRing = keyRing
        self.issuer = issuer
        self.clock = clock
    }

    public func request(parameters form: [String: String], credentials: ClientCredentials) async throws(CIBAError) -> Acknowledgement {
        let client: AuthenticatedClient
        do { client = try await authenticator.authenticate(credentials) } catch { throw CIBAError(error) }
        guard client.client.grantTypes.contains(CIBAGrant.grantTypeURN) else {
            throw CIBAError(.unauthorizedClient, "the client is not registered for CIBA")
        }
        let mode = client.client.metadata["backchannel_token_delivery_mode"]?.stringValue ?? "poll"
        let now = clock.now()
        var parameters = form
        if let requestObject = form["request"] {
            parameters = try await verifySignedRequest(requestObject, client: client.client, now: now)
        } else if client.client.isFAPI {
            // FAPI-CIBA with FAPI 1: signed requests are accepted, and FAPI clients send them.
            throw CIBAError(.invalidRequest, "FAPI clients send a signed authentication request (request)")
        }
        let scopes = (parameters["scope"] ?? "").split(separator: " ").map(String.init)
        guard scopes.contains("openid") else { throw CIBAError(.invalidScope, "scope must contain openid") }
        for scope in scopes where !client.client.scopes.contains(scope) {
            throw CIBAError(.invalidScope, "scope \(scope) is not allowed for this client")
        }
        let hints = ["login_hint", "login_hint_token", "id_token_hint"].filter { parameters[$0] != nil }
        guard hints.count == 1 else { throw CIBAError(.invalidRequest, "exactly one of login_hint, login_hint_token and id_token_hint is required") }
        let username: String
        switch hints[0] {
        case "login_hint": username = parameters["login_hint"]!
        case "id_token_hint": username = try subject(ofIDToken: parameters["id_token_hint"]!, client: client.client)
        default: throw CIBAError(.invalidRequest, "login_hint_token is not supported; use login_hint or id_token_hint")
        }
        let user: User?
        do { user = try await users.user(named: username) } catch { throw CIBAError(OAuthError(error)) }
        guard user != nil else { throw CIBAError(.unknownUserID, "no such user") }
        // FAPI-CIBA AS-2: a binding message, shown to the approver; short and printable.
        guard let binding = parameters["binding_message"], !binding.isEmpty else {
            throw CIBAError(.invalidBindingMessage, "binding_message is required")
        }
        // Shown to bank staff and the customer: bounded in scalars and bytes, no control or format characters.
        guard DisplayText.isSafe(binding, scalars: Self.bindingMessageScalars, bytes: Self.bindingMessageBytes) else {
            throw CIBAError(.invalidBindingMessage, "binding_message must be at most 64 printable characters")
        }
        if parameters["user_code"] != nil || client.client.metadata["backchannel_user_code_parameter"]?.boolValue == true {
            throw CIBAError(.invalidUserCode, "user codes are not supported")
        }
        var expiry = defaultExpiry
        if let requested = parameters["requested_expiry"] {
            // CIBA Core §7.1: a positive integer, sent as a string or a number.
            guard let seconds = Int(requested), seconds > 0 else { throw CIBAError(.invalidRequest, "requested_expiry must be a positive integer") }
            expiry = min(seconds, maximumExpiry)
        }
        let token = parameters["client_notification_token"]
        if mode != "poll" {
            guard let token, !token.isEmpty, token.count <= 1024 else {
                throw CIBAError(.invalidRequest, "client_notification_token is required for \(mode) mode")
            }
        }
        let authReqID = TokenIssuer.randomToken()
        let request = CIBARequest(
            // Hex: an id starting with "-" would read as an option on the fapictl command line.
            id: Crypto.hex(Crypto.randomBytes(9)), authReqIDHash: TokenIssuer.hash(authReqID), clientID: client.client.clientID,
            username: username, scope: scopes.joined(separator: " "), bindingMessage: binding, acr: parameters["acr_values"],
            deliveryMode: mode, notificationToken: token, createdAt: now, expiresAt: now.addingTimeInterval(TimeInterval(expiry)), interval: interval,
            pingAuthReqID: mode == "poll" ? nil : authReqID)
        let event = AuditEvent(
            .cibaRequested, at: now, client: client.client, user: username, certificateThumbprint: client.certificate?.thumbprint,
            reason: "mode \(mode), scope \(request.scope)")
        do { try await store.insertCIBARequest(request, audit: event) } catch { throw CIBAError(OAuthError(error)) }
        return Acknowledgement(authReqID: authReqID, expiresIn: expiry, interval: mode == "push" ? nil : interval)
    }

    static let clockSkew: TimeInterval = 10
    static let bindingMessageScalars = 64
    static let bindingMessageBytes = 256

    /// CIBA Core §7.1.1 with FAPI-CIBA: signed with the client's key, `aud` = issuer, `iss` = client_id,
    /// `exp`, `iat`, `nbf` and `jti` present, lifetime at most 60 minutes, `jti` single-use.
    func verifySignedRequest(_ token: String, client: Client, now: Date) async throws(CIBAError) -> [String: String] {
        do {
            let jws = try CompactJWS(token)
            let claims = try jws.claims()
            let set = try await keys.keys(for: client, kid: jws.kid)
            try jws.verify(with: set, allowed: client.allowedAlgorithms(for: .backchannelRequest))
            try JWTValidator(
                issuer: client.clientID, audiences: [issuer], requiredClaims: ["exp", "iat", "nbf", "jti"], clockSkew: Self.clockSkew,
                maximumLifetime: 3600, maximumAge: 3600
            ).validate(claims, now: now.timeIntervalSince1970)
            if let nbf = try claims.date("nbf"), nbf > now.timeIntervalSince1970 + 600 { throw CIBAError(.invalidRequest, "nbf too far in the future") }
            let exp = try claims.date("exp") ?? 0
            // Remembered as long as the request object is accepted: until exp plus the clock skew.
            guard
                try await replay.consume(
                    jti: claims.jwtID ?? "", clientID: "ciba:\(client.clientID)", expiresAt: Date(timeIntervalSince1970: exp + Self.clockSkew), now: now)
            else { throw CIBAError(.invalidRequest, "the request object was already used (jti)") }
            var parameters: [String: String] = [:]
            for (name, value) in claims.members {
                if let text = value.stringValue { parameters[name] = text } else if let number = value.int64Value { parameters[name] = String(number) }
            }
            return parameters
        } catch let error as CIBAError {
            throw error
        } catch let error as OAuthError {
            throw CIBAError(error)
        } catch {
            throw CIBAError(.invalidRequest, "the signed authentication request is not acceptable", detail: "\(error)")
        }
    }

    /// `id_token_hint`: an ID Token this server issued (signature checked with our keys, expiry ignored) to this
    /// very client (CIBA Core §7.1: "previously issued to the Client"), naming the user.
    func subject(ofIDToken token: String, client: Client) throws(CIBAError) -> String {
        guard let jws = try? CompactJWS(token), (try? jws.verify(with: JWKSet(keys: keyRing.snapshot.published), allowed: JWSAlgorithm.fapi2)) != nil,
            let claims = try? jws.claims(), claims.issuer == issuer, let subject = claims.subject
        else { throw CIBAError(.invalidRequest, "id_token_hint is not an ID Token of this server") }
        guard let audience = try? claims.audiences(), audience.contains(client.clientID) else {
            throw CIBAError(.invalidRequest, "id_token_hint was not issued to this client", detail: "id_token_hint aud does not name \(client.clientID)")
        }
        return subject
    }
}

/// CIBA errors (CIBA Core §13): the OAuth ones plus the CIBA-specific codes.
public struct CIBAError: Error, Sendable {
    public enum Code: String, Sendable {
        case invalidRequest = "invalid_request"
        case invalidScope = "invalid_scope"
        case unknownUserID = "unknown_user_id"
        case unauthorizedClient = "unauthorized_client"
        case invalidBindingMessage = "invalid_binding_message"
        case missingUserCode = "missing_user_code"
        case invalidUserCode = "invalid_user_code"
        case invalidClient = "invalid_client"
        case accessDenied = "access_denied"
        case serverError = "server_error"
    }

    public let code: Code
    public let description: String
    public let detail: String

    public init(_ code: Code, _ description: String, detail: String? = nil) {
        self.code = code
        self.description = ErrorDescription.wireSafe(description)
        self.detail = detail ?? description
    }

    init(_ error: OAuthError) {
        self.init(Code(rawValue: error.code.rawValue) ?? .serverError, error.description, detail: error.detail)
    }

    public var status: Int { code == .invalidClient ? 401 : code == .serverError ? 500 : 400 }
}
