public import Foundation

/// What verifying a signed request object needs (RFC 9101 JAR, CIBA Core §7.1.1): the client's keys, the
/// `jti` replay memory, our issuer (the `aud`), the clock and the allowed skew. The rules themselves are
/// rows of `RequestChecks`.
public struct RequestObjectValidator: Sendable {
    let keys: ClientKeyResolver
    let replay: any ReplayStore
    let issuer: String
    let clock: any WallClock
    let clockSkew: TimeInterval

    public init(keys: ClientKeyResolver, replay: any ReplayStore, issuer: String, clock: any WallClock, clockSkew: TimeInterval = 10) {
        self.keys = keys
        self.replay = replay
        self.issuer = issuer
        self.clock = clock
        self.clockSkew = clockSkew
    }

    /// The request-object rows of `RequestChecks` for a request object sent to `/authorize` or `/par`:
    /// verified, and read into an authorization request.
    public func validate(_ token: String, client: Client, endpoint: RequestEndpoint = .pushed) async throws(OAuthError) -> AuthorizationRequest {
        var subject = RequestCheckSubject(endpoint: endpoint, client: client, parameters: ["request": token])
        try await RequestChecks.run(&subject, RequestCheckEnvironment(objects: self, now: clock.now()), rows: RequestChecks.requestObject)
        guard let request = subject.request else { throw OAuthError.server("the request object rows read no request") }
        return request
    }
}
