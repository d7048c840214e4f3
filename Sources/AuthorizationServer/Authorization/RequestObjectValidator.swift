public import Foundation
import JOSE
import OpenSSLKit

/// Verifies a signed request object (RFC 9101 JAR) with the FAPI rules: the client's key and algorithm
/// (PS256/ES256 for FAPI clients, never `none`), `iss` = client_id, `aud` = the issuer, `exp` and `nbf`
/// present, `exp − nbf` ≤ 60 minutes, `nbf` no more than 60 minutes old (FAPI 1 Advanced §5.2.2-12/-16),
/// and `jti` single-use when present.
public struct RequestObjectValidator: Sendable {
    let keys: ClientKeyResolver
    let replay: any ReplayStore
    let issuer: String
    let clock: any Clock
    let clockSkew: TimeInterval

    public init(keys: ClientKeyResolver, replay: any ReplayStore, issuer: String, clock: any Clock, clockSkew: TimeInterval = 10) {
        self.keys = keys
        self.replay = replay
        self.issuer = issuer
        self.clock = clock
        self.clockSkew = clockSkew
    }

    public func validate(_ token: String, client: Client) async throws(OAuthError) -> AuthorizationRequest {
        let jws: CompactJWS
        let claims: JWTClaims
        do {
            jws = try CompactJWS(token)
            claims = try jws.claims()
        } catch {
            throw OAuthError(.invalidRequestObject, "the request object is not a signed JWT", detail: "\(error)")
        }
        let now = clock.now()
        let set = try await keys.keys(for: client, kid: jws.kid)
        do {
            try jws.verify(with: set, allowed: client.allowedAlgorithms(for: .requestObject))
            try JWTValidator(
                issuer: client.clientID, audiences: [issuer], requiredClaims: ["exp", "nbf"], clockSkew: clockSkew,
                maximumLifetime: 3600, maximumAge: 3600
            ).validate(claims, now: now.timeIntervalSince1970)
        } catch {
            throw OAuthError(.invalidRequestObject, "the request object is not acceptable: \(error.code.rawValue)", detail: "\(error)")
        }
        // RFC 9101 §4 / RFC 9126 §2.1: a request object never carries request or request_uri (it would name another request).
        if let nested = ["request_uri", "request"].first(where: { claims[$0] != nil }) {
            throw OAuthError(.invalidRequestObject, "the request object must not contain \(nested)")
        }
        if let claimed = claims["client_id"]?.stringValue, claimed != client.clientID {
            throw OAuthError(.invalidRequestObject, "client_id in the request object does not match the client")
        }
        // The jti is remembered as long as the object is accepted: until exp plus the allowed clock skew.
        if let jti = claims.jwtID, let exp = try? claims.date("exp") {
            let fresh: Bool
            do {
                fresh = try await replay.consume(jti: jti, clientID: "jar:\(client.clientID)", expiresAt: Date(timeIntervalSince1970: exp + clockSkew), now: now)
            } catch {
                throw OAuthError(error)
            }
            guard fresh else { throw OAuthError(.invalidRequestObject, "the request object was already used (jti)") }
        }
        var members = claims.members
        members["client_id"] = .string(client.clientID)
        return try AuthorizationRequest(json: .object(members))
    }
}
