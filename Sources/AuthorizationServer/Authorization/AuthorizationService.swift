public import Foundation
import JOSE
import OpenSSLKit

/// How the authorization response reaches the client: a redirect (query or fragment), or an HTML form
/// the browser posts to the redirect URI (OAuth 2.0 Form Post Response Mode).
public enum AuthorizationResponse: Sendable, Equatable {
    case redirect(URL)
    case formPost(action: String, fields: [String: String])
}

/// The authorization endpoint's judgement: which request is being authorized, and the redirect that
/// answers it. The HTTP layer runs the PSU's login and consent in between.
public struct AuthorizationService: Sendable {
    public struct Pending: Sendable {
        public let client: Client
        public let request: AuthorizationRequest
        /// Hash of the PAR `request_uri`, consumed at completion (single use); nil for a request by value.
        public let requestURIHash: [UInt8]?

        public init(client: Client, request: AuthorizationRequest, requestURIHash: [UInt8]?) {
            self.client = client
            self.request = request
            self.requestURIHash = requestURIHash
        }
    }

    let clients: any ClientStore
    let pushed: any PushedRequestStore
    let codes: any AuthorizationCodeStore
    let validator: RequestObjectValidator
    let idTokens: IDTokenIssuer
    let issuer: String
    let clock: any WallClock
    /// FAPI 2 SP §5.3.1.1-12: at most 60 s.
    let codeLifetime: TimeInterval
    /// How far ahead a JARM response's `exp` lies (JARM §4.1: short).
    let jarmLifetime: TimeInterval
    let keyRing: KeyRing?
    /// Server-wide PAR requirement (RFC 9126 §5 `require_pushed_authorization_requests`).
    let requirePushed: Bool
    let audit: (any AuditLog)?
    let entropy: any EntropySource
    /// The consents requests carry (RFC 9396, Grant Management, Open Banking intents); nil: scopes only.
    public let consents: ConsentService?

    public init(
        clients: any ClientStore, pushed: any PushedRequestStore, codes: any AuthorizationCodeStore, validator: RequestObjectValidator,
        idTokens: IDTokenIssuer, issuer: String, clock: any WallClock, codeLifetime: TimeInterval = 60, keyRing: KeyRing? = nil,
        requirePushed: Bool = false, audit: (any AuditLog)? = nil, entropy: any EntropySource = SystemEntropy(),
        jarmLifetime: TimeInterval = 300, consents: ConsentService? = nil
    ) {
        self.consents = consents
        self.jarmLifetime = jarmLifetime
        self.entropy = entropy
        self.audit = audit
        self.keyRing = keyRing
        self.requirePushed = requirePushed
        self.clients = clients
        self.pushed = pushed
        self.codes = codes
        self.validator = validator
        self.idTokens = idTokens
        self.issuer = issuer
        self.clock = clock
        self.codeLifetime = codeLifetime
    }

    /// Resolves `client_id` + `request_uri` (PAR), or `client_id` + `request` for clients that do not require PAR.
    public func begin(parameters: [String: String]) async throws(AuthorizationError) -> Pending {
        // Every refusal here is a page (RFC 6749 §4.1.2.1): before the request object is verified its
        // redirect_uri is only a claim, and the refusals after it keep the one rule so no client is sent elsewhere.
        func page(_ error: OAuthError) -> AuthorizationError { AuthorizationError(error: error, redirect: nil) }
        guard let clientID = parameters["client_id"] else { throw page(OAuthError(.invalidRequest, "client_id is required")) }
        let client: Client?
        do { client = try await clients.client(id: clientID) } catch { throw page(OAuthError(error)) }
        guard let client else { throw page(OAuthError(.invalidRequest, "unknown client")) }
        // A registered client's id (not authenticated on the front channel, but no longer a guess either).
        AuditContext.current?.client?.note(client.clientID)
        let environment = RequestCheckEnvironment(objects: validator, now: clock.now(), requirePushed: requirePushed)
        if let uri = parameters["request_uri"] {
            var subject = RequestCheckSubject(endpoint: .authorizeByReference, client: client, parameters: parameters)
            do { try await RequestChecks.run(&subject, environment) } catch { throw page(error) }
            let hash = Crypto.sha256(uri)
            let found: PushedRequest?
            do { found = try await pushed.pushedRequest(uriHash: hash, clientID: clientID, now: clock.now()) } catch { throw page(OAuthError(error)) }
            guard let found else { throw page(OAuthError(.invalidRequestURI, "request_uri is unknown, expired, used, or not this client's")) }
            return Pending(client: client, request: found.request, requestURIHash: hash)
        }
        var subject = RequestCheckSubject(endpoint: .authorize, client: client, parameters: parameters)
        do { try await RequestChecks.run(&subject, environment) } catch { throw page(error) }
        guard var request = subject.request else { throw page(OAuthError.server("the checks read no request")) }
        // A request by value (FAPI 1 without PAR) is bound to its consent once accepted; its jti makes it single use.
        if let consents {
            do { request = try await consents.bind(request, client: client, certificate: nil, origin: .authorizationRequest) } catch { throw page(error) }
        }
        return Pending(client: client, request: request, requestURIHash: nil)
    }

