import AuthorizationServer
import Foundation
import JOSE
import Testing

@Suite("SessionRules")
struct SessionRulesTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func request(prompt: String? = nil, maxAge: Int? = nil) throws -> AuthorizationRequest {
        var members: [String: JSON] = ["client_id": "c1", "response_type": "code", "redirect_uri": "https://tpp.example/cb", "scope": "openid"]
        if let prompt { members["prompt"] = .string(prompt) }
        if let maxAge { members["max_age"] = .int(Int64(maxAge)) }
        return try AuthorizationRequest(json: .object(members))
    }

    func session(signedInSecondsAgo seconds: TimeInterval) -> PSUSessionState {
        PSUSessionState(username: "alice", authTime: now.addingTimeInterval(-seconds))
    }

    @Test("no session signs in; a session resumes with its user and sign-in time")
    func sessions() throws {
        #expect(SessionRules.step(for: try request(), session: nil, now: now) == .signIn)
        let current = session(signedInSecondsAgo: 30)
        #expect(SessionRules.step(for: try request(), session: current, now: now) == .resume(username: "alice", authTime: current.authTime))
    }

    @Test("prompt=login signs in again whatever the session (OIDC Core §3.1.2.1)")
    func promptLogin() throws {
        #expect(SessionRules.step(for: try request(prompt: "login"), session: session(signedInSecondsAgo: 1), now: now) == .signIn)
        #expect(SessionRules.step(for: try request(prompt: "consent login"), session: session(signedInSecondsAgo: 1), now: now) == .signIn)
    }

    @Test("prompt=none shows no page: login_required without a session, consent_required with one (OIDC Core §3.1.2.6)")
    func promptNone() throws {
        #expect(SessionRules.step(for: try request(prompt: "none"), session: nil, now: now) == .refuse(.loginRequired, "the user is not signed in"))
        #expect(
            SessionRules.step(for: try request(prompt: "none"), session: session(signedInSecondsAgo: 1), now: now)
                == .refuse(.consentRequired, "consent is needed"))
    }

    @Test("max_age: a sign-in older than it does not count; one exactly that old does")
    func maxAge() throws {
        #expect(SessionRules.step(for: try request(maxAge: 60), session: session(signedInSecondsAgo: 61), now: now) == .signIn)
        #expect(SessionRules.step(for: try request(maxAge: 60), session: session(signedInSecondsAgo: 60), now: now) == .resume(
            username: "alice", authTime: now.addingTimeInterval(-60)))
        #expect(
            SessionRules.step(for: try request(prompt: "none", maxAge: 60), session: session(signedInSecondsAgo: 61), now: now)
                == .refuse(.loginRequired, "the user is not signed in"))
    }
}
