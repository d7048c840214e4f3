public import Foundation
import OpenSSLKit

/// The PSU's way through an authorization request in the browser: open it (applying `SessionRules`), sign
/// in, and consent or refuse. The browser's progress is kept in the shared `InteractionStore` for a few
/// minutes, so its next request may reach another instance; only hashes of the ids and CSRF tokens are
/// stored. A storage failure reads as an expired form: the PSU starts again from the client's redirect.
/// The HTTP layer parses the forms, checks their origin and renders what this returns.
public struct InteractionService: Sendable {
    /// One interaction as the PSU's forms carry it: its id and CSRF token (the plain values, which only the
    /// browser holds), the request, and who signed in.
    public struct Interaction: Sendable {
        public let id: String
        public let pending: AuthorizationService.Pending
        public let csrf: String
        public var username: String?
        public var authTime: Date?
    }

    /// What opening an authorization request leads to.
    public enum Opening: Sendable {
        /// Answered to the client without a page (`prompt=none`, OIDC Core §3.1.2.6).
        case answered(AuthorizationResponse)
        /// The sign-in page of this interaction.
        case signIn(Interaction)
        /// A signed-in PSU goes straight to the consent page.
        case consent(Interaction, username: String)
        /// More browsers than `livePerRequestURI` opened this `request_uri` (CWE-400).
        case openedTooOften
        /// Storage did not answer.
        case unavailable
    }

    /// What a sign-in form leads to.
    public enum SignIn: Sendable {
        /// Signed in: the consent page, and the new session's cookie value.
        case signedIn(Interaction, username: String, session: String)
        /// The password check refused: the sign-in page again.
        case refused(Interaction, LoginService.Failure)
        /// The form's interaction is gone, expired, or its CSRF token is not its own.
        case expired
    }

    /// What a consent form leads to.
    public enum Decision: Sendable {
        /// The answer to send to the client: the PSU approved (`approved`) or refused.
        case answered(AuthorizationResponse, Interaction, username: String, approved: Bool)
        /// The form's interaction is gone, expired, not signed in, or its CSRF token is not its own.
        case expired
    }

    /// How long the browser's progress and sign-ins are kept, and how many browsers one request may have.
    public struct Settings: Sendable {
        /// How long the PSU has to sign in and consent.
        public var lifetime: TimeInterval = 600
        /// How long a sign-in is remembered by its cookie.
        public var sessionLifetime: TimeInterval = 900
        /// Live interactions one `request_uri` may have: a PSU may reopen the link in a few tabs or browsers, but
        /// a leaked `request_uri` opened in a loop must not fill the database (CWE-400).
        public var livePerRequestURI = 10

        public init() {}
    }

    let authorization: AuthorizationService
    let login: LoginService
    let store: any InteractionStore
    let clients: any ClientStore
    let clock: any WallClock
    let entropy: any EntropySource
    public let settings: Settings

    /// `store` keeps the browser's progress; `clients` gives the pending request's client back.
    public init(
        authorization: AuthorizationService, login: LoginService, store: any InteractionStore, clients: any ClientStore, clock: any WallClock,
        entropy: any EntropySource = SystemEntropy(), settings: Settings = Settings()
    ) {
        self.settings = settings
        self.authorization = authorization
        self.login = login
        self.store = store
        self.clients = clients
        self.clock = clock
        self.entropy = entropy
    }

    /// Opens the authorization request the browser brought (`AuthorizationService.begin`), with the session
    /// its cookie names (nil without one).
    public func open(parameters: [String: String], session: String?) async throws(AuthorizationError) -> Opening {
        await open(try await authorization.begin(parameters: parameters), session: session)
    }

    /// Opens `pending` under `SessionRules`: refused to the client, the sign-in page, or straight to consent.
    public func open(_ pending: AuthorizationService.Pending, session: String?) async -> Opening {
        let step = SessionRules.step(for: pending.request, session: await self.session(session), now: clock.now())
        if case .refuse(let code, let description) = step {
            return .answered(await authorization.deny(pending, error: OAuthError(code, description)))
        }
        let started: Interaction?
        do { started = try await start(pending) } catch { return .unavailable }
        guard var interaction = started else { return .openedTooOften }
        guard case .resume(let username, let authTime) = step else { return .signIn(interaction) }
        guard await signIn(interaction.id, username: username, authTime: authTime) else { return .unavailable }
        interaction.username = username
        interaction.authTime = authTime
        return .consent(interaction, username: username)
    }

