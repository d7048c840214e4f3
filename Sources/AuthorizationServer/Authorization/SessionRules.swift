public import Foundation

/// The OpenID Connect rules that decide, at the authorization endpoint, whether the PSU's existing sign-in
/// may be used: `prompt` (OIDC Core §3.1.2.1) and `max_age` (§3.1.2.1, §3.1.2.3) against the session the
/// browser's cookie names.
public enum SessionRules {
    /// What the authorization endpoint does next.
    public enum Step: Sendable, Equatable {
        /// `prompt=none` and a page would be needed (OIDC Core §3.1.2.6): the error goes back to the client.
        case refuse(OAuthError.Code, String)
        /// Show the sign-in page.
        case signIn
        /// The PSU is signed in and may go straight to consent under this session.
        case resume(username: String, authTime: Date)
    }

    /// The step for `request` when the browser's cookie names `session` (nil: none, or expired), at `now`.
    public static func step(for request: AuthorizationRequest, session: PSUSessionState?, now: Date) -> Step {
        let prompts = Set((request.prompt ?? "").split(separator: " ").map(String.init))
        var session = session
        // OIDC Core §3.1.2.1 max_age: an older sign-in must be repeated.
        if let maxAge = request.maxAge, let current = session, now.timeIntervalSince(current.authTime) > TimeInterval(maxAge) {
            session = nil
        }
        if prompts.contains("none") {
            // OIDC Core §3.1.2.6: no page may be shown; consent is always asked here, so it is needed.
            return session == nil ? .refuse(.loginRequired, "the user is not signed in") : .refuse(.consentRequired, "consent is needed")
        }
        // OIDC Core §3.1.2.1 prompt=login: the PSU signs in again whatever the session.
        if !prompts.contains("login"), let session { return .resume(username: session.username, authTime: session.authTime) }
        return .signIn
    }
}

/// A PSU's sign-in as the session cookie shows it: who, and when they signed in.
public struct PSUSessionState: Sendable, Equatable {
    public let username: String
    public let authTime: Date

    public init(username: String, authTime: Date) {
        self.username = username
        self.authTime = authTime
    }
}
