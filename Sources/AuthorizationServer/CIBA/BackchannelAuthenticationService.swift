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
    let clock: any WallClock
    let entropy: any EntropySource
    /// Where a request carrying `authorization_details` records its consent (RFC 9396 §3 at `/bc-authorize`): the
    /// one creation rule, `ConsentService.create`.
    let consents: ConsentService?
    /// How `authorization_details` are validated, and how many approvers they need (`dual_control`). Without it (or
    /// without `consents`) a request carrying them is refused.
    let details: AuthorizationDetailsPolicy?
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
    /// Allowed clock difference for the signed request's `exp`, `nbf` and `iat`.
    static let clockSkew: TimeInterval = 10

    public init(
        authenticator: ClientAuthenticator, keys: ClientKeyResolver, replay: any ReplayStore, users: any UserStore, store: any CIBAStore,
        keyRing: KeyRing, issuer: String, clock: any WallClock, entropy: any EntropySource = SystemEntropy(), settings: Settings = Settings(),
        consents: (any ConsentStore)? = nil, details: AuthorizationDetailsPolicy? = nil, consentService: ConsentService? = nil
    ) {
        // The daemon passes its `ConsentService`; given only a store and a policy, one is made of them.
        self.consents =
            consentService
            ?? consents.flatMap { store in
                details.map {
                    ConsentService(store: store, clients: authenticator.clients, policy: $0, clock: clock, entropy: entropy, status: authenticator.status)
                }
            }
        self.details = consentService?.policy ?? details
        self.settings = settings
        self.entropy = entropy
        self.authenticator = authenticator
        self.keys = keys
        self.replay = replay
        self.users = users
        self.store = store
        self.keyRing = keyRing
        self.issuer = issuer
        self.clock = clock
    }

    /// Runs the `/bc-authorize` rows of `RequestChecks`, then records the request.
    public func request(parameters form: [String: String], credentials: ClientCredentials) async throws(OAuthError) -> Acknowledgement {
        let client = try await authenticator.authenticate(credentials)
        let now = clock.now()
        var subject = RequestCheckSubject(endpoint: .backchannel, client: client.client, parameters: form)
        let objects = RequestObjectValidator(keys: keys, replay: replay, issuer: issuer, clock: clock, clockSkew: Self.clockSkew)
        try await RequestChecks.run(&subject, RequestCheckEnvironment(objects: objects, now: now, users: users, keyRing: keyRing))
        guard let username = subject.username, let binding = subject.parameters["binding_message"] else {
            throw OAuthError.server("the backchannel checks named no user or binding message")
        }
        let parameters = subject.parameters
        let mode = subject.deliveryMode
        let scopes = subject.scopes
        let expiry = subject.requestedExpiry.map { min($0, maximumExpiry) } ?? defaultExpiry
        let token = parameters["client_notification_token"]
        let authReqID = entropy.token()
        let requestExpiry = now.addingTimeInterval(TimeInterval(expiry))
        // Stored first, with its `consent.created` event: a CIBA request then never names a consent that is not there.
        let consent = try await consent(for: subject, client: client, username: username, scopes: scopes, awaitingUntil: requestExpiry)
        let request = CIBARequest(
            // Hex: an id starting with "-" would read as an option on the fapictl command line.
            id: entropy.hexIdentifier(bytes: 9), authReqIDHash: TokenIssuer.hash(authReqID), clientID: client.client.clientID,
            username: username, scope: scopes.joined(separator: " "), bindingMessage: binding, acr: parameters["acr_values"],
            deliveryMode: mode, notificationToken: token, createdAt: now, expiresAt: requestExpiry, interval: interval,
            pingAuthReqID: mode == "poll" ? nil : authReqID, grantID: consent?.id)
        let event = AuditEvent(
            .cibaRequested, at: now, client: client.client, user: username, certificateThumbprint: client.certificate?.thumbprint,
            reason: "mode \(mode), scope \(request.scope)")
        do { try await store.insertCIBARequest(request, audit: event) } catch {
            if let consent { await withdraw(consent, at: now) }
            throw OAuthError(error)
        }
        return Acknowledgement(authReqID: authReqID, expiresIn: expiry, interval: mode == "push" ? nil : interval)
    }

    /// RFC 9396 §3 with CIBA Core §7.1: the request's `authorization_details`, from the signed request (a JSON
    /// array, FAPI-CIBA) or, for a client that may send loose parameters, the form parameter (JSON text),
    /// validated for the client; nil when the request carries none.
    func authorizationDetails(_ subject: RequestCheckSubject, client: Client) throws(OAuthError) -> JSON? {
        let value: JSON?
        let text: String?
        if let claims = subject.requestObject {
            value = claims["authorization_details"]
            text = nil
        } else {
            value = nil
            text = subject.parameters["authorization_details"]
        }
        guard value != nil || text != nil else { return nil }
        guard let details, consents != nil else {
            throw OAuthError(.invalidAuthorizationDetails, "authorization_details are not supported at this endpoint")
        }
        if let value { return try details.validate(value, client: client) }
        return try details.validate(text: text ?? "", client: client)
    }

    /// The consent a request with `authorization_details` asks for, created by `ConsentService.create`: awaiting
    /// the decision of `approvalsRequired` staff members (`dual_control`), for the hinted user, with the request's
    /// hash and the client certificate as evidence, awaiting no longer than the CIBA request (`awaitingUntil`).
    /// Each built-in type needs its scope among the request's (`AuthorizationDetailsPolicy.checkScopes`).
    func consent(
        for subject: RequestCheckSubject, client: AuthenticatedClient, username: String, scopes: [String], awaitingUntil: Date
    ) async throws(OAuthError) -> Consent? {
        guard let validated = try authorizationDetails(subject, client: client.client), let details, let consents else { return nil }
        try AuthorizationDetailsPolicy.checkScopes(validated, scopes: scopes)
        // What the client asked, as evidence: the signed request's members, or the form without client authentication.
        let requested: JSON =
            if let claims = subject.requestObject { .object(claims.members) } else {
                .object(subject.parameters.filter { !RequestChecks.formOnlyParameters.contains($0.key) }.mapValues(JSON.string))
            }
        return try await consents.create(
            details: validated, scope: scopes.joined(separator: " "), client: client.client, origin: .backchannelRequest,
            certificate: client.certificate, requestHash: ConsentEvidence.detailsHash(requested),
            approvalsRequired: details.approvalsRequired(for: validated), subject: username, awaitingUntil: awaitingUntil)
    }

    /// The CIBA request could not be stored after its consent was: the consent, which no request names and so no
    /// staff member can decide, is rejected so it is never left awaiting (best effort: the store failed once).
    func withdraw(_ consent: Consent, at now: Date) async {
        _ = try? await consents?.store.updateConsent(id: consent.id) { $0.rejected(by: "fapid", at: now) }
    }
}