    /// The PSU approved: consume the request (single use), issue the code and, for the hybrid flow, the
    /// detached-signature ID Token; returns the redirect. `shownDetailsHash`: the hash the consent page showed
    /// (`ConsentPresentation.detailsHash`), required when the request carries a consent.
    public func approve(
        _ pending: Pending, subject: String, authTime: Date, shownDetailsHash: String? = nil
    ) async throws(AuthorizationError) -> AuthorizationResponse {
        var request = pending.request
        if let hash = pending.requestURIHash {
            let fresh: Bool
            do { fresh = try await pushed.consumePushedRequest(uriHash: hash, clientID: pending.client.clientID, now: clock.now()) } catch {
                throw AuthorizationError(error: OAuthError(error), redirect: nil)
            }
            guard fresh else { throw AuthorizationError(error: OAuthError(.invalidRequestURI, "request_uri was already used or has expired"), redirect: nil) }
        }
        // OIDC Core §5.5.1.1: an essential acr the sign-in did not reach fails the authentication.
        let context = AuthenticationContext.decide(for: request, achieved: Self.passwordACR)
        if context.unmet {
            // The request and its redirect URI were verified at `begin`: the refusal goes back to the client.
            let error = OAuthError(.accessDenied, "the requested essential authentication context was not reached")
            throw AuthorizationError(error: error, redirect: await deny(pending, error: error, user: subject))
        }
        // The consent is approved (or the grant updated) on its locked row; the code carries its id (`grant_id`).
        var grantID: String?
        if let consents {
            do throws(ConsentService.ApprovalFailure) {
                if let consent = try await consents.approve(
                    request, client: pending.client, username: subject, acr: context.acr, amr: ["pwd"], shownHash: shownDetailsHash)
                {
                    grantID = consent.id
                    if request.grantManagementAction == .merge || request.grantManagementAction == .replace {
                        request.scopes = consent.scope.split(separator: " ").map(String.init)
                    }
                }
            } catch {
                let reason: String
                switch error {
                case .detailsChanged: reason = "the consent details changed or were not confirmed"
                case .notAwaiting: reason = "the consent is no longer awaiting authorisation"
                case .notYours: reason = "the consent belongs to another customer or client"
                case .unavailable: reason = "the consent could not be recorded"
                }
                // Grant Management (draft -02 §4.1): a grant_id naming no active grant of this customer is
                // invalid_grant_id. The owner is known only once the customer has logged in, so it is answered here,
                // through the redirect; PAR and /authorize already refused another client's or an inactive grant.
                let updatesGrant = request.grantManagementAction == .merge || request.grantManagementAction == .replace
                let refusal =
                    updatesGrant && (error == .notYours || error == .notAwaiting)
                    ? OAuthError(.invalidGrantID, "grant_id names no active grant of this customer") : OAuthError(.accessDenied, reason)
                throw AuthorizationError(error: refusal, redirect: await deny(pending, error: refusal))
            }
        }
        let code = entropy.token()
        let now = clock.now()
        let record = AuthorizationCodeRecord(
            codeHash: Crypto.sha256(code), clientID: pending.client.clientID, subject: subject, redirectURI: request.redirectURI,
            scope: request.scopes.joined(separator: " "), codeChallenge: request.codeChallenge, nonce: request.nonce, authTime: authTime,
            acr: context.acr, claims: request.claims, expiresAt: now.addingTimeInterval(codeLifetime),
            dpopThumbprint: pending.client.usesDPoP ? request.dpopJKT : nil, grantID: grantID)
        let event = AuditEvent(
            .consentGiven, at: now, client: pending.client, user: subject,
            reason: "scope \(record.scope)" + (IntentClaims.from(request.claims, consentID: grantID)["openbanking_intent_id"]?.stringValue.map { " intent \($0)" } ?? "")
                + (grantID.map { " grant_id \($0)" } ?? ""))
        do { try await codes.insertCode(record, audit: event) } catch { throw AuthorizationError(error: OAuthError(error), redirect: nil) }
        var members: [(String, String)] = [("code", code)]
        if request.responseType == "code id_token" {
            do {
                let idToken = try await idTokens.issue(
                    client: pending.client, subject: subject, nonce: request.nonce, authTime: authTime, acr: context.acr,
                    hashed: .init(code: code, state: request.state), extra: IntentClaims.from(request.claims, consentID: grantID))
                members.append(("id_token", idToken))
            } catch {
                throw AuthorizationError(error: error, redirect: nil)
            }
        }
        return try await respond(request, members, client: pending.client)
    }

