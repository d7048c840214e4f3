extension IntrospectionService {
    /// RFC 9701: the RFC 7662 response for `token`, exactly as `introspect(token:)` gives it, signed as a JWT
    /// addressed to `server` (the resource server `authenticate` returned).
    public func introspectAsJWT(token: String?, for server: ResourceServer, signer: IntrospectionResponseJWT) async throws(OAuthError) -> String {
        try await signer.sign(try await introspect(token: token), for: server)
    }
}
