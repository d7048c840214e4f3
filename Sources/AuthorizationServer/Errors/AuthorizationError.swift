/// An authorization endpoint error, and whether it may go back to the client. RFC 6749 §4.1.2.1: only once
/// the client and its redirect URI are established (here: the signed request verified, or the pushed request
/// found) may the error be redirected; before that the PSU sees an error page, so an attacker cannot use the
/// server as an open redirector.
public struct AuthorizationError: Error, Sendable {
    public let error: OAuthError
    /// The response that carries the error to the client's redirect URI; nil when it must be shown as a page.
    public let redirect: AuthorizationResponse?

    public init(error: OAuthError, redirect: AuthorizationResponse? = nil) {
        self.error = error
        self.redirect = redirect
    }
}