    /// The authentication context reached by a password sign-in: Open Banking "CA" (not SCA).
    public static let passwordACR = "urn:openbanking:psd2:ca"


    /// The PSU refused (or an error after the redirect URI is trusted): `access_denied` back to the client.
    /// A refusal by the PSU (`user` given) is recorded in the audit log.
    public func deny(
        _ pending: Pending, error: OAuthError = OAuthError(.accessDenied, "the user denied the request"), user: String? = nil
    ) async -> AuthorizationResponse {
        if let user, let consents { await consents.reject(pending.request, client: pending.client, username: user) }
        if let user, let audit {
            await audit.record(
                AuditEvent(.consentDenied, at: clock.now(), client: pending.client, user: user, outcome: .failure, reason: error.description))
        }
        if let hash = pending.requestURIHash { _ = try? await pushed.consumePushedRequest(uriHash: hash, clientID: pending.client.clientID, now: clock.now()) }
        let members = [("error", error.code.rawValue), ("error_description", error.description)]
        if let response = try? await respond(pending.request, members, client: pending.client) { return response }
        return .redirect(URL(string: pending.request.redirectURI)!)
    }

    /// Fragment for the hybrid flow (OIDC Core §3.3.2.5), query for code; `state` echoed unchanged and `iss` (RFC 9207) added.
    /// With a JARM response mode (`jwt`, `query.jwt`, `fragment.jwt`) the members travel inside one signed JWT, `response`.
    func respond(_ request: AuthorizationRequest, _ members: [(String, String)], client: Client) async throws(AuthorizationError) -> AuthorizationResponse {
        var all = members
        if let state = request.state { all.append(("state", state)) }
        let mode = request.responseMode ?? (request.responseType == "code" ? "query" : "fragment")
        let jarm = RequestChecks.jarmModes.contains(mode)
        if jarm {
            all = [("response", try await jarmResponse(all, client: client))]
        } else {
            all.append(("iss", issuer))
        }
        if mode.hasPrefix("form_post") {
            return .formPost(action: request.redirectURI, fields: Dictionary(all, uniquingKeysWith: { first, _ in first }))
        }
        let encoded = all.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        let useFragment = mode.hasPrefix("fragment") || (mode == "jwt" && request.responseType != "code")
        let separator = useFragment ? "#" : (request.redirectURI.contains("?") ? "&" : "?")
        return .redirect(URL(string: request.redirectURI + separator + encoded)!)
    }

    /// JARM §4.1: the response parameters plus `iss`, `aud` and a short `exp`, signed with the client's
    /// `authorization_signed_response_alg` (PS256 by default).
    func jarmResponse(_ members: [(String, String)], client: Client) async throws(AuthorizationError) -> String {
        let algorithm = client.metadata["authorization_signed_response_alg"]?.stringValue.flatMap(JWSAlgorithm.init(rawValue:)) ?? .PS256
        let instant = clock.now()
        guard let signer = keyRing?.snapshot.signer(for: algorithm, at: instant) else {
            throw AuthorizationError(error: OAuthError.server("no \(algorithm) key for JARM"), redirect: nil)
        }
        let now = Int64(instant.timeIntervalSince1970)
        var claims: [String: JSON] = ["iss": .string(issuer), "aud": .string(client.clientID), "exp": .int(now + Int64(jarmLifetime)), "iat": .int(now)]
        for (name, value) in members { claims[name] = .string(value) }
        do { return try await signer.sign(claims: claims) } catch { throw AuthorizationError(error: OAuthError.server("JARM signing failed: \(error)"), redirect: nil) }
    }

    static func encode(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
