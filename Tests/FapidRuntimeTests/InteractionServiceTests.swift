import AuthorizationServer
import FapidRuntime
import Foundation
import JOSE
import OpenSSLKit
import TestSupport
import Testing

struct NoJWKSFetcher: JWKSFetcher {
    func fetch(_ url: String) async throws(JWKSFetchError) -> [UInt8] { throw JWKSFetchError("no network in unit tests") }
}

@Suite("InteractionService")
struct InteractionServiceTests {
    let fixture: CoreServiceFixture
    let service: InteractionService
    let authorization: AuthorizationService
    let client: Client

    init() async throws {
        fixture = try CoreServiceFixture("interactions")
        let storage = fixture.storage
        let clock = fixture.clock
        let idTokens = IDTokenIssuer(keyRing: KeyRing(), issuer: CoreServiceFixture.issuer, clock: clock)
        authorization = AuthorizationService(
            clients: storage.clients, pushed: storage.pushed, codes: storage.codes,
            validator: RequestObjectValidator(
                keys: ClientKeyResolver(fetcher: NoJWKSFetcher(), clock: clock), replay: storage.tokens, issuer: CoreServiceFixture.issuer, clock: clock),
            idTokens: idTokens, issuer: CoreServiceFixture.issuer, clock: clock, audit: storage.audit)
        service = InteractionService(
            authorization: authorization, login: LoginService(users: storage.users, attempts: storage.signInAttempts, clock: clock),
            store: storage.interactions, clients: storage.clients, clock: clock)
        client = try await fixture.client("c1")
        try await storage.users.insertUser(User(username: "alice", passwordHash: try PasswordHash.make("correct horse"), createdAt: clock.now()))
    }

    func pending(prompt: String? = nil, maxAge: Int? = nil) throws -> AuthorizationService.Pending {
        var members: [String: JSON] = [
            "client_id": "c1", "response_type": "code", "redirect_uri": .string(CoreServiceFixture.redirect), "scope": "openid accounts", "state": "s1",
        ]
        if let prompt { members["prompt"] = .string(prompt) }
        if let maxAge { members["max_age"] = .int(Int64(maxAge)) }
        return AuthorizationService.Pending(client: client, request: try AuthorizationRequest(json: .object(members)), requestURIHash: nil)
    }

    /// Signs alice in through the sign-in form of a new interaction; returns the session cookie's value.
    func signedInSession() async throws -> String {
        guard case .signIn(let interaction) = await service.open(try pending(), session: nil) else {
            Issue.record("a PSU without a session signs in")
            return ""
        }
        guard case .signedIn(_, "alice", let session) = await service.signIn(
            interaction: interaction.id, csrf: interaction.csrf, username: "alice", password: "correct horse", address: "192.0.2.1")
        else {
            Issue.record("the right password signs in")
            return ""
        }
        return session
    }

    func query(_ response: AuthorizationResponse) -> [String: String] {
        guard case .redirect(let url) = response, let items = URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems else { return [:] }
        return Dictionary(items.map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { first, _ in first })
    }

    @Test("no session: the sign-in page; the right password gives consent and a session; the consent form works once")
    func signInAndConsent() async throws {
        guard case .signIn(let interaction) = await service.open(try pending(), session: nil) else {
            Issue.record("a PSU without a session signs in")
            return
        }
        #expect(interaction.pending.client.clientID == "c1" && !interaction.csrf.isEmpty)
        // The form's CSRF token must be the interaction's own.
        guard case .expired = await service.signIn(
            interaction: interaction.id, csrf: "forged", username: "alice", password: "correct horse", address: nil)
        else {
            Issue.record("a forged CSRF token reads as an expired form")
            return
        }
        guard case .refused(_, .invalidCredentials) = await service.signIn(
            interaction: interaction.id, csrf: interaction.csrf, username: "alice", password: "wrong", address: nil)
        else {
            Issue.record("a wrong password is refused")
            return
        }
        guard case .signedIn(let signedIn, "alice", let session) = await service.signIn(
            interaction: interaction.id, csrf: interaction.csrf, username: "alice", password: "correct horse", address: nil)
        else {
            Issue.record("the right password signs in")
            return
        }
        #expect(!session.isEmpty && signedIn.authTime == fixture.clock.now())

        guard case .answered(let response, _, "alice", true) = try await service.decide(interaction: interaction.id, csrf: interaction.csrf, approve: true)
        else {
            Issue.record("the consent form answers the client")
            return
        }
        let members = query(response)
        #expect(members["code"] != nil && members["state"] == "s1" && members["iss"] == CoreServiceFixture.issuer)
        guard case .expired = try await service.decide(interaction: interaction.id, csrf: interaction.csrf, approve: true) else {
            Issue.record("a consent form works once")
            return
        }
    }

    @Test("a refused consent sends access_denied to the client and is audited")
    func refusal() async throws {
        guard case .signIn(let interaction) = await service.open(try pending(), session: nil) else {
            Issue.record("a PSU without a session signs in")
            return
        }
        _ = await service.signIn(interaction: interaction.id, csrf: interaction.csrf, username: "alice", password: "correct horse", address: nil)
        guard case .answered(let response, _, "alice", false) = try await service.decide(interaction: interaction.id, csrf: interaction.csrf, approve: false)
        else {
            Issue.record("a refusal answers the client")
            return
        }
        #expect(query(response)["error"] == "access_denied")
        let rows = try await fixture.storage.audit.rows(after: 0)
        #expect(rows.contains { $0.values["type"] == "consent.denied" && $0.values["user"] == "alice" })
    }

