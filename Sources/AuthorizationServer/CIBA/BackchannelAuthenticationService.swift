import Foundation
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
        keyRing: KeyRing, issuer: String, clock: any WallClock, entropy: any EntropySource = SystemEntropy(), settings: Settings = Settings()
    ) {
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
        let request = CIBARequest(
            // Hex: an id starting with "-" would read as an option on the fapictl command line.
            id: entropy.hexIdentifier(bytes: 9), authReqIDHash: TokenIssuer.hash(authReqID), clientID: client.client.clientID,
            username: username, scope: scopes.joined(separator: " "), bindingMessage: binding, acr: parameters["acr_values"],
            deliveryMode: mode, notificationToken: token, createdAt: now, expiresAt: now.addingTimeInterval(TimeInterval(expiry)), interval: interval,
            pingAuthReqID: mode == "poll" ? nil : authReqID)
        let event = AuditEvent(
            .cibaRequested, at: now, client: client.client, user: username, certificateThumbprint: client.certificate?.thumbprint,
            reason: "mode \(mode), scope \(request.scope)")
        do { try await store.insertCIBARequest(request, audit: event) } catch { throw OAuthError(error) }
        return Acknowledgement(authReqID: authReqID, expiresIn: expiry, interval: mode == "push" ? nil : interval)
    }
}