    /// A sign-in form: checks the password (`LoginService`, throttled) for the form's interaction, records
    /// who signed in, and starts a session. `address` is the PSU's (for the throttle).
    public func signIn(interaction id: String?, csrf: String, username: String, password: String, address: String?) async -> SignIn {
        guard var interaction = await interaction(id, csrf: csrf) else { return .expired }
        let user: User
        do throws(LoginService.Failure) {
            user = try await login.authenticate(username: username, password: password, address: address, interaction: interaction.id)
        } catch {
            return .refused(interaction, error)
        }
        let now = clock.now()
        guard await signIn(interaction.id, username: user.username, authTime: now),
            let session = try? await newSession(username: user.username, authTime: now)
        else { return .expired }
        interaction.username = user.username
        interaction.authTime = now
        return .signedIn(interaction, username: user.username, session: session)
    }

    /// A consent form: takes the interaction out (once, whichever instance receives the form) and answers the
    /// client: the authorization response when `approve`, `access_denied` otherwise.
    /// `shownDetailsHash`: what the consent form carried back (`ConsentPresentation.detailsHash` of the page it was on).
    public func decide(
        interaction id: String?, csrf: String, approve: Bool, shownDetailsHash: String? = nil
    ) async throws(AuthorizationError) -> Decision {
        guard let id, let interaction = await finish(id, csrf: csrf), let username = interaction.username, let authTime = interaction.authTime
        else { return .expired }
        if approve {
            let response = try await authorization.approve(
                interaction.pending, subject: username, authTime: authTime, shownDetailsHash: shownDetailsHash)
            return .answered(response, interaction, username: username, approved: true)
        }
        return .answered(await authorization.deny(interaction.pending, user: username), interaction, username: username, approved: false)
    }

    /// What the consent page of `interaction` shows beyond its scopes: the details of its consent (the customer sees
    /// them in plain words, `ConsentDisplay.lines`) and the hash the form posts back as `details_hash`. Nil for a
    /// request without a consent.
    public func presentation(_ interaction: Interaction) async -> ConsentPresentation? {
        await authorization.consents?.presentation(for: interaction.pending.request)
    }

    /// A new interaction for the pending request; nil when its `request_uri` has `livePerRequestURI` already.
    func start(_ pending: AuthorizationService.Pending) async throws(StorageError) -> Interaction? {
        let id = entropy.token()
        let csrf = entropy.token()
        let now = clock.now()
        let stored = try await store.insertInteraction(
            PSUInteraction(
                idHash: Crypto.sha256(id), clientID: pending.client.clientID, request: pending.request, requestURIHash: pending.requestURIHash,
                csrfHash: Crypto.sha256(csrf), createdAt: now, expiresAt: now.addingTimeInterval(settings.lifetime)),
            livePerRequestURI: settings.livePerRequestURI)
        return stored ? Interaction(id: id, pending: pending, csrf: csrf) : nil
    }

    /// The interaction, when it exists, is fresh and the form's CSRF token matches (compared as hashes, in
    /// constant time).
    func interaction(_ id: String?, csrf: String) async -> Interaction? {
        guard let id, let stored = try? await store.interaction(idHash: Crypto.sha256(id), now: clock.now()),
            Crypto.constantTimeEqual(Crypto.sha256(csrf), stored.csrfHash)
        else { return nil }
        return await interaction(stored, id: id, csrf: csrf)
    }

    func signIn(_ id: String, username: String, authTime: Date) async -> Bool {
        (try? await store.signInInteraction(idHash: Crypto.sha256(id), username: username, authTime: authTime, now: clock.now())) ?? false
    }

    /// Takes the interaction out when the CSRF token is its own, atomically in storage, so a consent form works
    /// once whichever instance receives it.
    func finish(_ id: String, csrf: String) async -> Interaction? {
        guard let stored = try? await store.takeInteraction(idHash: Crypto.sha256(id), csrfHash: Crypto.sha256(csrf), now: clock.now()) else {
            return nil
        }
        return await interaction(stored, id: id, csrf: csrf)
    }

    /// The pending request again, with its client as stored now (a client removed meanwhile ends it).
    private func interaction(_ stored: PSUInteraction, id: String, csrf: String) async -> Interaction? {
        guard let client = try? await clients.client(id: stored.clientID) else { return nil }
        let pending = AuthorizationService.Pending(client: client, request: stored.request, requestURIHash: stored.requestURIHash)
        return Interaction(id: id, pending: pending, csrf: csrf, username: stored.username, authTime: stored.authTime)
    }

    /// A new session for the PSU's cookie: its value (only its hash is stored).
    func newSession(username: String, authTime: Date) async throws(StorageError) -> String {
        let id = entropy.token()
        try await store.insertSession(
            PSUSession(idHash: Crypto.sha256(id), username: username, authTime: authTime, expiresAt: authTime.addingTimeInterval(settings.sessionLifetime)))
        return id
    }

    /// The session the cookie value `id` names, while it has not expired.
    func session(_ id: String?) async -> PSUSessionState? {
        guard let id, let session = try? await store.session(idHash: Crypto.sha256(id), now: clock.now()) else { return nil }
        return PSUSessionState(username: session.username, authTime: session.authTime)
    }
}