    @Test("a consent form before sign-in reads as expired")
    func consentNeedsSignIn() async throws {
        guard case .signIn(let interaction) = await service.open(try pending(), session: nil) else {
            Issue.record("a PSU without a session signs in")
            return
        }
        guard case .expired = try await service.decide(interaction: interaction.id, csrf: interaction.csrf, approve: true) else {
            Issue.record("nobody signed in: no consent")
            return
        }
    }

    @Test("a session goes straight to consent; prompt=login and an exceeded max_age sign in again")
    func sessions() async throws {
        let session = try await signedInSession()
        guard case .consent(let interaction, "alice") = await service.open(try pending(), session: session) else {
            Issue.record("a signed-in PSU goes straight to consent")
            return
        }
        #expect(interaction.username == "alice")
        guard case .signIn = await service.open(try pending(prompt: "login"), session: session) else {
            Issue.record("prompt=login signs in again")
            return
        }
        fixture.clock.advance(120)
        guard case .consent = await service.open(try pending(maxAge: 120), session: session) else {
            Issue.record("a sign-in exactly max_age old still counts")
            return
        }
        guard case .signIn = await service.open(try pending(maxAge: 119), session: session) else {
            Issue.record("an older sign-in than max_age is repeated")
            return
        }
        fixture.clock.advance(service.settings.sessionLifetime)
        guard case .signIn = await service.open(try pending(), session: session) else {
            Issue.record("an expired session signs in again")
            return
        }
    }

    @Test("prompt=none answers the client: login_required without a session, consent_required with one")
    func promptNone() async throws {
        guard case .answered(let refused) = await service.open(try pending(prompt: "none"), session: nil) else {
            Issue.record("prompt=none shows no page")
            return
        }
        #expect(query(refused)["error"] == "login_required")
        let session = try await signedInSession()
        guard case .answered(let needsConsent) = await service.open(try pending(prompt: "none"), session: session) else {
            Issue.record("prompt=none shows no page")
            return
        }
        #expect(query(needsConsent)["error"] == "consent_required")
    }

    @Test("configured settings take effect: a shorter session and fewer live interactions per request_uri")
    func configuredSettings() async throws {
        var settings = InteractionService.Settings()
        settings.sessionLifetime = 60
        settings.livePerRequestURI = 2
        let storage = fixture.storage
        let configured = InteractionService(
            authorization: authorization, login: LoginService(users: storage.users, attempts: storage.signInAttempts, clock: fixture.clock),
            store: storage.interactions, clients: storage.clients, clock: fixture.clock, settings: settings)
        let byReference = AuthorizationService.Pending(client: client, request: try pending().request, requestURIHash: Crypto.sha256("urn:example:2"))
        for _ in 0..<2 {
            guard case .signIn = await configured.open(byReference, session: nil) else {
                Issue.record("two browsers may open one request_uri")
                return
            }
        }
        guard case .openedTooOften = await configured.open(byReference, session: nil) else {
            Issue.record("a third live interaction is refused")
            return
        }
        guard case .signIn(let interaction) = await configured.open(try pending(), session: nil),
            case .signedIn(_, _, let session) = await configured.signIn(
                interaction: interaction.id, csrf: interaction.csrf, username: "alice", password: "correct horse", address: "192.0.2.1")
        else {
            Issue.record("the right password signs in")
            return
        }
        fixture.clock.advance(59)
        guard case .consent = await configured.open(try pending(), session: session) else {
            Issue.record("a session within its configured lifetime is resumed")
            return
        }
        fixture.clock.advance(1)
        guard case .signIn = await configured.open(try pending(), session: session) else {
            Issue.record("a session past its configured lifetime signs in again")
            return
        }
    }

    @Test("one request_uri opens at most livePerRequestURI live interactions (CWE-400)")
    func boundedPerRequestURI() async throws {
        let byReference = AuthorizationService.Pending(client: client, request: try pending().request, requestURIHash: Crypto.sha256("urn:example:1"))
        for _ in 0..<service.settings.livePerRequestURI {
            guard case .signIn = await service.open(byReference, session: nil) else {
                Issue.record("a few browsers may open one request_uri")
                return
            }
        }
        guard case .openedTooOften = await service.open(byReference, session: nil) else {
            Issue.record("one more is refused")
            return
        }
    }

    @Test("a client removed meanwhile ends the interaction")
    func removedClient() async throws {
        guard case .signIn(let interaction) = await service.open(try pending(), session: nil) else {
            Issue.record("a PSU without a session signs in")
            return
        }
        #expect(try await fixture.storage.clients.removeClient(id: "c1", at: fixture.clock.now(), audit: nil))
        guard case .expired = await service.signIn(
            interaction: interaction.id, csrf: interaction.csrf, username: "alice", password: "correct horse", address: nil)
        else {
            Issue.record("the interaction ended with its client")
            return
        }
    }
}
